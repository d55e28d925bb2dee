//! Wiring (layer L4): builds every part from the [`Config`], serves until the
//! shutdown future resolves, then drains and cleans up in order.
//!
//! Start-up failures (anything before the socket answers) are
//! [`AppError::Startup`] and exit with code 2; failures while serving exit 1.

use std::fs::Permissions;
use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use self::connections::Connections;
use self::housekeeping::Housekeeping;

use crate::attest::Attestor;
use crate::audit::{AuditSink, AuditWriter};
use crate::config::{Args, Config, RedisConfig, UsageStoreConfig};
use crate::etag::EtagKey;
use crate::http::{Limits, Router};
use crate::metrics::Metrics;
use crate::policy::{FlagCeiling, LivePolicy, Policy};
use crate::shutdown::ShutdownSignals;
use crate::sops::{CachedSource, SecretSource, SopsCommand};
use crate::token::{JwtKey, JwtKeys, TokenIssuer, TokenValidator};
use crate::transport::{Listeners, TcpServer, UnixSocket};
use crate::usage::{RedisTarget, Store, StoreTask};
use crate::vault::{TtlPolicy, UsageRules, Vault};

/// How the agent stopped.
#[derive(Debug)]
pub enum AppError {
    /// Could not start: bad configuration, unusable files, socket taken.
    Startup(anyhow::Error),
    /// Failed while serving.
    Runtime(anyhow::Error),
}

mod connections;
mod housekeeping;

type AgentVault = Vault<CachedSource, Store>;

/// Everything built at start-up, before serving.
struct Started {
    vault: Arc<AgentVault>,
    router: Router<CachedSource, Store>,
    listeners: Listeners,
    audit_task: tokio::task::JoinHandle<()>,
    usage_task: StoreTask,
}

/// Mode of a state directory the agent creates: only the agent's user.
const STATE_DIR_MODE: u32 = 0o700;
/// Mode of the usage store's files: only the agent's user.
const STATE_FILE_MODE: u32 = 0o600;
/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

// === impl AppError ===

impl AppError {
    /// The process exit code: 2 for start-up, 1 for runtime failures.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Startup(_) => ExitCode::from(2),
            Self::Runtime(_) => ExitCode::from(1),
        }
    }

    /// The error, for printing with `{:#}`.
    pub fn error(&self) -> &anyhow::Error {
        match self {
            Self::Startup(err) | Self::Runtime(err) => err,
        }
    }
}

/// Checks `args` against the process environment.
///
/// # Errors
/// [`AppError::Startup`] naming what is wrong.
pub fn configure(args: Args) -> Result<Config, AppError> {
    Config::from_process(args).context("invalid configuration").map_err(AppError::Startup)
}

/// Runs the agent on a new runtime until SIGTERM/SIGINT.
///
/// # Errors
/// [`AppError`] saying whether start-up or serving failed.
pub fn main(config: Config) -> Result<(), AppError> {
    if !config.inline_key_vars.is_empty() {
        tracing::warn!(
            variables = %config.inline_key_vars.join(","),
            "key material is passed inline in the environment; sops processes inherit it and other processes of \
             this uid can read it: run the agent under its own uid and use the *_FILE forms (e.g. SOPS_AGE_KEY_FILE)"
        );
    }
    if let Err(err) = crate::hardening::apply() {
        tracing::warn!(error = %err, "failed to disable core dumps");
    }
    let runtime = tokio::runtime::Runtime::new().context("failed to start the runtime").map_err(AppError::Startup)?;
    // Before anything is bound: a SIGTERM as soon as the socket answers must
    // stop the agent in order, not kill it.
    let signals = {
        let _entered = runtime.enter();
        ShutdownSignals::install().context("failed to listen for signals").map_err(AppError::Startup)?
    };
    runtime.block_on(run(config, async move {
        let name = signals.received().await;
        tracing::info!(signal = name, "shutting down");
    }))
}

/// Runs the agent until `shutdown` resolves. Tests pass their own future.
///
/// # Errors
/// [`AppError`] saying whether start-up or serving failed.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
    let started = start(config).await.map_err(AppError::Startup)?;
    serve(started, shutdown).await.map_err(AppError::Runtime)
}

async fn start(config: Config) -> anyhow::Result<Started> {
    let policy = minting_policy(&config)?;
    let (usage, usage_task) = open_usage_store(&config).await?;
    let sink = match &config.audit_path {
        None => AuditSink::Stdout,
        Some(path) => AuditSink::File { path: path.clone(), fsync: config.audit_fsync },
    };
    let (audit, audit_task) =
        AuditWriter::open(sink).await.context("failed to open the audit log (set --audit-log or VANTA_AUDIT_LOG)")?;
    let vault = Arc::new(build_vault(&config, usage, audit, policy)?);
    warn_about_sops_setup(&vault.source);
    let mut socket = UnixSocket::bind(&config.socket, config.socket_mode)
        .context("failed to listen on the socket (set --socket or VANTA_AGENT_SOCKET)")?;
    if vault.policy.get().needs_attestation() {
        socket.record_start_times();
    }
    tracing::info!(socket = %socket.path().display(), mode = format!("{:o}", config.socket_mode), "listening");
    let tcp = bind_tcp(&config).await?;
    say_which_store(&config, &vault.usage);
    let listeners = Listeners::new(socket, config.max_connections, tcp, config.max_tcp_connections);
    let limits = Limits {
        require_request_header: config.require_request_header,
        body_timeout: config.body_timeout,
        request_timeout: config.request_timeout,
    };
    let metrics = Arc::new(register_metrics(&vault.source, &vault.audit, &vault.usage));
    let router = Router::new(Arc::clone(&vault), limits, metrics);
    Ok(Started { vault, router, listeners, audit_task, usage_task })
}

async fn bind_tcp(config: &Config) -> anyhow::Result<Option<TcpServer>> {
    let Some(tcp) = &config.tcp else { return Ok(None) };
    let tls = tcp.tls.as_ref().map(|(cert, key)| (cert.as_path(), key.as_path()));
    let server = TcpServer::bind(tcp.addr, tls).await.with_context(|| {
        format!(
            "failed to listen on {} (set --listen-tcp, --tls-cert and --tls-key, or their VANTA_ variables)",
            tcp.addr
        )
    })?;
    let addr = server.local_addr().map_or_else(|_| tcp.addr.to_string(), |a| a.to_string());
    let scheme = if server.is_tls() { "https" } else { "http (insecure, loopback only)" };
    tracing::info!(addr = %addr, scheme, "listening");
    Ok(Some(server))
}

async fn open_usage_store(config: &Config) -> anyhow::Result<(Store, StoreTask)> {
    match &config.usage_store {
        UsageStoreConfig::Sqlite(path) => open_sqlite(path),
        UsageStoreConfig::Redis(redis) => {
            // Not the URL: it is the operator's to keep private.
            Store::open_redis(redis_target(redis)).await.context("failed to open the Redis usage store (--usage-store)")
        }
    }
}

/// How the usage store reaches the Redis that `--usage-store` names (also
/// what `doctor` checks).
pub(crate) fn redis_target(redis: &RedisConfig) -> RedisTarget {
    RedisTarget {
        url: redis.url.clone(),
        ca_cert: redis.ca_cert.clone(),
        password: redis.password.clone(),
        prefix: redis.prefix.clone(),
        timeout: redis.timeout,
    }
}

fn open_sqlite(path: &Path) -> anyhow::Result<(Store, StoreTask)> {
    prepare_state_file(path)?;
    Store::open_sqlite(path).with_context(|| {
        format!("failed to open the usage store {} (set --state-path or VANTA_STATE_PATH; a corrupt store is never reset silently)", path.display())
    })
}

/// Said once the agent is up (a start-up error stays one line): a store
/// created now knows no earlier use.
fn say_which_store(config: &Config, usage: &Store) {
    let store = config.usage_store.describe();
    if usage.is_new() {
        tracing::warn!(
            %store,
            "created a new usage store: limited tokens issued before now are refused (see the operator guide, \"Usage limits\")"
        );
    } else {
        tracing::info!(%store, "usage store opened");
    }
}

/// Creates the state directory 0700 and the database file 0600 whatever the
/// umask (an existing file is set to 0600 too); SQLite gives its `-wal` and
/// `-shm` files the database file's mode.
fn prepare_state_file(path: &Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(STATE_DIR_MODE)
            .create(parent)
            .and_then(|()| std::fs::set_permissions(parent, Permissions::from_mode(STATE_DIR_MODE)))
            .with_context(|| {
                format!(
                    "failed to create the state directory {} (set --state-path or VANTA_STATE_PATH)",
                    parent.display()
                )
            })?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(STATE_FILE_MODE)
        .open(path)
        .and_then(|_| std::fs::set_permissions(path, Permissions::from_mode(STATE_FILE_MODE)))
        .with_context(|| format!("failed to create the usage store {} with mode 0600", path.display()))
}

/// The policy file's rules, or the one rule of the `--mint-*` flags.
fn minting_policy(config: &Config) -> anyhow::Result<Policy> {
    let Some(path) = &config.policy_file else {
        return Ok(Policy::from_flags(FlagCeiling {
            environments: config.mint_environments.clone(),
            key_patterns: config.mint_key_patterns.clone(),
            max_usage_limit: config.mint_max_usage_limit,
            uids: config.mint_uids.clone(),
        }));
    };
    let policy = Policy::load(path).context("invalid policy file (--policy-file)")?;
    tracing::info!(file = %path.display(), rules = policy.rules().len(), "minting policy loaded");
    Ok(policy)
}

fn build_vault(config: &Config, usage: Store, audit: AuditWriter, policy: Policy) -> anyhow::Result<AgentVault> {
    let source = CachedSource::new(
        SopsCommand::new(
            config.sops_bin.clone(),
            config.sops_files_path.clone(),
            config.sops_timeout,
            config.sops_env.clone(),
        ),
        config.cache_ttl,
    );
    let current = JwtKey::new(config.jwt_key.clone()).context("invalid VANTA_JWT_SECRET_KEY")?;
    let previous = config.previous_jwt_keys.iter().map(|k| JwtKey::new(k.clone())).collect::<Result<Vec<_>, _>>();
    let keys = Arc::new(JwtKeys::new(current, previous.context("invalid VANTA_JWT_PREVIOUS_KEYS")?));
    let (iss, aud) = (config.issuer.clone(), config.audience.clone());
    Ok(Vault {
        issuer: TokenIssuer::new(Arc::clone(&keys), iss.clone(), aud.clone()),
        validator: TokenValidator::new(keys, iss, aud, config.clock_leeway),
        source,
        usage,
        usage_rules: UsageRules { lease: config.usage_lease, leeway: config.clock_leeway },
        audit,
        ttl: TtlPolicy { default_minutes: config.default_ttl_minutes, max_minutes: config.max_ttl_minutes },
        etags: EtagKey::random(),
        policy: LivePolicy::new(policy),
        admin_token: config.admin_token.clone(),
        attestor: Attestor::default(),
        status_of: crate::http::error::status_of,
    })
}

async fn serve(started: Started, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let Started { vault, router, mut listeners, audit_task, usage_task } = started;
    let housekeeping = Housekeeping::start(Arc::clone(&vault), listeners.tcp().and_then(TcpServer::reloader))?;
    let mut connections = Connections::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = connections.reap_one() => {}
            accepted = listeners.accept() => match accepted {
                Ok(accepted) => connections.serve(accepted, router.clone()),
                Err(err) => accept_failed(err).await,
            },
        }
    }
    // Stop accepting first: new clients find no socket rather than a dead one.
    listeners.unix().remove();
    listeners.close_tcp();
    connections.drain(DRAIN_TIMEOUT).await;
    housekeeping.stop().await;
    // The audit writer ends once the last handle (inside the vault) is gone.
    drop((vault, router, listeners));
    if tokio::time::timeout(DRAIN_TIMEOUT, audit_task).await.is_err() {
        tracing::warn!("the audit writer did not finish in time");
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, usage_task.closed()).await.is_err() {
        tracing::warn!("the usage store did not close in time");
    }
    tracing::info!("stopped");
    Ok(())
}

async fn accept_failed(err: std::io::Error) {
    // Out of file descriptors and the like: back off, keep serving.
    tracing::warn!(error = %err, "failed to accept a connection");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Start-up warnings (never fatal: files and keys can be fixed while the
/// agent runs, and sops may find keys the agent cannot see).
fn warn_about_sops_setup(source: &CachedSource) {
    if let Err(problem) = source.check_ready() {
        tracing::warn!(problem = %problem, "the secrets files need attention (run `vanta-agent doctor`)");
    }
    let material = source.command().key_material();
    for problem in material.problems.iter().map(String::as_str).chain(material.absent_warning().as_deref()) {
        tracing::warn!(problem = %problem, "key material for sops");
    }
}

/// The metrics registry, with the counters the cache and the audit writer keep.
fn register_metrics(source: &CachedSource, audit: &AuditWriter, usage: &Store) -> Metrics {
    let mut metrics = Metrics::new();
    let (cache, written) = (source.counters(), audit.counters());
    metrics.register_counter("sops_runs", "sops decryptions started", cache.runs.clone());
    metrics.register_counter("sops_failures", "sops decryptions that failed or timed out", cache.failures.clone());
    metrics.register_counter("cache_hits", "loads served from the decrypted-file cache", cache.hits.clone());
    metrics.register_counter("cache_misses", "loads that needed a decryption", cache.misses.clone());
    metrics.register_counter("audit_records_written", "audit records written", written.written.clone());
    metrics.register_counter("audit_records_failed", "audit records that could not be written", written.failed.clone());
    let store = usage.metrics();
    metrics.register_counter("usage_store_errors", "usage store operations that failed", store.errors.clone());
    let help = "usage store operation latency, queueing and commit included";
    metrics.register_histogram("usage_store_duration_seconds", help, store.latency.clone());
    metrics
}

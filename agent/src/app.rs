//! Wiring (layer L4): builds every part from the [`Config`], serves until the
//! shutdown future resolves, then drains and cleans up in order.
//!
//! Start-up failures (anything before the socket answers) are
//! [`AppError::Startup`] and exit with code 2; failures while serving exit 1.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use self::connections::Connections;

use crate::access::MintPolicy;
use crate::audit::{AuditSink, AuditWriter};
use crate::config::{Args, Config, UsageStoreConfig};
use crate::http::Router;
use crate::metrics::Metrics;
use crate::peer::Peer;
use crate::sops::{CachedSource, SopsCommand};
use crate::token::{JwtKey, JwtKeys, TokenIssuer, TokenValidator};
use crate::transport::{TcpServer, UnixSocket};
use crate::usage::{RedisTarget, Store, StoreTask, UsageStore};
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

type AgentVault = Vault<CachedSource, Store>;

/// Everything built at start-up, before serving.
struct Started {
    vault: Arc<AgentVault>,
    router: Router<CachedSource, Store>,
    socket: UnixSocket,
    tcp: Option<TcpServer>,
    max_connections: usize,
    audit_task: tokio::task::JoinHandle<()>,
    usage_task: StoreTask,
}

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often expired tokens' use counts are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(300);
/// How often decrypted files past the cache TTL are dropped from memory.
const EVICT_EVERY: Duration = Duration::from_secs(5);

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

/// Validates `args`, then runs the agent on a new runtime until SIGTERM/SIGINT.
///
/// # Errors
/// [`AppError`] saying whether start-up or serving failed.
pub fn main(args: Args) -> Result<(), AppError> {
    let config = Config::from_process(args).context("invalid configuration").map_err(AppError::Startup)?;
    if let Err(err) = crate::hardening::apply() {
        tracing::warn!(error = %err, "failed to disable core dumps");
    }
    let runtime = tokio::runtime::Runtime::new().context("failed to start the runtime").map_err(AppError::Startup)?;
    runtime.block_on(run(config, async {
        match crate::shutdown::signal_received().await {
            Ok(name) => tracing::info!(signal = name, "shutting down"),
            Err(err) => tracing::error!(error = %err, "failed to listen for signals"),
        }
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
    let (usage, usage_task) = open_usage_store(&config).await?;
    let sink = match &config.audit_path {
        None => AuditSink::Stdout,
        Some(path) => AuditSink::File { path: path.clone(), fsync: config.audit_fsync },
    };
    let (audit, audit_task) = AuditWriter::open(sink).await.context("failed to open the audit log")?;
    let vault = Arc::new(build_vault(&config, usage, audit)?);
    let socket = UnixSocket::bind(&config.socket, config.socket_mode).context("failed to listen on the socket")?;
    tracing::info!(socket = %socket.path().display(), mode = format!("{:o}", config.socket_mode), "listening");
    let tcp = bind_tcp(&config).await?;
    let router = Router::new(Arc::clone(&vault), config.require_request_header);
    Ok(Started { vault, router, socket, tcp, audit_task, usage_task, max_connections: config.max_connections })
}

async fn bind_tcp(config: &Config) -> anyhow::Result<Option<TcpServer>> {
    let Some(tcp) = &config.tcp else { return Ok(None) };
    let tls = tcp.tls.as_ref().map(|(cert, key)| (cert.as_path(), key.as_path()));
    let server = TcpServer::bind(tcp.addr, tls).await.with_context(|| format!("failed to listen on {}", tcp.addr))?;
    let addr = server.local_addr().map_or_else(|_| tcp.addr.to_string(), |a| a.to_string());
    let scheme = if server.is_tls() { "https" } else { "http (insecure, loopback only)" };
    tracing::info!(addr = %addr, scheme, "listening");
    Ok(Some(server))
}

async fn open_usage_store(config: &Config) -> anyhow::Result<(Store, StoreTask)> {
    let opened = match &config.usage_store {
        UsageStoreConfig::Sqlite(path) => open_sqlite(path)?,
        UsageStoreConfig::Redis(redis) => {
            let target = RedisTarget {
                url: redis.url.clone(),
                password: redis.password.clone(),
                prefix: redis.prefix.clone(),
                timeout: redis.timeout,
            };
            // Not the URL: it is the operator's to keep private.
            Store::open_redis(target).await.context("failed to open the Redis usage store (--usage-store)")?
        }
    };
    let store = config.usage_store.describe();
    if opened.0.is_new() {
        tracing::warn!(
            %store,
            "created a new usage store: limited tokens issued before now are refused (see the operator guide, \"Usage limits\")"
        );
    } else {
        tracing::info!(%store, "usage store opened");
    }
    Ok(opened)
}

fn open_sqlite(path: &Path) -> anyhow::Result<(Store, StoreTask)> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("failed to create the state directory {}", parent.display()))?;
    }
    Store::open_sqlite(path).with_context(|| {
        format!("failed to open the usage store {} (set --state-path or VANTA_STATE_PATH; a corrupt store is never reset silently)", path.display())
    })
}

fn build_vault(config: &Config, usage: Store, audit: AuditWriter) -> anyhow::Result<AgentVault> {
    let source = CachedSource::new(
        SopsCommand::new(
            config.sops_bin.clone(),
            config.sops_files_path.clone(),
            config.sops_timeout,
            config.sops_env.clone(),
        ),
        config.cache_ttl,
    );
    let metrics = register_metrics(&source, &audit, &usage);
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
        metrics: Arc::new(metrics),
        policy: MintPolicy {
            environments: config.mint_environments.clone(),
            key_patterns: config.mint_key_patterns.clone(),
            max_usage_limit: config.mint_max_usage_limit,
            uids: config.mint_uids.clone(),
            tcp_admin_token: config.admin_token.clone(),
        },
    })
}

async fn serve(started: Started, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let Started { vault, router, socket, tcp, audit_task, usage_task, max_connections } = started;
    let mut connections = Connections::new(max_connections);
    let slots = connections.slots();
    // A connection slot is taken before accepting, so that at the cap new
    // clients wait in the kernel's queue; the accept arms run only with one.
    let mut slot = None;
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    let mut evict = tokio::time::interval(EVICT_EVERY);
    let mut hangups = crate::shutdown::hangups().context("failed to listen for SIGHUP")?;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = prune.tick() => prune_expired(&vault.usage).await,
            _ = evict.tick() => vault.source.evict_expired(),
            Some(()) = hangups.recv() => {
                vault.audit.reopen();
                reload_tls(tcp.as_ref());
            }
            () = connections.reap_one() => {}
            Ok(free) = Arc::clone(&slots).acquire_owned(), if slot.is_none() => slot = Some(free),
            accepted = socket.accept(), if slot.is_some() => match (accepted, slot.take()) {
                (Ok((stream, peer)), Some(free)) => connections.serve(free, stream, peer, router.clone()),
                (Err(err), free) => {
                    slot = free;
                    accept_failed(err).await;
                }
                (Ok(_), None) => {}
            },
            accepted = accept_tcp(tcp.as_ref()), if slot.is_some() => match (accepted, slot.take()) {
                (Ok((stream, peer, Some(tls))), Some(free)) => connections.serve_tls(free, stream, tls, peer, router.clone()),
                (Ok((stream, peer, None)), Some(free)) => connections.serve(free, stream, peer, router.clone()),
                (Err(err), free) => {
                    slot = free;
                    accept_failed(err).await;
                }
                (Ok(_), None) => {}
            },
        }
    }
    // Stop accepting first: new clients find no socket rather than a dead one.
    socket.remove();
    drop(tcp);
    connections.drain(DRAIN_TIMEOUT).await;
    // The audit writer ends once the last handle (inside the vault) is gone.
    drop((vault, router));
    if tokio::time::timeout(DRAIN_TIMEOUT, audit_task).await.is_err() {
        tracing::warn!("the audit writer did not finish in time");
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, usage_task.closed()).await.is_err() {
        tracing::warn!("the usage store did not close in time");
    }
    tracing::info!("stopped");
    Ok(())
}

async fn accept_tcp(tcp: Option<&TcpServer>) -> std::io::Result<(TcpStream, Peer, Option<TlsAcceptor>)> {
    let Some(server) = tcp else { return std::future::pending().await };
    let (stream, peer) = server.accept().await?;
    Ok((stream, peer, server.acceptor()))
}

async fn accept_failed(err: std::io::Error) {
    // Out of file descriptors and the like: back off, keep serving.
    tracing::warn!(error = %err, "failed to accept a connection");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

fn reload_tls(tcp: Option<&TcpServer>) {
    match tcp.map(TcpServer::reload) {
        None => tracing::debug!("SIGHUP: no TLS listener to reload"),
        Some(Ok(())) => tracing::info!("SIGHUP: TLS certificate reloaded"),
        Some(Err(err)) => {
            tracing::error!(error = %format!("{:#}", anyhow::Error::new(err)), "SIGHUP: TLS reload failed; keeping the old certificate")
        }
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

async fn prune_expired(usage: &Store) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let now_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
    match usage.prune(now.as_secs().saturating_sub(crate::usage::PRUNE_GRACE_SECS), now_ms).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(rows = n, "pruned use counts of expired tokens"),
        Err(err) => tracing::warn!(error = %err, "failed to prune the usage store"),
    }
}

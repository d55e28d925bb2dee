//! Wiring (layer L4): builds each component from its part of the [`Config`]
//! in one call, serves until the shutdown future resolves, then drains and
//! cleans up in order.
//!
//! `settings` turns a part into its component's own settings (leaves never
//! see `config`), `listen` binds the listeners of `config.listen`, `store`
//! opens the usage store of `config.usage`; `connections` serves accepted
//! connections and `housekeeping` runs upkeep beside them.
//!
//! Start-up failures (anything before the socket answers) are
//! [`AppError::Startup`] and exit with code 2; failures while serving exit 1.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use self::connections::Connections;
use self::housekeeping::Housekeeping;
pub(crate) use self::settings::{redis_target, sops_command};

use crate::attest::Attestor;
use crate::audit::AuditWriter;
use crate::config::{self, Args, Config, MintRules};
use crate::etag::EtagKey;
use crate::http::Router;
use crate::metrics::Metrics;
use crate::open_files;
use crate::policy::{LivePolicy, Policy};
use crate::shutdown::ShutdownSignals;
use crate::sops::{CachedSource, SecretSource};
use crate::transport::{Listeners, TcpServer};
use crate::usage::{Store, StoreTask};
use crate::vault::Vault;

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
mod listen;
mod settings;
mod store;

type AgentVault = Vault<CachedSource, Store>;

/// Everything built at start-up, before serving.
struct Started {
    vault: Arc<AgentVault>,
    router: Router<CachedSource, Store>,
    listeners: Listeners,
    audit_task: tokio::task::JoinHandle<()>,
    usage_task: StoreTask,
}

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
    let inline_key_vars = config.sops.inline_key_vars();
    if !inline_key_vars.is_empty() {
        tracing::warn!(
            variables = %inline_key_vars.join(","),
            "key material is passed inline in the environment; sops processes inherit it and other processes of \
             this uid can read it: run the agent under its own uid and use the *_FILE forms (e.g. SOPS_AGE_KEY_FILE)"
        );
    }
    if let Err(err) = crate::hardening::apply() {
        tracing::warn!(error = %err, "failed to disable core dumps");
    }
    raise_open_files_limit(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads(config.http.worker_threads))
        .enable_all()
        .build()
        .context("failed to start the runtime")
        .map_err(AppError::Startup)?;
    // Before anything is bound: a SIGTERM as soon as the socket answers must
    // stop the agent in order, not kill it.
    let signals = {
        let _entered = runtime.enter();
        ShutdownSignals::install().context("failed to listen for signals").map_err(AppError::Startup)?
    };
    let served = runtime.block_on(run(config, async move {
        let name = signals.received().await;
        tracing::info!(signal = name, "shutting down");
    }));
    // `run` has waited for everything it could; a task still stuck in a
    // blocking write (an audit pipe nobody reads, a hung file system) must
    // not keep the process alive after "stopped".
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_GRACE);
    served
}

/// Raises the open-file limit; warns when even the hard limit is below what
/// the connection caps need, since connections past it are refused.
fn raise_open_files_limit(config: &Config) {
    let needed = open_files_needed(config);
    match open_files::raise(needed) {
        Ok((limit, _)) if limit < needed => tracing::warn!(
            limit,
            needed,
            "the open-file limit is below what the connection caps need: {}",
            open_files::FIX
        ),
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "failed to raise the open-file limit"),
    }
}

/// The file descriptors `config`'s connection caps need (also for `doctor`).
pub fn open_files_needed(config: &Config) -> u64 {
    let pinned = matches!(config.mint.rules, MintRules::File(_));
    let tcp_cap = config.listen.tcp.as_ref().map_or(0, |tcp| tcp.max_connections);
    open_files::needed(config.listen.socket.max_connections, pinned, tcp_cap)
}

/// How long the runtime's threads get to end once `run` has returned.
const RUNTIME_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// `--worker-threads`, or one runtime thread per CPU this process may use
/// but one, at least one (std counts the affinity mask and cgroup CPU
/// limits: a pod limited to 500m gets one). The agent's callers run on the
/// same host (the socket is local), and a request handed between two
/// runtime threads costs more than it gains while they need the CPUs too
/// (docs/PERFORMANCE.md, "Fifteenth round"). Always set, so tokio never
/// reads its own `TOKIO_WORKER_THREADS`, which panics on a value that is not
/// a number.
fn worker_threads(configured: Option<usize>) -> usize {
    configured.unwrap_or_else(|| default_worker_threads(std::thread::available_parallelism().ok()))
}

fn default_worker_threads(cpus: Option<std::num::NonZeroUsize>) -> usize {
    cpus.map_or(1, |cpus| cpus.get().saturating_sub(1).max(1))
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
    let policy = minting_policy(&config.mint)?;
    let (usage, usage_task) = store::open(&config.usage.store).await?;
    let usage = usage.holding_at_most(config.usage.hold_max);
    let audit_path =
        config.audit.path.as_ref().map_or_else(|| "on standard output".to_owned(), |path| path.display().to_string());
    let (audit, audit_task) = AuditWriter::open(settings::audit_sink(&config.audit))
        .await
        .with_context(|| format!("failed to open the audit log {audit_path} (set --audit-log or VANTA_AUDIT_LOG)"))?;
    let vault = Arc::new(build_vault(&config, usage, audit, policy)?);
    let listeners = listen::bind(&config.listen, vault.policy.get().needs_attestation()).await?;
    // Warnings only once nothing can fail any more: a start-up error stays
    // the one line on stderr.
    warn_about_sops_setup(&vault.source);
    store::say_which(&config.usage.store, &vault.usage);
    let metrics = Arc::new(register_metrics(&vault.source, &vault.audit, &vault.usage));
    let router = Router::new(Arc::clone(&vault), settings::http_limits(&config.http), metrics);
    Ok(Started { vault, router, listeners, audit_task, usage_task })
}

/// The policy file's rules, or the one rule of the `--mint-*` flags.
fn minting_policy(mint: &config::Mint) -> anyhow::Result<Policy> {
    let path = match &mint.rules {
        MintRules::Flags(ceiling) => return Ok(Policy::from_flags(settings::flag_ceiling(ceiling))),
        MintRules::File(path) => path,
    };
    let policy = Policy::load(path).context("invalid policy file (--policy-file)")?;
    tracing::info!(file = %path.display(), rules = policy.rules().len(), "minting policy loaded");
    Ok(policy)
}

/// The use cases, each component made from its part of `config`.
fn build_vault(config: &Config, usage: Store, audit: AuditWriter, policy: Policy) -> anyhow::Result<AgentVault> {
    let (issuer, validator) = settings::token_checks(&config.tokens)?;
    Ok(Vault {
        issuer,
        validator,
        source: settings::secret_source(&config.sops),
        usage,
        usage_rules: settings::usage_rules(&config.usage, &config.tokens),
        audit,
        ttl: settings::ttl_policy(&config.tokens),
        etags: EtagKey::random(),
        policy: LivePolicy::new(policy),
        admin_token: config.mint.admin_token.clone(),
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
    // No request takes a use any more: held uses go back, so a restart loses none.
    vault.usage.settle_holds().await;
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
    metrics.register_counter("sops_runs", "sops processes started to decrypt", cache.runs.clone());
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

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;

    use super::default_worker_threads;

    #[test]
    fn the_default_leaves_one_cpu_to_the_callers_and_keeps_one_thread() {
        let cpus = |n: usize| NonZeroUsize::new(n);
        let threads: Vec<_> = [1, 2, 3, 8].map(|n| default_worker_threads(cpus(n))).into();
        assert_eq!(threads, [1, 1, 2, 7]);
        assert_eq!(default_worker_threads(None), 1, "unknown: one");
    }
}

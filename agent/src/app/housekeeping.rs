//! Upkeep in a task of its own, beside serving: prune use counts of expired
//! tokens, drop decrypted files past the cache TTL and expired tokens from the
//! memo of verified ones, and on SIGHUP reopen the audit file, reload the TLS
//! certificate and the minting policy. Stopped and awaited by `serve`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::AgentVault;
use crate::policy::LivePolicy;
use crate::transport::TlsReloader;
use crate::usage::{PRUNE_GRACE_SECS, UsageStore};

/// The running upkeep task and how to stop it.
pub(super) struct Housekeeping {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// How often expired tokens' use counts are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(300);
/// How often decrypted files past the cache TTL and expired verified tokens
/// are dropped from memory.
const EVICT_EVERY: Duration = Duration::from_secs(5);

// === impl Housekeeping ===

impl Housekeeping {
    /// Starts the task.
    ///
    /// # Errors
    /// If the SIGHUP handler cannot be installed.
    pub(super) fn start(vault: Arc<AgentVault>, tls: Option<TlsReloader>) -> anyhow::Result<Self> {
        let mut hangups = crate::shutdown::hangups().context("failed to listen for SIGHUP")?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut prune = tokio::time::interval(PRUNE_EVERY);
            let mut evict = tokio::time::interval(EVICT_EVERY);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = prune.tick() => prune_expired(&vault).await,
                    _ = evict.tick() => {
                        vault.source.evict_expired();
                        vault.validator.forget_expired(SystemTime::now());
                    }
                    Some(()) = hangups.recv() => {
                        vault.audit.reopen();
                        reload_tls(tls.as_ref());
                        reload_policy(&vault.policy);
                    }
                }
            }
        });
        Ok(Self { stop, task })
    }

    /// Stops the task and waits for it (it holds a handle on the vault, and
    /// so on the audit writer).
    pub(super) async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "the housekeeping task failed");
        }
    }
}

fn reload_tls(tls: Option<&TlsReloader>) {
    match tls.map(TlsReloader::reload) {
        None => tracing::debug!("SIGHUP: no TLS listener to reload"),
        Some(Ok(())) => tracing::info!("SIGHUP: TLS certificate reloaded"),
        Some(Err(err)) => {
            tracing::error!(error = %format!("{:#}", anyhow::Error::new(err)), "SIGHUP: TLS reload failed; keeping the old certificate")
        }
    }
}

/// Re-reads the policy file on SIGHUP; a broken file keeps the policy in force.
fn reload_policy(policy: &LivePolicy) {
    match policy.reload() {
        None => {}
        Some(Ok(fresh)) => tracing::info!(rules = fresh.rules().len(), "minting policy reloaded"),
        Some(Err(err)) => tracing::error!(error = %err, "minting policy not reloaded; keeping the previous one"),
    }
}

async fn prune_expired(vault: &AgentVault) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let now_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
    match vault.usage.prune(now.as_secs().saturating_sub(PRUNE_GRACE_SECS), now_ms).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(rows = n, "pruned use counts of expired tokens"),
        Err(err) => tracing::warn!(error = %err, "failed to prune the usage store"),
    }
}

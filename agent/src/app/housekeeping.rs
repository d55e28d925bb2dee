//! Upkeep in a task of its own, beside serving: prune use counts of expired
//! tokens, drop decrypted files past the cache TTL and expired tokens from the
//! memo of verified ones, and on SIGHUP reopen the audit file, reload the TLS
//! certificate and the minting policy. Stopped and awaited by `serve`.
//!
//! A prune goes by the wall clock, but never further than the time really
//! elapsed since start-up (the monotonic clock): a clock stepped ahead and
//! then back must not have pruned the use counts and revocations of tokens
//! that are valid again ([`PruneClock`]).

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
/// How far the wall clock may run ahead of the time elapsed since start-up
/// before it is logged (small NTP steps are not worth a warning).
const CLOCK_AHEAD_WARN: Duration = Duration::from_secs(60);
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
            // The first prune one period after start-up, not at once: a host
            // whose clock is still wrong at boot (before NTP) gets time to fix it.
            let mut prune = tokio::time::interval_at(tokio::time::Instant::now() + PRUNE_EVERY, PRUNE_EVERY);
            let mut evict = tokio::time::interval(EVICT_EVERY);
            // Anchored at the first prune, not at start-up: a clock set right
            // after boot (NTP) is the one pruning then goes by.
            let mut clock: Option<PruneClock> = None;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = prune.tick() => {
                        let now = PruneClock::prune_time_of(&mut clock, SystemTime::now(), since_boot());
                        prune_expired(&vault, now).await;
                    }
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

/// Time since the machine booted, suspended time included
/// (`CLOCK_BOOTTIME`): unlike `Instant`, it does not stop while a laptop
/// sleeps or a VM is paused, so the wall clock, which does move on, is not
/// taken to have jumped ahead after a resume. Zero if it cannot be read
/// (prunes then go by the start-up time, never later).
fn since_boot() -> Duration {
    use nix::time::{ClockId, clock_gettime};
    clock_gettime(ClockId::CLOCK_BOOTTIME).map_or(Duration::ZERO, |now| {
        Duration::new(u64::try_from(now.tv_sec()).unwrap_or(0), u32::try_from(now.tv_nsec()).unwrap_or(0))
    })
}

/// The wall clock and the boot clock read together at the first prune.
struct PruneClock {
    wall: SystemTime,
    boot: Duration,
    /// How far ahead the wall clock was when last logged.
    warned_ahead: Duration,
}

// === impl PruneClock ===

impl PruneClock {
    fn new(wall: SystemTime, boot: Duration) -> Self {
        Self { wall, boot, warned_ahead: Duration::ZERO }
    }

    /// [`Self::prune_time`] of `clock`, anchoring it now if this is the
    /// first prune.
    fn prune_time_of(clock: &mut Option<Self>, wall_now: SystemTime, boot_now: Duration) -> SystemTime {
        clock.get_or_insert_with(|| Self::new(wall_now, boot_now)).prune_time(wall_now, boot_now)
    }

    /// The time to prune as of: the wall clock `wall_now`, but no later than
    /// the first prune's wall time plus the boot-clock time elapsed by `boot_now`. A wall clock
    /// that jumped ahead is logged (again only when it jumps further).
    fn prune_time(&mut self, wall_now: SystemTime, boot_now: Duration) -> SystemTime {
        let elapsed = self.wall + boot_now.saturating_sub(self.boot);
        let Ok(ahead) = wall_now.duration_since(elapsed) else { return wall_now };
        if ahead > self.warned_ahead + CLOCK_AHEAD_WARN {
            tracing::warn!(
                ahead_secs = ahead.as_secs(),
                "the wall clock is ahead of the time elapsed since start-up; pruning the usage store as of the elapsed time"
            );
            self.warned_ahead = ahead;
        }
        elapsed
    }
}

async fn prune_expired(vault: &AgentVault, now: SystemTime) {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let now_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
    match vault.usage.prune(now.as_secs().saturating_sub(PRUNE_GRACE_SECS), now_ms).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(rows = n, "pruned use counts of expired tokens"),
        Err(err) => tracing::warn!(error = %err, "failed to prune the usage store"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3_600);

    /// The clock jumps a year ahead after start-up (and would come back
    /// later): the prune goes by the time really elapsed.
    #[test]
    fn a_wall_clock_stepped_ahead_does_not_move_the_prune_time() {
        let (wall, mono) = (UNIX_EPOCH + Duration::from_secs(1_700_000_000), since_boot());
        let mut clock = PruneClock::new(wall, mono);
        let year_ahead = wall + HOUR + Duration::from_secs(365 * 86_400);
        assert_eq!(clock.prune_time(year_ahead, mono + HOUR), wall + HOUR);
        assert_eq!(clock.prune_time(wall + 2 * HOUR, mono + 2 * HOUR), wall + 2 * HOUR, "in step again");
        assert_eq!(clock.prune_time(wall + HOUR, mono + 2 * HOUR), wall + HOUR, "a clock behind prunes less");
    }

    /// A clock behind at start-up and set right before the first prune: the
    /// prunes go by the corrected time, not by start-up's wrong one.
    #[test]
    fn the_clock_is_anchored_at_the_first_prune_not_at_start_up() {
        let corrected = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let boot = Duration::from_secs(400);
        let mut clock = None;
        assert_eq!(PruneClock::prune_time_of(&mut clock, corrected, boot), corrected);
        let later = PruneClock::prune_time_of(&mut clock, corrected + PRUNE_EVERY, boot + PRUNE_EVERY);
        assert_eq!(later, corrected + PRUNE_EVERY);
    }

    /// The boot clock runs on while the machine sleeps, as the wall clock
    /// does: read twice a second apart, it moves by about a second.
    #[test]
    fn the_boot_clock_is_read_and_moves() {
        let before = since_boot();
        std::thread::sleep(Duration::from_millis(50));
        let moved = since_boot().saturating_sub(before);
        assert!(before > Duration::ZERO && moved >= Duration::from_millis(50), "{before:?}, {moved:?}");
    }
}

//! The second half of the SQLite store's group commit (layer L1, part of
//! [`crate::usage`]): the fsync of the write-ahead log, on a thread of its
//! own.
//!
//! The worker commits every batch with `synchronous=NORMAL` (written to the
//! log, not yet synced) and hands the answers of its confirms here; this
//! thread syncs the log once for every batch that queued meanwhile, then
//! answers them. A confirm is answered only once the log holding it is on
//! disk, while the worker goes on committing leases instead of waiting for
//! the disk. Syncing the log is SQLite's own durability point in WAL mode.

use std::fs::File;
use std::sync::{Arc, OnceLock, mpsc};
use std::thread::JoinHandle;

use super::writer::Answer;

/// Whether the log can still be trusted to hold what was committed.
///
/// After a failed `fsync` Linux may have dropped the dirty pages it could
/// not write and reports the error once: a later sync succeeds without
/// those pages on disk. Every confirm or take after the first failure is
/// therefore failed too (503), until the agent is restarted and SQLite
/// recovers the log from what is really on disk. The failure is published
/// ([`SyncFailure`]) so readiness reports it too: an agent that needs a
/// restart should not be sent traffic.
#[derive(Default)]
pub(super) struct SyncHealth {
    failed: Option<String>,
    published: SyncFailure,
}

/// The first failed sync's reason, once there was one; shared with the
/// store's readiness check.
pub(super) type SyncFailure = Arc<OnceLock<String>>;

impl SyncHealth {
    /// Health that publishes its failure to `published`.
    pub(super) fn publishing_to(published: SyncFailure) -> Self {
        Self { failed: None, published }
    }

    /// The failure to answer after a sync that ended with `synced`, if any.
    pub(super) fn after(&mut self, synced: std::io::Result<()>) -> Option<&str> {
        if let (None, Err(err)) = (&self.failed, synced) {
            tracing::error!(error = %err, "failed to sync the usage store's log; uses are refused until a restart");
            self.failed = Some(format!(
                "failed to sync the usage store's log: {err} (uses are refused until the agent restarts)"
            ));
            let _ = self.published.set(self.failed.clone().unwrap_or_default());
        }
        self.failed.as_deref()
    }
}

/// The sync thread and its queue; [`WalSync::finish`] ends it.
pub(super) struct WalSync {
    jobs: mpsc::Sender<Vec<Answer>>,
    thread: JoinHandle<()>,
    failure: SyncFailure,
}

// === impl WalSync ===

impl WalSync {
    /// Starts syncing `wal`, the store's `-wal` file.
    ///
    /// # Errors
    /// The thread could not be started.
    pub(super) fn start(wal: File) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Vec<Answer>>();
        let failure = SyncFailure::default();
        let mut health = SyncHealth::publishing_to(failure.clone());
        let thread = std::thread::Builder::new().name("vanta-usage-sync".to_owned()).spawn(move || {
            while let Ok(mut answers) = queue.recv() {
                while let Ok(more) = queue.try_recv() {
                    answers.extend(more);
                }
                let failed = health.after(wal.sync_data());
                for answer in answers {
                    answer(failed);
                }
            }
        })?;
        Ok(Self { jobs, thread, failure })
    }

    /// Where the first failed sync's reason appears.
    pub(super) fn failure(&self) -> SyncFailure {
        self.failure.clone()
    }

    /// Answers `answers` once everything committed so far is on disk.
    pub(super) fn after_sync(&self, answers: Vec<Answer>) {
        if answers.is_empty() {
            return;
        }
        if let Err(mpsc::SendError(answers)) = self.jobs.send(answers) {
            // The thread died: nothing is known to be durable.
            for answer in answers {
                answer(Some("the usage store's sync thread has stopped"));
            }
        }
    }

    /// Answers what is queued, then stops.
    pub(super) fn finish(self) {
        drop(self.jobs);
        if self.thread.join().is_err() {
            tracing::error!("the usage store's sync thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SyncHealth;

    #[test]
    fn after_one_failed_sync_every_later_one_fails_too() {
        let mut health = SyncHealth::default();
        assert_eq!(health.after(Ok(())), None);
        let failed = health.after(Err(std::io::Error::from_raw_os_error(5))).map(str::to_owned);
        assert!(failed.as_deref().is_some_and(|why| why.contains("failed to sync")), "{failed:?}");
        assert_eq!(health.after(Ok(())).map(str::to_owned), failed, "a later success proves nothing");
        assert_eq!(health.published.get().cloned(), failed, "published for readiness");
    }
}

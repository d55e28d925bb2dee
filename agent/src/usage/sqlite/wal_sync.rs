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
use std::sync::mpsc;
use std::thread::JoinHandle;

use super::writer::Answer;

/// The sync thread and its queue; [`WalSync::finish`] ends it.
pub(super) struct WalSync {
    jobs: mpsc::Sender<Vec<Answer>>,
    thread: JoinHandle<()>,
}

// === impl WalSync ===

impl WalSync {
    /// Starts syncing `wal`, the store's `-wal` file.
    ///
    /// # Errors
    /// The thread could not be started.
    pub(super) fn start(wal: File) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Vec<Answer>>();
        let thread = std::thread::Builder::new().name("vanta-usage-sync".to_owned()).spawn(move || {
            while let Ok(mut answers) = queue.recv() {
                while let Ok(more) = queue.try_recv() {
                    answers.extend(more);
                }
                let failed = wal.sync_data().err().map(|err| format!("failed to sync the usage store's log: {err}"));
                for answer in answers {
                    answer(failed.as_deref());
                }
            }
        })?;
        Ok(Self { jobs, thread })
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

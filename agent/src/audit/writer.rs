//! The audit writer: appends records and acknowledges each (layer L1).
//!
//! Two ways to append, chosen by the sink:
//!
//! - **Direct** (stdout, or a file without `--audit-fsync`): the request's
//!   own task appends its line under a short `std::sync::Mutex` (one
//!   `write(2)` into the page cache, no `.await` while it is held) and has
//!   its answer at once. No hand-off to another task and no wake-up back:
//!   measured faster side by side (docs/PERFORMANCE.md, W1).
//! - **Group commit** (a file with `--audit-fsync`): callers send a record
//!   with a `oneshot` and wait for the answer. The writer task takes
//!   everything queued, writes it with one `write`, `fdatasync`s it on the
//!   blocking pool (that may take milliseconds) and answers every sender, so
//!   one `fdatasync` covers many records.
//!
//! Either way a record is written before [`AuditWriter::write`] returns `Ok`,
//! so no secret goes out unaudited; a failed write answers with an error, and
//! the next write tries again, so the agent recovers by itself when the disk
//! does.
//!
//! Before each write the file's path is checked: if the file was removed or
//! rotated away, a new one is opened there, so records never go to a deleted
//! inode. SIGHUP asks for the same reopen explicitly (logrotate's convention).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::AuditRecord;

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSink {
    /// Standard output (`--audit-log -`).
    Stdout,
    /// A file, opened for append (created 0600 if missing, never truncated).
    File {
        /// The file.
        path: PathBuf,
        /// `fdatasync` after every batch, before any acknowledgement.
        fsync: bool,
    },
}

/// The handle the use cases hold. Cheap to clone.
#[derive(Clone)]
pub struct AuditWriter {
    mode: Mode,
    counters: AuditCounters,
    last_write_ok: Arc<AtomicBool>,
}

/// How records reach the sink.
#[derive(Clone)]
enum Mode {
    /// Each caller appends its own line under the lock.
    Direct(Arc<Mutex<Out>>),
    /// The writer task batches and `fdatasync`s (`--audit-fsync`).
    GroupCommit(mpsc::Sender<Message>),
}

/// What the writer counts, for `/metrics`.
#[derive(Clone, Default)]
pub struct AuditCounters {
    /// Records written.
    pub written: Counter,
    /// Records that could not be written.
    pub failed: Counter,
}

/// A record could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The writer task is gone (shutting down).
    #[error("the audit writer has stopped")]
    Stopped,
    /// The write failed.
    #[error("failed to write the audit record")]
    Write,
    /// The record could not be encoded as a JSON line; nothing was written.
    #[error("failed to encode the audit record")]
    Encode(#[source] serde_json::Error),
}

enum Message {
    Record { line: Vec<u8>, ack: oneshot::Sender<Result<(), AuditError>> },
    Reopen,
}

/// The open sink.
enum Out {
    Stdout(std::io::Stdout),
    File { file: File, path: PathBuf, inode: u64, fsync: bool },
}

/// Records queued before senders wait; also the largest batch.
const QUEUE: usize = 1024;

// === impl AuditWriter ===

impl AuditWriter {
    /// Opens `sink` and, with `--audit-fsync`, starts the writer task. The
    /// task ends when every handle is dropped, after writing what was queued;
    /// await the handle. Without `--audit-fsync` every record is written
    /// before its [`write`](Self::write) returns, so the handle is of a task
    /// with nothing to drain.
    ///
    /// # Errors
    /// The I/O error if the file cannot be opened or created.
    pub async fn open(sink: AuditSink) -> std::io::Result<(Self, JoinHandle<()>)> {
        let out = Out::open(&sink)?;
        let counters = AuditCounters::default();
        let last_write_ok = Arc::new(AtomicBool::new(true));
        let (mode, task) = if matches!(sink, AuditSink::File { fsync: true, .. }) {
            let (tx, rx) = mpsc::channel(QUEUE);
            let (task_counters, task_ok) = (counters.clone(), Arc::clone(&last_write_ok));
            (Mode::GroupCommit(tx), tokio::spawn(run(rx, out, task_counters, task_ok)))
        } else {
            (Mode::Direct(Arc::new(Mutex::new(out))), tokio::spawn(async {}))
        };
        Ok((Self { mode, counters, last_write_ok }, task))
    }

    /// Writes `record` and waits until it is written.
    ///
    /// # Errors
    /// [`AuditError`] if it was not written.
    pub async fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let line = record.to_line().map_err(|err| {
            self.counters.failed.inc();
            AuditError::Encode(err)
        })?;
        match &self.mode {
            Mode::Direct(out) => {
                let written = write(&mut lock(out), &line, false, false);
                account(&self.counters, &self.last_write_ok, written.is_ok(), 1);
                written.map_err(|_| AuditError::Write)
            }
            Mode::GroupCommit(tx) => {
                let (ack, done) = oneshot::channel();
                tx.send(Message::Record { line, ack }).await.map_err(|_| AuditError::Stopped)?;
                done.await.map_err(|_| AuditError::Stopped)?
            }
        }
    }

    /// The counters, to register with the metrics.
    pub fn counters(&self) -> &AuditCounters {
        &self.counters
    }

    /// Whether the writer runs and its last batch was written (readiness).
    pub fn is_healthy(&self) -> bool {
        let running = match &self.mode {
            Mode::Direct(_) => true,
            Mode::GroupCommit(tx) => !tx.is_closed(),
        };
        running && self.last_write_ok.load(Ordering::Relaxed)
    }

    /// Reopens the file (SIGHUP): at once without `--audit-fsync`, before
    /// the writer task's next batch with it.
    pub fn reopen(&self) {
        match &self.mode {
            Mode::Direct(out) => {
                let reopened = write(&mut lock(out), &[], true, true);
                account(&self.counters, &self.last_write_ok, reopened.is_ok(), 0);
            }
            // A full queue means a batch is coming anyway, which checks the path.
            Mode::GroupCommit(tx) => {
                let _ = tx.try_send(Message::Reopen);
            }
        }
    }
}

/// The direct sink; a panic elsewhere cannot leave it half-written (every
/// write is one `write_all` of whole lines), so a poisoned lock is used as is.
fn lock(out: &Mutex<Out>) -> std::sync::MutexGuard<'_, Out> {
    out.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts `records` as written or failed and remembers the outcome for
/// readiness.
fn account(counters: &AuditCounters, last_write_ok: &AtomicBool, ok: bool, records: u64) {
    last_write_ok.store(ok, Ordering::Relaxed);
    let counter = if ok { &counters.written } else { &counters.failed };
    counter.inc_by(records);
}

// === impl Out ===

impl Out {
    fn open(sink: &AuditSink) -> std::io::Result<Self> {
        match sink {
            AuditSink::Stdout => Ok(Self::Stdout(std::io::stdout())),
            AuditSink::File { path, fsync } => {
                let file = OpenOptions::new().append(true).create(true).mode(0o600).open(path)?;
                let inode = file.metadata()?.ino();
                Ok(Self::File { file, path: path.clone(), inode, fsync: *fsync })
            }
        }
    }

    /// Reopens the file if `force`d or if its path no longer leads to it.
    fn refresh(&mut self, force: bool) -> std::io::Result<()> {
        let Self::File { path, inode, fsync, .. } = self else { return Ok(()) };
        let current = std::fs::metadata(&*path).map(|m| m.ino()).ok();
        if !force && current == Some(*inode) {
            return Ok(());
        }
        let sink = AuditSink::File { path: path.clone(), fsync: *fsync };
        *self = Self::open(&sink)?;
        tracing::info!("audit log reopened");
        Ok(())
    }

    fn write_batch(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Stdout(out) => {
                let mut out = out.lock();
                out.write_all(buf)?;
                out.flush()
            }
            Self::File { file, .. } => file.write_all(buf),
        }
    }

    /// With `--audit-fsync`, `fdatasync` on the blocking pool (it may take
    /// milliseconds); otherwise nothing.
    async fn sync(&self) -> std::io::Result<()> {
        let Self::File { file, fsync: true, .. } = self else { return Ok(()) };
        let file = file.try_clone()?;
        tokio::task::spawn_blocking(move || file.sync_data()).await.map_err(std::io::Error::other)?
    }
}

/// The writer task: one batch per wake-up, until every handle is gone.
async fn run(mut rx: mpsc::Receiver<Message>, mut out: Out, counters: AuditCounters, ok: Arc<AtomicBool>) {
    let mut messages = Vec::with_capacity(QUEUE);
    let mut buf = Vec::new();
    while rx.recv_many(&mut messages, QUEUE).await > 0 {
        let mut reopen = false;
        let mut acks = Vec::with_capacity(messages.len());
        buf.clear();
        for message in messages.drain(..) {
            match message {
                Message::Record { line, ack } => {
                    buf.extend_from_slice(&line);
                    acks.push(ack);
                }
                Message::Reopen => reopen = true,
            }
        }
        let mut written = write(&mut out, &buf, reopen, acks.is_empty());
        if written.is_ok() && !acks.is_empty() {
            written = out.sync().await;
        }
        account(&counters, &ok, written.is_ok(), acks.len() as u64);
        for ack in acks {
            // The requester may have gone away; its record is written anyway.
            let _ = ack.send(written.as_ref().map(|_| ()).map_err(|_| AuditError::Write));
        }
    }
}

fn write(out: &mut Out, buf: &[u8], reopen: bool, nothing_to_write: bool) -> std::io::Result<()> {
    let result = out.refresh(reopen).and_then(|()| if nothing_to_write { Ok(()) } else { out.write_batch(buf) });
    if let Err(err) = &result {
        tracing::error!(error = %err, "failed to write audit records; fetches answer 503 until it works again");
    }
    result
}

#[cfg(test)]
mod tests;

//! The audit writer task: appends records in batches, acknowledges each.
//!
//! Callers send a record with a `oneshot` and wait for the answer. The
//! writer lets the other requests ready on its worker queue their records
//! first ([`Gathering`]), takes everything queued, writes it with one
//! `write` (group commit), flushes (and `fdatasync`s with `--audit-fsync`),
//! and answers every sender.
//! The task appends with plain `std` I/O: a few hundred bytes into the page
//! cache take microseconds, while tokio's file I/O would hop through the
//! blocking pool twice per batch, and a dedicated thread would cost a
//! cross-thread wake-up per request (both measured in docs/PERFORMANCE.md).
//! Only `--audit-fsync`'s `fdatasync`, which can take milliseconds, runs on
//! the blocking pool; after the file was (re)opened, the first one also syncs
//! the directory, so that a file just created survives a power loss with the
//! records synced into it.
//! A failed write answers with an error, so no secret goes out unaudited; the
//! next batch tries again, so the agent recovers by itself when the disk does.
//! A write can fail after part of the batch landed (a full disk, a file size
//! limit): the batch's bytes are cut off again ([`cut_back`]), so no record of
//! a batch answered with an error stays in the file, and no fragment runs
//! into the next batch's first line. So are those of a batch written whole
//! whose `--audit-fsync` sync failed ([`Out::take_back`]): it too is answered
//! with an error.
//!
//! Before each batch the file's path is checked: if the file was removed or
//! rotated away, a new one is opened there, so records never go to a deleted
//! inode. SIGHUP asks for the same reopen explicitly (logrotate's convention).
//! So does `/readyz` while the last write failed ([`AuditWriter::recheck`]):
//! when traffic waits for readiness no record comes to try again, so the
//! probe itself must find out that the file can be opened again. A write
//! that does not return (a hung network disk, a full pipe nobody reads)
//! neither fails nor succeeds: the task notes when each batch began, and
//! once one has taken [`STALLED_AFTER`] the writer is not healthy.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    tx: mpsc::Sender<Message>,
    counters: AuditCounters,
    last_write_ok: Arc<AtomicBool>,
    busy: Busy,
}

/// When the batch being written began ([`Busy::begin`]), for readiness.
#[derive(Clone)]
struct Busy {
    /// The clock's zero.
    base: Instant,
    /// Milliseconds after `base`, plus one; 0 while no batch is written.
    since: Arc<AtomicU64>,
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

/// `--audit-log -` with standard output going nowhere (`>&-`, which std
/// turns into /dev/null at start-up, or systemd's `StandardOutput=null`):
/// every record would be lost while secrets are served.
#[derive(Debug, thiserror::Error)]
#[error(
    "standard output is /dev/null or closed, so every audit record would be lost: give --audit-log PATH, \
     or connect the agent's standard output to a reader"
)]
struct StdoutDiscarded;

enum Message {
    Record {
        line: Vec<u8>,
        ack: oneshot::Sender<Result<(), AuditError>>,
    },
    /// Reopen before the next batch; answered (if asked) once it is done.
    Reopen(Option<oneshot::Sender<()>>),
}

/// The open sink.
enum Out {
    Stdout {
        out: std::io::Stdout,
        kind: stdout::StdoutKind,
    },
    File {
        file: File,
        path: PathBuf,
        inode: u64,
        fsync: bool,
        /// The file's length as far as this writer knows: where the next
        /// batch starts, for [`pages`].
        len: u64,
        /// A failed batch could not be cut off: the file may end inside a
        /// line, so the next batch starts with a newline.
        torn: bool,
        /// With `fsync`: the directory has not been synced since the file
        /// was opened, so its entry may not be on disk yet (a file just
        /// created, by the agent or by logrotate's `create`).
        entry_unsynced: bool,
    },
}

/// What a batch appended to a file, so that it can be cut off again if its
/// sync fails ([`Out::take_back`]).
#[derive(Clone, Copy, Debug, Default)]
struct Appended {
    /// Bytes written, with the newline that mended a torn line.
    bytes: u64,
    /// The file might end inside a line before the batch.
    torn_before: bool,
}

/// How long [`AuditWriter::recheck`] waits for the reopen (the task may be
/// in an `fdatasync` on a slow disk); a probe must answer.
const RECHECK_DEADLINE: Duration = Duration::from_secs(1);

/// Records queued before senders wait; also the largest batch.
const QUEUE: usize = 1024;

/// How long a batch may take to be written (and synced) before the writer
/// counts as stalled: far longer than an `fdatasync` on a slow disk.
pub const STALLED_AFTER: Duration = Duration::from_secs(5);

/// Whether the writer waits for the other ready requests before a batch.
///
/// Woken by the first record, the writer would run right after that request
/// (tokio's LIFO slot) and pay one `write(2)` and one path check per record
/// even under load. Yielding first lets the requests that are ready on this
/// worker queue their records, so one batch takes them all. A yield that
/// gathers nothing (a lone client) costs a pass through the scheduler and
/// often a wake-up of another worker, so after one the writer writes at once
/// for the next 1, 2, 4, ... up to [`Gathering::MAX_BACK_OFF`] batches; a
/// yield that gathers something ends the back-off (figures in
/// docs/PERFORMANCE.md).
#[derive(Default)]
struct Gathering {
    /// Batches left to write without yielding.
    skip: u32,
    /// The next back-off, 0 after a fruitful yield.
    back_off: u32,
}

// === impl AuditWriter ===

impl AuditWriter {
    /// Opens `sink` and starts the writer task. The task ends when every
    /// handle is dropped, after writing what was queued; await the handle.
    ///
    /// # Errors
    /// The I/O error if the file cannot be opened or created.
    pub async fn open(sink: AuditSink) -> std::io::Result<(Self, JoinHandle<()>)> {
        let out = Out::open(&sink)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let counters = AuditCounters::default();
        let last_write_ok = Arc::new(AtomicBool::new(true));
        let busy = Busy { base: Instant::now(), since: Arc::new(AtomicU64::new(0)) };
        let task = Task { counters: counters.clone(), ok: Arc::clone(&last_write_ok), busy: busy.clone() };
        let task = tokio::spawn(run(rx, out, task));
        Ok((Self { tx, counters, last_write_ok, busy }, task))
    }

    /// Writes `record` and waits until it is written.
    ///
    /// # Errors
    /// [`AuditError`] if it was not written.
    pub async fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let (ack, done) = oneshot::channel();
        let line = record.to_line().map_err(|err| {
            self.counters.failed.inc();
            AuditError::Encode(err)
        })?;
        let message = Message::Record { line, ack };
        self.tx.send(message).await.map_err(|_| AuditError::Stopped)?;
        done.await.map_err(|_| AuditError::Stopped)?
    }

    /// The counters, to register with the metrics.
    pub fn counters(&self) -> &AuditCounters {
        &self.counters
    }

    /// Whether the writer runs, its last batch was written and the one it
    /// writes now (if any) has not stalled.
    pub fn is_healthy(&self) -> bool {
        self.last_write_ok() && self.stalled().is_none()
    }

    /// Whether the writer runs and its last batch was written.
    fn last_write_ok(&self) -> bool {
        !self.tx.is_closed() && self.last_write_ok.load(Ordering::Relaxed)
    }

    /// For readiness: `Err` saying why the writer is not healthy. After a
    /// failed write, the task is asked to reopen the sink first
    /// ([`AuditWriter::recheck`]); a stalled write cannot be helped.
    pub async fn check(&self) -> Result<(), String> {
        if let Some(waited) = self.stalled() {
            return Err(format!(
                "an audit write has waited {} s: the disk or the reader of the audit log does not take records",
                waited.as_secs()
            ));
        }
        if self.last_write_ok() || self.recheck().await {
            Ok(())
        } else {
            Err("the last audit write failed".to_owned())
        }
    }

    /// How long the batch being written has taken, once that is
    /// [`STALLED_AFTER`] or more.
    fn stalled(&self) -> Option<Duration> {
        self.busy.for_how_long().filter(|waited| *waited >= STALLED_AFTER)
    }

    /// Asks the task to reopen the file before its next batch (SIGHUP).
    pub fn reopen(&self) {
        // A full queue means a batch is coming anyway, which checks the path.
        let _ = self.tx.try_send(Message::Reopen(None));
    }

    /// After a failed write: has the task reopen the sink and says whether
    /// that worked, so that readiness can recover without a request. A file
    /// that opens but whose disk is still full is only noticed by the next
    /// write, which makes the writer unhealthy again.
    pub async fn recheck(&self) -> bool {
        let (done, reopened) = oneshot::channel();
        // A full queue means batches are being written: their outcome counts.
        if self.tx.try_send(Message::Reopen(Some(done))).is_ok() {
            let _ = tokio::time::timeout(RECHECK_DEADLINE, reopened).await;
        }
        self.last_write_ok()
    }
}

// === impl Busy ===

impl Busy {
    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX).saturating_add(1)
    }

    fn begin(&self) {
        self.since.store(self.now(), Ordering::Relaxed);
    }

    fn end(&self) {
        self.since.store(0, Ordering::Relaxed);
    }

    /// How long the batch being written has taken, `None` between batches.
    fn for_how_long(&self) -> Option<Duration> {
        let since = self.since.load(Ordering::Relaxed);
        (since != 0).then(|| Duration::from_millis(self.now().saturating_sub(since)))
    }
}

// === impl Gathering ===

impl Gathering {
    /// The longest back-off, in batches.
    const MAX_BACK_OFF: u32 = 64;

    /// Adds to `messages` what the requests ready on this worker queue
    /// meanwhile, unless backing off.
    async fn gather(&mut self, rx: &mut mpsc::Receiver<Message>, messages: &mut Vec<Message>) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        let before = messages.len();
        // Defers the task until the worker has run its other ready tasks
        // and polled for I/O once.
        tokio::task::yield_now().await;
        while messages.len() < QUEUE {
            match rx.try_recv() {
                Ok(message) => messages.push(message),
                Err(_) => break,
            }
        }
        if messages.len() > before {
            self.back_off = 0;
        } else {
            self.back_off = (self.back_off * 2).clamp(1, Self::MAX_BACK_OFF);
            self.skip = self.back_off;
        }
    }
}

// === impl Out ===

impl Out {
    fn open(sink: &AuditSink) -> std::io::Result<Self> {
        match sink {
            AuditSink::Stdout if stdout_discards() => Err(io::Error::other(StdoutDiscarded)),
            AuditSink::Stdout => Ok(Self::Stdout { out: std::io::stdout(), kind: stdout::StdoutKind::of_stdout() }),
            AuditSink::File { path, fsync } => {
                let file = OpenOptions::new().append(true).create(true).mode(0o600).open(path)?;
                let meta = file.metadata()?;
                let (inode, len) = (meta.ino(), meta.len());
                let entry_unsynced = *fsync;
                Ok(Self::File { file, path: path.clone(), inode, fsync: *fsync, len, torn: false, entry_unsynced })
            }
        }
    }

    /// Reopens the file if `force`d or if its path no longer leads to it.
    fn refresh(&mut self, force: bool) -> std::io::Result<()> {
        let Self::File { path, inode, fsync, torn, .. } = self else { return Ok(()) };
        let current = std::fs::metadata(&*path).map(|m| m.ino()).ok();
        if !force && current == Some(*inode) {
            return Ok(());
        }
        let (old_inode, old_torn) = (*inode, *torn);
        let sink = AuditSink::File { path: path.clone(), fsync: *fsync };
        *self = Self::open(&sink)?;
        // Reopening the same file (SIGHUP) does not mend a line left unfinished.
        if let Self::File { inode, torn, .. } = self {
            *torn = old_torn && *inode == old_inode;
        }
        tracing::info!("audit log reopened");
        Ok(())
    }

    /// Appends `buf` (records ending at `ends`); to a file in untearable pieces ([`pages`]).
    fn write_batch(&mut self, buf: &[u8], ends: &[usize]) -> std::io::Result<Appended> {
        match self {
            Self::Stdout { out, kind } => stdout::write(out, kind, buf).map(|()| Appended::default()),
            Self::File { file, len, torn, .. } => {
                let mut written = 0;
                let torn_before = *torn;
                let result = append_batch(file, buf, ends, len, torn_before, &mut written);
                match result {
                    Ok(()) => *torn = false,
                    Err(_) if written > 0 => cut_back(file, written, len, torn),
                    Err(_) => {}
                }
                result.map(|()| Appended { bytes: written, torn_before })
            }
        }
    }

    /// Cuts a batch that was written but whose sync failed off the file
    /// again: it is answered with an error, so none of its records may stay
    /// as a success. The file ends as before the batch, torn if it was.
    fn take_back(&mut self, appended: Appended) {
        let Self::File { file, len, torn, .. } = self else { return };
        if appended.bytes > 0 {
            cut_back(file, appended.bytes, len, torn);
        }
        *torn |= appended.torn_before;
    }

    /// With `--audit-fsync`, `fdatasync` on the blocking pool (it may take
    /// milliseconds), after an `fsync` of the directory the first time after
    /// an open (the file's entry); otherwise nothing.
    async fn sync(&mut self) -> std::io::Result<()> {
        let Self::File { file, path, fsync: true, entry_unsynced, .. } = self else { return Ok(()) };
        let file = file.try_clone()?;
        let dir = entry_unsynced.then(|| parent_dir(path).to_path_buf());
        let synced = move || {
            if let Some(dir) = dir {
                File::open(dir)?.sync_all()?;
            }
            file.sync_data()
        };
        tokio::task::spawn_blocking(synced).await.map_err(std::io::Error::other)??;
        *entry_unsynced = false;
        Ok(())
    }
}

/// Whether standard output is closed or the null device (character device
/// 1:3 on Linux), where audit records would vanish.
fn stdout_discards() -> bool {
    use rustix::fs::{FileType, fstat, major, minor};
    match fstat(std::io::stdout()) {
        Err(_) => true,
        Ok(stat) => {
            FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice
                && (major(stat.st_rdev), minor(stat.st_rdev)) == (1, 3)
        }
    }
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Appends a batch to `file` in pieces ([`pages`]), after a newline if the
/// file may end inside a line (`torn`); counts the bytes that landed in
/// `written`, also those of a write that failed part-way.
fn append_batch(
    file: &mut File,
    buf: &[u8],
    ends: &[usize],
    len: &mut u64,
    torn: bool,
    written: &mut u64,
) -> io::Result<()> {
    if torn {
        append(file, b"\n", written)?;
        *len += 1;
    }
    let mut start = 0;
    loop {
        let end = pages::next_piece(ends, start, *len);
        if end == start {
            return Ok(());
        }
        append(file, &buf[start..end], written)?;
        *len += (end - start) as u64;
        start = end;
    }
}

/// `write_all` that counts what landed: a write may take part of `bytes`
/// and the next one fail (ENOSPC, EDQUOT, EFBIG).
fn append(file: &mut File, mut bytes: &[u8], written: &mut u64) -> io::Result<()> {
    while !bytes.is_empty() {
        match file.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                *written += n as u64;
                bytes = &bytes[n..];
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Cuts the `written` bytes of a failed batch off the end of `file`, so that
/// none of its records (answered with an error) stays, and no fragment runs
/// into the next line. The cut is measured from the file's real end, not from
/// `len`, so a file truncated meanwhile (logrotate's `copytruncate`) is not
/// extended with zeros; the agent is the file's only writer. If the cut
/// fails, the next batch starts on a new line (`torn`).
fn cut_back(file: &File, written: u64, len: &mut u64, torn: &mut bool) {
    let cut =
        file.metadata().map(|m| m.len().saturating_sub(written)).and_then(|keep| file.set_len(keep).map(|()| keep));
    match cut {
        Ok(keep) => *len = keep,
        Err(err) => {
            tracing::error!(error = %err, "failed to cut a failed batch of audit records off the audit file");
            *torn = true;
            if let Ok(meta) = file.metadata() {
                *len = meta.len();
            }
        }
    }
}

/// What the writer task reports to the handles.
struct Task {
    counters: AuditCounters,
    ok: Arc<AtomicBool>,
    busy: Busy,
}

/// The writer task: one batch per wake-up, until every handle is gone.
async fn run(mut rx: mpsc::Receiver<Message>, mut out: Out, task: Task) {
    let Task { counters, ok, busy } = task;
    let mut messages = Vec::with_capacity(QUEUE);
    let (mut buf, mut ends) = (Vec::new(), Vec::new());
    let mut gathering = Gathering::default();
    while rx.recv_many(&mut messages, QUEUE).await > 0 {
        gathering.gather(&mut rx, &mut messages).await;
        let (mut reopen, mut reopened) = (false, Vec::new());
        let mut acks = Vec::with_capacity(messages.len());
        buf.clear();
        ends.clear();
        for message in messages.drain(..) {
            match message {
                Message::Record { line, ack } => {
                    buf.extend_from_slice(&line);
                    ends.push(buf.len());
                    acks.push(ack);
                }
                Message::Reopen(done) => {
                    reopen = true;
                    reopened.extend(done);
                }
            }
        }
        busy.begin();
        let written = match write(&mut out, &buf, &ends, reopen) {
            Ok(appended) if !acks.is_empty() => sync_or_take_back(&mut out, appended).await,
            result => result.map(drop),
        };
        ok.store(written.is_ok(), Ordering::Relaxed);
        busy.end();
        let counter = if written.is_ok() { &counters.written } else { &counters.failed };
        counter.inc_by(acks.len() as u64);
        for ack in acks {
            // The requester may have gone away; its record is written anyway.
            let _ = ack.send(written.as_ref().map(|_| ()).map_err(|_| AuditError::Write));
        }
        // After `ok` is stored: the asker reads the outcome from there.
        for done in reopened {
            let _ = done.send(());
        }
    }
}

/// Checks the path (reopening if asked or needed), then appends the batch.
fn write(out: &mut Out, buf: &[u8], ends: &[usize], reopen: bool) -> std::io::Result<Appended> {
    let result = out
        .refresh(reopen)
        .and_then(|()| if ends.is_empty() { Ok(Appended::default()) } else { out.write_batch(buf, ends) });
    if let Err(err) = &result {
        tracing::error!(error = %err, "failed to write audit records; fetches answer 503 until it works again");
    }
    result
}

/// Syncs the batch just `appended` (with `--audit-fsync`); if that fails,
/// the batch is answered with an error, so it is cut off the file again.
async fn sync_or_take_back(out: &mut Out, appended: Appended) -> std::io::Result<()> {
    let synced = out.sync().await;
    if let Err(err) = &synced {
        tracing::error!(error = %err, "failed to sync audit records; fetches answer 503 until it works again");
        out.take_back(appended);
    }
    synced
}

mod pages;
mod stdout;

#[cfg(test)]
mod tests;

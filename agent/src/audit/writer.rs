//! The audit writer task: appends records in batches, acknowledges each.
//!
//! Callers send a record with a `oneshot` and wait for the answer. The task
//! takes everything queued, writes it with one `write` (group commit), flushes,
//! and answers every sender. A failed write answers with an error, so no
//! secret goes out unaudited; the next batch tries again, so the agent
//! recovers by itself when the disk does.

use std::path::PathBuf;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::AuditRecord;

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSink {
    /// Standard output (`--audit-log -`).
    Stdout,
    /// A file, opened for append (created 0600 if missing, never truncated).
    File(PathBuf),
}

/// The handle the use cases hold. Cheap to clone.
#[derive(Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<Pending>,
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
}

struct Pending {
    line: Vec<u8>,
    ack: oneshot::Sender<Result<(), AuditError>>,
}

/// Records queued before senders wait; also the largest batch.
const QUEUE: usize = 1024;

// === impl AuditSink ===

impl AuditSink {
    /// Opens the sink for appending.
    ///
    /// # Errors
    /// The I/O error, if the file cannot be opened or created.
    pub async fn open(&self) -> std::io::Result<Box<dyn AsyncWrite + Send + Unpin>> {
        match self {
            Self::Stdout => Ok(Box::new(tokio::io::stdout())),
            Self::File(path) => {
                let file = tokio::fs::OpenOptions::new().append(true).create(true).mode(0o600).open(path).await?;
                Ok(Box::new(file))
            }
        }
    }
}

// === impl AuditWriter ===

impl AuditWriter {
    /// Starts the writer task on `out`. The task ends when every handle is
    /// dropped, after writing what was queued; await the handle to know.
    pub fn spawn(out: Box<dyn AsyncWrite + Send + Unpin>) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(rx, out));
        (Self { tx }, task)
    }

    /// Writes `record` and waits until it is written.
    ///
    /// # Errors
    /// [`AuditError`] if it was not written.
    pub async fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let (ack, done) = oneshot::channel();
        let pending = Pending { line: record.to_line(), ack };
        self.tx.send(pending).await.map_err(|_| AuditError::Stopped)?;
        done.await.map_err(|_| AuditError::Stopped)?
    }
}

async fn run(mut rx: mpsc::Receiver<Pending>, mut out: Box<dyn AsyncWrite + Send + Unpin>) {
    let mut batch = Vec::with_capacity(QUEUE);
    let mut buf = Vec::new();
    while rx.recv_many(&mut batch, QUEUE).await > 0 {
        buf.clear();
        for pending in &batch {
            buf.extend_from_slice(&pending.line);
        }
        let written = write_all(&mut out, &buf).await;
        if let Err(err) = &written {
            tracing::error!(error = %err, records = batch.len(), "failed to write audit records");
        }
        for pending in batch.drain(..) {
            let result = written.as_ref().map(|_| ()).map_err(|_| AuditError::Write);
            // The requester may have gone away; its record is written anyway.
            let _ = pending.ack.send(result);
        }
    }
    let _ = out.flush().await;
}

async fn write_all(out: &mut (dyn AsyncWrite + Send + Unpin), buf: &[u8]) -> std::io::Result<()> {
    out.write_all(buf).await?;
    out.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditEvent;
    use crate::peer::Peer;

    fn record(n: u16) -> AuditRecord {
        let mut r = AuditRecord::new(AuditEvent::KeyList, Peer::Unknown);
        r.finish("success", n, None);
        r
    }

    #[tokio::test]
    async fn every_record_is_one_line_and_acknowledged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, b"{\"old\":1}\n").expect("seed");
        let sink = AuditSink::File(path.clone());
        let (writer, task) = AuditWriter::spawn(sink.open().await.expect("open"));
        let writes: Vec<_> = (0..50)
            .map(|n| {
                let w = writer.clone();
                tokio::spawn(async move { w.write(&record(n)).await })
            })
            .collect();
        for w in writes {
            w.await.expect("join").expect("written");
        }
        drop(writer);
        task.await.expect("writer ends");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 51, "appended, not truncated");
        assert!(text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).expect("meta").permissions());
        assert_eq!(mode & 0o777, 0o644, "an existing file keeps its mode");
    }

    #[tokio::test]
    async fn a_failing_sink_answers_with_an_error() {
        let full = tokio::fs::OpenOptions::new().write(true).open("/dev/full").await.expect("/dev/full");
        let (writer, _task) = AuditWriter::spawn(Box::new(full));
        assert!(matches!(writer.write(&record(1)).await, Err(AuditError::Write)));
    }
}

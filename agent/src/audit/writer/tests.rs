use super::*;
use crate::audit::AuditEvent;
use crate::peer::Peer;

fn record(n: u16) -> AuditRecord {
    let mut r = AuditRecord::new(AuditEvent::KeyList, Peer::Unknown);
    r.finish("success", n, None);
    r
}

fn file_sink(path: &std::path::Path) -> AuditSink {
    AuditSink::File { path: path.to_owned(), fsync: true }
}

/// A temporary directory with a `logs/` directory for the audit file, which
/// tests remove and make again: the directory, `logs/` and the file's path.
fn in_a_logs_directory() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("logs");
    std::fs::create_dir(&sub).expect("mkdir");
    let path = sub.join("audit.jsonl");
    (dir, sub, path)
}

fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

#[tokio::test]
async fn every_record_is_one_line_and_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, b"{\"old\":1}\n").expect("seed");
    let (writer, task) = AuditWriter::open(file_sink(&path)).await.expect("open");
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
    let (writer, _task) = AuditWriter::open(file_sink("/dev/full".as_ref())).await.expect("open /dev/full");
    assert!(matches!(writer.write(&record(1)).await, Err(AuditError::Write)));
    assert!(!writer.is_healthy());
    assert_eq!((writer.counters().written.get(), writer.counters().failed.get()), (0, 1));
}

#[tokio::test]
async fn a_removed_or_rotated_file_is_recreated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let (writer, _task) = AuditWriter::open(file_sink(&path)).await.expect("open");
    writer.write(&record(1)).await.expect("first");
    std::fs::remove_file(&path).expect("remove");
    writer.write(&record(2)).await.expect("after removal");
    assert_eq!(lines(&path), 1, "written to a new file at the path");
    let rotated = dir.path().join("audit.jsonl.1");
    std::fs::rename(&path, &rotated).expect("rotate");
    writer.reopen();
    writer.write(&record(3)).await.expect("after rotation");
    assert_eq!((lines(&rotated), lines(&path)), (1, 1));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).expect("meta").permissions());
    assert_eq!(mode & 0o777, 0o600, "a new file is private");
}

#[tokio::test]
async fn writing_recovers_when_the_directory_comes_back() {
    let (_dir, sub, path) = in_a_logs_directory();
    let (writer, _task) = AuditWriter::open(file_sink(&path)).await.expect("open");
    std::fs::remove_dir_all(&sub).expect("remove dir");
    assert!(matches!(writer.write(&record(1)).await, Err(AuditError::Write)));
    assert!(!writer.is_healthy());
    std::fs::create_dir(&sub).expect("mkdir again");
    writer.write(&record(2)).await.expect("recovered");
    assert!(writer.is_healthy());
    assert_eq!(lines(&path), 1);
}

/// Spawns `n` tasks that each queue one message when they run.
fn ready_senders(tx: &mpsc::Sender<Message>, n: usize) {
    for _ in 0..n {
        let tx = tx.clone();
        tokio::spawn(async move { tx.send(Message::Reopen(None)).await });
    }
}

#[tokio::test]
async fn a_batch_takes_the_records_of_the_requests_ready_meanwhile() {
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let (mut gathering, mut messages) = (Gathering::default(), Vec::new());
    ready_senders(&tx, 5);
    gathering.gather(&mut rx, &mut messages).await;
    assert_eq!(messages.len(), 5, "the ready tasks ran before the batch was closed");
}

#[tokio::test]
async fn after_a_yield_that_gathers_nothing_the_writer_backs_off() {
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let (mut gathering, mut messages) = (Gathering::default(), Vec::new());
    gathering.gather(&mut rx, &mut messages).await;
    assert!(messages.is_empty());
    // Backing off: the next batch is closed at once, without waiting for them.
    ready_senders(&tx, 3);
    gathering.gather(&mut rx, &mut messages).await;
    assert!(messages.is_empty(), "no yield while backing off");
    // The back-off was one batch: the next one gathers again, and a fruitful
    // yield ends the back-off.
    gathering.gather(&mut rx, &mut messages).await;
    assert_eq!(messages.len(), 3);
    assert_eq!((gathering.skip, gathering.back_off), (0, 0));
}

/// An [`Out`] on `path` (created), as the writer task holds it.
fn open_out(path: &std::path::Path) -> Out {
    Out::open(&AuditSink::File { path: path.to_owned(), fsync: false }).expect("open")
}

#[test]
fn the_bytes_of_a_failed_batch_are_cut_off_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    // A good line, then what a batch left before its write failed: a whole
    // record and part of the next.
    let (good, failed) = (&b"{\"good\":1}\n"[..], &b"{\"failed\":1}\n{\"fail"[..]);
    std::fs::write(&path, [good, failed].concat()).expect("seed");
    let Out::File { file, mut len, mut torn, .. } = open_out(&path) else { panic!("a file sink") };
    cut_back(&file, failed.len() as u64, &mut len, &mut torn);
    assert_eq!(std::fs::read(&path).expect("read"), b"{\"good\":1}\n");
    assert_eq!((len, torn), (11, false), "the next batch starts at the cut");
}

#[test]
fn after_a_cut_that_failed_the_next_batch_starts_on_a_new_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, b"{\"good\":1}\n{\"frag").expect("seed");
    let mut out = open_out(&path);
    if let Out::File { torn, .. } = &mut out {
        *torn = true;
    }
    let line = record(1).to_line().expect("encode");
    out.write_batch(&line, &[line.len()]).expect("write");
    let text = std::fs::read_to_string(&path).expect("read");
    let last = text.lines().last().expect("a line");
    assert!(serde_json::from_str::<serde_json::Value>(last).is_ok(), "the record has a line of its own: {text:?}");
    assert!(matches!(out, Out::File { torn: false, .. }), "one newline is enough");
}

#[tokio::test]
async fn a_recheck_recovers_without_a_record_once_the_file_opens_again() {
    let (_dir, sub, path) = in_a_logs_directory();
    let (writer, _task) = AuditWriter::open(file_sink(&path)).await.expect("open");
    std::fs::remove_dir_all(&sub).expect("remove dir");
    assert!(writer.write(&record(1)).await.is_err());
    assert!(!writer.recheck().await, "the directory is still gone");
    std::fs::create_dir(&sub).expect("mkdir again");
    assert!(writer.recheck().await && writer.is_healthy(), "reopened");
    assert!(path.exists());
    assert_eq!(writer.counters().written.get(), 0, "no record was needed");
}

#[tokio::test]
async fn with_fsync_the_first_sync_after_an_open_also_syncs_the_directory() {
    let (_dir, sub, path) = in_a_logs_directory();
    // The directory cannot be opened to sync it once it is gone: the first
    // sync after an open tries it, those after a successful one do not.
    let mut fresh = Out::open(&file_sink(&path)).expect("open");
    let mut synced = Out::open(&file_sink(&path)).expect("open again");
    synced.sync().await.expect("file and directory synced");
    std::fs::remove_dir_all(&sub).expect("remove dir");
    assert!(fresh.sync().await.is_err(), "the new file's directory entry is synced");
    synced.sync().await.expect("only the file, once the entry is synced");
}

#[tokio::test]
async fn a_batch_whose_sync_fails_is_cut_off_again() {
    let (dir, sub, path) = in_a_logs_directory();
    std::fs::write(&path, b"{\"good\":1}\n").expect("seed");
    // A second name for the file, which outlives `logs/`.
    let kept = dir.path().join("kept.jsonl");
    std::fs::hard_link(&path, &kept).expect("link");
    for torn_before in [false, true] {
        let mut out = Out::open(&file_sink(&path)).expect("open");
        if let Out::File { torn, .. } = &mut out {
            *torn = torn_before;
        }
        let before = std::fs::read_to_string(&kept).expect("read");
        let line = record(1).to_line().expect("encode");
        let appended = out.write_batch(&line, &[line.len()]).expect("written whole");
        // The first sync after an open also syncs `logs/`, which is gone.
        let hidden = dir.path().join("hidden");
        std::fs::rename(&sub, &hidden).expect("move logs/ away");
        assert!(sync_or_take_back(&mut out, appended).await.is_err(), "the sync fails");
        std::fs::rename(&hidden, &sub).expect("move logs/ back");
        assert_eq!(std::fs::read_to_string(&kept).expect("read"), before, "the batch answered 503 is cut off");
        let Out::File { len, torn, .. } = out else { panic!("a file sink") };
        assert_eq!((len, torn), (before.len() as u64, torn_before), "the file ends as before the batch");
    }
}

#[test]
fn a_batch_counts_as_stalled_only_while_it_is_written_and_late() {
    let busy = Busy { base: Instant::now() - Duration::from_secs(60), since: Arc::new(AtomicU64::new(0)) };
    assert_eq!(busy.for_how_long(), None, "idle");
    busy.begin();
    assert!(busy.for_how_long().is_some_and(|waited| waited < STALLED_AFTER), "just begun");
    // As if the batch had begun 10 s ago.
    busy.since.store(busy.now() - 10_000, Ordering::Relaxed);
    assert!(busy.for_how_long().is_some_and(|waited| waited >= STALLED_AFTER), "late");
    busy.end();
    assert_eq!(busy.for_how_long(), None, "written");
}

/// A full pipe takes what it has room for and no more, without blocking:
/// the rest of a batch is then written off the runtime (see `write_stdout`).
#[test]
fn a_pipe_written_without_blocking_takes_what_it_has_room_for() {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let mut writer = File::from(std::os::fd::OwnedFd::from(writer));
    let flags = rustix::fs::fcntl_getfl(&writer).expect("flags");
    rustix::fs::fcntl_setfl(&writer, flags | rustix::fs::OFlags::NONBLOCK).expect("non-blocking");
    let batch = vec![b'x'; 1 << 20];
    let taken = stdout::write_without_blocking(&mut writer, &batch).expect("write");
    assert!(taken > 0 && taken < batch.len(), "{taken} of {} bytes", batch.len());
    assert_eq!(stdout::write_without_blocking(&mut writer, b"more").expect("write"), 0, "full: nothing, at once");
    let mut first = vec![0; 4096];
    std::io::Read::read_exact(&mut reader, &mut first).expect("read");
    assert_eq!(stdout::write_without_blocking(&mut writer, b"more").expect("write"), 4, "room again");
}

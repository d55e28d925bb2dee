//! The audit log when writing it fails (operator guide "Audit log" and
//! "Operations"): a write that lands only in part, or whose sync fails, leaves
//! nothing of its batch in the file; a file size limit fails the write
//! without killing the agent; and readiness recovers with the audit file's
//! directory without a request.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use vanta_integration_tests::agent::{AgentBuilder, TestAgent};
use vanta_integration_tests::http::{self, Response};
use vanta_integration_tests::process;

use crate::common::dev_builder;

/// The user the agent runs as where the test runs as root.
const NOBODY: u32 = 65534;

/// Mints a token for `subject` in `dev`; the answer.
fn mint(agent: &TestAgent, subject: &str) -> Response {
    agent.generate(&json!({"subject": subject, "environment": "dev", "key_pattern": "*"}))
}

/// Sets the agent's soft file size limit (`prlimit`, util-linux) while it
/// runs; the hard limit stays, so that an unprivileged test can raise it
/// again.
fn limit_file_size(agent: &TestAgent, limit: &str) {
    let pid = agent.pid().to_string();
    let set = Command::new("prlimit").args(["--pid", &pid, &format!("--fsize={limit}:")]).status();
    assert!(set.expect("prlimit (util-linux) runs").success(), "prlimit --fsize={limit}: failed");
}

/// The audit file as records; panics on a line that is not one.
fn audit_records(audit: &Path) -> Vec<Value> {
    let text = fs::read_to_string(audit).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "the file ends inside a record: {text:?}");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}")))
        .collect()
}

/// An audit file long enough that a file size limit just above it is far
/// above the usage store's and the logs' sizes: only the audit file reaches it.
fn seed_long_audit_file(builder: &AgentBuilder) {
    let seed: String = (0..4000).map(|n| format!("{{\"seed\":{n},\"pad\":\"{}\"}}\n", "x".repeat(240))).collect();
    fs::write(&builder.paths().audit, &seed).unwrap();
}

/// The file size limit reached while the agent runs, started as a service
/// manager would start it (SIGXFSZ at its default action, which kills): the
/// request is answered 503, the agent keeps serving and stops in order, and
/// the file ends on a whole record.
#[test]
fn a_file_size_limit_reached_at_run_time_answers_503_and_kills_nothing() {
    let builder = dev_builder();
    seed_long_audit_file(&builder);
    let audit = builder.paths().audit.clone();
    let mut agent = builder.start();
    assert_eq!(mint(&agent, "before").status, 200);
    // Not even the next record fits.
    limit_file_size(&agent, &fs::metadata(&audit).unwrap().len().to_string());
    let failed = mint(&agent, "failed");
    assert_eq!((failed.status, failed.error_code()), (503, "audit_unavailable".to_owned()), "{}", failed.text());
    assert_eq!(agent.get("/healthz", None).status, 200, "the agent keeps serving");
    let records = audit_records(&audit);
    assert_eq!(records.last().unwrap()["subject"], "before", "the failed request left no record");
    let status = agent.stop();
    assert!(status.success(), "the agent stops in order on SIGTERM: {status}");
}

#[test]
fn a_write_that_lands_in_part_leaves_nothing_of_its_batch() {
    let builder = dev_builder();
    seed_long_audit_file(&builder);
    let audit = builder.paths().audit.clone();
    let mut agent = builder.start();
    assert_eq!(mint(&agent, "before").status, 200);

    // 100 bytes more fit: the next record is written in part, then EFBIG.
    let len = fs::metadata(&audit).unwrap().len();
    limit_file_size(&agent, &(len + 100).to_string());
    let failed = mint(&agent, "failed");
    assert_eq!((failed.status, failed.error_code()), (503, "audit_unavailable".to_owned()), "{}", failed.text());
    assert_eq!(fs::metadata(&audit).unwrap().len(), len, "the fragment is cut off");

    limit_file_size(&agent, "unlimited");
    assert_eq!(mint(&agent, "after").status, 200);
    let records = audit_records(&audit);
    let subjects: Vec<&str> = records.iter().filter_map(|r| r["subject"].as_str()).collect();
    assert_eq!(subjects, ["before", "after"], "the failed request left no record");
    assert!(agent.stop().success(), "the agent stops in order on SIGTERM");
}

/// With `--audit-fsync` the first batch after the file was opened also syncs
/// its directory; in a directory the agent may write but not read, that sync
/// fails after the batch was written. The requests are answered 503, so their
/// records must not stay in the file as successes.
#[test]
fn a_batch_whose_sync_fails_leaves_nothing_in_the_file() {
    let builder = dev_builder();
    let logs = builder.paths().root.join("logs");
    fs::create_dir(&logs).unwrap();
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o300)).unwrap();
    let audit = logs.join("audit.jsonl");
    // Root may read any directory: as root the agent runs as `nobody`.
    let builder = if nix::unistd::getuid().is_root() { builder.run_as(NOBODY, NOBODY) } else { builder };
    let agent = builder.env("VANTA_AUDIT_LOG", &audit).arg("--audit-fsync").start();
    for subject in ["first", "second"] {
        let refused = mint(&agent, subject);
        assert_eq!((refused.status, refused.error_code()), (503, "audit_unavailable".to_owned()), "{}", refused.text());
    }
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o700)).unwrap();
    let text = fs::read_to_string(&audit).unwrap();
    assert_eq!(text, "", "records of requests answered 503 stay in the audit file");
    assert!(agent.stderr_text().contains("failed to sync audit records"), "{}", agent.stderr_text());
}

#[test]
fn readiness_recovers_with_the_audit_directory_without_a_request() {
    let builder = dev_builder();
    let logs = builder.paths().root.join("logs");
    fs::create_dir(&logs).unwrap();
    let agent = builder.env("VANTA_AUDIT_LOG", logs.join("audit.jsonl")).start();
    fs::remove_dir_all(&logs).unwrap();
    let refused = agent.generate(&json!({"subject": "s", "environment": "dev", "key_pattern": "*"}));
    assert_eq!(refused.status, 503, "{}", refused.text());
    let not_ready = agent.get("/readyz", None);
    assert_eq!(not_ready.status, 503, "{}", not_ready.text());
    assert_eq!(not_ready.json()["checks"]["audit"], "the last audit write failed");

    // Only probes from here on: traffic gated on readiness sends nothing.
    fs::create_dir(&logs).unwrap();
    process::poll_until(Duration::from_secs(5), "/readyz to answer 200", || {
        (agent.get("/readyz", None).status == 200).then_some(())
    });
    assert!(logs.join("audit.jsonl").exists(), "the probe reopened the audit file");
}

/// A write that never returns (here: an audit pipe nobody reads) neither
/// fails nor succeeds; once a batch has waited 5 s `/readyz` says so, and
/// the agent is ready again when the reader drains the pipe.
#[test]
fn a_stalled_audit_write_makes_the_agent_unready_until_it_lands() {
    // Two runtime threads whatever the CPUs: with one, the stalled write
    // holds the only thread and `/readyz` cannot answer at all (guide,
    // "Probes").
    let (mut command, agent) = TestAgent::builder().args(["--audit-log", "-", "--worker-threads", "2"]).unstarted();
    let child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut child = process::KillOnDrop(child);
    let mut audit_pipe = child.0.stdout.take().unwrap();
    let readyz = || http::try_request(agent.socket(), "GET", "/readyz", &[], None).ok();
    process::poll_until(Duration::from_secs(30), "/readyz to answer 200", || {
        readyz().filter(|ready| ready.status == 200).map(|_| ())
    });
    let held = crate::common::fill_the_audit_pipe(agent.socket());
    let not_ready = process::poll_until(Duration::from_secs(30), "/readyz to report the stalled write", || {
        readyz().filter(|answer| answer.status == 503)
    });
    let audit = not_ready.json()["checks"]["audit"].as_str().unwrap_or_default().to_owned();
    assert!(audit.starts_with("an audit write has waited "), "{}", not_ready.text());
    assert!(audit.ends_with(" s: the disk or the reader of the audit log does not take records"), "{audit}");

    let reader = std::thread::spawn(move || std::io::copy(&mut audit_pipe, &mut std::io::sink()));
    process::poll_until(Duration::from_secs(30), "/readyz to answer 200 again", || {
        readyz().filter(|ready| ready.status == 200).map(|_| ())
    });
    drop(held);
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(child.0.id()).unwrap()), Signal::SIGTERM);
    let _ = child.0.wait();
    let _ = reader.join();
}

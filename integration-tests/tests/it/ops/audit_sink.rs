//! The audit log when writing it fails (operator guide "Audit log" and
//! "Operations"): a write that lands only in part, or whose sync fails, leaves
//! nothing of its batch in the file, and readiness recovers with the audit
//! file's directory without a request.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use vanta_integration_tests::agent::{AgentBuilder, GENERATE_PATH, TestAgent};
use vanta_integration_tests::http::{self, Response};
use vanta_integration_tests::process;

use crate::common::dev_builder;

/// The user the agent runs as where the test runs as root.
const NOBODY: u32 = 65534;

/// The agent, started through `sh` so that it ignores SIGXFSZ (an ignored
/// signal stays ignored across `exec`): a write past the file size limit then
/// fails with EFBIG after writing what fits, instead of killing the agent.
/// The harness's command, started under `sh`.
struct SizeLimitedAgent {
    child: Child,
    /// Holds the agent's directory.
    unstarted: TestAgent,
}

impl SizeLimitedAgent {
    fn start(builder: AgentBuilder) -> Self {
        let (agent, unstarted) = builder.unstarted();
        let p = unstarted.paths();
        let log = |path: &Path| fs::OpenOptions::new().create(true).append(true).open(path).expect("log file");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "trap '' XFSZ; exec \"$0\" \"$@\""]).arg(agent.get_program()).args(agent.get_args());
        cmd.env_clear().envs(agent.get_envs().filter_map(|(key, value)| Some((key, value?))));
        cmd.current_dir(&p.root).stdin(Stdio::null()).stdout(log(&p.stdout)).stderr(log(&p.stderr)).process_group(0);
        let child = cmd.spawn().expect("sh starts");
        let agent = Self { child, unstarted };
        process::poll_until(Duration::from_secs(10), "the agent to answer /healthz", || {
            agent.request("GET", "/healthz", None).filter(|r| r.status == 200)
        });
        agent
    }

    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Option<Response> {
        let body = body.map(Value::to_string);
        let headers: &[(&str, &str)] = if body.is_some() { &[("Content-Type", "application/json")] } else { &[] };
        http::try_request(self.unstarted.socket(), method, path, headers, body.as_deref().map(str::as_bytes)).ok()
    }

    /// Mints a token for `subject`; the answer.
    fn mint(&self, subject: &str) -> Response {
        let body = json!({"subject": subject, "environment": "dev", "key_pattern": "*"});
        self.request("POST", GENERATE_PATH, Some(&body)).expect("the agent answers")
    }

    /// Sets the agent's soft file size limit (`prlimit`, util-linux); the
    /// hard limit stays, so that an unprivileged test can raise it again.
    fn limit_file_size(&self, limit: &str) {
        let pid = self.child.id().to_string();
        let set = Command::new("prlimit").args(["--pid", &pid, &format!("--fsize={limit}:")]).status();
        assert!(set.expect("prlimit (util-linux) runs").success(), "prlimit --fsize={limit}: failed");
    }
}

impl Drop for SizeLimitedAgent {
    fn drop(&mut self) {
        process::kill_group(&self.child);
        let _ = self.child.wait();
    }
}

#[test]
fn a_write_that_lands_in_part_leaves_nothing_of_its_batch() {
    let builder = dev_builder();
    // A long file, so that the limit below is far above the usage store's
    // and the logs' sizes: only the audit file reaches it.
    let seed: String = (0..4000).map(|n| format!("{{\"seed\":{n},\"pad\":\"{}\"}}\n", "x".repeat(240))).collect();
    fs::write(&builder.paths().audit, &seed).unwrap();
    let audit = builder.paths().audit.clone();
    let mut agent = SizeLimitedAgent::start(builder);
    assert_eq!(agent.mint("before").status, 200);

    // 100 bytes more fit: the next record is written in part, then EFBIG.
    let len = fs::metadata(&audit).unwrap().len();
    agent.limit_file_size(&(len + 100).to_string());
    let failed = agent.mint("failed");
    assert_eq!((failed.status, failed.error_code()), (503, "audit_unavailable".to_owned()), "{}", failed.text());
    assert!(agent.child.try_wait().unwrap().is_none(), "the agent ignores SIGXFSZ and keeps serving");
    assert_eq!(fs::metadata(&audit).unwrap().len(), len, "the fragment is cut off");

    agent.limit_file_size("unlimited");
    assert_eq!(agent.mint("after").status, 200);
    let text = fs::read_to_string(&audit).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}")))
        .collect();
    let subjects: Vec<&str> = records.iter().filter_map(|r| r["subject"].as_str()).collect();
    assert_eq!(subjects, ["before", "after"], "the failed request left no record");
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
        let refused = agent.generate(&json!({"subject": subject, "environment": "dev", "key_pattern": "*"}));
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

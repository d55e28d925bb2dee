//! Diagnostic logging from the checked configuration (operator guide,
//! "Configuration reference"): `VANTA_LOG_FORMAT` is `plain` or `json` (any
//! case), `VANTA_LOG` must parse; anything else stops start-up with exit 2.
//! A log line that cannot be written is lost, never the agent or a request.

use std::process::Stdio;

use vanta_integration_tests::agent::{START_DEADLINE, TestAgent};
use vanta_integration_tests::{http, process};

use crate::common::{DEV_YAML, assert_error, dev_builder};

#[test]
fn an_unknown_log_format_or_a_broken_filter_stops_start_up() {
    let (format, _a) = dev_builder().env("VANTA_LOG_FORMAT", "yaml").run_to_exit();
    assert_eq!(format.code(), Some(2), "{}", format.stderr_text());
    let stderr = format.stderr_text();
    assert!(stderr.contains("yaml") && stderr.contains("plain") && stderr.contains("json"), "{stderr}");
    let (filter, _b) = dev_builder().env("VANTA_LOG", "vanta_agent=loud").run_to_exit();
    assert_eq!(filter.code(), Some(2), "{}", filter.stderr_text());
    let line = filter.stderr_text();
    assert!(line.starts_with("vanta-agent: error: invalid configuration: --log (VANTA_LOG)"), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
}

#[test]
fn the_json_format_is_taken_in_any_case() {
    let agent = dev_builder().env("VANTA_LOG_FORMAT", "JSON").start();
    let stderr = agent.stderr_text();
    let listening = stderr.lines().find(|l| l.contains("listening")).unwrap_or_else(|| panic!("{stderr}"));
    let json: serde_json::Value = serde_json::from_str(listening).unwrap_or_else(|e| panic!("{e}: {listening}"));
    assert_eq!(json["fields"]["message"], "listening");
}

/// The write end of a pipe whose reader has already gone: every write fails
/// with EPIPE from the first.
fn broken_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

/// Starts an agent serving `prod` from a file for another age key, with
/// stderr to `stderr`, and waits for `/healthz`; fails if it dies first.
fn start_with_stderr(stderr: Stdio) -> (process::KillOnDrop, TestAgent) {
    let (mut command, agent) = TestAgent::builder().foreign_secrets("prod", DEV_YAML).unstarted();
    let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr).spawn().unwrap();
    let mut child = process::KillOnDrop(child);
    process::poll_until(START_DEADLINE, "the agent to answer /healthz", || {
        assert_eq!(child.0.try_wait().unwrap(), None, "the agent died at start-up");
        http::try_request(agent.socket(), "GET", "/healthz", &[], None).ok().filter(|r| r.status == 200)
    });
    (child, agent)
}

/// A request for `prod`, which logs a warning while it is served: answered.
fn assert_a_warning_request_is_answered(child: &mut process::KillOnDrop, agent: &TestAgent) {
    let refused = agent.get_secret("prod", "DATABASE_URL", &agent.mint_for("prod", "*"));
    assert_error(&refused, 500, "decryption_failed");
    assert_eq!(child.0.try_wait().unwrap(), None, "the agent died");
}

/// stderr a pipe whose reader has gone (a log collector that died) before
/// the agent started: every log line fails with EPIPE, and the agent starts
/// and serves all the same.
#[test]
fn a_broken_stderr_pipe_at_start_up_loses_log_lines_not_the_agent() {
    let (mut child, agent) = start_with_stderr(broken_pipe());
    assert_a_warning_request_is_answered(&mut child, &agent);
}

/// The reader of stderr goes while the agent serves: the request that logs
/// next is still answered.
#[test]
fn a_stderr_reader_that_goes_while_serving_loses_log_lines_not_requests() {
    let (mut child, agent) = start_with_stderr(Stdio::piped());
    drop(child.0.stderr.take());
    assert_a_warning_request_is_answered(&mut child, &agent);
}

/// A start-up error that cannot be printed (stderr a broken pipe) still
/// exits 2, the code for bad configuration, not a panic's 101.
#[test]
fn a_start_up_error_on_a_broken_stderr_pipe_still_exits_2() {
    let (mut command, _agent) = dev_builder().env("VANTA_SOPS_TIMEOUT_SECONDS", "0").unstarted();
    let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(broken_pipe()).spawn().unwrap();
    let mut child = process::KillOnDrop(child);
    let status = process::wait_with_deadline(&mut child.0, START_DEADLINE).expect("the agent exits");
    assert_eq!(status.code(), Some(2), "{status}");
}

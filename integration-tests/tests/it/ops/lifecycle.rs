//! docs/API.md §3: start-up, the socket, signals, the JWT key, `/healthz`.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::thread;
use std::time::Duration;

use nix::sys::signal::Signal;
use vanta_integration_tests::agent::{START_DEADLINE, TestAgent};
use vanta_integration_tests::jwt::{self, TEST_JWT_KEY};
use vanta_integration_tests::process::{self, Finished};
use vanta_integration_tests::staged;

use crate::common::{dev_agent, dev_builder, ok_json};

/// docs/API.md §3: start-up errors print one clear line and exit 2.
fn assert_startup_error(finished: &Finished) {
    assert_eq!(finished.code(), Some(2), "exit status {}; stderr: {}", finished.status, finished.stderr_text());
    let stderr = finished.stderr_text();
    assert!(!stderr.trim().is_empty(), "a start-up error says why on stderr");
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
}

#[test]
fn healthz_is_ok_without_auth() {
    let agent = dev_agent();
    assert_eq!(ok_json(&agent.get("/healthz", None)), serde_json::json!({"status": "ok"}));
}

#[test]
fn socket_has_mode_0660_and_its_parent_is_created() {
    let root = tempfile::tempdir().unwrap();
    let socket = root.path().join("not/yet/there/agent.sock");
    let agent = TestAgent::builder().socket(&socket).start();
    let meta = fs::metadata(agent.socket()).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
}

#[test]
fn socket_mode_follows_the_flag() {
    let agent = dev_builder().args(["--socket-mode", "0600"]).start();
    assert_eq!(fs::metadata(agent.socket()).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let builder = dev_builder();
    let socket = builder.paths().socket.clone();
    drop(UnixListener::bind(&socket).unwrap());
    assert!(socket.exists(), "the stale socket file is there");
    let agent = builder.start();
    assert_eq!(agent.get("/healthz", None).status, 200);
}

#[test]
fn a_second_agent_on_a_live_socket_exits_2() {
    let first = dev_agent();
    let (finished, _second) = dev_builder().socket(first.socket()).run_to_exit();
    assert_startup_error(&finished);
    assert_eq!(first.get("/healthz", None).status, 200, "the first agent still serves");
}

#[test]
fn sigterm_and_sigint_remove_the_socket_and_exit_0() {
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        let mut agent = dev_agent();
        agent.signal(sig);
        let status = agent.wait_exit(START_DEADLINE);
        assert_eq!(status.code(), Some(0), "{sig}: {status}");
        assert!(!agent.socket().exists(), "{sig}: the socket file is removed");
    }
}

#[test]
fn an_in_flight_request_finishes_on_sigterm() {
    let builder = dev_builder();
    let marker = builder.paths().root.join("sops-started");
    let slow = builder.paths().root.join("slow-sops");
    let real = vanta_integration_tests::bins::sops();
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then exec '{}' \"$@\"; fi\ntouch '{}'\nsleep 1\nexec '{}' \"$@\"\n",
        real.display(),
        marker.display(),
        real.display()
    );
    staged::write_program(&slow, &script);
    let mut agent = builder.arg("--sops-bin").arg(&slow).start();
    let token = jwt::sign(&jwt::claims("dev", "*"));
    thread::scope(|s| {
        let request = s.spawn(|| agent.get_secret("dev", "INT", &token));
        process::poll_until(Duration::from_secs(10), "sops to start", || marker.exists().then_some(()));
        agent.signal(Signal::SIGTERM);
        let response = request.join().unwrap();
        assert_eq!(response.status, 200, "the in-flight request completes: {}", response.text());
    });
    assert_eq!(agent.wait_exit(START_DEADLINE).code(), Some(0));
}

#[test]
fn a_missing_or_short_jwt_key_stops_start_up_without_printing_it() {
    let (missing, _a) = dev_builder().env_remove("VANTA_JWT_SECRET_KEY").run_to_exit();
    assert_startup_error(&missing);
    let short = "short-key-of-31-bytes-012345678";
    assert_eq!(short.len(), 31);
    let (finished, _b) = dev_builder().env("VANTA_JWT_SECRET_KEY", short).run_to_exit();
    assert_startup_error(&finished);
    let output = format!("{}{}", finished.stdout_text(), finished.stderr_text());
    assert!(!output.contains(short), "the short key is printed: {output}");
}

#[test]
fn the_jwt_key_can_come_from_a_file() {
    let builder = dev_builder();
    let key_file = builder.paths().root.join("jwt.key");
    let key = "file-key-file-key-file-key-file-key-0123456";
    fs::write(&key_file, key).unwrap();
    let agent = builder.env_remove("VANTA_JWT_SECRET_KEY").env("VANTA_JWT_SECRET_KEY_FILE", &key_file).start();
    let minted = agent.mint_for("dev", "*");
    assert!(jwt::verify_hs256(&minted, key.as_bytes()), "minted with the file's key");
    let mine = jwt::sign_alg("HS256", key.as_bytes(), &jwt::claims("dev", "*"));
    assert_eq!(agent.secret_value("dev", "INT", &mine), "42");
    let with_test_key = jwt::sign_alg("HS256", TEST_JWT_KEY.as_bytes(), &jwt::claims("dev", "*"));
    assert_eq!(agent.get_secret("dev", "INT", &with_test_key).status, 401);
}

#[test]
fn an_unreadable_jwt_key_file_stops_start_up() {
    let (finished, _agent) = dev_builder()
        .env_remove("VANTA_JWT_SECRET_KEY")
        .env("VANTA_JWT_SECRET_KEY_FILE", "/nonexistent/jwt.key")
        .run_to_exit();
    assert_startup_error(&finished);
}

#[test]
fn a_missing_sops_files_path_stops_start_up() {
    let (finished, _agent) = dev_builder().env_remove("VANTA_SOPS_FILES_PATH").run_to_exit();
    assert_startup_error(&finished);
}

/// A SIGHUP (a log rotation, a certificate renewal) that arrives while the
/// agent starts is not fatal: its handler is installed before the socket is
/// bound, so the agent never dies leaving its socket behind.
#[test]
fn a_sighup_during_start_up_neither_kills_the_agent_nor_leaves_its_socket() {
    for attempt in 0..10 {
        let (mut command, agent) = TestAgent::builder().unstarted();
        let socket = agent.socket().to_owned();
        let quiet = || std::process::Stdio::null();
        let mut child = command.stdin(quiet()).stdout(quiet()).stderr(quiet()).spawn().unwrap();
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        // Spinning, not sleeping: the signal must land right after the bind.
        let started = std::time::Instant::now();
        while !socket.exists() {
            assert!(started.elapsed() < START_DEADLINE, "no socket");
            std::hint::spin_loop();
        }
        nix::sys::signal::kill(pid, Signal::SIGHUP).unwrap();
        thread::sleep(Duration::from_millis(50));
        let ended = child.try_wait().unwrap();
        let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
        let _ = child.wait();
        assert_eq!(ended, None, "attempt {attempt}: the agent died of a SIGHUP during start-up");
    }
}

/// An audit pipe nobody reads blocks the writer in `write(2)`; SIGTERM still
/// ends the agent (after its drain deadlines) instead of hanging on that
/// thread for ever.
#[test]
fn sigterm_ends_the_agent_even_with_its_audit_pipe_full() {
    let (mut command, agent) = TestAgent::builder().args(["--audit-log", "-"]).unstarted();
    let socket = agent.socket().to_owned();
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped()) // never read
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed if the test fails before the agent ends.
    let mut child = process::KillOnDrop(child);
    process::poll_until(START_DEADLINE, "the socket", || socket.exists().then_some(()));
    let held = crate::common::fill_the_audit_pipe(&socket);
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.0.id()).unwrap());
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let ended = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.0.kill();
            let _ = child.0.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    drop(held);
    assert!(ended.is_some_and(|status| status.code().is_some()), "did not exit by itself: {ended:?}");
}

/// The agent's open-files soft limit in `/proc/PID/limits`: (soft, hard).
fn open_files_limit(agent: &TestAgent) -> (String, String) {
    let limits = fs::read_to_string(format!("/proc/{}/limits", agent.pid())).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap().to_owned();
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_owned(), fields[4].to_owned())
}

/// A soft limit below what the connection caps need is raised to that
/// need (not further: sops inherits it); a hard limit below it is a warning
/// naming both.
#[test]
fn the_open_files_limit_is_raised_to_what_the_caps_need_and_a_short_one_is_named() {
    let warning = "the open-file limit is below what the connection caps need";
    let needed = crate::common::DEFAULT_OPEN_FILES_NEEDED.to_string();
    let short = dev_builder().under(&["prlimit", "--nofile=256:512", "--"]).start();
    assert_eq!(open_files_limit(&short), ("512".into(), "512".into()));
    let line = short.wait_log_line(warning);
    assert!(line.contains("limit=512") && line.contains(&format!("needed={needed}")), "{line}");

    let Some(hard) = crate::common::roomy_open_files_limit() else {
        eprintln!("the raise is not tested: this process's hard open-files limit is too low to give the agent");
        return;
    };
    let raised = dev_builder().under(&["prlimit", &format!("--nofile=256:{hard}"), "--"]).start();
    assert_eq!(open_files_limit(&raised), (needed, hard.to_string()));
    assert!(!raised.stderr_text().contains(warning), "{}", raised.stderr_text());
}

//! Start-up errors name the setting to change, as a flag and its variable
//! (operator guide, "Troubleshooting"): exit 2 and one line.

use std::fs;

use vanta_integration_tests::agent::{AgentBuilder, TestAgent};

/// The one `vanta-agent: error:` line of a start-up that fails.
fn startup_error(builder: AgentBuilder) -> String {
    let (finished, _agent) = builder.run_to_exit();
    let stderr = finished.stderr_text();
    assert_eq!(finished.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("vanta-agent: error: ")).collect();
    assert_eq!(lines.len(), 1, "one error line: {stderr}");
    lines[0].to_owned()
}

#[test]
fn start_up_errors_name_the_flag_and_the_variable() {
    let builder = TestAgent::builder();
    let blocker = builder.paths().root.join("a-file");
    fs::write(&blocker, "not a directory").unwrap();
    let line = startup_error(builder.env("VANTA_STATE_PATH", blocker.join("state/usage.db")));
    assert!(line.contains("failed to create the state directory"), "{line}");
    assert!(line.contains("(set --state-path or VANTA_STATE_PATH)"), "{line}");

    let builder = TestAgent::builder();
    let blocker = builder.paths().root.join("a-file");
    fs::write(&blocker, "not a directory").unwrap();
    let audit = blocker.join("audit.jsonl");
    let line = startup_error(builder.env("VANTA_AUDIT_LOG", &audit));
    let named = format!("failed to open the audit log {} (set --audit-log or VANTA_AUDIT_LOG)", audit.display());
    assert!(line.contains(&named), "the path is named: {line}");

    let line = startup_error(TestAgent::builder().args(["--sops-timeout-seconds", "0"]));
    assert!(line.contains("--sops-timeout-seconds (VANTA_SOPS_TIMEOUT_SECONDS): must be at least 1"), "{line}");

    let line = startup_error(TestAgent::builder().env("VANTA_WORKER_THREADS", "0"));
    assert!(line.contains("--worker-threads (VANTA_WORKER_THREADS): must be at least 1"), "{line}");
}

#[test]
fn numbers_beyond_their_bounds_stop_start_up_before_the_socket_is_bound() {
    // TCP listens, so that before the bound its cap reached tokio.
    let tcp = ["--listen-tcp", "127.0.0.1:0", "--insecure-tcp", "--max-tcp-connections", "18446744073709551615"];
    for (args, problem) in [
        (
            &["--max-connections", "18446744073709551615"][..],
            "--max-connections (VANTA_MAX_CONNECTIONS): must be at most 1000000",
        ),
        (&tcp, "--max-tcp-connections (VANTA_MAX_TCP_CONNECTIONS): must be at most 1000000"),
        (&["--worker-threads", "1000000"], "--worker-threads (VANTA_WORKER_THREADS): must be at most 1024"),
        (&["--mint-max-usage-limit", "0"], "--mint-max-usage-limit (VANTA_MINT_MAX_USAGE_LIMIT): must be at least 1"),
        (
            &["--clock-leeway-seconds", "999999999"],
            "--clock-leeway-seconds (VANTA_CLOCK_LEEWAY_SECONDS): must be at most 600",
        ),
        (
            &["--usage-lease-seconds", "9300000000000000"],
            "--usage-lease-seconds (VANTA_USAGE_LEASE_SECONDS): must be at most 86400",
        ),
    ] {
        let builder = TestAgent::builder();
        let socket = builder.paths().socket.clone();
        let line = startup_error(builder.args(args));
        assert!(line.ends_with(problem), "{args:?}: {line}");
        assert!(!socket.exists(), "{args:?}: the socket is left behind");
    }
}

/// The agent's runtime threads (tokio names them), counted before any
/// blocking work could add threads of the same name.
fn runtime_threads(agent: &TestAgent) -> usize {
    let tasks = fs::read_dir(format!("/proc/{}/task", agent.pid())).unwrap();
    let names = tasks.map(|task| fs::read_to_string(task.unwrap().path().join("comm")).unwrap_or_default());
    names.filter(|name| name.starts_with("tokio-rt-worker")).count()
}

#[test]
fn one_worker_thread_per_cpu_but_one_by_default_or_as_many_as_asked_serving_the_same_answers() {
    let cpus = std::thread::available_parallelism().unwrap().get().saturating_sub(1).max(1);
    assert_eq!(runtime_threads(&crate::common::dev_builder().start()), cpus);
    // tokio's own variable is not read: a bad value there cannot panic the agent.
    let tokio_var = crate::common::dev_builder().env("TOKIO_WORKER_THREADS", "many").start();
    assert_eq!(runtime_threads(&tokio_var), cpus);
    let one = crate::common::dev_builder().env("VANTA_WORKER_THREADS", "1").start();
    assert_eq!(runtime_threads(&one), 1);
    let agent = crate::common::dev_builder().args(["--worker-threads", "4"]).start();
    assert_eq!(runtime_threads(&agent), 4);
    let token = agent.mint_for("dev", "*");
    let answers: Vec<u16> = std::thread::scope(|s| {
        let fetches: Vec<_> =
            (0..16).map(|_| s.spawn(|| agent.get_secret("dev", "DATABASE_URL", &token).status)).collect();
        fetches.into_iter().map(|f| f.join().unwrap()).collect()
    });
    assert_eq!(answers, [200; 16]);
}

#[test]
fn a_secret_that_is_not_utf8_stops_start_up_without_being_shown() {
    use std::os::unix::ffi::OsStrExt;
    // A valid key but for its last byte: read lossily, it became another key.
    let key = [&b"fe3d1c0a9b8e7f6a5d4c3b2a19081726-"[..], b"\xff"].concat();
    let builder = TestAgent::builder().env("VANTA_JWT_SECRET_KEY", std::ffi::OsStr::from_bytes(&key));
    let line = startup_error(builder);
    assert!(
        line.ends_with(
            "VANTA_JWT_SECRET_KEY: the value is not valid UTF-8: give it as text (a key as base64, for one)"
        ),
        "{line}"
    );
    assert!(!line.contains("fe3d1c0a9b8e7f6a5d4c3b2a19081726"), "the key is shown: {line}");
}

#[test]
fn settings_that_would_be_ignored_stop_start_up_naming_both_settings() {
    let redis_only = "applies to a Redis usage store only (--usage-store redis://…)";
    type Set = fn(AgentBuilder) -> AgentBuilder;
    let cases: [(Set, String); 5] = [
        (|b| b.args(["--usage-store-prefix", "fleet-a"]), format!("--usage-store-prefix (VANTA_USAGE_STORE_PREFIX): {redis_only}")),
        (|b| b.env("VANTA_USAGE_STORE_TIMEOUT_MS", "500"), format!("--usage-store-timeout-ms (VANTA_USAGE_STORE_TIMEOUT_MS): {redis_only}")),
        (|b| b.args(["--audit-log", "-", "--audit-fsync"]), "--audit-fsync (VANTA_AUDIT_FSYNC): applies to an audit file only, not to --audit-log -".into()),
        (
            |b| {
                let admin = b.paths().root.join("admin-token");
                fs::write(&admin, "an-admin-credential-of-40-bytes-0123456\n").unwrap();
                b.env("VANTA_ADMIN_TOKEN_FILE", &admin)
            },
            "--listen-tcp (VANTA_LISTEN_TCP): VANTA_ADMIN_TOKEN_FILE applies to TCP callers only and needs --listen-tcp".into(),
        ),
        (
            |b| b.env("VANTA_MAX_TCP_CONNECTIONS", "64"),
            "--listen-tcp (VANTA_LISTEN_TCP): --tls-cert, --tls-key, --insecure-tcp and --max-tcp-connections need --listen-tcp".into(),
        ),
    ];
    for (set, problem) in cases {
        let line = startup_error(set(crate::common::dev_builder()));
        assert!(line.ends_with(&problem), "{line}");
    }
}

/// `--audit-log -` with standard output discarded (redirected to /dev/null,
/// or closed, which std makes /dev/null): records would vanish while
/// secrets are served, so the agent does not start.
#[test]
fn audit_records_to_a_discarded_standard_output_stop_start_up() {
    for redirect in [">/dev/null", ">&-"] {
        let script = format!("exec \"$0\" \"$@\" {redirect}");
        let builder = crate::common::dev_builder().args(["--audit-log", "-"]).under(&["sh", "-c", &script]);
        let line = startup_error(builder);
        assert!(
            line.contains("failed to open the audit log on standard output (set --audit-log or VANTA_AUDIT_LOG)"),
            "{line}"
        );
        assert!(line.ends_with("standard output is /dev/null or closed, so every audit record would be lost: give --audit-log PATH, or connect the agent's standard output to a reader"), "{redirect}: {line}");
    }
}

/// Start-up warnings (no key material for sops) come only once the agent
/// listens: before, a socket that could not be bound printed the warning
/// first, so the error was not the one line on stderr.
#[test]
fn a_start_up_error_is_the_only_line_even_when_a_warning_would_be_due() {
    let builder = TestAgent::builder().env_remove("SOPS_AGE_KEY_FILE");
    let blocker = builder.paths().root.join("a-file");
    fs::write(&blocker, "not a directory").unwrap();
    let (finished, _agent) = builder.socket(&blocker.join("agent.sock")).run_to_exit();
    let stderr = finished.stderr_text();
    assert_eq!(finished.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("vanta-agent: error: failed to listen on the socket"), "{stderr}");
}

/// A `--state-path` that is no regular file stops start-up with exit 2: a
/// FIFO there blocked the open for ever (and the agent ignored SIGTERM, its
/// handler being installed already).
#[test]
fn a_state_path_that_is_a_fifo_or_a_device_stops_start_up() {
    let builder = TestAgent::builder();
    let fifo = builder.paths().root.join("usage.db");
    let made = std::process::Command::new("mkfifo").args(["-m", "600"]).arg(&fifo).status().unwrap();
    assert!(made.success());
    for path in [fifo.as_path(), std::path::Path::new("/dev/null")] {
        let builder = TestAgent::builder().env("VANTA_STATE_PATH", path);
        let line = startup_error(builder);
        let want =
            format!("the usage store {} is not a regular file (set --state-path or VANTA_STATE_PATH)", path.display());
        assert!(line.ends_with(&want), "{line}");
    }
}

//! `vanta-agent doctor`: with the agent's own flags and environment, one
//! line per check, exit 1 if any fails, never a value; on a healthy setup
//! and on each broken one, with the real sops and real age keys.

use std::fs;

use vanta_integration_tests::agent::AgentBuilder;
use vanta_integration_tests::process::Finished;

use crate::api::sops_runs::fake_sops;
use crate::common::{DEV_YAML, dev_builder, scannable_secrets};

/// Runs `doctor` with the builder's configuration; asserts the exit code and
/// that no value was printed; returns stdout.
fn doctor(builder: AgentBuilder, code: i32) -> String {
    let (finished, _agent) = builder.arg("doctor").run_to_exit();
    assert_eq!(finished.code(), Some(code), "stdout:\n{}\nstderr:\n{}", finished.stdout_text(), finished.stderr_text());
    assert_no_value(&finished);
    finished.stdout_text()
}

fn assert_no_value(finished: &Finished) {
    let (stdout, stderr) = (finished.stdout_text(), finished.stderr_text());
    for secret in scannable_secrets() {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "doctor printed a value");
    }
}

/// The line of `check`, asserting it starts with `status`.
fn line<'a>(stdout: &'a str, status: &str, check: &str) -> &'a str {
    let line = stdout
        .lines()
        .find(|l| l.split_once("  ").is_some_and(|(_, rest)| rest.trim_start().starts_with(&format!("{check}:"))))
        .unwrap_or_else(|| panic!("no line for {check}:\n{stdout}"));
    assert!(line.starts_with(status), "{check} is {status}: {line}");
    line
}

#[test]
fn a_healthy_setup_passes_every_check() {
    let builder = dev_builder().secrets_as("web", "json", r#"{"api": {"token": "tok-json-1"}}"#);
    let stdout = doctor(builder, 0);
    // "open files" depends on the test's own limit: see its own test.
    for check in ["configuration", "socket directory", "state store", "key material", "secrets directory"] {
        line(&stdout, "ok", check);
    }
    assert!(line(&stdout, "ok", "sops").contains("sops 3."), "{stdout}");
    assert!(line(&stdout, "ok", "key material").contains("SOPS_AGE_KEY_FILE (identities: 1)"), "{stdout}");
    assert!(line(&stdout, "ok", "environment dev").contains("18 key(s) decrypted from dev.enc.yaml"), "{stdout}");
    assert!(line(&stdout, "ok", "environment web").contains("web.enc.json"), "{stdout}");
    assert!(!stdout.contains("tok-json-1") && !stdout.contains("api/token"), "no value, no key name");
    line(&stdout, "ok", "summary");
}

/// A key with a space, a `/` or a character outside `[A-Za-z0-9_.-]` can
/// never be fetched; listings leave it out, so nobody was told.
#[test]
fn keys_no_key_path_can_name_are_a_warning_that_names_none_of_them() {
    let builder =
        dev_builder().secrets("odd", "good: g-1\n\"with space\": s-2\nnested: {\"\u{fc}n\": u-3}\n\"c/d\": z-4\n");
    let stdout = doctor(builder, 0);
    line(&stdout, "ok", "environment dev");
    let warning = line(&stdout, "warn", "environment odd");
    assert!(warning.contains("1 key(s) decrypted from odd.enc.yaml, but 3 more cannot be fetched"), "{warning}");
    assert!(warning.contains("[A-Za-z0-9_.-]"), "{warning}");
    assert!(!stdout.contains("with space") && !stdout.contains("c/d"), "no key name: {stdout}");
}

#[test]
fn an_open_files_limit_below_the_connection_caps_need_is_a_warning() {
    let stdout = doctor(dev_builder().under(&["prlimit", "--nofile=256:512", "--"]), 0);
    let warning = line(&stdout, "warn", "open files");
    assert!(warning.contains("the limit (512) is below what the connection caps need (1088)"), "{warning}");
    assert!(warning.contains("ulimit -Hn"), "{warning}");
    let Some(hard) = crate::common::roomy_open_files_limit() else {
        eprintln!("the ok line is not tested: this process's hard open-files limit is too low to give the doctor");
        return;
    };
    let stdout = doctor(dev_builder().under(&["prlimit", &format!("--nofile=256:{hard}"), "--"]), 0);
    let ok = line(&stdout, "ok", "open files");
    assert!(ok.contains(&format!("limit 1088 (hard {hard}), the connection caps need 1088")), "{ok}");
}

#[test]
fn each_broken_environment_is_one_failing_line_with_its_cause_and_fix() {
    let builder =
        dev_builder().foreign_secrets("foreign", DEV_YAML).secrets("tampered", DEV_YAML).secrets("stamped", DEV_YAML);
    let vault = builder.paths().vault.clone();
    // Metadata edited by hand: sops fails with Go's time parser's message.
    let stamped = vault.join("stamped.enc.yaml");
    let text = fs::read_to_string(&stamped).unwrap();
    let edited =
        text.lines().map(|l| if l.trim_start().starts_with("lastmodified:") { "    lastmodified: x" } else { l });
    fs::write(&stamped, edited.collect::<Vec<_>>().join("\n")).unwrap();
    let tampered = vault.join("tampered.enc.yaml");
    let text = fs::read_to_string(&tampered).unwrap();
    fs::write(&tampered, text.lines().filter(|l| !l.starts_with("DATABASE_USER:")).collect::<Vec<_>>().join("\n"))
        .unwrap();
    fs::write(vault.join("plain.enc.yaml"), "DATABASE_URL: plaintext-never-printed-5\n").unwrap();
    fs::write(vault.join("twice.enc.yaml"), "a: b\n").unwrap();
    fs::write(vault.join("twice.enc.env"), "A=b\n").unwrap();
    let stdout = doctor(builder, 1);
    line(&stdout, "ok", "environment dev");
    let cases = [
        ("foreign", "no_matching_key", "SOPS_AGE_KEY_FILE"),
        ("tampered", "mac_mismatch", "re-encrypt"),
        ("plain", "malformed_file", "sops encrypt"),
        ("twice", "ambiguous_files", "twice.enc.yaml, twice.enc.env"),
        ("stamped", "malformed_file", "(sops said: parsing time"),
    ];
    for (env, cause, fix) in cases {
        let failing = line(&stdout, "FAIL", &format!("environment {env}"));
        assert!(failing.contains(cause) && failing.contains(fix), "{failing}");
    }
    assert!(!stdout.contains("never-printed"), "{stdout}");
    assert!(line(&stdout, "FAIL", "summary").contains("5 check(s) failed"), "{stdout}");
    assert!(!stdout.contains("run `vanta-agent doctor`"), "the doctor does not send the reader to itself: {stdout}");
}

#[test]
fn no_key_material_is_a_warning_and_the_files_then_fail() {
    let stdout = doctor(dev_builder().env_remove("SOPS_AGE_KEY_FILE"), 1);
    assert!(line(&stdout, "warn", "key material").contains("SOPS_AGE_KEY_FILE"), "{stdout}");
    assert!(line(&stdout, "FAIL", "environment dev").contains("no_matching_key"), "{stdout}");
}

#[test]
fn an_unreadable_key_file_fails() {
    let builder = dev_builder();
    let missing = builder.paths().root.join("no-such-keys.txt");
    let stdout = doctor(builder.env("SOPS_AGE_KEY_FILE", &missing), 1);
    assert!(line(&stdout, "FAIL", "key material").contains("cannot be read"), "{stdout}");
}

#[test]
fn a_missing_sops_fails_the_configuration() {
    let builder = dev_builder();
    let missing = builder.paths().root.join("no-sops-here");
    let stdout = doctor(builder.arg("--sops-bin").arg(&missing), 1);
    assert!(line(&stdout, "FAIL", "configuration").contains("--sops-bin"), "{stdout}");
}

#[test]
fn a_hanging_sops_times_out() {
    let builder = dev_builder();
    let sops = fake_sops(&builder.paths().root, "exec sleep 30");
    let stdout = doctor(builder.arg("--sops-bin").arg(&sops).args(["--sops-timeout-seconds", "1"]), 1);
    line(&stdout, "ok", "sops");
    assert!(line(&stdout, "FAIL", "environment dev").contains("timed_out"), "{stdout}");
}

#[test]
fn a_foreign_state_store_and_a_socket_under_a_file_fail() {
    let builder = dev_builder();
    let root = builder.paths().root.clone();
    fs::write(root.join("not-a-db"), "hello, not sqlite at all").unwrap();
    fs::write(root.join("a-file"), "").unwrap();
    let builder = builder
        .env("VANTA_STATE_PATH", root.join("not-a-db"))
        .env("VANTA_AGENT_SOCKET", root.join("a-file/agent.sock"));
    let stdout = doctor(builder, 1);
    assert!(line(&stdout, "FAIL", "state store").contains("not a SQLite database"), "{stdout}");
    assert!(line(&stdout, "FAIL", "socket directory").contains("not a writable directory"), "{stdout}");
}

#[test]
fn a_socket_directory_others_may_write_fails_as_it_stops_the_agent() {
    use std::os::unix::fs::PermissionsExt;
    for mode in [0o777, 0o1777] {
        let builder = dev_builder();
        let run = builder.paths().root.join("run");
        fs::set_permissions(&run, fs::Permissions::from_mode(mode)).unwrap();
        let stdout = doctor(builder, 1);
        let failed = line(&stdout, "FAIL", "socket directory");
        assert!(failed.contains(&format!("writable by other users (mode {mode:04o})")), "{stdout}");
    }
}

#[test]
fn what_would_stop_the_agent_fails_the_doctor_too() {
    // Each of these passed the doctor while the agent refused to start.
    let builder = dev_builder();
    let missing = builder.paths().root.join("no-such-dir/audit.jsonl");
    let stdout = doctor(builder.arg("--audit-log").arg(&missing), 1);
    assert!(line(&stdout, "FAIL", "audit log").contains("no-such-dir is not a directory"), "{stdout}");

    let builder = dev_builder();
    let policy = builder.paths().root.join("policy.toml");
    fs::write(&policy, "[[rule]]\nname = \"x\"\nuidz = [0]\n").unwrap();
    let stdout = doctor(builder.arg("--policy-file").arg(&policy), 1);
    assert!(line(&stdout, "FAIL", "policy file").contains("unknown field `uidz`"), "{stdout}");

    let builder = dev_builder();
    let nowhere = builder.paths().root.join("none.pem");
    let tcp = [
        "--listen-tcp",
        "127.0.0.1:0",
        "--tls-cert",
        nowhere.to_str().unwrap(),
        "--tls-key",
        nowhere.to_str().unwrap(),
    ];
    let stdout = doctor(builder.args(tcp), 1);
    line(&stdout, "FAIL", "tls");

    // A FIFO as the state store: the doctor blocked in its open for ever.
    let builder = dev_builder();
    let fifo = builder.paths().root.join("usage.db");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let stdout = doctor(builder.env("VANTA_STATE_PATH", &fifo), 1);
    assert!(line(&stdout, "FAIL", "state store").contains("is not a regular file"), "{stdout}");
}

#[test]
fn the_doctor_decrypts_with_core_dumps_off_as_the_agent_does() {
    let builder = dev_builder();
    let root = builder.paths().root.clone();
    // sops inherits the doctor's core limits. The hard limit tells: the
    // doctor sets it to 0, while the suite's own is normally above 0 (the
    // soft limit often starts at 0 anyway).
    let limits = root.join("core-limits");
    let body = format!("{{ ulimit -S -c; ulimit -H -c; }} > '{}'\nexit 1", limits.display());
    let sops = fake_sops(&root, &body);
    // Not `doctor()`: the agent's directory, and the file, must outlive the run.
    let (finished, _agent) = builder.arg("--sops-bin").arg(&sops).arg("doctor").run_to_exit();
    assert_eq!(finished.code(), Some(1), "{}", finished.stdout_text());
    assert_eq!(fs::read_to_string(&limits).unwrap(), "0\n0\n", "sops ran with core dumps allowed");
}

#[test]
fn a_state_path_the_usage_store_overrides_is_a_warning() {
    // The harness sets VANTA_STATE_PATH, as the image and k8s/ do.
    let builder = dev_builder();
    let store = builder.paths().root.join("elsewhere.db");
    let stdout = doctor(builder.arg("--usage-store").arg(format!("sqlite:{}", store.display())), 0);
    let warning = line(&stdout, "warn", "unused setting");
    assert!(warning.contains("--state-path (VANTA_STATE_PATH) is set but not read"), "{stdout}");
}

#[test]
fn the_agents_flags_may_follow_the_word_doctor() {
    // `vanta-agent doctor --sops-bin …`, as docs/API.md §8 has it: the flag is
    // read (sops cannot be run), not refused as an unknown argument.
    let (finished, _agent) = dev_builder().arg("doctor").arg("--sops-bin").arg("/nonexistent/sops").run_to_exit();
    let stdout = finished.stdout_text();
    assert_eq!(finished.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{}", finished.stderr_text());
    assert!(
        line(&stdout, "FAIL", "configuration").contains("--sops-bin (VANTA_SOPS_BIN): /nonexistent/sops"),
        "{stdout}"
    );
}

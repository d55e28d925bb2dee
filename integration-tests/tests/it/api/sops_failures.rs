//! Every way sops can fail, with the real sops and real age keys: the answer
//! keeps its status and code, the audit record names the cause in words, the
//! agent logs one warning per environment and cause saying what to check, and
//! `/readyz` fails while every environment tried so far failed.

use std::fs;

use serde_json::Value;
use vanta_integration_tests::agent::{AgentBuilder, TestAgent};
use vanta_integration_tests::{bins, staged};

use crate::api::sops_runs::fake_sops;
use crate::common::{DEV_YAML, assert_error, dev_builder, scannable_secrets};
use crate::ops::logs::{json_logs, log_records, warnings_for};

/// What one failing environment must produce.
struct Expected<'a> {
    env: &'a str,
    status: u16,
    code: &'a str,
    cause: &'a str,
    /// Words the warning's `check` field must contain.
    check: &'a [&'a str],
}

/// Three requests for `expected.env`: each refused alike, each audited with
/// the cause in words, and exactly one warning logged.
fn assert_fails(agent: &TestAgent, expected: &Expected<'_>) -> Value {
    let token = agent.mint_for(expected.env, "*");
    for _ in 0..3 {
        let response = agent.get_secret(expected.env, "DATABASE_URL", &token);
        assert_error(&response, expected.status, expected.code);
        assert!(!response.text().contains(&agent.paths().root.display().to_string()), "no path in the answer");
    }
    let record = agent.audit_lines().pop().expect("the refusal is audited");
    let detail = record["error"].as_str().unwrap_or_default().to_owned();
    assert!(detail.starts_with(&format!("{}: ", expected.cause)), "audit error names the cause: {detail}");
    for debug_text in ["Some(", "Os {", "kind:", "exit code"] {
        assert!(!detail.contains(debug_text), "no Rust debug text in the audit record: {detail}");
    }
    let warnings = warnings_for(agent, expected.env);
    assert_eq!(warnings.len(), 1, "one warning for three failures: {warnings:?}");
    let warning = warnings[0].clone();
    assert_eq!(warning["cause"], expected.cause, "{warning}");
    let check = warning["check"].as_str().unwrap_or_default();
    for word in expected.check {
        assert!(check.contains(word), "the warning says to check {word}: {check}");
    }
    assert_no_secret_logged(agent);
    warning
}

fn assert_no_secret_logged(agent: &TestAgent) {
    let stderr = agent.stderr_text();
    for secret in scannable_secrets() {
        assert!(!stderr.contains(secret), "a value reached the log");
    }
}

/// `/readyz`: 503 with `checks.decryption` naming `env: cause`.
fn assert_unready_because(agent: &TestAgent, env: &str, cause: &str) {
    let ready = agent.get("/readyz", None);
    assert_eq!(ready.status, 503, "{}", ready.text());
    let decryption = ready.json()["checks"]["decryption"].as_str().unwrap_or_default().to_owned();
    assert!(decryption.contains(&format!("{env}: {cause}")), "{decryption}");
}

fn builder() -> AgentBuilder {
    json_logs(TestAgent::builder())
}

#[test]
fn a_file_for_another_age_key_is_no_matching_key_and_names_the_key_type() {
    let agent = builder().foreign_secrets("prod", DEV_YAML).start();
    let expected = Expected {
        env: "prod",
        status: 500,
        code: "decryption_failed",
        cause: "no_matching_key",
        check: &["SOPS_AGE_KEY_FILE", "recipients"],
    };
    let warning = assert_fails(&agent, &expected);
    assert!(warning["error"].as_str().is_some_and(|e| e.contains("(tried: age)")), "{warning}");
    // sops' own report is logged, screened, on one line.
    let stderr = warning["sops_stderr"].as_str().unwrap_or_default();
    assert!(stderr.contains("Failed to get the data key") && !stderr.contains('\n'), "{stderr}");
    let detail = agent.audit_lines().pop().unwrap()["error"].clone();
    assert!(detail.as_str().is_some_and(|d| d.contains("tried: age")), "{detail}");
    assert_unready_because(&agent, "prod", "no_matching_key");
}

#[test]
fn no_key_material_at_all_is_no_matching_key() {
    let agent = builder().secrets("dev", DEV_YAML).env_remove("SOPS_AGE_KEY_FILE").start();
    let expected = Expected {
        env: "dev",
        status: 500,
        code: "decryption_failed",
        cause: "no_matching_key",
        check: &["SOPS_AGE_KEY_FILE"],
    };
    assert_fails(&agent, &expected);
    assert_unready_because(&agent, "dev", "no_matching_key");
}

#[test]
fn a_tampered_file_is_mac_mismatch() {
    let builder = builder().secrets("dev", DEV_YAML);
    let file = builder.paths().vault.join("dev.enc.yaml");
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("DATABASE_USER: ENC["), "the fixture encrypts DATABASE_USER");
    // Dropping one encrypted entry leaves a valid sops file whose MAC no longer matches.
    let tampered: String =
        text.lines().filter(|l| !l.starts_with("DATABASE_USER:")).map(|l| format!("{l}\n")).collect();
    fs::write(&file, tampered).unwrap();
    let agent = builder.start();
    let expected = Expected {
        env: "dev",
        status: 500,
        code: "decryption_failed",
        cause: "mac_mismatch",
        check: &["version control", "re-encrypt"],
    };
    assert_fails(&agent, &expected);
    assert_unready_because(&agent, "dev", "mac_mismatch");
}

#[test]
fn a_plaintext_value_added_by_hand_to_an_encrypted_file_is_never_logged() {
    let builder = builder().secrets("dev", DEV_YAML);
    let file = builder.paths().vault.join("dev.enc.yaml");
    let text = fs::read_to_string(&file).unwrap();
    // sops then fails quoting the value ("Input string … does not match").
    fs::write(&file, format!("ADDED_BY_HAND: hunter2-never-logged-81\n{text}")).unwrap();
    let agent = builder.start();
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &agent.mint_for("dev", "*")).status, 500);
    let stderr = agent.stderr_text();
    assert!(stderr.contains("Input string …"), "sops' message, cut: {stderr}");
    assert!(!stderr.contains("never-logged"), "the value reached the log: {stderr}");
}

/// A value pasted by hand as a YAML block scalar (a PEM key): sops echoes it
/// over several lines, and none of them may reach the log.
#[test]
fn a_plaintext_value_spanning_lines_added_by_hand_is_never_logged() {
    let builder = builder().secrets("dev", DEV_YAML);
    let file = builder.paths().vault.join("dev.enc.yaml");
    let text = fs::read_to_string(&file).unwrap();
    let pem = "  -----BEGIN PRIVATE KEY-----\n  MIIEvQ-never-logged-82\n  ZZZ-never-logged-83\n";
    fs::write(&file, format!("ADDED_BY_HAND: |\n{pem}{text}")).unwrap();
    let agent = builder.start();
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &agent.mint_for("dev", "*")).status, 500);
    let stderr = agent.stderr_text();
    assert!(stderr.contains("Input string …"), "sops' message, cut: {stderr}");
    assert!(
        !stderr.contains("never-logged") && !stderr.contains("BEGIN PRIVATE"),
        "the value reached the log: {stderr}"
    );
}

#[test]
fn a_plain_or_broken_file_is_malformed_and_its_content_never_logged() {
    let builder = builder();
    let vault = &builder.paths().vault;
    fs::write(vault.join("plain.enc.yaml"), "DATABASE_URL: plaintext-never-logged-77\n").unwrap();
    fs::write(vault.join("broken.enc.json"), "{\"DATABASE_URL\": \"broken-never-logged-78\"").unwrap();
    // sops' dotenv and INI parsers quote the offending line without quotes.
    fs::write(vault.join("dotenv.enc.env"), "A=1\nMIIEvQIB-never-logged-79\n").unwrap();
    fs::write(vault.join("ini.enc.ini"), "[s]\nMIIEvQIB-never-logged-80\n").unwrap();
    let agent = builder.start();
    for env in ["plain", "broken", "dotenv", "ini"] {
        let expected = Expected {
            env,
            status: 500,
            code: "decryption_failed",
            cause: "malformed_file",
            check: &["sops encrypt", "extension"],
        };
        assert_fails(&agent, &expected);
    }
    let stderr = agent.stderr_text();
    assert!(!stderr.contains("never-logged"), "file content reached the log: {stderr}");
    assert_unready_because(&agent, "plain", "malformed_file");
}

#[test]
fn a_sops_that_disappears_is_sops_unavailable() {
    let builder = builder().secrets("dev", DEV_YAML);
    let sops = builder.paths().root.join("sops-copy");
    staged::copy_program(&bins::sops(), &sops);
    let agent = builder.arg("--sops-bin").arg(&sops).start();
    fs::remove_file(&sops).unwrap();
    let expected =
        Expected { env: "dev", status: 500, code: "internal", cause: "sops_unavailable", check: &["--sops-bin"] };
    assert_fails(&agent, &expected);
    let ready = agent.get("/readyz", None);
    assert_eq!(ready.status, 503, "{}", ready.text());
    let checks = &ready.json()["checks"];
    assert!(checks["sops"].as_str().is_some_and(|c| c.starts_with("sops_unavailable")), "{checks}");
    assert!(!ready.text().contains(&agent.paths().root.display().to_string()), "no path in /readyz");
}

/// What a timed-out sops started (gpg, a key command) is killed with it:
/// sops runs in a process group of its own, and the whole group goes.
#[test]
fn a_timed_out_sops_takes_what_it_started_with_it() {
    let builder = builder().secrets("dev", DEV_YAML);
    let started = builder.paths().root.join("helper.pid");
    let body = format!("sleep 300 &\necho $! > {}\nwait", started.display());
    let sops = fake_sops(&builder.paths().root, &body);
    let agent = builder.arg("--sops-bin").arg(&sops).args(["--sops-timeout-seconds", "1"]).start();
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &agent.mint_for("dev", "*")), 504, "sops_timeout");
    let pid: i32 = fs::read_to_string(&started).unwrap().trim().parse().unwrap();
    let helper = nix::unistd::Pid::from_raw(pid);
    vanta_integration_tests::process::poll_until(std::time::Duration::from_secs(10), "the helper killed", || {
        // Gone, or a zombie waiting for its reaper: either way not running.
        let state = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let running = nix::sys::signal::kill(helper, None).is_ok() && !state.contains(") Z ");
        (!running).then_some(())
    });
}

#[test]
fn a_sops_that_hangs_is_timed_out() {
    let builder = builder().secrets("dev", DEV_YAML);
    let sops = fake_sops(&builder.paths().root, "exec sleep 30");
    let agent = builder.arg("--sops-bin").arg(&sops).args(["--sops-timeout-seconds", "1"]).start();
    let expected = Expected {
        env: "dev",
        status: 504,
        code: "sops_timeout",
        cause: "timed_out",
        check: &["--sops-timeout-seconds", "reachable"],
    };
    assert_fails(&agent, &expected);
    assert_unready_because(&agent, "dev", "timed_out");
}

#[test]
fn readiness_follows_the_last_attempts_without_running_sops() {
    let agent = builder().secrets("dev", DEV_YAML).foreign_secrets("prod", DEV_YAML).start();
    // Nothing tried yet: ready (absent attempts are no evidence).
    assert_eq!(agent.get("/readyz", None).status, 200);
    let prod = agent.mint_for("prod", "*");
    assert_eq!(agent.get_secret("prod", "DATABASE_URL", &prod).status, 500);
    assert_unready_because(&agent, "prod", "no_matching_key");
    // One environment that decrypts is enough to be ready.
    let dev = agent.mint_for("dev", "*");
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &dev).status, 200);
    let ready = agent.get("/readyz", None);
    assert_eq!(ready.status, 200, "{}", ready.text());
    // Probes run no sops: the run counter does not move.
    let runs = |agent: &TestAgent| {
        let text = agent.get("/metrics", None).text();
        text.lines().find(|l| l.starts_with("vanta_sops_runs_total")).map(str::to_owned)
    };
    let before = runs(&agent);
    for _ in 0..5 {
        agent.get("/readyz", None);
    }
    assert_eq!(runs(&agent), before);
}

#[test]
fn a_failure_after_success_is_warned_about_again() {
    let builder = dev_builder().env("VANTA_LOG_FORMAT", "json");
    let agent = builder.start();
    let token = agent.mint_for("dev", "*");
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200);
    let file = agent.paths().vault.join("dev.enc.yaml");
    let good = fs::read(&file).unwrap();
    fs::write(&file, "not: a sops file\n").unwrap();
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 500);
    fs::write(&file, &good).unwrap();
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200);
    fs::write(&file, "not: a sops file either\n").unwrap();
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 500);
    assert_eq!(warnings_for(&agent, "dev").len(), 2, "{:?}", log_records(&agent));
}

#[test]
fn readyz_over_tcp_names_causes_but_no_path() {
    let builder = builder().secrets("dev", DEV_YAML).foreign_secrets("prod", DEV_YAML).secrets("twice", DEV_YAML);
    fs::write(builder.paths().vault.join("twice.enc.json"), "{}").unwrap();
    let sops = builder.paths().root.join("sops-copy");
    staged::copy_program(&bins::sops(), &sops);
    let agent = builder
        .env_remove("SOPS_AGE_KEY_FILE")
        .arg("--sops-bin")
        .arg(&sops)
        .args(["--listen-tcp", "127.0.0.1:0", "--insecure-tcp"])
        .start();
    let token = agent.mint_for("prod", "*");
    assert_eq!(agent.get_secret("prod", "DATABASE_URL", &token).status, 500);
    fs::remove_file(&sops).unwrap();
    let mut stream = std::net::TcpStream::connect(agent.tcp_addr()).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let ready = vanta_integration_tests::http::exchange(&mut stream, "GET", "/readyz", &[], None).unwrap();
    assert_eq!(ready.status, 503, "{}", ready.text());
    let body = ready.json();
    let checks = &body["checks"];
    assert!(checks["sops"].as_str().is_some_and(|c| c.starts_with("sops_unavailable")), "{body}");
    assert!(checks["decryption"].as_str().is_some_and(|c| c.contains("prod: no_matching_key")), "{body}");
    assert!(body["warnings"]["key_material"].as_str().is_some_and(|w| w.contains("SOPS_AGE_KEY_FILE")), "{body}");
    let text = ready.text();
    for path in [agent.paths().root.display().to_string(), "/tmp".to_owned(), "/usr".to_owned()] {
        assert!(!text.contains(&path), "a path ({path}) in /readyz over TCP: {text}");
    }
    // The start-up log said the same, once, with the fix.
    let records = log_records(&agent);
    assert!(records.iter().any(|r| r["fields"]["message"] == "key material for sops"), "{records:?}");
}

#[test]
fn a_sops_stderr_that_quotes_a_cached_value_is_withheld() {
    // A stand-in that serves the file until it says BROKEN, then fails with a
    // message quoting the value it served before.
    let builder = builder().env("VANTA_CACHE_TTL_SECONDS", "60");
    let vault = builder.paths().vault.clone();
    fs::write(vault.join("dev.enc.yaml"), "KEY: cached-value-q4z9\n").unwrap();
    let body = "for last; do :; done\n\
                if grep -q BROKEN \"$last\"; then echo 'Error near cached-value-q4z9 in line 1' >&2; exit 1; fi\n\
                cat \"$last\"";
    let sops = fake_sops(&builder.paths().root, body);
    let agent = builder.arg("--sops-bin").arg(&sops).start();
    let token = agent.mint_for("dev", "*");
    assert_eq!(agent.secret_value("dev", "KEY", &token), "cached-value-q4z9");
    let replacement = vault.join("next");
    fs::write(&replacement, "BROKEN\n").unwrap();
    fs::rename(&replacement, vault.join("dev.enc.yaml")).unwrap();
    assert_error(&agent.get_secret("dev", "KEY", &token), 500, "decryption_failed");
    let warnings = warnings_for(&agent, "dev");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["cause"], "sops_failed", "{warnings:?}");
    assert_eq!(warnings[0]["sops_stderr"], "(withheld: it contains decrypted content)");
    assert!(!agent.stderr_text().contains("cached-value-q4z9"), "the value reached the log");
}

//! Leases on uses of limited tokens (operator guide, "Usage limits"): a use
//! held by a fetch that never finished comes back, never twice; a kill -9 in
//! a burst never grants an extra use; a fetch abandoned by its client gives
//! its use back and is audited `aborted`; a lost store refuses old tokens.

use std::fs;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use vanta_integration_tests::agent::{AgentBuilder, TestAgent};
use vanta_integration_tests::{bins, http, jwt, process, staged};

use crate::common::{assert_error, dev_agent, dev_builder};

const KEY_PATH: &str = "/api/v1/vault/dev/DATABASE_URL";

fn limited(agent: &TestAgent, limit: u64) -> String {
    agent.mint(&json!({"subject": "lease", "environment": "dev", "key_pattern": "*", "usage_limit": limit}))
}

/// A stand-in for sops that marks each run in `<root>/runs/` and sleeps
/// `secs` before it runs the real sops.
pub(crate) fn slow_sops(builder: AgentBuilder, secs: u32) -> AgentBuilder {
    let root = builder.paths().root.clone();
    let runs = root.join("runs");
    fs::create_dir_all(&runs).unwrap();
    let real = bins::sops();
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then exec '{real}' --version; fi\n: > '{runs}/run-$$'\nsleep {secs}\nexec '{real}' \"$@\"\n",
        real = real.display(),
        runs = runs.display(),
    );
    let path = root.join("slow-sops");
    staged::write_program(&path, &script);
    builder.arg("--sops-bin").arg(&path)
}

fn runs_started(root: &Path) -> usize {
    fs::read_dir(root.join("runs")).map(Iterator::count).unwrap_or(0)
}

/// Sends a fetch on a connection of its own and returns it, unanswered.
fn send_fetch(socket: &Path, token: &str) -> UnixStream {
    let mut stream = UnixStream::connect(socket).unwrap();
    let head = format!("GET {KEY_PATH} HTTP/1.1\r\nHost: vanta\r\nAuthorization: Bearer {token}\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

fn records_with(agent: &TestAgent, outcome: &str) -> Vec<Value> {
    agent.audit_lines().into_iter().filter(|r| r["event"] == "secret_access" && r["outcome"] == outcome).collect()
}

#[test]
fn a_fetch_abandoned_during_sops_gives_its_use_back_and_is_audited_aborted() {
    let agent = slow_sops(dev_builder(), 2).start();
    let token = limited(&agent, 1);
    let jti = jwt::decode_part(&token, 1)["jti"].clone();
    let stream = send_fetch(agent.socket(), &token);
    process::poll_until(Duration::from_secs(10), "sops to start", || {
        (runs_started(&agent.paths().root) > 0).then_some(())
    });
    drop(stream);
    let aborted = process::poll_until(Duration::from_secs(10), "an aborted record", || {
        records_with(&agent, "aborted").into_iter().next()
    });
    assert_eq!((&aborted["jti"], &aborted["status_code"]), (&jti, &json!(499)), "{aborted}");
    assert!(aborted["error"].as_str().unwrap().contains("released"), "{aborted}");
    assert!(records_with(&agent, "success").is_empty(), "nothing was served");
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200, "the use came back");
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &token), 401, "unauthorized");
}

#[test]
fn uses_held_by_a_killed_agent_come_back_after_the_lease_never_twice() {
    held_uses_come_back_after_a_kill(dev_builder());
}

/// Two fetches of a limit-2 token hold both uses in a slow sops; the agent
/// is killed; after a restart both uses are still held, then come back once
/// the leases end, once each.
pub(crate) fn held_uses_come_back_after_a_kill(builder: AgentBuilder) {
    let builder = slow_sops(builder, 2).args(["--sops-timeout-seconds", "4", "--usage-lease-seconds", "5"]);
    let mut agent = builder.env("VANTA_LOG", "vanta_agent=debug").start();
    let token = limited(&agent, 2);
    // The second fetch waits for the first one's sops run (one per file).
    let held: Vec<_> = (0..2).map(|_| send_fetch(agent.socket(), &token)).collect();
    process::poll_until(Duration::from_secs(10), "two leases", || {
        (agent.stderr_text().matches("use leased").count() >= 2).then_some(())
    });
    assert!(records_with(&agent, "success").is_empty(), "both fetches are still waiting for sops");
    agent.kill9();
    drop(held);
    agent.restart();
    // Both uses are still leased to the dead agent's fetches.
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &token), 401, "unauthorized");
    let first = process::poll_until(Duration::from_secs(30), "a use to come back", || {
        let response = agent.get_secret("dev", "DATABASE_URL", &token);
        assert!(matches!(response.status, 200 | 401), "{}", response.text());
        (response.status == 200).then_some(response)
    });
    assert_eq!(first.status, 200);
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200, "the second use came back too");
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &token), 401, "unauthorized");
}

/// Fires `n` fetches at once; kills the agent with SIGKILL once `kill_after`
/// answers arrived (if given). Returns how many were 200.
fn burst(agent: &mut TestAgent, token: &str, n: usize, kill_after: Option<usize>) -> usize {
    let answered = AtomicUsize::new(0);
    let socket: PathBuf = agent.socket().to_path_buf();
    let headers = [("Authorization", format!("Bearer {token}"))];
    thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    let headers: Vec<_> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let status = http::try_request(&socket, "GET", KEY_PATH, &headers, None).map(|r| r.status);
                    answered.fetch_add(1, Ordering::SeqCst);
                    status
                })
            })
            .collect();
        if let Some(after) = kill_after {
            process::poll_until(Duration::from_secs(60), "answers before the kill", || {
                (answered.load(Ordering::SeqCst) >= after).then_some(())
            });
            agent.kill9();
        }
        let statuses: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for status in &statuses {
            assert!(matches!(status, Ok(200 | 401) | Err(_)), "unexpected answer {status:?}");
        }
        statuses.iter().filter(|s| matches!(s, Ok(200))).count()
    })
}

#[test]
fn sigkill_in_a_burst_of_500_never_grants_more_than_the_limit() {
    const LIMIT: usize = 40;
    let mut agent = dev_builder().args(["--sops-timeout-seconds", "1", "--usage-lease-seconds", "2"]).start();
    let token = limited(&agent, LIMIT as u64);
    let mut served = 0;
    // Killed while uses remain, then while the last ones go.
    for (round, kill_after) in [20, 100].into_iter().enumerate() {
        served += burst(&mut agent, &token, 500, Some(kill_after));
        assert!(served <= LIMIT, "round {round}: {served} answers 200 for a limit of {LIMIT}");
        agent.restart();
    }
    // Once the dead agents' leases have ended, whatever is left can be used.
    thread::sleep(Duration::from_secs(3));
    served += burst(&mut agent, &token, 500 - LIMIT, None);
    assert!(served <= LIMIT, "{served} answers 200 for a limit of {LIMIT}");
    let confirmed = records_with(&agent, "success").len();
    assert!(served <= confirmed && confirmed <= LIMIT, "{served} served, {confirmed} success records");
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &token), 401, "unauthorized");
}

fn delete_store(state: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = state.as_os_str().to_owned();
        path.push(suffix);
        let _ = fs::remove_file(PathBuf::from(path));
    }
}

#[test]
fn a_lost_store_refuses_limited_tokens_issued_before_it() {
    let mut agent = dev_builder().args(["--clock-leeway-seconds", "0"]).start();
    let spent = limited(&agent, 1);
    let unlimited = agent.mint_for("dev", "*");
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &spent).status, 200);
    let _ = agent.stop();
    delete_store(&agent.paths().state);
    // `iat` has whole seconds: the new store must be born in a later one.
    thread::sleep(Duration::from_millis(1100));
    agent.restart();
    assert!(agent.stderr_text().contains("created a new usage store"), "{}", agent.stderr_text());
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &spent), 401, "unauthorized");
    assert_error(&agent.list_keys("dev", &spent), 401, "unauthorized");
    let refused = records_with(&agent, "unauthorized").pop().unwrap();
    assert!(refused["error"].as_str().unwrap().contains("before the usage store was created"), "{refused}");
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &unlimited).status, 200, "unlimited tokens need no store");
    let fresh = limited(&agent, 1);
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &fresh).status, 200, "new tokens are counted");
}

#[test]
fn a_restart_on_the_same_store_keeps_accepting_older_tokens() {
    let mut agent = dev_agent();
    let token = limited(&agent, 2);
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200);
    thread::sleep(Duration::from_millis(1100));
    agent.restart();
    let created = agent.stderr_text().matches("created a new usage store").count();
    assert_eq!(created, 1, "only the first start creates it: {}", agent.stderr_text());
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200);
}

#[test]
fn metrics_count_store_operations_and_errors() {
    let agent = dev_agent();
    let token = limited(&agent, 1);
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200);
    let text = agent.get("/metrics", None).text();
    let value = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {text}"));
        line.rsplit(' ').next().unwrap().parse::<f64>().unwrap()
    };
    assert!(value("vanta_usage_store_duration_seconds_count") >= 2.0, "a lease and a confirm: {text}");
    assert_eq!(value("vanta_usage_store_errors_total"), 0.0);
}

//! Durable usage limits under pressure (operator guide, "Usage limits"):
//! exactly N of many concurrent fetches succeed, a `kill -9` does not give
//! uses back, and a corrupt or foreign state file stops start-up instead of
//! resetting counts. `api/usage.rs` covers the basic rules.

use std::fs;
use std::thread;

use serde_json::json;
use vanta_integration_tests::agent::{AgentBuilder, TestAgent};
use vanta_integration_tests::jwt;

use crate::common::{assert_error, dev_agent, dev_builder};

fn statuses(agent: &TestAgent, token: &str, n: usize) -> Vec<u16> {
    thread::scope(|s| {
        let handles: Vec<_> =
            (0..n).map(|_| s.spawn(|| agent.get_secret("dev", "DATABASE_URL", token).status)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn a_hundred_concurrent_fetches_with_seven_uses_give_seven_also_after_kill_9() {
    let mut agent = dev_agent();
    let token = agent.mint(&json!({"subject": "burst", "environment": "dev", "key_pattern": "*", "usage_limit": 7}));
    let jti = jwt::decode_part(&token, 1)["jti"].clone();
    let got = statuses(&agent, &token, 100);
    let count = |want: u16| got.iter().filter(|s| **s == want).count();
    assert_eq!((count(200), count(401)), (7, 93), "statuses: {got:?}");
    let records = agent.wait_audit_lines(101);
    let served = records.iter().filter(|r| r["event"] == "secret_access" && r["outcome"] == "success");
    assert_eq!(served.clone().count(), 7, "one success record per use");
    assert!(served.into_iter().all(|r| r["jti"] == jti));
    agent.kill9();
    agent.restart();
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &token), 401, "unauthorized");
    assert_error(&agent.list_keys("dev", &token), 401, "unauthorized");
}

/// Asserts start-up stops (exit 2, one error line naming `state`) and
/// leaves the file as it was; fails at once if the agent serves instead.
fn assert_refuses_state(builder: AgentBuilder, what: &str) {
    let state = builder.paths().state.clone();
    let before = fs::read(&state).unwrap();
    match builder.try_start() {
        (mut agent, None) => {
            agent.kill9();
            let changed = fs::read(&state).unwrap() != before;
            panic!("{what}: the agent started serving on {} (file changed: {changed})", state.display());
        }
        (agent, Some(status)) => {
            let stderr = agent.stderr_text();
            assert_eq!(status.code(), Some(2), "{what}: exit {status}; stderr: {stderr}");
            let line = stderr.lines().find(|l| l.starts_with("vanta-agent: error:")).unwrap_or_default();
            assert!(line.contains(state.to_str().unwrap()), "{what}: the error line names the file: {stderr}");
            // `agent` owns the directory: check the file while it lives.
            assert_eq!(fs::read(&state).unwrap(), before, "{what}: the state file is left untouched");
        }
    }
}

#[test]
fn a_corrupt_state_file_stops_start_up_naming_it() {
    let builder = dev_builder();
    fs::write(&builder.paths().state, b"this is not a usage database\n".repeat(200)).unwrap();
    assert_refuses_state(builder, "garbage");
}

#[test]
fn a_state_file_corrupted_after_use_stops_start_up() {
    let mut agent = dev_agent();
    let token = agent.mint(&json!({"subject": "s", "environment": "dev", "key_pattern": "*", "usage_limit": 1}));
    assert_eq!(agent.get_secret("dev", "INT", &token).status, 200);
    let _ = agent.stop();
    let mut bytes = fs::read(&agent.paths().state).unwrap();
    assert!(bytes.len() > 100, "the store holds the use");
    // Keep the SQLite header, scramble the pages behind it.
    for b in bytes.iter_mut().skip(100) {
        *b ^= 0x5A;
    }
    let builder = TestAgent::builder();
    fs::write(&builder.paths().state, &bytes).unwrap();
    assert_refuses_state(builder, "scrambled pages");
}

#[test]
fn a_foreign_sqlite_file_stops_start_up() {
    // "A corrupt or foreign state file stops start-up (exit 2)": a healthy
    // database of another application must not be adopted and written to.
    let builder = dev_builder();
    let conn = rusqlite::Connection::open(&builder.paths().state).unwrap();
    conn.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT); INSERT INTO photos VALUES (1, 'a');")
        .unwrap();
    drop(conn);
    assert_refuses_state(builder, "another application's database");
}

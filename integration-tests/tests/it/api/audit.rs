//! docs/API.md §5: one JSONL audit record per generate, fetch and list, with
//! the contract's fields, and never a secret or a token in any output.

use std::fs;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::jwt::{self, TEST_JWT_KEY};

use crate::common::{DEV_VALUES, dev_agent, dev_builder, scannable_secrets};

const FIELDS: &[&str] =
    &["timestamp", "event", "jti", "subject", "environment", "client", "outcome", "status_code", "error"];

/// Checks the fields every record has.
fn assert_record_shape(record: &Value) {
    for field in FIELDS {
        assert!(record.get(field).is_some(), "audit record lacks {field}: {record}");
    }
    let ts = record["timestamp"].as_str().expect("timestamp is a string");
    let when = OffsetDateTime::parse(ts, &Rfc3339).unwrap_or_else(|e| panic!("timestamp {ts:?} is not RFC 3339: {e}"));
    assert!(when.offset().is_utc(), "timestamp {ts} is UTC");
    let age = (OffsetDateTime::now_utc() - when).whole_seconds().abs();
    assert!(age < 300, "timestamp {ts} is now");
    let client = &record["client"];
    assert_eq!(client["uid"], nix::unistd::getuid().as_raw(), "client uid: {record}");
    assert_eq!(client["gid"], nix::unistd::getgid().as_raw(), "client gid: {record}");
    assert_eq!(client["pid"], std::process::id(), "client pid: {record}");
}

/// (event, outcome, status_code) of a record, for comparing sequences.
fn summary(record: &Value) -> (String, String, u64) {
    let s = |f: &str| record[f].as_str().unwrap_or_default().to_owned();
    (s("event"), s("outcome"), record["status_code"].as_u64().unwrap_or_default())
}

#[test]
fn one_record_per_request_with_the_contract_fields() {
    let agent = dev_agent();
    let body = json!({"subject": "audit-subject", "environment": "dev", "key_pattern": "DATABASE_*"});
    let token = agent.mint(&body);
    let jti = jwt::decode_part(&token, 1)["jti"].clone();
    let mut bad = body.clone();
    bad["ttl_minutes"] = json!(0);
    let refused = agent.generate(&bad);
    assert_eq!(refused.status, 422, "ttl_minutes 0 is out of range: {}", String::from_utf8_lossy(&refused.body));
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200);
    assert_eq!(agent.get_secret("dev", "DATABASE_NOPE", &token).status, 404);
    assert_eq!(agent.get_secret("dev", "API_KEYS/stripe", &token).status, 403);
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", "not-a-jwt").status, 401);
    assert_eq!(agent.list_keys("dev", &token).status, 200);
    let records = agent.wait_audit_lines(7);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let records_later = agent.audit_lines();
    assert_eq!(records_later.len(), 7, "exactly one record per request: {records_later:#?}");
    let got: Vec<_> = records.iter().map(summary).collect();
    let want = vec![
        ("token_generate".into(), "success".into(), 200),
        ("token_generate".into(), "validation_error".into(), 422),
        ("secret_access".into(), "success".into(), 200),
        ("secret_access".into(), "not_found".into(), 404),
        ("secret_access".into(), "forbidden".into(), 403),
        ("secret_access".into(), "unauthorized".into(), 401),
        ("key_list".into(), "success".into(), 200),
    ];
    assert_eq!(got, want);
    records.iter().for_each(assert_record_shape);
    assert_details(&records, &jti);
}

fn assert_details(records: &[Value], jti: &Value) {
    let (minted, refused, served, missing) = (&records[0], &records[1], &records[2], &records[3]);
    assert_eq!(minted["jti"], *jti);
    assert_eq!((&minted["subject"], &minted["environment"]), (&json!("audit-subject"), &json!("dev")));
    assert_eq!(minted["key_pattern"], "DATABASE_*");
    assert_eq!(minted["error"], Value::Null);
    let message = refused["error"].as_str().unwrap_or_default();
    assert!(message.contains("ttl_minutes"), "a failure records its message, naming the field: {refused}");
    assert_eq!((&served["jti"], &served["key"], &served["error"]), (jti, &json!("DATABASE_URL"), &Value::Null));
    assert_eq!((&served["subject"], &served["environment"]), (&json!("audit-subject"), &json!("dev")));
    assert_eq!(missing["key"], "DATABASE_NOPE");
    assert!(missing["error"].is_string());
    assert_eq!(records[6]["environment"], "dev");
}

#[test]
fn a_secret_is_audited_before_it_is_served() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "*");
    for (key, _) in DEV_VALUES.iter().take(5) {
        assert_eq!(agent.get_secret("dev", key, &token).status, 200);
        let served = agent.audit_lines().iter().any(|r| r["event"] == "secret_access" && r["key"] == *key);
        assert!(served, "no audit record for {key} when its value arrived");
    }
}

/// Every value and every token the test used, to search all outputs for.
fn exercise_everything(agent: &TestAgent) -> Vec<String> {
    let token = agent.mint_for("dev", "*");
    let limited = agent.mint(&json!({"subject": "s", "environment": "dev", "key_pattern": "*", "usage_limit": 1}));
    let forged = jwt::sign_alg("HS256", b"forged-key-forged-key-forged-key-forged!", &jwt::claims("dev", "*"));
    for (key, _) in DEV_VALUES {
        agent.get_secret("dev", key, &token);
    }
    for t in [&limited, &limited, &forged] {
        agent.get_secret("dev", "DATABASE_URL", t);
    }
    agent.list_keys("dev", &token);
    agent.get_secret("dev", "NOPE", &token);
    vec![token, limited, forged]
}

fn assert_no_leaks(what: &str, text: &str, tokens: &[String]) {
    for secret in scannable_secrets() {
        assert!(!text.contains(secret), "{what} contains the secret value {secret:?}");
    }
    for token in tokens {
        let signature = token.rsplit('.').next().expect("a JWT has parts");
        assert!(!text.contains(token.as_str()) && !text.contains(signature), "{what} contains a token");
    }
    assert!(!text.contains(TEST_JWT_KEY), "{what} contains the JWT key");
}

#[test]
fn no_secret_or_token_in_the_audit_file_or_agent_output() {
    let agent = dev_builder().env("VANTA_LOG", "debug").start();
    let tokens = exercise_everything(&agent);
    agent.wait_audit_lines(DEV_VALUES.len() + 7);
    let audit = fs::read_to_string(&agent.paths().audit).unwrap();
    assert_no_leaks("the audit log", &audit, &tokens);
    assert_no_leaks("the agent's stdout", &agent.stdout_text(), &tokens);
    assert_no_leaks("the agent's stderr", &agent.stderr_text(), &tokens);
}

#[test]
fn with_audit_log_dash_stdout_carries_only_audit_records() {
    let agent = dev_builder().env("VANTA_LOG", "debug").args(["--audit-log", "-"]).start();
    let tokens = exercise_everything(&agent);
    let want = DEV_VALUES.len() + 7;
    let lines =
        vanta_integration_tests::process::poll_until(std::time::Duration::from_secs(5), "audit on stdout", || {
            let text = agent.stdout_text();
            (text.lines().count() >= want).then_some(text)
        });
    for line in lines.lines() {
        let record: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        assert!(record["event"].is_string(), "stdout line is not an audit record: {line}");
    }
    assert_no_leaks("the agent's stdout", &lines, &tokens);
    assert!(!agent.paths().audit.exists() || fs::read_to_string(&agent.paths().audit).unwrap().is_empty());
}

#[test]
fn the_audit_file_is_appended_to_never_truncated() {
    let builder = dev_builder();
    fs::write(&builder.paths().audit, "{\"pre\":\"existing\"}\n").unwrap();
    let mut agent = builder.start();
    agent.mint_for("dev", "*");
    agent.wait_audit_lines(2);
    agent.restart();
    agent.mint_for("dev", "*");
    let records = agent.wait_audit_lines(3);
    assert_eq!(records[0], json!({"pre": "existing"}));
    assert_eq!(records.len(), 3);
}

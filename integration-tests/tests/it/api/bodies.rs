//! docs/API.md §4: how a token or revoke request body is read before its
//! fields are checked: a declared length over the limit is refused at once,
//! and JSON that a plain reader would take in silence (a field given twice,
//! the last winning) or call not JSON (a number out of range) is refused
//! with 422 naming the field.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use vanta_integration_tests::agent::{GENERATE_PATH, TestAgent};
use vanta_integration_tests::http::{Response, parse_response};

use crate::common::{assert_error, dev_agent, dev_builder};

const REVOKE_PATH: &str = "/api/v1/vault/tokens/revoke";

/// Far below the body deadline the slow-body test sets: only an answer
/// that does not wait for the body arrives in time.
const PROMPT: Duration = Duration::from_secs(5);

/// `POST path` with `body` sent as these exact bytes (JSON with a key given
/// twice cannot be built as a `Value`).
fn post_raw(agent: &TestAgent, path: &str, body: &str) -> Response {
    agent.request("POST", path, &[("Content-Type", "application/json")], Some(body.as_bytes()))
}

/// A 422 whose message names `field`; the audit record of the refusal.
fn assert_422_naming(agent: &TestAgent, field: &str, answer: &Response) -> Value {
    assert_error(answer, 422, "validation_error");
    let message = answer.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains(&format!("'{field}'")), "message {message:?} names '{field}'");
    let record = agent.wait_audit_lines(1).into_iter().last().expect("an audit record");
    assert_eq!((record["outcome"].as_str(), record["status_code"].as_u64()), (Some("validation_error"), Some(422)));
    record
}

#[test]
fn a_declared_body_over_64_kib_is_413_at_once() {
    // The body deadline is far past PROMPT: waiting for the body cannot pass.
    let agent = dev_builder().args(["--body-timeout-seconds", "120", "--request-timeout-seconds", "300"]).start();
    let mut stream = UnixStream::connect(agent.socket()).unwrap();
    stream.set_read_timeout(Some(PROMPT)).unwrap();
    let head = format!(
        "POST {GENERATE_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: 70000\r\n\r\n{{}}"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset && !raw.is_empty() => {}
        Err(e) => panic!("no answer within {PROMPT:?} to a body declared over the limit: {e}"),
    }
    assert!(started.elapsed() < PROMPT);
    let answer = parse_response(&raw).unwrap();
    assert_error(&answer, 413, "payload_too_large");
    assert_eq!(answer.header("connection"), Some("close"));
    let record = agent.wait_audit_lines(1).into_iter().last().expect("an audit record");
    assert_eq!(record["event"], "token_generate");
    assert_eq!((record["outcome"].as_str(), record["status_code"].as_u64()), (Some("payload_too_large"), Some(413)));
    // The agent is still fine afterwards.
    assert_eq!(agent.get("/healthz", None).status, 200);
}

#[test]
fn a_field_given_twice_is_422_naming_it() {
    let agent = dev_agent();
    let mint = r#"{"subject": "s", "environment": "dev", "key_pattern": "*", "subject": "t"}"#;
    let record = assert_422_naming(&agent, "subject", &post_raw(&agent, GENERATE_PATH, mint));
    assert_eq!((record["event"].as_str(), record["subject"].as_str()), (Some("token_generate"), Some("s")));
    let revoke = post_raw(&agent, REVOKE_PATH, r#"{"jti": "a", "jti": "b"}"#);
    let record = assert_422_naming(&agent, "jti", &revoke);
    assert_eq!((record["event"].as_str(), record["jti"].as_str()), (Some("token_revoke"), Some("a")));
    // The same fields once each are fine.
    let once = post_raw(&agent, GENERATE_PATH, r#"{"subject": "s", "environment": "dev", "key_pattern": "*"}"#);
    assert_eq!(once.status, 200, "{}", once.text());
}

#[test]
fn a_number_out_of_range_is_422_naming_its_field() {
    let agent = dev_agent();
    for (field, value) in [("ttl_minutes", "1e400"), ("usage_limit", "-1e400")] {
        let body = format!(r#"{{"subject": "s", "environment": "dev", "key_pattern": "*", "{field}": {value}}}"#);
        assert_422_naming(&agent, field, &post_raw(&agent, GENERATE_PATH, &body));
    }
    assert_422_naming(&agent, "jti", &post_raw(&agent, REVOKE_PATH, r#"{"jti": 1e999}"#));
}

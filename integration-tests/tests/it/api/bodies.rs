//! docs/API.md §4: how a token request body is read before its fields are
//! checked: a declared length over the limit is refused at once.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use vanta_integration_tests::agent::GENERATE_PATH;
use vanta_integration_tests::http::parse_response;

use crate::common::{assert_error, dev_builder};

/// Far below the body deadline the slow-body test sets: only an answer
/// that does not wait for the body arrives in time.
const PROMPT: Duration = Duration::from_secs(5);

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

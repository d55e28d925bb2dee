//! docs/openapi.yaml against the router: each status provoked here from a
//! real agent must be listed under the operation (path and method) that
//! answered it. The cases are the ones Schemathesis (`make api-conformance`)
//! cannot reach: deadlines, oversized heads, `HEAD` on the probes.

use std::collections::BTreeSet;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::redis::TestRedis;

use crate::common::dev_builder;

const REVOKE_PATH: &str = "/api/v1/vault/tokens/revoke";

/// Longer than any deadline set here: a test that reaches it fails.
const WAIT: Duration = Duration::from_secs(30);

/// The statuses docs/openapi.yaml lists for `method` on `path` (a path as
/// the spec writes it, e.g. `/api/v1/vault/{environment}`). The spec is read
/// by its indentation: paths at 2 spaces, methods at 4, statuses at 8.
fn documented(method: &str, path: &str) -> BTreeSet<u16> {
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml");
    let spec = fs::read_to_string(spec_path).unwrap();
    let (path_line, method_line) = (format!("  {path}:"), format!("    {method}:"));
    let mut lines = spec.lines();
    lines.find(|line| *line == "paths:");
    lines.find(|line| *line == path_line);
    let indented_past = |depth: usize| move |line: &&str| line.is_empty() || line.starts_with(&" ".repeat(depth + 1));
    lines
        .take_while(indented_past(2))
        .skip_while(|line| *line != method_line)
        .skip(1)
        .take_while(indented_past(4))
        .filter_map(|line| line.strip_prefix("        '")?.strip_suffix("':")?.parse().ok())
        .collect()
}

/// Sends `request` (head and any body bytes) over the socket; the answer's
/// status, read from its status line (a `HEAD` answer has no body).
fn status_of(agent: &TestAgent, request: &[u8]) -> u16 {
    let mut stream = UnixStream::connect(agent.socket()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(request).unwrap();
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset && !raw.is_empty() => {}
        Err(e) => panic!("no answer to {:?}: {e}", String::from_utf8_lossy(&request[..40.min(request.len())])),
    }
    let text = String::from_utf8_lossy(&raw);
    text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not an HTTP answer: {text}"))
}

fn head(method: &str, path: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n")
}

/// `status` was answered to `method` on `path`: the spec must list it.
fn assert_documented(method: &str, path: &str, status: u16, case: &str) {
    let listed = documented(method, path);
    assert!(listed.contains(&status), "{case}: {method} {path} answered {status}; openapi.yaml lists {listed:?}");
}

#[test]
fn the_reader_of_the_spec_finds_its_statuses() {
    assert!(documented("get", "/api/v1/vault/{environment}/{key}").is_superset(&[200, 401, 403, 404].into()));
    assert!(documented("post", "/api/v1/vault/tokens/generate").is_superset(&[200, 413, 422].into()));
    assert_eq!(documented("get", "/no-such-path"), BTreeSet::new());
    assert_eq!(documented("delete", "/healthz"), BTreeSet::new());
}

#[test]
fn deadlines_heads_and_probe_methods_are_in_the_spec() {
    let agent = dev_builder().args(["--body-timeout-seconds", "1"]).start();
    let slow_body = head("POST", REVOKE_PATH, "Content-Type: application/json\r\nContent-Length: 200\r\n") + "{";
    assert_documented("post", REVOKE_PATH, status_of(&agent, slow_body.as_bytes()), "a body that never arrives");
    let big_headers = format!("X-Padding: {}\r\nContent-Length: 2\r\n", "a".repeat(17 * 1024));
    let big_head = head("POST", REVOKE_PATH, &big_headers) + "{}";
    assert_documented("post", REVOKE_PATH, status_of(&agent, big_head.as_bytes()), "headers over 16 KiB");
    for probe in ["/healthz", "/readyz"] {
        assert_documented("head", probe, status_of(&agent, head("HEAD", probe, "").as_bytes()), "HEAD on a probe");
    }
}

#[test]
fn a_read_held_past_the_request_deadline_is_in_the_spec() {
    // A paused Redis holds a limited token's read (and the readiness ping)
    // for the store's timeout, far past the whole-request deadline.
    let redis = TestRedis::start();
    let agent = dev_builder()
        .args(["--usage-store", &redis.url(), "--usage-store-timeout-ms", "60000"])
        .args(["--body-timeout-seconds", "1", "--sops-timeout-seconds", "1", "--request-timeout-seconds", "2"])
        .start();
    let token = agent.mint(&json!({"subject": "s", "environment": "dev", "key_pattern": "*", "usage_limit": 5}));
    let auth = format!("Authorization: Bearer {token}\r\n");
    redis.pause();
    let cases = [
        ("get", "/api/v1/vault/dev/INT", "/api/v1/vault/{environment}/{key}", auth.as_str()),
        ("get", "/api/v1/vault/dev", "/api/v1/vault/{environment}", auth.as_str()),
        ("get", "/readyz", "/readyz", ""),
        ("head", "/readyz", "/readyz", ""),
    ];
    let answers: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(method, path, _, extra)| {
                let request = head(&method.to_uppercase(), path, extra);
                let agent = &agent;
                s.spawn(move || status_of(agent, request.as_bytes()))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("request thread")).collect()
    });
    redis.resume();
    for ((method, _, spec_path, _), status) in cases.iter().zip(answers) {
        assert_eq!(status, 408, "{method} {spec_path} with the store paused");
        assert_documented(method, spec_path, status, "the request deadline");
    }
}

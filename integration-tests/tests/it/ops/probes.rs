//! Operating the agent: readiness and metrics probes, and a server that slow
//! or greedy clients cannot stall.

use std::io::Write;
use std::os::unix::net::UnixStream;

use serde_json::json;
use vanta_integration_tests::agent::TestAgent;

use crate::common::{DEV_YAML, dev_agent, ok_json};

#[test]
fn readyz_reports_each_check_and_follows_the_audit_log() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let audit = logs.join("audit.jsonl");
    let agent = TestAgent::builder().secrets("dev", DEV_YAML).env("VANTA_AUDIT_LOG", &audit).start();
    let ready = agent.get("/readyz", None);
    assert_eq!(
        ok_json(&ready),
        json!({"status": "ready", "checks": {"sops": "ok", "decryption": "ok", "audit": "ok", "usage_store": "ok", "revocations": "ok"}})
    );

    // The audit directory disappears: fetches fail closed, readiness says why.
    let token = agent.mint_for("dev", "*");
    std::fs::remove_dir_all(&logs).unwrap();
    assert_eq!(agent.get_secret("dev", "DATABASE_USER", &token).status, 503);
    let not_ready = agent.get("/readyz", None);
    assert_eq!(not_ready.status, 503, "{}", not_ready.text());
    let body = not_ready.json();
    assert_eq!((body["error"].as_str(), body["checks"]["sops"].as_str()), (Some("not_ready"), Some("ok")));
    assert_ne!(body["checks"]["audit"], "ok");

    // It comes back by itself once the directory does.
    std::fs::create_dir(&logs).unwrap();
    assert_eq!(agent.get_secret("dev", "DATABASE_USER", &token).status, 200);
    assert_eq!(agent.get("/readyz", None).status, 200);
}

#[test]
fn metrics_count_requests_cache_and_tokens_without_names_or_values() {
    // The counts below assume the cache is on, whatever mode the run uses.
    let agent = TestAgent::builder().secrets("dev", DEV_YAML).env("VANTA_CACHE_TTL_SECONDS", "60").start();
    let token = agent.mint_for("dev", "*");
    for _ in 0..3 {
        assert_eq!(agent.get_secret("dev", "DATABASE_USER", &token).status, 200);
    }
    assert_eq!(agent.get_secret("dev", "NOPE", &token).status, 404);
    let metrics = agent.get("/metrics", None);
    assert_eq!(metrics.status, 200);
    assert!(metrics.header("content-type").is_some_and(|t| t.starts_with("text/plain")));
    let text = metrics.text();
    for line in [
        "vanta_http_requests_total{route=\"secret\",outcome=\"success\"} 3",
        "vanta_http_requests_total{route=\"secret\",outcome=\"not_found\"} 1",
        "vanta_http_requests_total{route=\"token_generate\",outcome=\"success\"} 1",
        "vanta_tokens_minted_total 1",
        "vanta_sops_runs_total 1",
        "vanta_cache_hits_total 3",
        "vanta_cache_misses_total 1",
        "vanta_audit_records_written_total 5",
        "vanta_audit_records_failed_total 0",
        "vanta_http_request_duration_seconds_count{route=\"secret\"} 4",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("DATABASE_USER") && !text.contains(&token) && !text.contains("dbuser"));
}

#[test]
fn probes_stay_open_when_the_request_header_is_required() {
    let agent = TestAgent::builder().secrets("dev", DEV_YAML).arg("--require-request-header").start();
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(agent.get(path, None).status, 200, "{path}");
    }
}

#[test]
fn an_oversized_request_head_is_refused_and_the_agent_keeps_serving() {
    let agent = dev_agent();
    let huge = "x".repeat(40 * 1024);
    let response = agent.request("GET", "/healthz", &[("X-Padding", &huge)], None);
    assert_eq!(response.status, 431, "{}", response.text());
    assert_eq!(agent.get("/healthz", None).status, 200);
}

#[test]
fn a_stalled_client_does_not_delay_others() {
    let agent = dev_agent();
    // Half a request head, never finished, on several connections.
    let stalled: Vec<UnixStream> = (0..8)
        .map(|_| {
            let mut stream = UnixStream::connect(agent.socket()).unwrap();
            stream.write_all(b"GET /api/v1/vault/dev HTTP/1.1\r\nHost: x\r\n").unwrap();
            stream
        })
        .collect();
    let token = agent.mint_for("dev", "*");
    assert_eq!(agent.secret_value("dev", "DATABASE_USER", &token), "dbuser-7c1e");
    drop(stalled);
}

#[test]
fn at_the_connection_cap_new_clients_wait_instead_of_failing() {
    let agent = TestAgent::builder().secrets("dev", DEV_YAML).args(["--max-connections", "2"]).start();
    let held: Vec<UnixStream> = (0..2).map(|_| UnixStream::connect(agent.socket()).unwrap()).collect();
    // Both slots are taken by idle connections; a third client is queued,
    // and is served as soon as one of them goes away.
    let waiting = std::thread::spawn({
        let socket = agent.socket().to_owned();
        move || vanta_integration_tests::http::try_request(&socket, "GET", "/healthz", &[], None)
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!waiting.is_finished(), "the third client must wait while both slots are held");
    drop(held);
    let response = waiting.join().unwrap().unwrap();
    assert_eq!(response.status, 200);
}

#[test]
fn a_wrong_method_is_405_with_allow() {
    let agent = dev_agent();
    for (method, path, allow) in [
        ("DELETE", "/api/v1/vault/dev", "GET"),
        ("PUT", "/api/v1/vault/dev/DATABASE_USER", "GET"),
        ("GET", "/api/v1/vault/tokens/generate", "POST"),
        ("POST", "/healthz", "GET, HEAD"),
    ] {
        let response = agent.request(method, path, &[], None);
        assert_eq!(response.status, 405, "{method} {path}");
        assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
        assert_eq!(response.json()["error"], "method_not_allowed");
    }
}

#[test]
fn sighup_reopens_a_rotated_audit_log() {
    let agent = TestAgent::builder().secrets("dev", DEV_YAML).arg("--audit-fsync").start();
    let token = agent.mint_for("dev", "*");
    let audit = agent.paths().audit.clone();
    let rotated = audit.with_extension("jsonl.1");
    std::fs::rename(&audit, &rotated).unwrap();
    agent.signal(nix::sys::signal::Signal::SIGHUP);
    // SIGHUP is handled asynchronously: wait (bounded) until a fetch lands in a new file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        assert_eq!(agent.get_secret("dev", "DATABASE_USER", &token).status, 200);
        if audit.exists() || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(audit.exists(), "a new audit file was opened at the configured path");
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(old.lines().any(|l| l.contains("token_generate")), "records before the rotation stay in the old file");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&audit).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(agent.get("/healthz", None).status, 200, "SIGHUP does not stop the agent");
}

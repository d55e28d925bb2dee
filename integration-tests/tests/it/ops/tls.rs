//! The optional TCP listener (docs/API.md §3 `--listen-tcp`, operator guide):
//! HTTPS with a CA-signed certificate made at run time, TLS 1.2 and 1.3,
//! the peer IP in the audit, minting only with the admin credential,
//! certificate reload on SIGHUP, plain HTTP only on loopback when asked.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use rustls::ProtocolVersion;
use rustls::version::{TLS12, TLS13};
use serde_json::json;
use vanta_integration_tests::agent::{AgentBuilder, GENERATE_PATH, TestAgent};
use vanta_integration_tests::process::{self, Finished};
use vanta_integration_tests::tls::{self, Pki};

use crate::common::{assert_error, dev_builder, dev_value, ok_json};

struct Https {
    agent: TestAgent,
    addr: SocketAddr,
    pki: Pki,
    cert: PathBuf,
    key: PathBuf,
}

fn tls_paths(builder: &AgentBuilder) -> (PathBuf, PathBuf) {
    let dir = builder.paths().root.join("tls");
    (dir.join("chain.pem"), dir.join("key.pem"))
}

/// Starts `builder` with an HTTPS listener on a free loopback port.
fn https(builder: AgentBuilder) -> Https {
    let pki = Pki::generate("vanta test CA one");
    let (cert, key) = tls_paths(&builder);
    pki.write(&cert, &key);
    let agent =
        builder.args(["--listen-tcp", "127.0.0.1:0", "--tls-cert"]).arg(&cert).arg("--tls-key").arg(&key).start();
    let addr = agent.tcp_addr();
    Https { agent, addr, pki, cert, key }
}

fn mint_body() -> Vec<u8> {
    json!({"subject": "over-tcp", "environment": "dev", "key_pattern": "*"}).to_string().into_bytes()
}

#[test]
fn healthz_over_https_with_tls_1_2_and_1_3() {
    let h = https(TestAgent::builder());
    for (version, want) in [(&TLS12, ProtocolVersion::TLSv1_2), (&TLS13, ProtocolVersion::TLSv1_3)] {
        let (response, negotiated) = h.pki.client(version).request(h.addr, "GET", "/healthz", &[], None).unwrap();
        assert_eq!(ok_json(&response), json!({"status": "ok"}));
        assert_eq!(negotiated, Some(want));
    }
}

#[test]
fn an_untrusted_certificate_and_plain_http_are_refused() {
    let h = https(TestAgent::builder());
    let stranger = Pki::generate("some other CA");
    assert!(stranger.client(&TLS13).get(h.addr, "/healthz").is_err(), "a client that does not trust the CA");
    match tls::plain_request(h.addr, "GET", "/healthz", &[], None) {
        Err(_) => {}
        Ok(response) => assert!(response.status >= 400, "plain HTTP on the TLS port answered {}", response.status),
    }
    assert_eq!(h.pki.client(&TLS13).get(h.addr, "/healthz").unwrap().status, 200, "the listener survives");
}

#[test]
fn a_secret_over_https_is_served_and_audited_with_the_peer_ip() {
    let h = https(dev_builder());
    let token = h.agent.mint_for("dev", "*");
    let client = h.pki.client(&TLS12);
    let auth = format!("Bearer {token}");
    let secret = |headers: &[(&str, &str)]| {
        client.request(h.addr, "GET", "/api/v1/vault/dev/DATABASE_URL", headers, None).unwrap().0
    };
    assert_eq!(ok_json(&secret(&[("Authorization", &auth)]))["value"], dev_value("DATABASE_URL"));
    let response = secret(&[]);
    assert_error(&response, 401, "unauthorized");
    let records = h.agent.wait_audit_lines(3);
    for record in &records[1..] {
        assert_eq!(record["event"], "secret_access", "{record}");
        assert_eq!(record["client"], "127.0.0.1", "the TCP peer is its IP: {record}");
    }
    assert_eq!(records[1]["outcome"], "success");
}

/// `POST generate` over HTTPS with `authorization`, if any.
fn tcp_mint(h: &Https, authorization: Option<&str>) -> vanta_integration_tests::http::Response {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(value) = authorization {
        headers.push(("Authorization", value));
    }
    h.pki.client(&TLS13).request(h.addr, "POST", GENERATE_PATH, &headers, Some(&mint_body())).unwrap().0
}

#[test]
fn minting_over_tcp_without_an_admin_credential_configured_is_403() {
    let h = https(TestAgent::builder());
    for auth in [None, Some("Bearer anything-at-all-0123456789-0123456789")] {
        assert_error(&tcp_mint(&h, auth), 403, "forbidden");
    }
    let record = h.agent.wait_audit_lines(2)[0].clone();
    assert_eq!((&record["event"], &record["outcome"]), (&json!("token_generate"), &json!("forbidden")));
    assert_eq!(record["client"], "127.0.0.1");
}

#[test]
fn minting_over_tcp_needs_the_admin_credential() {
    let builder = dev_builder();
    let admin = "admin-credential-for-tcp-0123456789-abcdef";
    let file = builder.paths().root.join("admin-token");
    fs::write(&file, admin).unwrap();
    let h = https(builder.env("VANTA_ADMIN_TOKEN_FILE", &file));
    let wrong = format!("Bearer {admin}X");
    let prefix = format!("Bearer {}", &admin[..admin.len() - 1]);
    let basic = format!("Basic {admin}");
    let refused: Vec<_> = [None, Some(wrong.as_str()), Some(prefix.as_str()), Some(basic.as_str()), Some(admin)]
        .into_iter()
        .map(|auth| tcp_mint(&h, auth))
        .collect();
    for response in &refused {
        assert_error(response, 403, "forbidden");
        assert_eq!(response.body, refused[0].body, "one 403 body");
    }
    let minted = ok_json(&tcp_mint(&h, Some(&format!("Bearer {admin}"))));
    let token = minted["access_token"].as_str().expect("a token");
    assert_eq!(h.agent.secret_value("dev", "INT", token), "42", "a TCP-minted token works on the socket");
    assert_eq!(h.agent.mint_for("dev", "*").split('.').count(), 3, "the socket still mints without it");
}

/// Polls until `client` gets an answer to `/healthz`.
fn wait_for(h: &Https, client: &tls::HttpsClient, what: &str) {
    process::poll_until(Duration::from_secs(5), what, || client.get(h.addr, "/healthz").is_ok().then_some(()));
}

#[test]
fn sighup_reloads_the_certificate_and_a_bad_pair_keeps_the_old_one() {
    let h = https(TestAgent::builder());
    let (old, new) = (h.pki.client(&TLS13), Pki::generate("vanta test CA two"));
    assert_eq!(old.get(h.addr, "/healthz").unwrap().status, 200);
    new.write(&h.cert, &h.key);
    h.agent.signal(Signal::SIGHUP);
    wait_for(&h, &new.client(&TLS13), "the new certificate after SIGHUP");
    assert!(old.get(h.addr, "/healthz").is_err(), "the old CA no longer verifies new connections");
    fs::write(&h.cert, "not a certificate\n").unwrap();
    h.agent.signal(Signal::SIGHUP);
    let line = h.agent.wait_log_line("SIGHUP: TLS reload failed; keeping the old certificate");
    assert!(line.contains(&h.cert.display().to_string()), "the failure names the certificate file: {line}");
    for _ in 0..3 {
        assert_eq!(new.client(&TLS12).get(h.addr, "/healthz").unwrap().status, 200, "a failed reload keeps the pair");
    }
}

#[test]
fn insecure_tcp_on_loopback_serves_plain_http() {
    let agent = dev_builder().args(["--listen-tcp", "127.0.0.1:0", "--insecure-tcp"]).start();
    let addr = agent.tcp_addr();
    assert_eq!(ok_json(&tls::plain_request(addr, "GET", "/healthz", &[], None).unwrap()), json!({"status": "ok"}));
    let auth = format!("Bearer {}", agent.mint_for("dev", "*"));
    let secret = tls::plain_request(addr, "GET", "/api/v1/vault/dev/INT", &[("Authorization", &auth)], None).unwrap();
    assert_eq!(ok_json(&secret)["value"], "42");
    let json_type = [("Content-Type", "application/json")];
    assert_error(
        &tls::plain_request(addr, "POST", GENERATE_PATH, &json_type, Some(&mint_body())).unwrap(),
        403,
        "forbidden",
    );
}

/// A start-up error: exit 2 and one `vanta-agent: error:` line.
fn assert_startup_error(what: &str, finished: &Finished) {
    let stderr = finished.stderr_text();
    assert_eq!(finished.code(), Some(2), "{what}: {}; stderr: {stderr}", finished.status);
    let lines = stderr.lines().filter(|l| l.starts_with("vanta-agent: error:")).count();
    assert_eq!(lines, 1, "{what}: one clear error line: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

#[test]
fn insecure_tcp_off_loopback_exits_2() {
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let (finished, _agent) = TestAgent::builder().args(["--listen-tcp", addr, "--insecure-tcp"]).run_to_exit();
        assert_startup_error(addr, &finished);
    }
}

/// The TLS flags of each broken configuration.
fn broken_tls_args(case: &str, cert: &Path, key: &Path) -> Vec<String> {
    let flag = |name: &str, path: &Path| [name.to_owned(), path.display().to_string()];
    match case {
        "neither" => vec![],
        "cert only" => flag("--tls-cert", cert).to_vec(),
        "key only" => flag("--tls-key", key).to_vec(),
        "missing files" => {
            [flag("--tls-cert", &cert.with_extension("nope")), flag("--tls-key", &key.with_extension("nope"))].concat()
        }
        "mismatched key" => {
            fs::write(key, Pki::generate("mismatched CA").key_pem).unwrap();
            [flag("--tls-cert", cert), flag("--tls-key", key)].concat()
        }
        "garbage certificate" => {
            fs::write(cert, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n").unwrap();
            [flag("--tls-cert", cert), flag("--tls-key", key)].concat()
        }
        other => panic!("unknown case {other}"),
    }
}

#[test]
fn listen_tcp_without_a_usable_certificate_and_key_exits_2() {
    for case in ["neither", "cert only", "key only", "missing files", "mismatched key", "garbage certificate"] {
        let builder = TestAgent::builder();
        let (cert, key) = tls_paths(&builder);
        Pki::generate("ok CA").write(&cert, &key);
        let args = broken_tls_args(case, &cert, &key);
        let (finished, _agent) = builder.args(["--listen-tcp", "127.0.0.1:0"]).args(args).run_to_exit();
        assert_startup_error(case, &finished);
    }
}

//! `vanta-cli health` and the CLI over the agent's TCP listener (operator
//! guide `docs/VAULT_ACCESS_SYSTEM_README.md`, sections "vanta-cli health" and
//! "Over TCP: `--url`, HTTPS and the admin credential"): HTTPS with a CA made at run time, plain
//! HTTP to a loopback `--insecure-tcp` agent, the admin credential for
//! minting, and one-line errors that name the URL.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use vanta_integration_tests::agent::{AgentBuilder, TestAgent};
use vanta_integration_tests::bins;
use vanta_integration_tests::cli::{Cli, SocketVia};
use vanta_integration_tests::process::Finished;
use vanta_integration_tests::tls::Pki;

use crate::common::{DEV_YAML, assert_cli_error_line, dev_agent, dev_builder, dev_value};

/// An agent with an HTTPS listener, the CA that signed its certificate (a
/// PEM file), and its admin credential file.
struct Https {
    agent: TestAgent,
    addr: SocketAddr,
    ca: PathBuf,
    admin: PathBuf,
}

const ADMIN: &str = "admin-credential-for-cli-tcp-0123456789-abcdef";

/// Starts `builder` with HTTPS on a free loopback port and an admin credential.
fn https(builder: AgentBuilder) -> Https {
    let root = builder.paths().root.clone();
    let pki = Pki::generate("vanta cli test CA");
    let (cert, key, ca, admin) =
        (root.join("tls/chain.pem"), root.join("tls/key.pem"), root.join("ca.pem"), root.join("admin"));
    pki.write(&cert, &key);
    fs::write(&ca, ca_pem(&pki)).unwrap();
    fs::write(&admin, format!("{ADMIN}\n")).unwrap();
    let agent = builder
        .env("VANTA_ADMIN_TOKEN_FILE", &admin)
        .args(["--listen-tcp", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .start();
    let addr = agent.tcp_addr();
    Https { agent, addr, ca, admin }
}

/// The CA certificate of `pki` alone: the chain is the leaf, then the CA.
fn ca_pem(pki: &Pki) -> String {
    let marker = "-----BEGIN CERTIFICATE-----";
    let at = pki.chain_pem.rfind(marker).expect("the chain holds the CA");
    pki.chain_pem[at..].to_owned()
}

/// A client whose `VANTA_AGENT_SOCKET` leads nowhere: whatever works went over `--url`.
fn tcp_cli(dir: &Path) -> Cli {
    Cli::new(&dir.join("no-agent-here.sock")).socket_via(SocketVia::Env)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

fn assert_ok(finished: &Finished) {
    assert_eq!(finished.code(), Some(0), "stderr: {}", finished.stderr_text());
}

#[test]
fn health_over_the_socket_is_quiet_on_success() {
    let agent = dev_agent();
    let cli = Cli::new(agent.socket());
    for args in [&["health"][..], &["health", "--ready"]] {
        let finished = cli.run(args);
        assert_ok(&finished);
        assert!(finished.stdout.is_empty() && finished.stderr.is_empty(), "{args:?} prints nothing");
    }
    assert_eq!(cli.run(&["health", "--verbose"]).stdout_text(), "ok\n");
    let ready = cli.run(&["health", "--ready", "-v"]).stdout_text();
    assert!(ready.starts_with("ready (") && ready.contains("sops: ok") && ready.contains("audit: ok"), "{ready}");
}

#[test]
fn health_without_an_agent_is_one_line_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("gone.sock");
    for args in [&["health"][..], &["health", "--ready"]] {
        let finished = Cli::new(&socket).run(args);
        assert_eq!(finished.code(), Some(1), "{args:?}");
        let line = assert_cli_error_line(&finished);
        assert!(
            line.starts_with(&format!("vanta-cli: error: cannot connect to the agent at {}", s(&socket))),
            "{line}"
        );
    }
}

#[test]
fn health_ready_fails_when_the_audit_log_cannot_be_written() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let agent = TestAgent::builder().secrets("dev", DEV_YAML).env("VANTA_AUDIT_LOG", logs.join("audit.jsonl")).start();
    let token = agent.mint_for("dev", "*");
    fs::remove_dir_all(&logs).unwrap();
    assert_eq!(agent.get_secret("dev", "DATABASE_USER", &token).status, 503, "the audit write fails");
    let cli = Cli::new(agent.socket());
    let finished = cli.run(&["health", "--ready"]);
    assert_eq!(finished.code(), Some(1));
    let line = assert_cli_error_line(&finished);
    let want = format!("vanta-cli: error: the agent at {} is not ready: audit: ", s(agent.socket()));
    assert!(line.starts_with(&want), "{line}");
    assert!(!line.contains("sops:"), "only failing checks are named: {line}");
    assert_ok(&cli.run(&["health"]));
}

#[test]
fn get_over_https_trusts_the_given_ca() {
    let h = https(dev_builder());
    let token = h.agent.mint_for("dev", "*");
    let cli = tcp_cli(&h.agent.paths().root);
    let port = h.addr.port();
    for url in [format!("https://127.0.0.1:{port}"), format!("https://localhost:{port}")] {
        let finished =
            cli.run(&["--url", &url, "--ca-cert", s(&h.ca), "get", "--environment", "dev", "INT", "--token", &token]);
        assert_ok(&finished);
        assert_eq!(finished.stdout_text(), "42", "{url}");
    }
    let by_env = cli.clone().env("VANTA_AGENT_URL", format!("https://127.0.0.1:{port}")).env("VANTA_CA_CERT", &h.ca);
    let finished = by_env.run(&["get", "--environment", "dev", "DATABASE_URL", "--token", &token]);
    assert_ok(&finished);
    assert_eq!(finished.stdout_text(), dev_value("DATABASE_URL"));
    let records = h.agent.wait_audit_lines(4);
    assert!(records[1..].iter().all(|r| r["client"] == "127.0.0.1"), "read over TCP: {records:?}");
    assert_ok(&by_env.run(&["health", "--ready"]));
}

#[test]
fn an_untrusted_certificate_is_one_line_about_tls() {
    let h = https(TestAgent::builder());
    let other = h.agent.paths().root.join("other-ca.pem");
    fs::write(&other, ca_pem(&Pki::generate("some other CA"))).unwrap();
    let url = format!("https://127.0.0.1:{}", h.addr.port());
    let finished = tcp_cli(&h.agent.paths().root).run(&["--url", &url, "--ca-cert", s(&other), "health"]);
    assert_eq!(finished.code(), Some(1));
    let line = assert_cli_error_line(&finished);
    assert!(line.starts_with(&format!("vanta-cli: error: cannot connect to the agent at {url}: TLS handshake failed")));
    assert!(line.contains("certificate"), "{line}");
}

#[test]
fn minting_over_https_sends_the_admin_credential() {
    let h = https(dev_builder());
    let cli = tcp_cli(&h.agent.paths().root);
    let url = format!("https://127.0.0.1:{}", h.addr.port());
    let generate =
        ["token", "generate", "--subject", "tcp", "--environment", "dev", "--key-pattern", "*", "--output", "token"];
    let with_admin: Vec<&str> = ["--url", &url, "--ca-cert", s(&h.ca), "--admin-token-file", s(&h.admin)].into();
    let finished = cli.run(&[&with_admin[..], &generate].concat());
    assert_ok(&finished);
    assert_eq!(h.agent.secret_value("dev", "INT", finished.stdout_text().trim()), "42");
    // `get` mints its own single-use token over TCP too.
    let get = cli.run(&[&with_admin[..], &["get", "--environment", "dev", "API_KEYS/stripe"]].concat());
    assert_ok(&get);
    assert_eq!(get.stdout_text(), dev_value("API_KEYS/stripe"));

    let refused = cli.run(&[&["--url", &url, "--ca-cert", s(&h.ca)][..], &generate].concat());
    assert_eq!(refused.code(), Some(1));
    let line = assert_cli_error_line(&refused);
    assert!(line.contains(&format!("the agent at {url} refused to mint a token over TCP: 403 forbidden")), "{line}");
    assert!(line.contains("--admin-token-file"), "the hint names the fix: {line}");
    assert!(!line.contains(ADMIN) && !refused.stdout_text().contains(ADMIN));
}

#[test]
fn run_with_secrets_over_https() {
    let h = https(dev_builder());
    let cli = tcp_cli(&h.agent.paths().root).env("VANTA_ADMIN_TOKEN_FILE", &h.admin);
    let url = format!("https://localhost:{}", h.addr.port());
    let print_env = bins::helper("print-env");
    let args = ["--url", &url, "--ca-cert", s(&h.ca), "run-with-secrets", "--environment", "dev"];
    let rest = ["--key-pattern", "DATABASE_*", "--", s(&print_env), "DATABASE_URL", "VANTA_ADMIN_TOKEN_FILE"];
    let finished = cli.run(&[&args[..], &rest].concat());
    assert_ok(&finished);
    let env: serde_json::Value = serde_json::from_slice(&finished.stdout).unwrap();
    assert_eq!(env["DATABASE_URL"], dev_value("DATABASE_URL"));
    assert_eq!(env["VANTA_ADMIN_TOKEN_FILE"], serde_json::Value::Null, "the credential's path is not passed on");
}

#[test]
fn plain_http_goes_only_to_loopback() {
    let agent = dev_builder().args(["--listen-tcp", "127.0.0.1:0", "--insecure-tcp"]).start();
    let url = format!("http://127.0.0.1:{}", agent.tcp_addr().port());
    let cli = tcp_cli(&agent.paths().root);
    let token = agent.mint_for("dev", "*");
    let finished = cli.run(&["--url", &url, "get", "--environment", "dev", "INT", "--token", &token]);
    assert_ok(&finished);
    assert_eq!(finished.stdout_text(), "42");
    assert_ok(&cli.run(&["--url", &url, "health", "--ready"]));

    // Off loopback: a usage error before anything is resolved or connected.
    for remote in ["http://vanta.example:8080", "http://192.0.2.10:8080"] {
        for finished in
            [cli.run(&["--url", remote, "health"]), cli.clone().env("VANTA_AGENT_URL", remote).run(&["health"])]
        {
            assert_eq!(finished.code(), Some(2), "{remote}: {}", finished.stderr_text());
            assert!(
                finished.stderr_text().contains("only allowed to a loopback address"),
                "{}",
                finished.stderr_text()
            );
        }
    }
}

#[test]
fn errors_name_the_url_and_the_socket_flag_beats_the_url_variable() {
    let agent = dev_agent();
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port())
    };
    let finished = tcp_cli(&agent.paths().root).run(&["--url", &closed, "health"]);
    let line = assert_cli_error_line(&finished);
    assert!(line.starts_with(&format!("vanta-cli: error: cannot connect to the agent at {closed}: ")), "{line}");
    assert!(line.contains("VANTA_AGENT_URL"), "the hint names the URL setting: {line}");

    // `--socket` on the command line beats VANTA_AGENT_URL; both flags are a usage error.
    let flag = Cli::new(agent.socket()).env("VANTA_AGENT_URL", &closed);
    assert_ok(&flag.run(&["health"]));
    let both = flag.run(&["--url", &closed, "health"]);
    assert_eq!(both.code(), Some(2), "{}", both.stderr_text());
    assert!(both.stderr_text().contains("--socket and --url cannot be used together"), "{}", both.stderr_text());
}

#[test]
fn tls_failures_are_said_in_words_with_their_fix() {
    use vanta_integration_tests::tls::Leaf;
    let cases = [
        (Leaf::Expired, "the agent's certificate expired at 2021-01-01T00:00:00Z", "renew the agent's certificate"),
        (Leaf::OtherName, "the agent's certificate is not valid for the name 127.0.0.1", "whose host is named in"),
        (Leaf::SubCa, "the agent presents a CA certificate as its server certificate", "a server certificate signed"),
        (Leaf::TheCaOtherName, "the agent's certificate is not valid for the name 127.0.0.1", "whose host is named in"),
    ];
    for (leaf, words, fix) in cases {
        let builder = TestAgent::builder();
        let root = builder.paths().root.clone();
        let pki = Pki::generate_with("vanta cli test CA", leaf);
        let (cert, key, ca) = (root.join("tls/chain.pem"), root.join("tls/key.pem"), root.join("ca.pem"));
        pki.write(&cert, &key);
        fs::write(&ca, ca_pem(&pki)).unwrap();
        let agent =
            builder.args(["--listen-tcp", "127.0.0.1:0", "--tls-cert"]).arg(&cert).arg("--tls-key").arg(&key).start();
        let url = format!("https://127.0.0.1:{}", agent.tcp_addr().port());
        let finished = tcp_cli(&root).run(&["--url", &url, "--ca-cert", s(&ca), "health"]);
        assert_eq!(finished.code(), Some(1), "{leaf:?}");
        let line = assert_cli_error_line(&finished);
        let want = format!("vanta-cli: error: cannot connect to the agent at {url}: TLS handshake failed: {words}");
        assert!(line.starts_with(&want), "{leaf:?}: {line}");
        assert!(line.contains(fix), "{leaf:?}: the hint names the fix: {line}");
        assert!(!line.contains("Context") && !line.contains("Other("), "no Rust debug text: {line}");
    }
    // The TLS port answered by a plain-HTTP agent.
    let plain = TestAgent::builder().args(["--listen-tcp", "127.0.0.1:0", "--insecure-tcp"]).start();
    let url = format!("https://127.0.0.1:{}", plain.tcp_addr().port());
    let ca = plain.paths().root.join("ca.pem");
    fs::write(&ca, ca_pem(&Pki::generate("vanta cli test CA"))).unwrap();
    let line =
        assert_cli_error_line(&tcp_cli(&plain.paths().root).run(&["--url", &url, "--ca-cert", s(&ca), "health"]));
    assert!(line.contains("TLS handshake failed: the agent did not answer in TLS"), "{line}");
    assert!(line.contains("needs http://"), "{line}");
}

#[test]
fn a_self_signed_ca_certificate_given_as_ca_cert_is_accepted_as_curl_does() {
    use vanta_integration_tests::tls::Leaf;
    let builder = dev_builder();
    let root = builder.paths().root.clone();
    let pki = Pki::generate_with("vanta self-signed", Leaf::TheCa);
    let (cert, key, pinned) = (root.join("tls/chain.pem"), root.join("tls/key.pem"), root.join("pinned.pem"));
    pki.write(&cert, &key);
    fs::write(&pinned, &pki.chain_pem).unwrap();
    let agent =
        builder.args(["--listen-tcp", "127.0.0.1:0", "--tls-cert"]).arg(&cert).arg("--tls-key").arg(&key).start();
    let token = agent.mint_for("dev", "*");
    let cli = tcp_cli(&root).env("VANTA_TOKEN", &token);
    for url in [
        format!("https://127.0.0.1:{}", agent.tcp_addr().port()),
        format!("https://localhost:{}", agent.tcp_addr().port()),
    ] {
        let finished = cli.run(&["--url", &url, "--ca-cert", s(&pinned), "get", "--environment", "dev", "INT"]);
        assert_ok(&finished);
        assert_eq!(finished.stdout_text(), "42", "{url}");
    }
    // Pinning is exact: with another self-signed CA certificate, the agent's is refused.
    let other = root.join("other.pem");
    fs::write(&other, Pki::generate_with("another self-signed", Leaf::TheCa).chain_pem).unwrap();
    let url = format!("https://127.0.0.1:{}", agent.tcp_addr().port());
    let line = assert_cli_error_line(&cli.run(&["--url", &url, "--ca-cert", s(&other), "health"]));
    assert!(
        line.contains("TLS handshake failed: the agent presents a CA certificate as its server certificate"),
        "{line}"
    );
    assert!(line.contains("put this very certificate in --ca-cert"), "{line}");
}

#[test]
fn a_broken_answer_is_said_in_words() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("not-an-agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut head = [0u8; 512];
        let _ = conn.read(&mut head);
        let _ = conn.write_all(b"garbage\r\n\r\n");
    });
    let finished = Cli::new(&socket).run(&["health"]);
    server.join().unwrap();
    let line = assert_cli_error_line(&finished);
    assert!(line.starts_with(&format!("vanta-cli: error: failed to talk to the agent at {}: ", s(&socket))), "{line}");
    assert!(!line.contains("client error") && !line.contains("SendRequest"), "no Rust debug names: {line}");
}

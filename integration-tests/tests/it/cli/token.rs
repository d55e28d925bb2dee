//! docs/API.md §6 `vanta-cli token generate` and the CLI's general behaviour.

use serde_json::json;
use vanta_integration_tests::cli::{Cli, SocketVia};
use vanta_integration_tests::jwt;

use crate::common::{assert_cli_error_line, dev_agent};

const GENERATE: &[&str] =
    &["token", "generate", "--subject", "cli-test", "--environment", "dev", "--key-pattern", "DATABASE_*"];

fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    GENERATE.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
fn output_json_is_the_api_response() {
    let agent = dev_agent();
    let finished = Cli::new(agent.socket()).run(&with(&["--output", "json"]));
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr_text());
    let body: serde_json::Value = serde_json::from_slice(&finished.stdout).expect("stdout is JSON");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(
        body["scope_details"],
        json!({"environment": "dev", "key_pattern": "DATABASE_*", "permissions": ["read"], "usage_limit": null})
    );
    let token = body["access_token"].as_str().expect("access_token");
    assert_eq!(agent.secret_value("dev", "DATABASE_USER", token), "dbuser-7c1e");
}

#[test]
fn output_token_is_the_bare_jwt_with_ttl_and_usage_limit() {
    let agent = dev_agent();
    let cli = Cli::new(agent.socket()).socket_via(SocketVia::Env);
    let finished = cli.run(&with(&["--output", "token", "--ttl", "5", "--usage-limit", "2"]));
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr_text());
    let stdout = finished.stdout_text();
    let token = stdout.strip_suffix('\n').unwrap_or(&stdout);
    assert!(!token.contains(char::is_whitespace), "only the token on stdout: {stdout:?}");
    let claims = jwt::decode_part(token, 1);
    assert_eq!(claims["usage_limit"], 2);
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
    assert_eq!(claims["sub"], "cli-test");
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", token).status, 200);
}

#[test]
fn output_text_is_a_readable_summary() {
    let agent = dev_agent();
    let finished = Cli::new(agent.socket()).run(&with(&["--output", "text"]));
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr_text());
    let text = finished.stdout_text();
    assert!(text.contains("dev") && text.contains("DATABASE_*"), "summary names the scope: {text}");
}

#[test]
fn a_refused_request_is_one_line_with_the_agents_answer() {
    let agent = dev_agent();
    let finished = Cli::new(agent.socket()).run(&with(&["--ttl", "61"]));
    let line = assert_cli_error_line(&finished);
    assert!(line.contains("ttl"), "the error names the ttl: {line}");
}

#[test]
fn no_agent_is_one_line_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody-listens.sock");
    for via in [SocketVia::Flag, SocketVia::Env] {
        let finished = Cli::new(&socket).socket_via(via).run(&with(&[]));
        let line = assert_cli_error_line(&finished);
        assert!(line.contains(socket.to_str().unwrap()), "{via:?}: the error names the socket: {line}");
    }
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    let cli = Cli::new(std::path::Path::new("/unused.sock"));
    for sub in [&["token", "generate"][..], &["token", "revoke"], &["get"], &["run-with-secrets"]] {
        let args: Vec<&str> = sub.iter().copied().chain(["--help"]).collect();
        let finished = cli.run(&args);
        assert_eq!(finished.code(), Some(0), "{sub:?} --help: {}", finished.stderr_text());
        let help = finished.stdout_text().to_lowercase();
        assert!(help.contains("example"), "{sub:?} --help has an example: {help}");
        assert!(help.contains("vanta-cli"), "{sub:?} --help example shows the command: {help}");
    }
}

#[test]
fn the_socket_flag_overrides_the_variable() {
    let agent = dev_agent();
    let cli = Cli::new(agent.socket()).env("VANTA_AGENT_SOCKET", "/nonexistent/vanta.sock");
    let finished = cli.run(&with(&["--output", "token"]));
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr_text());
}

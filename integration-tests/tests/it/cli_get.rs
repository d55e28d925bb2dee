//! CONTRACT §6 `vanta-cli get`.

use vanta_integration_tests::cli::Cli;

use crate::common::{assert_cli_error_line, dev_agent, dev_value};

#[test]
fn get_prints_the_value() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "*");
    let cli = Cli::new(agent.socket());
    for key in ["DATABASE_URL", "API_KEYS/stripe", "MULTILINE", "NEWLINES", "UNICODE", "DOLLAR", "INT", "BOOL_TRUE"] {
        let finished = cli.run(&["get", "--environment", "dev", key, "--token", &token]);
        assert_eq!(finished.code(), Some(0), "{key}: {}", finished.stderr_text());
        let want = dev_value(key);
        let stdout = finished.stdout_text();
        assert!(stdout == want || stdout == format!("{want}\n"), "{key}: printed {stdout:?}, want {want:?}");
    }
}

#[test]
fn a_missing_key_is_one_line_with_the_agents_answer() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "*");
    let finished = Cli::new(agent.socket()).run(&["get", "--environment", "dev", "NOPE", "--token", &token]);
    let line = assert_cli_error_line(&finished).to_lowercase();
    assert!(line.contains("not found") || line.contains("not_found"), "says what the agent answered: {line}");
    assert!(finished.stdout.is_empty());
}

#[test]
fn a_forbidden_key_is_one_line() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "DATABASE_*");
    let finished = Cli::new(agent.socket()).run(&["get", "--environment", "dev", "API_KEYS/stripe", "--token", &token]);
    assert_cli_error_line(&finished);
    assert!(!finished.stdout_text().contains(dev_value("API_KEYS/stripe")));
}

#[test]
fn no_agent_is_one_line_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("gone.sock");
    let finished = Cli::new(&socket).run(&["get", "--environment", "dev", "DATABASE_URL", "--token", "x.y.z"]);
    let line = assert_cli_error_line(&finished);
    assert!(line.contains(socket.to_str().unwrap()), "the error names the socket: {line}");
}

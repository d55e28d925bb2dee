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
    let finished = Cli::new(agent.socket()).env("VANTA_TOKEN", &token).run(&["get", "--environment", "dev", "NOPE"]);
    let line = assert_cli_error_line(&finished).to_lowercase();
    assert!(line.contains("not found") || line.contains("not_found"), "says what the agent answered: {line}");
    assert!(finished.stdout.is_empty());
}

#[test]
fn a_forbidden_key_is_one_line() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "DATABASE_*");
    let finished =
        Cli::new(agent.socket()).env("VANTA_TOKEN", &token).run(&["get", "--environment", "dev", "API_KEYS/stripe"]);
    assert_cli_error_line(&finished);
    assert!(!finished.stdout_text().contains(dev_value("API_KEYS/stripe")));
}

#[test]
fn no_agent_is_one_line_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("gone.sock");
    let finished = Cli::new(&socket).env("VANTA_TOKEN", "x.y.z").run(&["get", "--environment", "dev", "DATABASE_URL"]);
    let line = assert_cli_error_line(&finished);
    assert!(line.contains(socket.to_str().unwrap()), "the error names the socket: {line}");
}

#[test]
fn a_token_on_the_command_line_is_warned_about_and_the_variable_is_not() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "*");
    let cli = Cli::new(agent.socket());
    let flagged = cli.run(&["get", "--environment", "dev", "INT", "--token", &token]);
    assert_eq!((flagged.code(), flagged.stdout_text().as_str()), (Some(0), "42"), "{}", flagged.stderr_text());
    let warning = flagged.stderr_text();
    assert!(warning.starts_with("vanta-cli: warning: a token given with --token is visible"), "{warning}");
    assert!(warning.contains("VANTA_TOKEN") && warning.contains("--token-file"), "names the fix: {warning}");
    assert_eq!(warning.lines().count(), 1, "one line: {warning}");
    assert!(!warning.contains(&token), "the warning does not repeat the token");
    let quiet = cli.env("VANTA_TOKEN", &token).run(&["get", "--environment", "dev", "INT"]);
    assert_eq!((quiet.code(), quiet.stderr_text().as_str()), (Some(0), ""), "no warning for VANTA_TOKEN");
}

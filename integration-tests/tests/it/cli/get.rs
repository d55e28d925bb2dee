//! docs/API.md §6 `vanta-cli get`.

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

#[test]
fn a_token_given_twice_is_a_usage_error_naming_where_each_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "x.y.z").unwrap();
    let cli = Cli::new(&dir.path().join("agent.sock")).env("VANTA_TOKEN", "x.y.z");
    let finished = cli.run(&["get", "--environment", "dev", "K", "--token-file", file.to_str().unwrap()]);
    let stderr = finished.stderr_text();
    assert_eq!(finished.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("error: a token was given twice (VANTA_TOKEN and --token-file)"), "{stderr}");
}

/// `get` of `key` in `env` with `token` in VANTA_TOKEN: the one error line.
fn refused_get(agent: &vanta_integration_tests::agent::TestAgent, env: &str, key: &str, token: &str) -> String {
    let finished = Cli::new(agent.socket()).env("VANTA_TOKEN", token).run(&["get", "--environment", env, key]);
    assert_eq!(finished.code(), Some(1), "{env}/{key}: {}", finished.stderr_text());
    let line = assert_cli_error_line(&finished);
    assert!(!line.contains(token), "the token is never shown: {line}");
    line
}

#[test]
fn a_refused_token_is_explained_from_its_own_claims() {
    use serde_json::json;
    use vanta_integration_tests::jwt;
    let agent = dev_agent();
    let now = jwt::now();
    let expired = jwt::sign(&jwt::with(jwt::claims("dev", "*"), "exp", json!(now - 17 * 60 - 30)));
    let line = refused_get(&agent, "dev", "INT", &expired);
    assert!(line.contains("refused the request: 401 unauthorized: "), "{line}");
    assert!(line.contains("; the token expired at ") && line.contains("(17 minutes ago)"), "{line}");
    assert!(line.ends_with("or give none and vanta-cli mints its own)"), "the hint names the fix: {line}");

    let early = jwt::sign(&jwt::with(jwt::claims("dev", "*"), "nbf", json!(now + 600)));
    assert!(refused_get(&agent, "dev", "INT", &early).contains("; the token is not valid before "));

    let scoped = agent.mint_for("dev", "DATABASE_*");
    let line = refused_get(&agent, "dev", "API_KEYS/stripe", &scoped);
    assert!(line.contains("403 forbidden: "), "{line}");
    assert!(line.contains("; the token's key pattern 'DATABASE_*' does not cover the key 'API_KEYS/stripe'"), "{line}");
    let line = refused_get(&agent, "prod", "DATABASE_URL", &scoped);
    assert!(line.contains("; the token is for environment 'dev', not 'prod'"), "{line}");

    let once = agent.mint(&json!({"subject": "it", "environment": "dev", "key_pattern": "*", "usage_limit": 1}));
    assert_eq!(agent.secret_value("dev", "INT", &once), "42");
    let line = refused_get(&agent, "dev", "INT", &once);
    assert!(line.contains("; the token allowed 1 read (--usage-limit) and it was most likely taken"), "{line}");

    // A revoked token (here by subject, as `token revoke --subject` does to a
    // token minted in the revoke's own second) gets the same 401.
    let revoked = agent.mint(&json!({"subject": "gone", "environment": "dev", "key_pattern": "*"}));
    let answer = Cli::new(agent.socket()).run(&["token", "revoke", "--subject", "gone"]);
    assert_eq!(answer.code(), Some(0), "{}", answer.stderr_text());
    let line = refused_get(&agent, "dev", "INT", &revoked);
    assert!(line.contains("; the token was not accepted: revoked (a revoke by subject also refuses"), "{line}");
}

#[test]
fn a_404_says_whether_the_environment_the_key_or_a_value_is_missing() {
    let agent = dev_agent();
    let cases = [
        ("dev", "NOPE", "404 not_found: no such key in this environment", "vanta-cli list --environment ENV"),
        ("dev", "API_KEYS", "404 not_found: the key is a map, not a value", "shows the keys below it"),
        ("dev", "LIST_KEY", "404 not_found: the key is a list, not a value", ""),
        ("dev", "NULL_KEY", "404 not_found: the key is null, not a value", ""),
        (
            "staging",
            "DATABASE_URL",
            "404 not_found: no such environment",
            "check --environment: the agent has no ENV.enc.yaml, .yml, .json, .env or .ini file for it",
        ),
    ];
    for (env, key, says, fix) in cases {
        let token = agent.mint_for(env, "*");
        let line = refused_get(&agent, env, key, &token);
        assert!(line.contains(says), "{env}/{key}: {line}");
        assert!(line.contains(fix), "{env}/{key}: the hint: {line}");
    }
}

#[test]
fn a_sops_the_agent_cannot_start_gets_a_hint_to_its_log_and_checks() {
    let builder = crate::common::dev_builder();
    let sops = builder.paths().root.join("sops-copy");
    vanta_integration_tests::staged::copy_program(&vanta_integration_tests::bins::sops(), &sops);
    let agent = builder.arg("--sops-bin").arg(&sops).start();
    std::fs::remove_file(&sops).unwrap();
    let token = agent.mint_for("dev", "*");
    let line = refused_get(&agent, "dev", "INT", &token);
    assert!(line.contains("500 internal: internal error"), "{line}");
    assert!(
        line.ends_with(
            "(the agent's log has the cause; vanta-cli health --ready and vanta-agent doctor check its set-up, such \
             as a --sops-bin that cannot be started)"
        ),
        "{line}"
    );
}

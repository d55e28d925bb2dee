//! `run-with-secrets` refuses early: a mistyped option before the command
//! is a usage error, not the command; a limited token that cannot fetch
//! every matching key is refused before any value is fetched, and one that
//! `--watch` would use up is a usage error.

use serde_json::json;
use vanta_integration_tests::cli::Cli;

use crate::run::support::{app_agent, assert_code, assert_refused, assert_usage_error, helper, run_args};

#[test]
fn an_unknown_option_before_the_command_is_a_usage_error() {
    let agent = app_agent();
    let marker = tempfile::tempdir().unwrap();
    let touched = marker.path().join("ran");
    let touch = format!("touch {}", touched.display());
    for (typo, closest) in [("--enviroment", Some("--environment")), ("--no-such-option", None)] {
        let args = ["run-with-secrets", "--environment", "app", "--key-pattern", "*", typo, "sh", "-c", &touch];
        let finished = Cli::new(agent.socket()).run(&args);
        assert_code(&finished, 2);
        let stderr = finished.stderr_text();
        assert!(stderr.contains(&format!("unexpected argument '{typo}'")), "{stderr}");
        if let Some(closest) = closest {
            assert!(stderr.contains(&format!("a similar argument exists: '{closest}'")), "{stderr}");
        }
        assert!(!touched.exists(), "{typo}: nothing was run");
    }
    // The first word that is not an option starts the command; its options are its own.
    let args = ["run-with-secrets", "--environment", "app", "--key-pattern", "MARK", "sh", "-c", &touch, "--quiet"];
    assert_code(&Cli::new(agent.socket()).run(&args), 0);
    assert!(touched.exists());
}

#[test]
fn a_limited_token_short_of_uses_is_refused_before_any_fetch() {
    let agent = app_agent();
    let token = agent.mint(&json!({"subject": "it", "environment": "app", "key_pattern": "DB_*", "usage_limit": 1}));
    let args = run_args("DB_*", &[], &[&helper("print-env")]);
    let line = assert_refused(&Cli::new(agent.socket()).env("VANTA_TOKEN", &token).run(&args));
    assert!(
        line.contains("the given token allows 1 uses and 2 keys of 'app' match (DB_URL, DB_USER); nothing was fetched"),
        "{line}"
    );
    let fetches = agent.audit_lines().into_iter().filter(|l| l["event"] == "secret_access").count();
    assert_eq!(fetches, 0, "no value was asked for");
    // The same token with one key is enough, and its use is spent.
    let one = run_args("DB_*", &["--key", "DB_USER"], &["true"]);
    assert_code(&Cli::new(agent.socket()).env("VANTA_TOKEN", &token).run(&one), 0);
}

#[test]
fn watch_refuses_a_limited_token_it_would_use_up() {
    let agent = app_agent();
    let token = agent.mint(&json!({"subject": "it", "environment": "app", "key_pattern": "*", "usage_limit": 3}));
    let args = run_args("MARK", &["--watch"], &["true"]);
    let line = assert_usage_error(&Cli::new(agent.socket()).env("VANTA_TOKEN", &token).run(&args));
    assert!(line.ends_with("the given token allows only 3 uses: give a token without a usage limit"), "{line}");
    let fetches = agent.audit_lines().into_iter().filter(|l| l["event"] == "secret_access").count();
    assert_eq!(fetches, 0, "no value was asked for");
}

/// `--ttl` and `--subject` shape minted tokens; with a given token nothing
/// is minted. The usage error names where the token came from, VANTA_TOKEN
/// included (which a shell may have set long before).
#[test]
fn mint_flags_with_a_given_token_are_a_usage_error_naming_its_source() {
    let agent = app_agent();
    let token = agent.mint_for("app", "*");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, &token).unwrap();
    let file = file.to_str().unwrap();
    // Flags, the variable holding the token (if any), the flag and source named.
    type Case<'a> = (&'a [&'a str], Option<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: [Case; 4] = [
        (&["--ttl", "3"], Some(("VANTA_TOKEN", token.as_str())), "--ttl", "VANTA_TOKEN"),
        (&["--subject", "me"], Some(("VANTA_TOKEN_FILE", file)), "--subject", "VANTA_TOKEN_FILE"),
        (&["--ttl", "3", "--token-file", file], None, "--ttl", "--token-file"),
        (&["--token", token.as_str(), "--ttl", "3"], None, "--ttl", "--token"),
    ];
    for (extra, env, flag, given) in cases {
        let mut cli = Cli::new(agent.socket());
        if let Some((name, value)) = env {
            cli = cli.env(name, value);
        }
        let finished = cli.run(&run_args("MARK", extra, &["true"]));
        assert_code(&finished, 2);
        let stderr = finished.stderr_text();
        let want = format!(
            "{flag} shapes the tokens vanta-cli mints, and none is minted when a token is given ({given}): drop {flag}, or the token"
        );
        assert!(stderr.contains(&want), "{extra:?}: {stderr}");
    }
    let minted = agent.audit_lines().into_iter().filter(|l| l["event"] == "token_generate").count();
    assert_eq!(minted, 1, "only the test's own token");
}

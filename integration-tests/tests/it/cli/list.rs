//! `vanta-cli list` (operator guide, "vanta-cli list"): the keys a token may
//! read, as text or JSON, never a value.

use serde_json::json;
use vanta_integration_tests::cli::Cli;

use crate::common::{assert_cli_error_line, dev_agent, dev_value};

#[test]
fn list_prints_the_keys_the_token_may_read() {
    let agent = dev_agent();
    let cli = Cli::new(agent.socket());
    // Minted by the CLI for every key.
    let all = cli.run(&["list", "--environment", "dev"]);
    assert_eq!(all.code(), Some(0), "{}", all.stderr_text());
    let keys: Vec<&str> =
        all.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| std::str::from_utf8(l).unwrap()).collect();
    assert!(keys.contains(&"DATABASE_URL") && keys.contains(&"API_KEYS/nested/deep"), "{keys:?}");
    assert!(!keys.contains(&"LIST_KEY") && !keys.contains(&"API_KEYS"), "only values are keys: {keys:?}");
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    assert!(!all.stdout_text().contains(dev_value("DATABASE_URL")), "no value is printed");

    // Narrowed, as JSON.
    let json_out = cli.run(&["list", "--environment", "dev", "--key-pattern", "API_KEYS/*", "--output", "json"]);
    assert_eq!(json_out.code(), Some(0), "{}", json_out.stderr_text());
    let body: serde_json::Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(
        body,
        json!({"environment": "dev", "keys": ["API_KEYS/github", "API_KEYS/nested/deep", "API_KEYS/stripe"]})
    );

    // A given token's scope bounds the list; listing is not a use.
    let once =
        agent.mint(&json!({"subject": "it", "environment": "dev", "key_pattern": "DATABASE_*", "usage_limit": 1}));
    let given = cli.clone().env("VANTA_TOKEN", &once);
    for _ in 0..2 {
        let scoped = given.run(&["list", "--environment", "dev"]);
        assert_eq!(scoped.code(), Some(0), "{}", scoped.stderr_text());
        assert!(scoped.stdout_text().lines().all(|k| k.starts_with("DATABASE_")), "{}", scoped.stdout_text());
    }
    assert_eq!(agent.secret_value("dev", "DATABASE_URL", &once), dev_value("DATABASE_URL"), "the use is still there");
}

#[test]
fn list_errors_are_one_line_with_the_reason() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "*");
    let other = Cli::new(agent.socket()).env("VANTA_TOKEN", &token).run(&["list", "--environment", "prod"]);
    let line = assert_cli_error_line(&other);
    assert!(line.starts_with("vanta-cli: error: failed to list the keys of 'prod': "), "{line}");
    assert!(line.contains("; the token is for environment 'dev', not 'prod'"), "{line}");
    let missing = Cli::new(agent.socket()).run(&["list", "--environment", "staging"]);
    assert!(assert_cli_error_line(&missing).contains("404 not_found: no such environment"));
}

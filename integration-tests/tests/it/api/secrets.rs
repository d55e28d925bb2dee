//! docs/API.md §2, §4, §7 `GET /api/v1/vault/{environment}/{key}`: values byte
//! for byte, what is not a secret, hostile paths, and the order of checks.

use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::jwt;

use crate::common::{DEV_VALUES, DEV_YAML, assert_error, dev_agent, dev_builder};

#[test]
fn every_value_comes_back_byte_for_byte() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "*");
    for (key, want) in DEV_VALUES {
        let response = agent.get_secret("dev", key, &token);
        assert_eq!(response.status, 200, "{key}: {}", response.text());
        let body = response.json();
        assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{key}: body is {{\"value\"}} only: {body}");
        assert_eq!(body["value"].as_str(), Some(*want), "{key}");
    }
}

#[test]
fn maps_lists_nulls_and_missing_keys_are_404() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "*");
    // The message says what is there instead: the token may read these names anyway.
    let cases = [
        ("API_KEYS", "the key is a map, not a value: fetch a key below it"),
        ("API_KEYS/nested", "the key is a map, not a value: fetch a key below it"),
        ("LIST_KEY", "the key is a list, not a value"),
        ("NULL_KEY", "the key is null, not a value"),
        ("NOPE", "no such key in this environment"),
        ("API_KEYS/nope", "no such key in this environment"),
        ("DATABASE_URL/child", "no such key in this environment"),
    ];
    for (key, message) in cases {
        let response = agent.get_secret("dev", key, &token);
        assert_error(&response, 404, "not_found");
        assert_eq!(response.json()["message"], message, "{key}");
    }
}

#[test]
fn an_environment_without_a_file_is_404() {
    let agent = dev_agent();
    let token = agent.mint_for("staging", "*");
    let response = agent.get_secret("staging", "DATABASE_URL", &token);
    assert_error(&response, 404, "not_found");
    assert_eq!(response.json()["message"], "no such environment");
}

#[test]
fn the_sops_block_is_not_a_secret() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "*");
    for key in ["sops", "sops/mac", "sops/version", "sops/lastmodified", "sops/age"] {
        let response = agent.get_secret("dev", key, &token);
        assert!([400, 403, 404].contains(&response.status), "{key}: HTTP {} {}", response.status, response.text());
        assert!(response.json()["error"].is_string(), "{key}: error body");
    }
}

/// Paths that must be refused as bad syntax (400) by an agent whose token
/// would otherwise allow everything in `dev`.
const HOSTILE_PATHS: &[&str] = &[
    "/api/v1/vault/../dev/DATABASE_URL",
    "/api/v1/vault/dev/../prod/DATABASE_URL",
    "/api/v1/vault/dev/API_KEYS/../DATABASE_URL",
    "/api/v1/vault/dev/./DATABASE_URL",
    "/api/v1/vault/dev%2F..%2Fprod/DATABASE_URL",
    "/api/v1/vault/dev/..%2F..%2Fetc%2Fpasswd",
    "/api/v1/vault/dev/API_KEYS%2Fstripe%2F..%2F..%2FDATABASE_URL",
    "/api/v1/vault/%2e%2e/DATABASE_URL",
    "/api/v1/vault/dev/%2e%2e/DATABASE_URL",
    "/api/v1/vault/dev/DATABASE_URL%00",
    "/api/v1/vault/dev%00/DATABASE_URL",
    "/api/v1/vault/dev/DATABASE_URL%00.txt",
    "/api/v1/vault/dev//DATABASE_URL",
    "/api/v1/vault/dev/DATABASE_URL/",
    "/api/v1/vault/-dev/DATABASE_URL",
    // sops --extract injection: quotes, brackets, indexes.
    "/api/v1/vault/dev/DATABASE_URL%22%5D",
    "/api/v1/vault/dev/DATABASE_URL%22%5D%5B%22x",
    "/api/v1/vault/dev/%5B%22DATABASE_URL%22%5D",
    "/api/v1/vault/dev/LIST_KEY%5B0%5D",
    "/api/v1/vault/dev/API_KEYS%5B%22stripe%22%5D",
    "/api/v1/vault/dev/DATABASE_URL%27",
    "/api/v1/vault/dev/DATABASE%20URL",
    "/api/v1/vault/dev/DATABASE_URL%3Bid",
    "/api/v1/vault/dev/cl%C3%A9",
    "/api/v1/vault/dev/%24HOME",
];

#[test]
fn traversal_and_injection_are_400() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "*");
    for path in HOSTILE_PATHS {
        let response = agent.get(path, Some(&token));
        assert_error(&response, 400, "bad_request");
    }
}

#[test]
fn raw_quotes_and_brackets_in_the_path_are_400() {
    // Sent unencoded: whichever layer refuses them, it is a 400.
    let agent = dev_agent();
    let token = agent.mint_for("dev", "*");
    for path in ["/api/v1/vault/dev/DATABASE_URL\"]", "/api/v1/vault/dev/LIST_KEY[0]", "/api/v1/vault/dev/a'b"] {
        let response = agent.get(path, Some(&token));
        assert_eq!(response.status, 400, "{path}: {}", response.text());
    }
}

#[test]
fn overlong_names_are_400() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "*");
    assert_error(&agent.get_secret("dev", &"k".repeat(513), &token), 400, "bad_request");
    let long_env = "e".repeat(65);
    assert_error(&agent.get_secret(&long_env, "DATABASE_URL", &token), 400, "bad_request");
    // 512 bytes is still a valid (if missing) key.
    assert_error(&agent.get_secret("dev", &"k".repeat(512), &token), 404, "not_found");
}

#[test]
fn checks_run_in_order_syntax_scope_existence() {
    let agent = dev_builder().secrets("prod", DEV_YAML).start();
    let token = agent.mint_for("dev", "DATABASE_*");
    let cases = [
        // 403 whether or not the environment or key exists.
        ("prod", "DATABASE_URL", 403, "forbidden"),
        ("staging", "DATABASE_URL", 403, "forbidden"),
        ("dev", "API_KEYS/stripe", 403, "forbidden"),
        ("dev", "NOT_THERE", 403, "forbidden"),
        // Syntax first, even outside the scope.
        ("prod", "a%5Bb", 400, "bad_request"),
        ("..", "DATABASE_URL", 400, "bad_request"),
        ("dev", "DATABASE_%5B0%5D", 400, "bad_request"),
        // In scope but missing.
        ("dev", "DATABASE_NOT_THERE", 404, "not_found"),
        ("dev", "DATABASE_URL", 200, ""),
    ];
    for (env, key, status, code) in cases {
        let response = agent.get_secret(env, key, &token);
        if status == 200 {
            assert_eq!(response.status, 200, "{env}/{key}: {}", response.text());
        } else {
            assert_error(&response, status, code);
        }
    }
}

#[test]
fn a_self_signed_token_reads_within_its_scope_only() {
    let agent = dev_agent();
    let token = jwt::sign(&jwt::claims("dev", "API_KEYS/*"));
    assert_eq!(agent.secret_value("dev", "API_KEYS/nested/deep", &token), "deep-value-2b");
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &token), 403, "forbidden");
    let other = TestAgent::builder().secrets("dev", "A: b\n").start();
    assert_eq!(other.secret_value("dev", "A", &jwt::sign(&jwt::claims("dev", "?"))), "b");
}

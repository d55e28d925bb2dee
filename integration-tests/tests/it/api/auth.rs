//! docs/API.md §4: every 401 of `GET /api/v1/vault/{env}/{key}`.

use serde_json::json;
use vanta_integration_tests::jwt::{self, TEST_JWT_KEY};

use crate::common::{assert_error, dev_agent, dev_value};
use vanta_integration_tests::jwt::{with, without};

const PATH: &str = "/api/v1/vault/dev/DATABASE_URL";

#[test]
fn missing_or_non_bearer_header_is_401_with_www_authenticate() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "*");
    let basic = [("Authorization", "Basic dXNlcjpwYXNz")];
    let token_only = [("Authorization", token.as_str())];
    let cases: [(&str, &[(&str, &str)]); 3] = [("missing", &[]), ("basic", &basic), ("no scheme", &token_only)];
    for (what, headers) in cases {
        let response = agent.request("GET", PATH, headers, None);
        assert_error(&response, 401, "unauthorized");
        let challenge = response.header("www-authenticate").unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
        assert!(challenge.starts_with("Bearer"), "{what}: WWW-Authenticate: {challenge}");
    }
}

/// Tokens that must all be refused with the same 401.
fn bad_tokens() -> Vec<(&'static str, String)> {
    let good = || jwt::claims("dev", "*");
    let now = jwt::now();
    let key = TEST_JWT_KEY.as_bytes();
    let valid = jwt::sign(&good());
    let (head, payload, _) = split3(&valid);
    vec![
        ("bad signature", jwt::sign_alg("HS256", b"another-key-that-is-forty-bytes-long-xyz", &good())),
        ("tampered payload", format!("{head}.{}.{}", jwt::b64(br#"{"sub":"x"}"#), split3(&valid).2)),
        ("alg none", jwt::sign_alg("none", key, &good())),
        ("HS512", jwt::sign_alg("HS512", key, &good())),
        ("expired", jwt::sign(&with(with(good(), "exp", json!(now - 3600)), "iat", json!(now - 7200)))),
        ("not yet valid", jwt::sign(&with(good(), "nbf", json!(now + 3600)))),
        ("wrong iss", jwt::sign(&with(good(), "iss", json!("someone-else")))),
        ("wrong aud", jwt::sign(&with(good(), "aud", json!("other-audience")))),
        ("exp as string", jwt::sign(&with(good(), "exp", json!((now + 600).to_string())))),
        ("no exp", jwt::sign(&without(good(), "exp"))),
        ("no scope", jwt::sign(&without(good(), "scope"))),
        ("scope not an object", jwt::sign(&with(good(), "scope", json!("dev")))),
        ("two parts", format!("{head}.{payload}")),
        ("not base64", "!!!.???.***".to_owned()),
        ("garbage", "not-a-jwt".to_owned()),
    ]
}

fn split3(token: &str) -> (String, String, String) {
    let parts: Vec<&str> = token.split('.').collect();
    (parts[0].to_owned(), parts[1].to_owned(), parts[2].to_owned())
}

#[test]
fn every_invalid_token_gets_the_same_401() {
    let agent = dev_agent();
    let mut bodies = Vec::new();
    for (what, token) in bad_tokens() {
        let response = agent.request("GET", PATH, &[("Authorization", &format!("Bearer {token}"))], None);
        assert_eq!(response.status, 401, "{what}: {}", response.text());
        assert_error(&response, 401, "unauthorized");
        assert!(!response.text().contains(dev_value("DATABASE_URL")), "{what}: value leaked");
        bodies.push((what, response.body));
    }
    let used_up = used_up_body(&agent);
    for (what, body) in &bodies {
        assert_eq!(body, &used_up, "{what}: 401 body differs from the used-up token's");
    }
}

/// The body of the 401 for a token whose single use is spent.
fn used_up_body(agent: &vanta_integration_tests::agent::TestAgent) -> Vec<u8> {
    let token = agent.mint(&json!({"subject": "s", "environment": "dev", "key_pattern": "*", "usage_limit": 1}));
    assert_eq!(agent.get(PATH, Some(&token)).status, 200);
    let response = agent.get(PATH, Some(&token));
    assert_error(&response, 401, "unauthorized");
    response.body
}

#[test]
fn the_same_claims_signed_correctly_are_accepted() {
    // The control for the table above: only the one defect makes a token bad.
    let agent = dev_agent();
    let response = agent.get(PATH, Some(&jwt::sign(&jwt::claims("dev", "*"))));
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["value"], dev_value("DATABASE_URL"));
}

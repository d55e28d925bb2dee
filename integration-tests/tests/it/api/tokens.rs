//! docs/API.md §4 `POST /api/v1/vault/tokens/generate`: the success body, the
//! JWT it carries, and request validation.

use std::collections::HashSet;

use serde_json::{Value, json};
use vanta_integration_tests::agent::{GENERATE_PATH, TestAgent};
use vanta_integration_tests::jwt::{self, TEST_JWT_KEY};

use crate::common::{assert_error, dev_agent, ok_json};

fn request(extra: Value) -> Value {
    let mut body = json!({"subject": "ci-job-42", "environment": "dev", "key_pattern": "DATABASE_*"});
    for (k, v) in extra.as_object().expect("extra fields are an object") {
        body[k] = v.clone();
    }
    body
}

#[test]
fn success_body_has_the_contract_shape() {
    let agent = dev_agent();
    let body = ok_json(&agent.generate(&request(json!({}))));
    let mut keys: Vec<&str> = body.as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access_token", "expires_in", "scope_details", "token_type"]);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(
        body["scope_details"],
        json!({"environment": "dev", "key_pattern": "DATABASE_*", "permissions": ["read"], "usage_limit": null})
    );
}

#[test]
fn jwt_is_hs256_with_the_contract_claims() {
    let agent = dev_agent();
    let before = jwt::now();
    let token = agent.mint(&request(json!({})));
    let after = jwt::now();
    assert_eq!(jwt::decode_part(&token, 0)["alg"], "HS256");
    assert!(jwt::verify_hs256(&token, TEST_JWT_KEY.as_bytes()), "signature checks out with the agent's key");
    let claims = jwt::decode_part(&token, 1);
    assert_eq!(claims["iss"], "vanta-agent");
    assert!(claims["aud"] == "vanta-vault" || claims["aud"] == json!(["vanta-vault"]), "aud: {}", claims["aud"]);
    assert_eq!(claims["sub"], "ci-job-42");
    let (iat, nbf, exp) = (number(&claims, "iat"), number(&claims, "nbf"), number(&claims, "exp"));
    assert!((before.saturating_sub(5)..=after + 5).contains(&iat), "iat {iat} is now");
    assert!(nbf <= after + 1, "nbf {nbf} is not in the future");
    assert_eq!(exp - iat, 900, "default ttl is 15 minutes");
    let jti = claims["jti"].as_str().expect("jti is a string");
    assert!(jti.len() >= 16, "jti {jti:?} is long enough to be unguessable");
    assert_eq!(claims["scope"], json!({"environment": "dev", "key_pattern": "DATABASE_*", "permissions": ["read"]}));
    assert!(claims.get("usage_limit").is_none(), "usage_limit absent when not requested: {claims}");
}

fn number(claims: &Value, field: &str) -> u64 {
    claims[field].as_u64().unwrap_or_else(|| panic!("{field} is a JSON number: {claims}"))
}

#[test]
fn ttl_and_usage_limit_are_carried() {
    let agent = dev_agent();
    let body = ok_json(&agent.generate(&request(json!({"ttl_minutes": 5, "usage_limit": 3}))));
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope_details"]["usage_limit"], 3);
    let claims = jwt::decode_part(body["access_token"].as_str().expect("token"), 1);
    assert_eq!(claims["usage_limit"], 3);
    assert_eq!(number(&claims, "exp") - number(&claims, "iat"), 300);
}

#[test]
fn every_jti_is_unique() {
    let agent = dev_agent();
    let jtis: HashSet<String> = (0..20)
        .map(|_| jwt::decode_part(&agent.mint(&request(json!({}))), 1)["jti"].as_str().expect("jti").to_owned())
        .collect();
    assert_eq!(jtis.len(), 20);
}

/// (field the message must name, body)
fn invalid_requests() -> Vec<(&'static str, Value)> {
    let base = request(json!({}));
    let without = |field: &str| {
        let mut body = base.clone();
        body.as_object_mut().expect("object").remove(field);
        body
    };
    vec![
        ("extra_field", request(json!({"extra_field": 1}))),
        ("subject", without("subject")),
        ("environment", without("environment")),
        ("key_pattern", without("key_pattern")),
        ("subject", request(json!({"subject": ""}))),
        ("subject", request(json!({"subject": 7}))),
        ("environment", request(json!({"environment": ""}))),
        ("environment", request(json!({"environment": ["dev"]}))),
        ("environment", request(json!({"environment": "../etc"}))),
        ("environment", request(json!({"environment": "a/b"}))),
        ("environment", request(json!({"environment": "-dev"}))),
        ("environment", request(json!({"environment": "x".repeat(65)}))),
        ("key_pattern", request(json!({"key_pattern": ""}))),
        ("key_pattern", request(json!({"key_pattern": 5}))),
        ("ttl_minutes", request(json!({"ttl_minutes": 0}))),
        ("ttl_minutes", request(json!({"ttl_minutes": 61}))),
        ("ttl_minutes", request(json!({"ttl_minutes": -1}))),
        ("ttl_minutes", request(json!({"ttl_minutes": 1.5}))),
        ("ttl_minutes", request(json!({"ttl_minutes": "10"}))),
        ("usage_limit", request(json!({"usage_limit": 0}))),
        ("usage_limit", request(json!({"usage_limit": -3}))),
        ("usage_limit", request(json!({"usage_limit": true}))),
        // Above i64::MAX: SQLite could not count it, so every fetch was 503.
        ("usage_limit", request(json!({"usage_limit": 9_223_372_036_854_775_808_u64}))),
    ]
}

/// docs/API.md §4: 400/413/422 with a message naming the field.
fn assert_refused_naming(agent: &TestAgent, field: &str, body: &Value) {
    let response = agent.generate(body);
    assert!([400, 422].contains(&response.status), "{body}: HTTP {} {}", response.status, response.text());
    let json = response.json();
    assert!(["bad_request", "validation_error"].contains(&json["error"].as_str().unwrap_or_default()), "{json}");
    let message = json["message"].as_str().expect("message is a string");
    assert!(message.contains(field), "{body}: message {message:?} names {field}");
}

#[test]
fn invalid_requests_are_refused_naming_the_field() {
    let agent = dev_agent();
    for (field, body) in invalid_requests() {
        assert_refused_naming(&agent, field, &body);
    }
}

#[test]
fn ttl_limits_follow_the_flags() {
    let agent = TestAgent::builder().args(["--max-ttl-minutes", "5", "--default-ttl-minutes", "2"]).start();
    assert_eq!(ok_json(&agent.generate(&request(json!({}))))["expires_in"], 120);
    assert_eq!(ok_json(&agent.generate(&request(json!({"ttl_minutes": 5}))))["expires_in"], 300);
    assert_refused_naming(&agent, "ttl_minutes", &request(json!({"ttl_minutes": 6})));
    let default_max = dev_agent();
    assert_eq!(ok_json(&default_max.generate(&request(json!({"ttl_minutes": 60}))))["expires_in"], 3600);
}

#[test]
fn the_agents_documented_status_codes() {
    let agent = dev_agent();
    let json_header = [("Content-Type", "application/json")];
    let malformed = agent.request("POST", GENERATE_PATH, &json_header, Some(b"{\"subject\": "));
    assert_error(&malformed, 400, "bad_request");
    assert_error(&agent.generate(&request(json!({"extra": 1}))), 422, "validation_error");
    assert_error(&agent.generate(&request(json!({"ttl_minutes": 0}))), 422, "validation_error");
    assert_error(&agent.get("/api/v1/nothing-here", None), 404, "not_found");
    let wrong_method = agent.request("GET", GENERATE_PATH, &[], None);
    assert_eq!(wrong_method.status, 405, "{}", wrong_method.text());
    assert!(wrong_method.json()["error"].is_string(), "405 has a JSON error body");
}

#[test]
fn a_body_over_64_kib_is_413() {
    let agent = dev_agent();
    let body = request(json!({"subject": "s".repeat(70 * 1024)}));
    assert_error(&agent.generate(&body), 413, "payload_too_large");
    // The agent is still fine afterwards.
    assert_eq!(agent.generate(&request(json!({}))).status, 200);
}

#[test]
fn flags_override_environment_variables() {
    let agent = TestAgent::builder()
        .secrets("dev", crate::common::DEV_YAML)
        .env("VANTA_JWT_ISSUER", "issuer-from-env")
        .env("VANTA_JWT_AUDIENCE", "audience-from-env")
        .args(["--issuer", "issuer-from-flag"])
        .start();
    let claims = jwt::decode_part(&agent.mint(&request(json!({}))), 1);
    assert_eq!(claims["iss"], "issuer-from-flag");
    assert!(claims["aud"] == "audience-from-env" || claims["aud"] == json!(["audience-from-env"]));
    let mut mine = jwt::claims("dev", "*");
    mine["aud"] = json!("audience-from-env");
    mine["iss"] = json!("issuer-from-flag");
    assert_eq!(agent.get_secret("dev", "INT", &jwt::sign(&mine)).status, 200);
    mine["iss"] = json!("issuer-from-env");
    assert_error(&agent.get_secret("dev", "INT", &jwt::sign(&mine)), 401, "unauthorized");
}

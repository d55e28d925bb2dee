//! The minting policy on the socket (operator guide, "Security model"):
//! allowed environments, provably contained key patterns, a usage-limit
//! ceiling and peer uids. A refusal is 403 `forbidden` with one body for all,
//! and an audit record with outcome `forbidden`; no policy allows everything.

use serde_json::{Value, json};
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::http::Response;

use crate::common::{assert_error, dev_agent};

fn ask(environment: &str, key_pattern: &str, usage_limit: Option<u64>) -> Value {
    let mut body = json!({"subject": "policy-test", "environment": environment, "key_pattern": key_pattern});
    if let Some(limit) = usage_limit {
        body["usage_limit"] = json!(limit);
    }
    body
}

/// Asserts `body` is allowed (200) or refused (403, audited as `forbidden`
/// with a precise reason); returns the response.
fn check(agent: &TestAgent, body: &Value, allowed: bool) -> Response {
    let before = agent.audit_lines().len();
    let response = agent.generate(body);
    if allowed {
        assert_eq!(response.status, 200, "{body} should be allowed: {}", response.text());
        return response;
    }
    assert_error(&response, 403, "forbidden");
    let records = agent.wait_audit_lines(before + 1);
    let record = &records[before];
    assert_eq!(record["event"], "token_generate", "{record}");
    assert_eq!((&record["outcome"], &record["status_code"]), (&json!("forbidden"), &json!(403)), "{record}");
    assert_eq!((&record["subject"], &record["environment"]), (&body["subject"], &body["environment"]), "{record}");
    assert_eq!(record["key_pattern"], body["key_pattern"], "{record}");
    assert_eq!(record["jti"], Value::Null, "no token, no jti: {record}");
    let reason = record["error"].as_str().unwrap_or_default();
    assert!(reason.contains("minting policy"), "{body}: audit reason {reason:?}");
    response
}

/// Every refusal in `refused` has the same body as the first.
fn same_bodies(refused: &[Response]) {
    for r in refused {
        assert_eq!(r.body, refused[0].body, "one 403 body for every refusal");
    }
}

fn uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

#[test]
fn allowed_environments() {
    let agent = TestAgent::builder().args(["--mint-allowed-environments", "dev,staging"]).start();
    check(&agent, &ask("dev", "*", None), true);
    check(&agent, &ask("staging", "*", None), true);
    let refused = [check(&agent, &ask("prod", "*", None), false), check(&agent, &ask("dev2", "*", None), false)];
    same_bodies(&refused);
}

#[test]
fn allowed_key_patterns_must_provably_contain_the_request() {
    let agent = TestAgent::builder().args(["--mint-allowed-key-patterns", "APP_*,DB_URL"]).start();
    for pattern in ["APP_*", "APP_X", "APP_X_*", "APP_X/deep", "DB_URL"] {
        check(&agent, &ask("dev", pattern, None), true);
    }
    let refused: Vec<Response> = ["*", "A*", "DB_*", "DB_URL*", "?B_URL", "APP*", "DB_URL_2", "APP"]
        .into_iter()
        .map(|pattern| check(&agent, &ask("dev", pattern, None), false))
        .collect();
    same_bodies(&refused);
}

#[test]
fn a_usage_limit_ceiling_requires_a_limit_within_it() {
    let agent = TestAgent::builder().args(["--mint-max-usage-limit", "5"]).start();
    check(&agent, &ask("dev", "*", Some(5)), true);
    check(&agent, &ask("dev", "*", Some(1)), true);
    let refused = [check(&agent, &ask("dev", "*", None), false), check(&agent, &ask("dev", "*", Some(6)), false)];
    same_bodies(&refused);
}

#[test]
fn allowed_uids_are_the_peers_credentials() {
    let me = uid();
    let mine = TestAgent::builder().arg("--mint-allowed-uids").arg(format!("{},{me}", me + 1)).start();
    check(&mine, &ask("dev", "*", None), true);
    let others = TestAgent::builder().arg("--mint-allowed-uids").arg((me + 1).to_string()).start();
    check(&others, &ask("dev", "*", None), false);
}

#[test]
fn the_environment_variables_configure_the_same_policy() {
    let agent = TestAgent::builder()
        .env("VANTA_MINT_ALLOWED_ENVIRONMENTS", "dev")
        .env("VANTA_MINT_ALLOWED_KEY_PATTERNS", "APP_*,DB_URL")
        .env("VANTA_MINT_MAX_USAGE_LIMIT", "5")
        .env("VANTA_MINT_ALLOWED_UIDS", uid().to_string())
        .start();
    check(&agent, &ask("dev", "APP_X_*", Some(5)), true);
    check(&agent, &ask("dev", "DB_URL", Some(2)), true);
    let refused = [
        check(&agent, &ask("prod", "APP_X", Some(5)), false),
        check(&agent, &ask("dev", "DB_*", Some(5)), false),
        check(&agent, &ask("dev", "APP_X", Some(6)), false),
        check(&agent, &ask("dev", "APP_X", None), false),
    ];
    same_bodies(&refused);
    let other_uid = TestAgent::builder().env("VANTA_MINT_ALLOWED_UIDS", (uid() + 1).to_string()).start();
    check(&other_uid, &ask("dev", "*", None), false);
}

#[test]
fn a_policy_refusal_looks_like_any_other_403() {
    // Operator guide: 403 is one body for scope failures and policy refusals.
    let agent = crate::common::dev_builder().args(["--mint-allowed-environments", "dev"]).start();
    let refused = check(&agent, &ask("prod", "*", None), false);
    let token = agent.mint(&ask("dev", "INT", None));
    let out_of_scope = agent.get_secret("dev", "DATABASE_URL", &token);
    assert_error(&out_of_scope, 403, "forbidden");
    assert_eq!(refused.body, out_of_scope.body);
}

#[test]
fn without_a_policy_every_caller_may_mint_any_scope() {
    let agent = dev_agent();
    for body in [ask("dev", "*", None), ask("prod", "*", None), ask("anything-else", "A*", Some(1_000_000))] {
        check(&agent, &body, true);
    }
    let mut long = ask("dev", "*", None);
    long["ttl_minutes"] = json!(60);
    check(&agent, &long, true);
}

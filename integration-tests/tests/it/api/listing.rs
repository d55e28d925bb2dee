//! docs/API.md §4 `GET /api/v1/vault/{environment}`: sorted, pattern-filtered
//! key lists without the sops block.

use serde_json::json;

use crate::common::{DEV_VALUES, assert_error, dev_agent, ok_json};

fn sorted_dev_keys(filter: impl Fn(&str) -> bool) -> Vec<&'static str> {
    let mut keys: Vec<&str> = DEV_VALUES.iter().map(|(k, _)| *k).filter(|k| filter(k)).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn lists_every_leaf_sorted_without_sops_nulls_or_lists() {
    let agent = dev_agent();
    let body = ok_json(&agent.list_keys("dev", &agent.mint_for("dev", "*")));
    assert_eq!(body, json!({"environment": "dev", "keys": sorted_dev_keys(|_| true)}));
}

#[test]
fn lists_only_what_the_pattern_matches() {
    let agent = dev_agent();
    let cases: [(&str, Vec<&str>); 4] = [
        ("API_KEYS/*", sorted_dev_keys(|k| k.starts_with("API_KEYS/"))),
        ("DATABASE_*", vec!["DATABASE_URL", "DATABASE_USER"]),
        ("?NT", vec!["INT"]),
        ("NO_MATCH_*", vec![]),
    ];
    for (pattern, want) in cases {
        let body = ok_json(&agent.list_keys("dev", &agent.mint_for("dev", pattern)));
        assert_eq!(body["keys"], json!(want), "pattern {pattern}");
    }
}

#[test]
fn listing_follows_the_auth_and_scope_rules() {
    let agent = dev_agent();
    let dev = agent.mint_for("dev", "*");
    assert_error(&agent.list_keys("prod", &dev), 403, "forbidden");
    assert_error(&agent.list_keys("staging", &agent.mint_for("staging", "*")), 404, "not_found");
    assert_error(&agent.list_keys("..", &dev), 400, "bad_request");
    assert_error(&agent.list_keys("dev%2F..", &dev), 400, "bad_request");
    let response = agent.get("/api/v1/vault/dev", None);
    assert_error(&response, 401, "unauthorized");
    assert_error(&agent.list_keys("dev", "not-a-jwt"), 401, "unauthorized");
}

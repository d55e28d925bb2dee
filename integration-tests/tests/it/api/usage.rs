//! docs/API.md §4 usage limits: only a 200 is a use; N uses means exactly N
//! successes, concurrent or not, also across restarts.

use std::thread;

use serde_json::json;
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::jwt;

use crate::common::{assert_error, dev_agent};

fn limited(agent: &TestAgent, pattern: &str, limit: u64) -> String {
    agent.mint(&json!({"subject": "usage", "environment": "dev", "key_pattern": pattern, "usage_limit": limit}))
}

/// Fires `n` fetches of `dev/DATABASE_URL` at once; returns the statuses.
fn concurrent_fetches(agent: &TestAgent, token: &str, n: usize) -> Vec<u16> {
    thread::scope(|s| {
        let handles: Vec<_> =
            (0..n).map(|_| s.spawn(|| agent.get_secret("dev", "DATABASE_URL", token).status)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[test]
fn fifty_concurrent_fetches_with_five_uses_give_exactly_five() {
    let agent = dev_agent();
    let token = limited(&agent, "*", 5);
    let statuses = concurrent_fetches(&agent, &token, 50);
    assert_eq!((count(&statuses, 200), count(&statuses, 401)), (5, 45), "statuses: {statuses:?}");
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &token), 401, "unauthorized");
}

#[test]
fn a_self_signed_limit_is_counted_too() {
    let agent = dev_agent();
    let mut claims = jwt::claims("dev", "*");
    claims["usage_limit"] = json!(3);
    let token = jwt::sign(&claims);
    let statuses = concurrent_fetches(&agent, &token, 30);
    assert_eq!((count(&statuses, 200), count(&statuses, 401)), (3, 27), "statuses: {statuses:?}");
}

#[test]
fn only_a_200_is_a_use() {
    let agent = dev_agent();
    let token = limited(&agent, "DATABASE_*", 2);
    for _ in 0..3 {
        assert_error(&agent.get_secret("dev", "DATABASE_MISSING", &token), 404, "not_found");
        assert_error(&agent.get_secret("dev", "API_KEYS/stripe", &token), 403, "forbidden");
        assert_error(&agent.get_secret("dev", "DATABASE%5B0%5D", &token), 400, "bad_request");
        assert_eq!(agent.list_keys("dev", &token).status, 200, "listing is not a use");
    }
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200);
    assert_eq!(agent.get_secret("dev", "DATABASE_USER", &token).status, 200);
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &token), 401, "unauthorized");
}

#[test]
fn listing_with_a_used_up_token_is_401() {
    // docs/API.md §4: listing has the same auth rules, and a used-up token is a 401 there.
    let agent = dev_agent();
    let token = limited(&agent, "*", 1);
    assert_eq!(agent.get_secret("dev", "INT", &token).status, 200);
    assert_error(&agent.list_keys("dev", &token), 401, "unauthorized");
}

#[test]
fn uses_survive_a_restart() {
    let mut agent = dev_agent();
    let spent = limited(&agent, "*", 2);
    let partly = limited(&agent, "*", 3);
    for token in [&spent, &spent, &partly] {
        assert_eq!(agent.get_secret("dev", "INT", token).status, 200);
    }
    agent.restart();
    assert_error(&agent.get_secret("dev", "INT", &spent), 401, "unauthorized");
    assert_eq!(agent.get_secret("dev", "INT", &partly).status, 200);
    assert_eq!(agent.get_secret("dev", "INT", &partly).status, 200);
    assert_error(&agent.get_secret("dev", "INT", &partly), 401, "unauthorized");
}

#[test]
fn a_served_use_is_durable_even_after_kill_9() {
    let mut agent = dev_agent();
    let spent = limited(&agent, "*", 1);
    let partly = limited(&agent, "*", 2);
    assert_eq!(agent.get_secret("dev", "INT", &spent).status, 200);
    assert_eq!(agent.get_secret("dev", "INT", &partly).status, 200);
    agent.kill9();
    agent.restart();
    assert_error(&agent.get_secret("dev", "INT", &spent), 401, "unauthorized");
    assert_eq!(agent.get_secret("dev", "INT", &partly).status, 200);
    assert_error(&agent.get_secret("dev", "INT", &partly), 401, "unauthorized");
}

/// §7: any token signed with the key is honoured, and its `exp` may be any
/// NumericDate. One past `i64::MAX` could not be stored: the fetch answered
/// 503 `usage_store_unavailable` from a healthy store.
#[test]
fn a_limited_token_that_expires_after_the_year_9999_is_counted() {
    let agent = dev_agent();
    for exp in [json!(u64::MAX), json!(1u64 << 63), json!(1e300)] {
        let mut claims = jwt::claims("dev", "*");
        claims["exp"] = exp.clone();
        claims["usage_limit"] = json!(2);
        let token = jwt::sign(&claims);
        let statuses: Vec<u16> = (0..3).map(|_| agent.get_secret("dev", "DATABASE_URL", &token).status).collect();
        assert_eq!(statuses, [200, 200, 401], "exp {exp}");
    }
}

/// How many of `n` fetches, one after the other, answer 200 (the others 401).
fn served_of(agent: &TestAgent, token: &str, n: usize) -> usize {
    let statuses: Vec<u16> = (0..n).map(|_| agent.get_secret("dev", "INT", token).status).collect();
    assert_eq!(count(&statuses, 200) + count(&statuses, 401), n, "statuses: {statuses:?}");
    count(&statuses, 200)
}

/// Operator guide, "Held uses": a token fetched again and again is served
/// from uses the agent takes from the store several at a time. They are
/// spent: a SIGTERM gives the unused ones back (exactly the limit is
/// served), a SIGKILL may cost them but never grants one.
#[test]
fn held_uses_go_back_at_shutdown_and_a_kill_9_only_costs_uses() {
    let mut agent = dev_agent();
    let stopped = limited(&agent, "*", 100);
    let killed = limited(&agent, "*", 100);
    assert_eq!(served_of(&agent, &stopped, 30), 30);
    agent.restart();
    assert_eq!(served_of(&agent, &stopped, 80), 70, "every held use came back at the SIGTERM");
    assert_eq!(served_of(&agent, &killed, 30), 30);
    agent.kill9();
    agent.restart();
    let left = served_of(&agent, &killed, 80);
    assert!((70 - 64..=70).contains(&left), "{left} served after a SIGKILL: at most 70, at most 64 lost");
}

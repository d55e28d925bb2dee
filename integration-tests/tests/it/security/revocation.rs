//! Token revocation (operator guide, "Running a fleet"): `POST
//! /api/v1/vault/tokens/revoke` and `vanta-cli token revoke`. A revoked token
//! answers 401 at every agent on the same store, and stays revoked across
//! restarts, with SQLite and with Redis.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::{Value, json};
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::cli::{Cli, SocketVia};
use vanta_integration_tests::http;
use vanta_integration_tests::jwt;
use vanta_integration_tests::process::poll_until;
use vanta_integration_tests::redis::TestRedis;

use crate::common::{assert_error, dev_agent, dev_builder, ok_json};

const REVOKE_PATH: &str = "/api/v1/vault/tokens/revoke";

/// Generous: the bound the operator guide gives is 2 s on a loaded machine.
const PROPAGATION: Duration = Duration::from_secs(10);

fn fleet_agent(redis: &TestRedis) -> TestAgent {
    dev_builder().args(["--usage-store", &redis.url()]).start()
}

fn mint(agent: &TestAgent, subject: &str) -> String {
    agent.mint(&json!({"subject": subject, "environment": "dev", "key_pattern": "*"}))
}

fn jti_of(token: &str) -> String {
    jwt::decode_part(token, 1)["jti"].as_str().expect("jti").to_owned()
}

fn status(agent: &TestAgent, token: &str) -> u16 {
    agent.get_secret("dev", "DATABASE_URL", token).status
}

/// Waits (up to [`PROPAGATION`]) until `token` is refused at `agent`, then
/// checks the refusal is the plain 401 of any invalid token.
fn wait_refused(agent: &TestAgent, token: &str) {
    poll_until(PROPAGATION, "the revoked token refused", || (status(agent, token) == 401).then_some(()));
    assert_error(&agent.get_secret("dev", "DATABASE_URL", token), 401, "unauthorized");
}

fn revoke(agent: &TestAgent, body: &Value) -> Value {
    ok_json(&agent.post_json(REVOKE_PATH, body))
}

#[test]
fn a_revoke_at_one_agent_is_a_401_at_the_others_and_after_a_restart() {
    let redis = TestRedis::start();
    let (a, mut b, c) = (fleet_agent(&redis), fleet_agent(&redis), fleet_agent(&redis));
    let (leaked, kept) = (mint(&a, "ci"), mint(&a, "ci"));
    for agent in [&a, &b, &c] {
        assert_eq!(status(agent, &leaked), 200);
    }
    let answer = revoke(&a, &json!({"jti": jti_of(&leaked)}));
    assert_eq!(answer["revoked"], json!({"jti": jti_of(&leaked)}), "{answer}");
    assert_eq!(status(&a, &leaked), 401, "at once at the agent that revoked");
    wait_refused(&b, &leaked);
    wait_refused(&c, &leaked);
    assert_eq!(status(&c, &kept), 200, "only that token");
    b.restart();
    assert_eq!(status(&b, &leaked), 401, "loaded from Redis at start-up");
    let ready = b.get("/readyz", None).json();
    assert_eq!(ready["checks"]["revocations"], "ok", "{ready}");
}

#[test]
fn with_sqlite_a_revocation_by_subject_survives_a_restart_and_spares_later_tokens() {
    let mut agent = dev_agent();
    let (old, other) = (mint(&agent, "deploy"), mint(&agent, "someone-else"));
    let answer = revoke(&agent, &json!({"subject": "deploy"}));
    let issued_up_to = answer["issued_up_to"].as_u64().expect("issued_up_to");
    assert!(answer["kept_until"].as_u64().expect("kept_until") > issued_up_to, "{answer}");
    wait_refused(&agent, &old);
    assert_eq!(status(&agent, &other), 200, "other subjects are untouched");
    // A token of the subject issued after the revoke (a later second) works.
    let later = poll_until(PROPAGATION, "a token issued after the revoke", || {
        let token = mint(&agent, "deploy");
        (jwt::decode_part(&token, 1)["iat"].as_u64() > Some(issued_up_to)).then_some(token)
    });
    assert_eq!(status(&agent, &later), 200);
    agent.restart();
    assert_eq!(status(&agent, &old), 401, "the revocation is in the SQLite store");
    assert_eq!(status(&agent, &later), 200);
}

#[test]
fn revoking_is_audited_and_refused_to_a_caller_who_may_not_mint() {
    let agent = dev_agent();
    let token = mint(&agent, "ci");
    revoke(&agent, &json!({"jti": jti_of(&token)}));
    let records = agent.audit_lines();
    let record = records.iter().find(|r| r["event"] == "token_revoke").expect("a token_revoke record");
    assert_eq!(
        (&record["jti"], &record["outcome"], &record["status_code"]),
        (&json!(jti_of(&token)), &json!("success"), &json!(200))
    );
    assert!(record.get("key").is_none() && record.get("key_pattern").is_none(), "{record}");
    assert_eq!(status(&agent, &token), 401);
    let refused = agent.wait_audit_lines(records.len() + 1).pop().unwrap();
    assert_eq!((&refused["event"], &refused["error"]), (&json!("secret_access"), &json!("token revoked")), "{refused}");

    let uid = nix::unistd::getuid().as_raw();
    let guarded = dev_builder().env("VANTA_MINT_ALLOWED_UIDS", (uid + 1).to_string()).start();
    // Minted at another agent with the same key (this one mints for nobody).
    let token = mint(&dev_agent(), "ci");
    let refused = guarded.post_json(REVOKE_PATH, &json!({"jti": jti_of(&token)}));
    assert_error(&refused, 403, "forbidden");
    assert_eq!(status(&guarded, &token), 200, "nothing was revoked");
    let audited = guarded.audit_lines();
    let record = audited.iter().find(|r| r["event"] == "token_revoke").expect("the refusal is audited");
    assert_eq!((&record["outcome"], &record["status_code"]), (&json!("forbidden"), &json!(403)));
}

/// A revoke whose client gives up while the store commits it is completed
/// all the same: stored, refused at once by the agent that took it, and
/// audited (not stored yet left out of the agent's memory and the log).
#[test]
fn a_revoke_whose_client_goes_away_mid_commit_is_still_enforced_and_audited() {
    let agent = dev_agent();
    let leaked = mint(&agent, "ci");
    assert_eq!(status(&agent, &leaked), 200);
    // Another writer holds the state file's write lock: the agent's commit
    // waits for it (its busy timeout is 5 s).
    let holder = rusqlite::Connection::open(&agent.paths().state).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let body = json!({"jti": jti_of(&leaked)}).to_string();
    let mut client = UnixStream::connect(agent.socket()).unwrap();
    client.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let headers = [("Content-Type", "application/json")];
    let abandoned = http::exchange(&mut client, "POST", REVOKE_PATH, &headers, Some(body.as_bytes()));
    assert!(abandoned.is_err(), "no answer while the store is locked: {abandoned:?}");
    drop(client);
    // Let the agent see the client gone (and drop the request) before the commit can go on.
    std::thread::sleep(Duration::from_millis(500));
    holder.execute_batch("COMMIT").unwrap();
    wait_refused(&agent, &leaked);
    let record = poll_until(PROPAGATION, "the token_revoke record", || {
        agent.audit_lines().into_iter().find(|r| r["event"] == "token_revoke")
    });
    assert_eq!((&record["jti"], &record["outcome"]), (&json!(jti_of(&leaked)), &json!("success")), "{record}");
}

#[test]
fn bad_revoke_bodies_are_400_or_422() {
    let agent = dev_agent();
    let not_json = agent.request("POST", REVOKE_PATH, &[("Content-Type", "application/json")], Some(b"{jti"));
    assert_error(&not_json, 400, "bad_request");
    for body in [
        json!({}),
        json!([]),
        json!({"jti": "a", "subject": "b"}),
        json!({"jti": ""}),
        json!({"jti": 7}),
        json!({"jti": "a", "reason": "leaked"}),
    ] {
        assert_error(&agent.post_json(REVOKE_PATH, &body), 422, "validation_error");
    }
    let get = agent.get(REVOKE_PATH, None);
    assert_eq!((get.status, get.header("allow")), (405, Some("POST")));
}

#[test]
fn the_cli_revokes_by_jti_and_by_subject() {
    let agent = dev_agent();
    let (one, all) = (mint(&agent, "laptop"), mint(&agent, "ci"));
    let cli = Cli::new(agent.socket());
    let finished = cli.run(&["token", "revoke", "--jti", &jti_of(&one)]);
    assert!(finished.status.success(), "{}", String::from_utf8_lossy(&finished.stderr));
    assert!(String::from_utf8_lossy(&finished.stdout).starts_with("revoked token "), "{finished:?}");
    assert_eq!(status(&agent, &one), 401);
    assert_eq!(status(&agent, &all), 200);
    let finished = cli.run(&["token", "revoke", "--subject", "ci"]);
    assert!(finished.status.success(), "{}", String::from_utf8_lossy(&finished.stderr));
    assert_eq!(status(&agent, &all), 401);
    let neither = cli.run::<&str>(&["token", "revoke"]);
    assert_eq!(neither.status.code(), Some(2), "a usage error");
}

#[test]
fn while_redis_is_away_readyz_says_the_feed_is_down_and_it_resubscribes_by_itself() {
    let mut redis = TestRedis::start();
    let (a, b) = (fleet_agent(&redis), fleet_agent(&redis));
    let token = mint(&a, "ci");
    redis.stop();
    let down = poll_until(PROPAGATION, "the feed reported down", || {
        let ready = b.get("/readyz", None);
        (ready.json()["checks"]["revocations"] != "ok").then_some(ready)
    });
    assert_eq!(down.status, 503, "{}", down.text());
    assert_eq!(status(&b, &token), 200, "unlimited tokens are still served");
    redis.start_again();
    poll_until(PROPAGATION, "the feed back", || (b.get("/readyz", None).status == 200).then_some(()));
    let jti = jti_of(&token);
    poll_until(PROPAGATION, "a revoke through Redis", || {
        (a.post_json(REVOKE_PATH, &json!({"jti": jti})).status == 200).then_some(())
    });
    wait_refused(&b, &token);
}

#[test]
fn over_tcp_only_the_admin_credential_revokes_and_is_checked_before_the_body() {
    let admin = "admin-credential-for-revocation-0123456789-abcdef";
    let builder = dev_builder();
    let admin_file = builder.paths().root.join("admin");
    std::fs::write(&admin_file, admin).unwrap();
    let agent = builder
        .env("VANTA_ADMIN_TOKEN_FILE", &admin_file)
        .args(["--listen-tcp", "127.0.0.1:0", "--insecure-tcp"])
        .start();
    let url = format!("http://127.0.0.1:{}", agent.tcp_addr().port());
    let token = mint(&agent, "ci");
    let cli = Cli::new(&agent.paths().root.join("no-agent-here.sock")).socket_via(SocketVia::Env);
    let revoke = ["--url", url.as_str(), "token", "revoke", "--jti", &jti_of(&token)];
    let refused = cli.run(&revoke);
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stderr));
    let line = crate::common::assert_cli_error_line(&refused);
    assert!(line.contains(&format!("the agent at {url} refused to revoke tokens over TCP: 403 forbidden")), "{line}");
    assert_eq!(status(&agent, &token), 200);

    // A body announced but never sent: the refusal must not wait for it.
    let mut stream = TcpStream::connect(agent.tcp_addr()).unwrap();
    stream.set_read_timeout(Some(PROPAGATION)).unwrap();
    let head = format!("POST {REVOKE_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).expect("answered without the body");
    assert_eq!(&answer, b"HTTP/1.1 403");

    let with_admin = ["--url", url.as_str(), "--admin-token-file", admin_file.to_str().unwrap()];
    let finished = cli.run(&[&with_admin[..], &revoke[2..]].concat());
    assert!(finished.status.success(), "{}", String::from_utf8_lossy(&finished.stderr));
    assert_eq!(status(&agent, &token), 401);
}

#[test]
fn a_hung_redis_shows_in_the_revocations_check_and_clears_when_it_resumes() {
    let redis = TestRedis::start();
    let agent = dev_builder().args(["--usage-store", &redis.url(), "--usage-store-timeout-ms", "500"]).start();
    let check = || agent.get("/readyz", None).json()["checks"]["revocations"].clone();
    assert_eq!(check(), "ok");
    redis.pause();
    // The feed reloads the list every second; a reload that times out marks it down.
    let down = poll_until(Duration::from_secs(30), "the feed reported down", || (check() != "ok").then(check));
    assert!(down.as_str().unwrap().contains("revocation feed"), "{down}");
    redis.resume();
    poll_until(Duration::from_secs(30), "the feed back", || (check() == "ok").then_some(()));
}

//! A fleet of agents sharing one Redis usage store (operator guide, "Running
//! a fleet"): use limits hold across agents, the store going away fails
//! limited tokens closed and comes back without restarts.

use std::thread;

use serde_json::json;
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::redis::TestRedis;
use vanta_integration_tests::tls::Pki;

use crate::common::{assert_error, dev_builder};

fn fleet_agent(redis: &TestRedis) -> TestAgent {
    dev_builder().args(["--usage-store", &redis.url(), "--usage-store-timeout-ms", "500"]).start()
}

/// Fetches with `token` until the store answers again (not 503), up to 20 s.
fn first_answer_once_back(agent: &TestAgent, token: &str) -> vanta_integration_tests::http::Response {
    vanta_integration_tests::process::poll_until(std::time::Duration::from_secs(20), "the store back", || {
        let response = agent.get_secret("dev", "DATABASE_URL", token);
        (response.status != 503).then_some(response)
    })
}

/// Counts the commands Redis ran, less the ones our scripts run inside
/// (no round trips) and the revocation feed's own resync (`zrangebyscore`,
/// every second).
fn round_trips(
    before: &std::collections::HashMap<String, u64>,
    after: &std::collections::HashMap<String, u64>,
) -> Vec<(String, u64)> {
    let inside_the_scripts = [
        "exists",
        "zremrangebyscore",
        "get",
        "zcard",
        "incr",
        "incrby",
        "pexpireat",
        "hgetall",
        "hget",
        "hset",
        "hdel",
    ];
    let mut ran: Vec<_> = after
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "info" | "zrangebyscore" | "script|load"))
        .filter(|(name, _)| !inside_the_scripts.contains(&name.as_str()))
        .filter_map(|(name, calls)| {
            let more = calls - before.get(name).copied().unwrap_or(0);
            (more > 0).then(|| (name.clone(), more))
        })
        .collect();
    ran.sort();
    ran
}

/// With `--usage-hold-max 1` every use is its own script call.
#[test]
fn a_cached_fetch_of_a_limited_token_is_one_command_to_redis() {
    let redis = TestRedis::start();
    let agent = dev_builder()
        .args(["--usage-store", &redis.url(), "--usage-store-timeout-ms", "500", "--usage-hold-max", "1"])
        .start();
    let limited = |limit: u64| {
        agent.mint(&json!({"subject": "trips", "environment": "dev", "key_pattern": "*", "usage_limit": limit}))
    };
    // The first fetch fills the cache (a lease and a confirm around sops);
    // the second loads the script of a cached use into Redis.
    let warm = limited(2);
    for _ in 0..2 {
        assert_eq!(agent.get_secret("dev", "DATABASE_URL", &warm).status, 200);
    }
    let token = limited(50);
    let before = redis.command_calls();
    for _ in 0..20 {
        assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200);
    }
    let after = redis.command_calls();
    assert_eq!(round_trips(&before, &after), [("evalsha".to_owned(), 20)], "one script call per use and nothing else");
}

/// A token fetched again and again takes its uses from Redis several at a
/// time (operator guide, "Held uses"): far fewer round trips than uses, and
/// at shutdown the unused ones go back, so exactly the limit is served.
#[test]
fn a_token_fetched_again_and_again_takes_its_uses_from_redis_several_at_a_time() {
    let redis = TestRedis::start();
    let mut agent = fleet_agent(&redis);
    let token = agent.mint(&json!({"subject": "trips", "environment": "dev", "key_pattern": "*", "usage_limit": 100}));
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200, "fills the cache");
    let before = redis.command_calls();
    for _ in 0..60 {
        assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200);
    }
    let calls = round_trips(&before, &redis.command_calls());
    let evalsha = calls.iter().find(|(name, _)| name == "evalsha").map_or(0, |(_, n)| *n);
    assert!(evalsha < 30, "60 uses took {calls:?}");
    assert!(calls.iter().all(|(name, _)| name == "evalsha"), "scripts only: {calls:?}");
    let status = agent.stop();
    assert!(status.success(), "{status}");
    let other = fleet_agent(&redis);
    let statuses: Vec<u16> = (0..45).map(|_| other.get_secret("dev", "DATABASE_URL", &token).status).collect();
    let count = |want: u16| statuses.iter().filter(|s| **s == want).count();
    assert_eq!((count(200), count(401)), (39, 6), "the held uses came back at shutdown: {statuses:?}");
}

#[test]
fn three_agents_on_one_redis_serve_a_limit_of_7_exactly_7_times_of_300() {
    let redis = TestRedis::start();
    let agents: Vec<_> = (0..3).map(|_| fleet_agent(&redis)).collect();
    let token =
        agents[0].mint(&json!({"subject": "fleet", "environment": "dev", "key_pattern": "*", "usage_limit": 7}));
    let statuses: Vec<u16> = thread::scope(|s| {
        let handles: Vec<_> = (0..300)
            .map(|i| {
                let (agent, token) = (&agents[i % 3], &token);
                s.spawn(move || agent.get_secret("dev", "DATABASE_URL", token).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let count = |want: u16| statuses.iter().filter(|s| **s == want).count();
    assert_eq!((count(200), count(401)), (7, 293), "statuses: {statuses:?}");
    for agent in &agents {
        assert_error(&agent.get_secret("dev", "DATABASE_URL", &token), 401, "unauthorized");
    }
}

#[test]
fn uses_held_by_a_killed_agent_come_back_from_redis_after_the_lease_never_twice() {
    let redis = TestRedis::start();
    super::usage_leases::held_uses_come_back_after_a_kill(dev_builder().args(["--usage-store", &redis.url()]));
}

#[test]
fn redis_down_fails_limited_tokens_closed_and_recovers_without_a_restart() {
    let mut redis = TestRedis::start();
    let agent = fleet_agent(&redis);
    let limited = agent.mint(&json!({"subject": "s", "environment": "dev", "key_pattern": "*", "usage_limit": 5}));
    let unlimited = agent.mint_for("dev", "*");
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &limited).status, 200);
    redis.stop();
    let refused = agent.get_secret("dev", "DATABASE_URL", &limited);
    assert_error(&refused, 503, "usage_store_unavailable");
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &unlimited).status, 200, "unlimited tokens need no store");
    assert_eq!(agent.get("/readyz", None).status, 503, "readiness reports the store");
    let audited = agent.audit_lines().into_iter().rev().find(|r| r["outcome"] == "usage_store_unavailable");
    assert!(audited.is_some_and(|r| r["error"].as_str().unwrap().contains("usage store")), "audited with the reason");
    redis.start_again();
    let back = first_answer_once_back(&agent, &limited);
    assert_eq!(back.status, 200, "{}", back.text());
    // Ready again once the revocation feed has subscribed again too (it
    // retries every 0.5 s, so it may trail the first answer).
    vanta_integration_tests::process::poll_until(std::time::Duration::from_secs(20), "ready again", || {
        (agent.get("/readyz", None).status == 200).then_some(())
    });
    let text = agent.get("/metrics", None).text();
    let errors = text.lines().find(|l| l.starts_with("vanta_usage_store_errors_total")).unwrap();
    assert_ne!(errors, "vanta_usage_store_errors_total 0", "store errors are counted");
}

#[test]
fn a_hung_redis_does_not_hang_requests() {
    let redis = TestRedis::start();
    let agent = fleet_agent(&redis);
    let limited = agent.mint(&json!({"subject": "s", "environment": "dev", "key_pattern": "*", "usage_limit": 5}));
    let unlimited = agent.mint_for("dev", "*");
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &limited).status, 200);
    redis.pause();
    // The harness's client gives up after its own I/O timeout: an answer at
    // all shows the store's deadline (500 ms here) held.
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &limited), 503, "usage_store_unavailable");
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &unlimited).status, 200);
    redis.resume();
    let back = first_answer_once_back(&agent, &limited);
    assert_eq!(back.status, 200, "{}", back.text());
}

#[test]
fn a_flushed_redis_refuses_limited_tokens_issued_before() {
    let mut redis = TestRedis::start();
    let agent = dev_builder().args(["--usage-store", &redis.url(), "--clock-leeway-seconds", "0"]).start();
    let spent = agent.mint(&json!({"subject": "s", "environment": "dev", "key_pattern": "*", "usage_limit": 1}));
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &spent).status, 200);
    // Lose every write: no data survives the restart.
    redis.stop();
    for entry in std::fs::read_dir(redis.dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap()
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
    thread::sleep(std::time::Duration::from_millis(1100));
    redis.start_again();
    let first = first_answer_once_back(&agent, &spent);
    assert_error(&first, 401, "unauthorized");
    let fresh = agent.mint(&json!({"subject": "s", "environment": "dev", "key_pattern": "*", "usage_limit": 1}));
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &fresh).status, 200);
}

#[test]
fn a_redis_without_appendonly_is_warned_about_at_start_up() {
    let (durable, forgetful) = (TestRedis::start(), TestRedis::start_forgetful());
    let warning = "runs without appendonly";
    assert!(!fleet_agent(&durable).stderr_text().contains(warning));
    let agent = fleet_agent(&forgetful);
    assert!(agent.stderr_text().contains(warning), "{}", agent.stderr_text());
}

/// A Redis that may evict keys under memory pressure drops use counts
/// (they expire, so `volatile-*` policies pick them) and keeps the birth
/// key: a spent token would be served again unseen. The agent refuses to
/// start on one, and fails readiness when the policy is set at run time.
#[test]
fn a_redis_that_may_evict_keys_stops_start_up_and_later_fails_readiness() {
    let evicting = TestRedis::start_with_options(&["--maxmemory", "3mb", "--maxmemory-policy", "volatile-ttl"]);
    let (finished, _agent) = dev_builder().args(["--usage-store", &evicting.url()]).run_to_exit();
    let stderr = finished.stderr_text();
    assert_eq!(finished.code(), Some(2), "{stderr}");
    let refusal = stderr.lines().find(|l| l.starts_with("vanta-agent: error: ")).unwrap_or_default();
    assert!(refusal.contains("may evict keys (maxmemory-policy volatile-ttl)"), "{stderr}");
    assert!(refusal.contains("set maxmemory-policy noeviction"), "{stderr}");

    let bounded = TestRedis::start_with_options(&["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]);
    let agent = fleet_agent(&bounded);
    assert_eq!(agent.get("/readyz", None).status, 200, "a full Redis that refuses writes loses nothing");
    assert_eq!(bounded.command(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]), "+OK");
    let unready = agent.get("/readyz", None);
    assert_eq!(unready.status, 503, "{}", unready.text());
    let check = unready.json()["checks"]["usage_store"].as_str().unwrap_or_default().to_owned();
    assert!(check.contains("maxmemory-policy allkeys-lru"), "{check}");
    assert_eq!(bounded.command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]), "+OK");
    assert_eq!(agent.get("/readyz", None).status, 200);
}

/// A managed Redis that renames `CONFIG` cannot say its eviction policy:
/// the agent warns once and starts, and readiness only pings.
#[test]
fn a_redis_that_hides_config_is_warned_about_and_still_serves() {
    let managed = TestRedis::start_with_options(&["--rename-command", "CONFIG", ""]);
    let agent = fleet_agent(&managed);
    let warning = "failed to ask Redis whether it may evict keys";
    assert_eq!(agent.stderr_text().matches(warning).count(), 1, "{}", agent.stderr_text());
    let limited = agent.mint(&json!({"subject": "s", "environment": "dev", "key_pattern": "*", "usage_limit": 1}));
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &limited).status, 200);
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &limited), 401, "unauthorized");
    assert_eq!(agent.get("/readyz", None).status, 200);
    assert_eq!(agent.stderr_text().matches(warning).count(), 1, "warned once, not per probe");
}

#[test]
fn a_url_with_a_password_is_refused_without_echoing_it() {
    let (finished, _agent) =
        dev_builder().args(["--usage-store", "redis://:hunter2-pw@127.0.0.1:6379/0"]).run_to_exit();
    assert_eq!(finished.code(), Some(2));
    let stderr = finished.stderr_text();
    assert!(stderr.contains("VANTA_USAGE_STORE_PASSWORD") && !stderr.contains("hunter2-pw"), "{stderr}");
}

/// A `redis-server` listening only with TLS on a free loopback port, its
/// certificate signed by `pki`'s CA.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start(pki: &Pki) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, ca) = (dir.path().join("redis.crt"), dir.path().join("redis.key"), dir.path().join("ca.pem"));
        pki.write(&cert, &key);
        std::fs::write(&ca, &pki.chain_pem).unwrap();
        // A port the kernel just handed out and took back: free for the server.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", "0", "--bind", "127.0.0.1", "--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "yes"])
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(&ca)
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is on PATH (make tools installs it)");
        vanta_integration_tests::process::poll_until(
            std::time::Duration::from_secs(10),
            "redis-server's TLS port",
            || std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ()),
        );
        Self { child, port, _dir: dir }
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CA certificate alone, PEM: the last block of a [`Pki`]'s chain.
fn ca_pem(pki: &Pki) -> String {
    let start = pki.chain_pem.rfind("-----BEGIN CERTIFICATE-----").expect("a PEM chain");
    pki.chain_pem[start..].to_owned()
}

#[test]
fn a_rediss_store_with_a_private_ca_counts_uses_and_another_ca_is_refused() {
    let pki = Pki::generate("vanta test redis CA");
    let redis = TlsRedis::start(&pki);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem(&pki)).unwrap();
    let ca_arg = ca.to_str().unwrap();
    let agent = dev_builder().args(["--usage-store", &redis.url(), "--usage-store-ca-cert", ca_arg]).start();
    let token = agent.mint(&json!({"subject": "tls", "environment": "dev", "key_pattern": "*", "usage_limit": 2}));
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200);
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200);
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &token), 401, "unauthorized");

    // A certificate from a CA the agent was not told to trust: no store.
    let other = Pki::generate("another CA");
    let other_ca = dir.path().join("other.pem");
    std::fs::write(&other_ca, ca_pem(&other)).unwrap();
    let refused = ["--usage-store", &redis.url(), "--usage-store-ca-cert", other_ca.to_str().unwrap()];
    let (finished, _agent) = dev_builder().args(refused).run_to_exit();
    assert_eq!(finished.code(), Some(2), "{}", finished.stderr_text());
    assert!(finished.stderr_text().contains("failed to open the Redis usage store"), "{}", finished.stderr_text());
}

/// As on SQLite (`api::usage`): an `exp` no store could hold is counted
/// until the year 9999; Redis refused the expiry time, so the fetch was 503.
#[test]
fn a_limited_token_that_expires_after_the_year_9999_is_counted_on_redis() {
    let redis = TestRedis::start();
    let agent = fleet_agent(&redis);
    let mut claims = vanta_integration_tests::jwt::claims("dev", "*");
    claims["exp"] = json!(u64::MAX);
    claims["usage_limit"] = json!(2);
    let token = vanta_integration_tests::jwt::sign(&claims);
    let statuses: Vec<u16> = (0..3).map(|_| agent.get_secret("dev", "DATABASE_URL", &token).status).collect();
    assert_eq!(statuses, [200, 200, 401]);
}

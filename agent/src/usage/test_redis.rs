//! A private `redis-server` for the Redis backend's tests (tests of layer
//! L1): on a Unix socket in a temporary directory, with `appendonly yes`,
//! killed when dropped. `make tools` installs Debian's redis-server.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{RedisStore, RedisTarget};

/// A running `redis-server`, stopped on drop.
pub(super) struct TestRedis {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

// === impl TestRedis ===

impl TestRedis {
    /// Starts a server and waits (up to 10 s) until it accepts connections.
    pub(super) fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`TestRedis::start`] with more server options.
    pub(super) fn start_with(options: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let socket = dir.path().join("redis.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocketperm", "700", "--appendonly", "yes", "--save", ""])
            .args(options)
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is on PATH (make tools installs it)");
        let started = Instant::now();
        while !socket.exists() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { child, socket, _dir: dir }
    }

    /// A store on a fresh server, and the server (keep it alive).
    pub(super) async fn store() -> (RedisStore, Self) {
        let server = Self::start();
        (server.another_store().await, server)
    }

    fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    /// Runs one command on the server, as an operator's `redis-cli` would.
    pub(super) async fn command(&self, args: &[&str]) {
        let client = redis::Client::open(self.url()).expect("client");
        let mut conn = client.get_multiplexed_async_connection().await.expect("connection");
        redis::cmd(args[0]).arg(&args[1..]).query_async::<()>(&mut conn).await.expect("command");
    }

    /// One more store (another agent) on this server.
    pub(super) async fn another_store(&self) -> RedisStore {
        self.open_store().await.expect("redis store")
    }

    async fn open_store(&self) -> Result<RedisStore, super::UsageError> {
        let target = RedisTarget {
            url: self.url(),
            ca_cert: None,
            password: None,
            prefix: "test".to_owned(),
            timeout: Duration::from_secs(5),
        };
        RedisStore::open(target).await
    }
}

/// A revocation at one agent reaches another through the channel, and an
/// agent that starts later loads it.
#[tokio::test]
async fn revocations_reach_every_agent_on_the_server() {
    use crate::usage::{Revocation, RevokedTarget, UsageStore};
    let (a, server) = TestRedis::store().await;
    let b = server.another_store().await;
    let keep_until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() + 60;
    a.revoke(&Revocation { target: RevokedTarget::Jti("leaked".into()), keep_until }).await.expect("revoke");
    let started = Instant::now();
    while !b.is_revoked("leaked", "sub", 0) {
        assert!(started.elapsed() < Duration::from_secs(10), "the revocation never reached b");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(server.another_store().await.is_revoked("leaked", "sub", 0), "loaded at start-up");
}

/// After Redis is flushed, every agent refuses what the new birth refuses:
/// not only the one that finds the birth key gone first, but also an agent
/// that finds the key already written again by another.
#[tokio::test]
async fn every_agent_learns_that_the_store_was_born_again() {
    use crate::usage::{Taken, UsageStore, UseAsk};
    let (a, server) = TestRedis::store().await;
    let b = server.another_store().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    let (now_s, now_ms) = (now.as_secs(), u64::try_from(now.as_millis()).expect("ms"));
    let ask = UseAsk { jti: "j".into(), limit: 1, expires_at: now_s + 60, lease_ms: 60_000 };
    assert_eq!(a.take(&ask, now_ms).await.expect("take"), Taken::Spent);
    let reborn = (a.born_at() + 7).to_string();
    // Flushed, and another agent (or a new pod) has already written a new birth.
    server.command(&["FLUSHALL"]).await;
    server.command(&["SET", "test:born", &reborn]).await;
    assert!(b.is_used_up("j", 1).await.is_err(), "the request that finds out fails");
    assert_eq!(b.born_at().to_string(), reborn, "b knows the new birth");
    assert!(a.take(&ask, now_ms).await.is_err(), "so does a take at a");
    assert_eq!(a.born_at().to_string(), reborn);
    assert_eq!(a.take(&ask, now_ms).await.expect("take"), Taken::Spent, "then the store counts again");
    // The key gone altogether: the first agent to look writes a new one.
    server.command(&["FLUSHALL"]).await;
    assert!(b.take(&ask, now_ms).await.is_err());
    assert!(b.born_at() >= now_s, "born again now");
}

/// A Redis that may evict keys (`maxmemory` with another policy than
/// `noeviction`) could drop use counts unseen: no store opens on one, and
/// the ping (readiness) fails once the policy is set at run time.
#[tokio::test]
async fn a_redis_that_may_evict_keys_is_refused_at_open_and_fails_the_ping() {
    use crate::usage::{UsageError, UsageStore};
    let evicting = TestRedis::start_with(&["--maxmemory", "3mb", "--maxmemory-policy", "volatile-ttl"]);
    let refused = evicting.open_store().await.err().map(|err| err.to_string()).unwrap_or_default();
    assert!(refused.contains("may evict keys (maxmemory-policy volatile-ttl)"), "{refused}");
    let bounded = TestRedis::start_with(&["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]);
    let store = bounded.another_store().await;
    store.ping().await.expect("noeviction is safe");
    bounded.command(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]).await;
    assert!(matches!(store.ping().await, Err(UsageError::MayEvict(policy)) if policy == "allkeys-lru"));
    bounded.command(&["CONFIG", "SET", "maxmemory", "0"]).await;
    store.ping().await.expect("without maxmemory nothing is evicted");
}

/// A Redis that refuses `CONFIG` (renamed by a managed service) cannot say
/// whether it evicts: the store opens (with a warning) and pings.
#[tokio::test]
async fn a_redis_without_config_opens_and_pings() {
    use crate::usage::UsageStore;
    let managed = TestRedis::start_with(&["--rename-command", "CONFIG", ""]);
    managed.another_store().await.ping().await.expect("ping");
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

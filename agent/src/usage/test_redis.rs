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
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let socket = dir.path().join("redis.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocketperm", "700", "--appendonly", "yes", "--save", ""])
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

    /// One more store (another agent) on this server.
    pub(super) async fn another_store(&self) -> RedisStore {
        let target = RedisTarget {
            url: format!("redis+unix://{}", self.socket.display()),
            ca_cert: None,
            password: None,
            prefix: "test".to_owned(),
            timeout: Duration::from_secs(5),
        };
        RedisStore::open(target).await.expect("redis store")
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

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! The Redis backend of the usage store (layer L1, part of [`crate::usage`]),
//! for a fleet of agents sharing use counts.
//!
//! Each operation is one Lua script (atomic on the server) or one command.
//! Keys live under a prefix (`<prefix>:{<jti>}:used`, `…:leases`, `…:holds`
//! and `<prefix>:born`) and expire with their token (`PEXPIREAT` at `exp` plus
//! the grace of [`super::PRUNE_GRACE_SECS`]), so pruning is Redis's job. Every
//! operation has a deadline; the connection manager reconnects by itself.
//! Confirms rely on Redis's own durability: the operator guide says to run it
//! with `appendonly yes`, and the agent warns when it is off. They also rely
//! on Redis keeping every key until it expires: a Redis that may evict keys
//! under memory pressure (`maxmemory` with a policy other than `noeviction`)
//! would drop use counts (they expire, so `volatile-*` policies pick them)
//! and keep the birth key, so the loss could not be seen. The agent refuses
//! to start on one, and readiness fails when the policy is changed later.
//!
//! Revocations live in one sorted set, `<prefix>:revocations` (member: the
//! revocation's one-line form, score: when it may be forgotten, in ms), that
//! expires at its latest score; each new one is published on the channel
//! `<prefix>:revocations`. A task per agent (`feed`) subscribes, loads the
//! whole set once subscribed (at start-up, after every reconnect, and every
//! second) and adds each published revocation to the agent's memory.

mod feed;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use secrecy::{ExposeSecret, SecretString};

use super::{Hold, Lease, PRUNE_GRACE_SECS, Reservation, Revocation, Revoked, Taken, UsageError, UsageStore, UseAsk};

/// Where and how to reach Redis. Holds the password: no `Debug`.
pub struct RedisTarget {
    /// `redis://host:port/db`, `rediss://…` or `redis+unix:///path` (no
    /// credentials).
    pub url: String,
    /// PEM of the CA to trust for `rediss://` instead of the system's roots.
    pub ca_cert: Option<Vec<u8>>,
    /// From `VANTA_USAGE_STORE_PASSWORD(_FILE)`.
    pub password: Option<SecretString>,
    /// Key prefix, so several fleets can share one Redis.
    pub prefix: String,
    /// Deadline of each operation.
    pub timeout: Duration,
}

/// Redis-backed [`UsageStore`]; clones share one connection.
#[derive(Clone)]
pub struct RedisStore(Arc<Shared>);

struct Shared {
    conn: ConnectionManager,
    reserve: Script,
    confirm: Script,
    take: Script,
    take_held: Script,
    settle: Script,
    used_up: Script,
    prefix: String,
    born_at: AtomicU64,
    is_new: AtomicBool,
    /// Redis refused `CONFIG` at start-up (a managed Redis renames it):
    /// readiness cannot see the eviction policy and only pings.
    config_refused: AtomicBool,
    timeout: Duration,
    revoke: Script,
    revoked: Arc<Revoked>,
    /// `Ok` while subscribed and resynced; else why not (readiness).
    feed: Arc<Mutex<Result<(), String>>>,
    feed_task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = self.feed_task.lock().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
    }
}

/// The store was flushed or replaced since this agent last looked: it found
/// the birth key gone (and wrote a new one), or another agent had already
/// written a new one.
#[derive(Debug, thiserror::Error)]
#[error("the Redis usage store lost its birth key (flushed?); it is born again now")]
struct Reborn;

/// What a script that starts with [`FREE_USE`] (or [`USED_UP`]) answers
/// first: yes (a use is taken or leased; the token is used up) …
const YES: i64 = 1;
/// … no (every use is taken, none is held) …
const NO: i64 = 0;
/// … every use is taken, but some are held, until the second number …
const HELD: i64 = 2;
/// … the birth key is gone …
const BIRTH_GONE: i64 = -1;
/// … or it names another birth than the one this agent knows.
const BIRTH_CHANGED: i64 = -2;

/// The most uses one [`UsageStore::take_held`] asks for: far more than any
/// agent holds, and small enough for Lua's numbers to stay exact.
const MOST_WANTED: u64 = 1 << 32;

/// A script answered what none of ours answers.
#[derive(Debug, thiserror::Error)]
#[error("the Redis usage store answered {0}, which no script of this agent answers")]
struct UnexpectedAnswer(i64);

/// An operation outlived its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the Redis usage store did not answer within {0:?}")]
struct TimedOut(Duration);

/// What a script that starts with [`FREE_USE`] (or [`USED_UP`]) answered.
enum Free {
    /// Yes, with the script's own number (the uses [`TAKE_HELD`] held).
    Yes(u64),
    /// Every use is taken, and none is held.
    No,
    /// Every use is taken, but some are held until then (Unix ms).
    Held(u64),
}

/// A function the scripts that read holds start with. A token's holds are
/// one hash (field: the hold's id, value: `<deadline_ms> <uses>`).
/// `live_holds(key, now_ms)` deletes the holds whose deadline passed before
/// `now_ms` and returns the latest deadline of the others (`nil` when there
/// is none) and the sum of their uses.
const LIVE_HOLDS: &str = r"
local function live_holds(key, now)
  local latest, held = nil, 0
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local deadline, uses = string.match(all[i + 1], '^(%d+) (%d+)$')
    deadline = tonumber(deadline)
    if deadline < now then
      redis.call('HDEL', key, all[i])
    else
      if not latest or deadline > latest then latest = deadline end
      held = held + tonumber(uses)
    end
  end
  return latest, held
end
";

/// The head of [`RESERVE`], [`TAKE`] and [`TAKE_HELD`], after
/// [`LIVE_HOLDS`]. KEYS: used, leases, born, holds. ARGV[1] limit, ARGV[2]
/// now_ms, ARGV[3] the birth this agent knows. Answers `{-1, 0}` when the
/// birth key is gone, `{-2, 0}` when it names another birth (another agent
/// found the store flushed first: counts from before are gone, and this
/// agent must refuse the tokens its new birth refuses). Otherwise reclaims
/// expired leases and sets `free` (the limit less the counted uses and the
/// live leases; held uses are counted already); when none is free, answers
/// `{2, latest deadline}` if the token has a live hold, else `{0, 0}`.
const FREE_USE: &str = r"
local born = redis.call('GET', KEYS[3])
if not born then return {-1, 0} end
if born ~= ARGV[3] then return {-2, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local free = tonumber(ARGV[1]) - used - redis.call('ZCARD', KEYS[2])
if free < 1 then
  local latest = live_holds(KEYS[4], tonumber(ARGV[2]))
  if latest then return {2, latest} end
  return {0, 0}
end
";

/// After [`FREE_USE`]. ARGV: limit, now_ms, born, lease id, deadline_ms,
/// expire_at_ms. Leases one use; answers `{1, 0}`.
const RESERVE: &str = r"
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('PEXPIREAT', KEYS[2], ARGV[6])
return {1, 0}
";

/// After [`FREE_USE`]. ARGV: limit, now_ms, born, expire_at_ms. Counts one
/// use (a lease and its confirm at once); answers `{1, 0}`.
const TAKE: &str = r"
redis.call('INCR', KEYS[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return {1, 0}
";

/// After [`FREE_USE`]. ARGV: limit, now_ms, born, expire_at_ms, want (at
/// least 1), hold id, hold deadline_ms. Counts `k` uses, the fewer of
/// `want` and half of the free ones (at least one). With `want` 1 answers
/// `{1, 0}` (the use is spent); with more holds all `k` under the id
/// (deleting the token's dead holds first) and answers `{1, k}`.
const TAKE_HELD: &str = r"
local want = tonumber(ARGV[5])
local k = math.min(want, math.max(1, math.floor(free / 2)))
redis.call('INCRBY', KEYS[1], string.format('%d', k))
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
if want < 2 then return {1, 0} end
live_holds(KEYS[4], tonumber(ARGV[2]))
redis.call('HSET', KEYS[4], ARGV[6], ARGV[7] .. ' ' .. string.format('%d', k))
redis.call('PEXPIREAT', KEYS[4], ARGV[4])
return {1, k}
";

/// KEYS: used, holds. ARGV: hold id, unused, now_ms. Deletes the hold; if
/// its deadline has not passed at now_ms, gives back `unused` of its uses
/// (no more than it holds, nor than are counted). Returns how many came
/// back.
const SETTLE: &str = r"
local hold = redis.call('HGET', KEYS[2], ARGV[1])
if not hold then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
local deadline, uses = string.match(hold, '^(%d+) (%d+)$')
if tonumber(deadline) < tonumber(ARGV[3]) then return 0 end
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local back = math.min(tonumber(ARGV[2]), tonumber(uses), used)
if back < 1 then return 0 end
redis.call('DECRBY', KEYS[1], string.format('%d', back))
return back
";

/// After [`LIVE_HOLDS`]. KEYS: used, born, holds. ARGV: limit, the birth
/// this agent knows, now_ms. Answers `{1, 0}` when every use is counted
/// and none is in a live hold, `{0, 0}` when not, and as [`FREE_USE`] when
/// the birth is lost.
const USED_UP: &str = r"
local born = redis.call('GET', KEYS[2])
if not born then return {-1, 0} end
if born ~= ARGV[2] then return {-2, 0} end
local _, held = live_holds(KEYS[3], tonumber(ARGV[3]))
if tonumber(redis.call('GET', KEYS[1]) or '0') - held >= tonumber(ARGV[1]) then return {1, 0} end
return {0, 0}
";

/// KEYS: used, leases. ARGV: lease id, now_ms, expire_at_ms.
/// Returns 1 confirmed, 0 when the lease had expired (it is gone either way).
const CONFIRM: &str = r"
local deadline = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not deadline or tonumber(deadline) < tonumber(ARGV[2]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
";

/// KEYS: revocations. ARGV: member, keep_until_ms.
/// Adds (or widens) a revocation, keeps the set until its latest entry and
/// publishes `<keep_until_ms> <member>`.
const REVOKE: &str = r"
local kept = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0')
if kept < tonumber(ARGV[2]) then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) end
local expires = redis.call('PEXPIRETIME', KEYS[1])
if expires >= 0 and expires < tonumber(ARGV[2]) or expires == -1 then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
redis.call('PUBLISH', KEYS[1], ARGV[2] .. ' ' .. ARGV[1])
return 1
";

// === impl RedisStore ===

impl RedisStore {
    /// Connects, reads (or sets) the store's birth time, and warns when
    /// Redis does not persist every write.
    ///
    /// # Errors
    /// [`UsageError`] when the URL is bad or Redis does not answer in time.
    pub async fn open(target: RedisTarget) -> Result<Self, UsageError> {
        let mut info = redis::IntoConnectionInfo::into_connection_info(target.url.as_str())?;
        if let Some(password) = &target.password {
            info.redis.password = Some(password.expose_secret().to_owned());
        }
        // TLS with rustls (ring); a private CA replaces the system's roots.
        let client = match (&info.addr, &target.ca_cert) {
            (redis::ConnectionAddr::TcpTls { .. }, Some(ca)) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates { client_tls: None, root_cert: Some(ca.clone()) },
            )?,
            _ => redis::Client::open(info)?,
        };
        let subscriber = client.clone();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(target.timeout)
            .set_response_timeout(target.timeout)
            .set_number_of_retries(2)
            .set_max_delay(1_000);
        let connect = ConnectionManager::new_with_config(client, config);
        let conn = deadline(target.timeout, connect).await?;
        let store = Self(Arc::new(Shared {
            conn,
            reserve: Script::new(&[LIVE_HOLDS, FREE_USE, RESERVE].concat()),
            confirm: Script::new(CONFIRM),
            take: Script::new(&[LIVE_HOLDS, FREE_USE, TAKE].concat()),
            take_held: Script::new(&[LIVE_HOLDS, FREE_USE, TAKE_HELD].concat()),
            settle: Script::new(SETTLE),
            used_up: Script::new(&[LIVE_HOLDS, USED_UP].concat()),
            prefix: target.prefix,
            born_at: AtomicU64::new(0),
            is_new: AtomicBool::new(false),
            config_refused: AtomicBool::new(false),
            timeout: target.timeout,
            revoke: Script::new(REVOKE),
            revoked: Arc::new(Revoked::default()),
            feed: Arc::new(Mutex::new(Err("the revocation feed has not subscribed yet".to_owned()))),
            feed_task: Mutex::new(None),
        }));
        let created = store.be_born().await?;
        store.0.is_new.store(created, Ordering::SeqCst);
        store.warn_unless_persistent().await;
        store.refuse_eviction().await?;
        // The first full load happens before start-up goes on.
        let mut pubsub = deadline(target.timeout, subscriber.get_async_pubsub()).await?;
        deadline(target.timeout, pubsub.subscribe(store.revocations_key())).await?;
        store.resync().await?;
        let feed = tokio::spawn(store.clone().feed(subscriber, pubsub));
        *store.0.feed_task.lock().unwrap_or_else(PoisonError::into_inner) = Some(feed.abort_handle());
        Ok(store)
    }

    fn revocations_key(&self) -> String {
        format!("{}:revocations", self.0.prefix)
    }

    /// Whether this open created the store (it knows no earlier use).
    pub fn is_new(&self) -> bool {
        self.0.is_new.load(Ordering::SeqCst)
    }

    fn born_key(&self) -> String {
        format!("{}:born", self.0.prefix)
    }

    /// Sets the birth key if it is missing; loads it. True if it was missing.
    async fn be_born(&self) -> Result<bool, UsageError> {
        let key = self.born_key();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut conn = self.0.conn.clone();
        let created: bool = deadline(self.0.timeout, conn.set_nx(&key, now)).await?;
        let born_at: u64 = deadline(self.0.timeout, conn.get(&key)).await?;
        self.0.born_at.store(born_at, Ordering::SeqCst);
        Ok(created)
    }

    async fn warn_unless_persistent(&self) {
        let mut conn = self.0.conn.clone();
        let mut ask = redis::cmd("CONFIG");
        ask.arg("GET").arg("appendonly");
        match deadline(self.0.timeout, ask.query_async::<Vec<String>>(&mut conn)).await {
            Ok(reply) if reply.get(1).is_some_and(|v| v == "yes") => {}
            Ok(_) => tracing::warn!(
                "the Redis usage store runs without appendonly: a restart of Redis can bring used-up tokens back (set appendonly yes)"
            ),
            Err(err) => tracing::warn!(error = %err, "failed to ask Redis whether appendonly is on; make sure it is"),
        }
    }

    /// Fails when Redis may evict keys; warns once, and remembers, when it
    /// does not say.
    async fn refuse_eviction(&self) -> Result<(), UsageError> {
        match self.eviction_policy().await {
            Ok(None) => Ok(()),
            Ok(Some(policy)) => Err(UsageError::MayEvict(policy)),
            // Redis refused CONFIG itself (renamed, or not allowed by an ACL):
            // it will go on refusing, so readiness only pings from now on.
            Err(err) if is_refusal(&err) => {
                tracing::warn!(
                    error = %err,
                    "failed to ask Redis whether it may evict keys; make sure its maxmemory-policy is noeviction"
                );
                self.0.config_refused.store(true, Ordering::SeqCst);
                Ok(())
            }
            // No answer (a timeout, a lost connection): start-up fails as for
            // any other step, rather than giving up the check for good.
            Err(err) => Err(err),
        }
    }

    /// The `maxmemory-policy` under which Redis may evict this store's
    /// keys, or `None` when it may not (no `maxmemory`, or `noeviction`).
    /// One round trip: `CONFIG GET maxmemory*` answers both settings.
    async fn eviction_policy(&self) -> Result<Option<String>, UsageError> {
        let mut conn = self.0.conn.clone();
        let mut ask = redis::cmd("CONFIG");
        ask.arg("GET").arg("maxmemory*");
        let config: HashMap<String, String> = deadline(self.0.timeout, ask.query_async(&mut conn)).await?;
        let limited = config.get("maxmemory").is_some_and(|bytes| bytes != "0");
        let policy = config.get("maxmemory-policy").map_or("noeviction", String::as_str);
        Ok((limited && policy != "noeviction").then(|| policy.to_owned()))
    }

    fn keys(&self, jti: &str) -> (String, String) {
        (format!("{}:{{{jti}}}:used", self.0.prefix), format!("{}:{{{jti}}}:leases", self.0.prefix))
    }

    /// The token's holds (see [`LIVE_HOLDS`]), in the same slot as its
    /// other keys.
    fn holds_key(&self, jti: &str) -> String {
        format!("{}:{{{jti}}}:holds", self.0.prefix)
    }

    /// Adds the keys and arguments of [`FREE_USE`] to `invocation`.
    fn free_use<'i, 's>(
        &self,
        invocation: &'i mut redis::ScriptInvocation<'s>,
        ask: &UseAsk,
        now_ms: u64,
    ) -> &'i mut redis::ScriptInvocation<'s> {
        let (used, leases) = self.keys(&ask.jti);
        invocation.key(used).key(leases).key(self.born_key()).key(self.holds_key(&ask.jti));
        invocation.arg(ask.limit).arg(now_ms).arg(self.born_at())
    }

    /// Runs a script that starts with [`FREE_USE`] (or [`USED_UP`]): what it
    /// answered; a lost or changed birth is reported as an error
    /// ([`Self::learn_rebirth`]).
    async fn run_free_use(&self, invocation: &redis::ScriptInvocation<'_>) -> Result<Free, UsageError> {
        let mut conn = self.0.conn.clone();
        let (answer, number) = deadline(self.0.timeout, invocation.invoke_async::<(i64, i64)>(&mut conn)).await?;
        let number = u64::try_from(number).unwrap_or(0);
        match answer {
            YES => Ok(Free::Yes(number)),
            NO => Ok(Free::No),
            HELD => Ok(Free::Held(number)),
            answer => Err(self.learn_rebirth(answer).await),
        }
    }

    /// The store was flushed or replaced: re-sets a lost birth key, loads
    /// the new birth (so this agent refuses the limited tokens issued before
    /// it, as the agent that found the loss does), and fails the request
    /// that found out, whose count from before is gone.
    async fn learn_rebirth(&self, answer: i64) -> UsageError {
        let reloaded = match answer {
            BIRTH_GONE | BIRTH_CHANGED => self.be_born().await.map(drop),
            other => Err(UsageError::backend(UnexpectedAnswer(other))),
        };
        match reloaded {
            Ok(()) => {
                tracing::warn!(
                    born_at = self.born_at(),
                    "the Redis usage store was flushed or replaced: limited tokens issued before it are refused"
                );
                UsageError::backend(Reborn)
            }
            Err(err) => err,
        }
    }
}

/// Runs `op` with a deadline, mapping both failures to [`UsageError`].
async fn deadline<T>(limit: Duration, op: impl Future<Output = redis::RedisResult<T>>) -> Result<T, UsageError> {
    match tokio::time::timeout(limit, op).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(UsageError::backend(TimedOut(limit))),
    }
}

/// Whether Redis answered with an error of its own (an unknown or
/// forbidden command), rather than not answering.
fn is_refusal(err: &UsageError) -> bool {
    let UsageError::Backend(source) = err else { return false };
    source.downcast_ref::<redis::RedisError>().is_some_and(|err| err.code().is_some())
}

fn expire_at_ms(expires_at: u64) -> u64 {
    expires_at.saturating_add(PRUNE_GRACE_SECS).saturating_mul(1_000)
}

impl From<redis::RedisError> for UsageError {
    fn from(err: redis::RedisError) -> Self {
        Self::backend(err)
    }
}

impl UsageStore for RedisStore {
    async fn reserve(&self, ask: &UseAsk, now_ms: u64) -> Result<Reservation, UsageError> {
        let id: u64 = rand::random::<u64>() >> 1;
        let deadline_ms = now_ms.saturating_add(ask.lease_ms);
        let mut invocation = self.0.reserve.prepare_invoke();
        self.free_use(&mut invocation, ask, now_ms).arg(id).arg(deadline_ms).arg(expire_at_ms(ask.expires_at));
        Ok(match self.run_free_use(&invocation).await? {
            Free::Yes(_) => {
                Reservation::Granted(Lease { jti: ask.jti.clone(), id, expires_at: ask.expires_at, deadline_ms })
            }
            Free::No => Reservation::Exhausted,
            Free::Held(until_ms) => Reservation::HeldElsewhere { until_ms },
        })
    }

    async fn take(&self, ask: &UseAsk, now_ms: u64) -> Result<Taken, UsageError> {
        let mut invocation = self.0.take.prepare_invoke();
        self.free_use(&mut invocation, ask, now_ms).arg(expire_at_ms(ask.expires_at));
        Ok(match self.run_free_use(&invocation).await? {
            Free::Yes(_) => Taken::Spent,
            Free::No => Taken::Exhausted,
            Free::Held(until_ms) => Taken::HeldElsewhere { until_ms },
        })
    }

    async fn take_held(&self, ask: &UseAsk, want: u64, hold_ms: u64, now_ms: u64) -> Result<Taken, UsageError> {
        let id: u64 = rand::random::<u64>() >> 1;
        let deadline_ms = now_ms.saturating_add(hold_ms);
        let mut invocation = self.0.take_held.prepare_invoke();
        self.free_use(&mut invocation, ask, now_ms).arg(expire_at_ms(ask.expires_at));
        invocation.arg(want.clamp(1, MOST_WANTED)).arg(id).arg(deadline_ms);
        Ok(match self.run_free_use(&invocation).await? {
            Free::Yes(0) => Taken::Spent,
            Free::Yes(uses) => Taken::Held(Hold { jti: ask.jti.clone(), id, uses, deadline_ms }),
            Free::No => Taken::Exhausted,
            Free::Held(until_ms) => Taken::HeldElsewhere { until_ms },
        })
    }

    async fn settle(&self, hold: &Hold, unused: u64, now_ms: u64) -> Result<(), UsageError> {
        let (used, _) = self.keys(&hold.jti);
        let mut invocation = self.0.settle.key(used);
        invocation.key(self.holds_key(&hold.jti)).arg(hold.id).arg(unused.min(MOST_WANTED)).arg(now_ms);
        let mut conn = self.0.conn.clone();
        deadline(self.0.timeout, invocation.invoke_async::<i64>(&mut conn)).await.map(drop)
    }

    async fn confirm(&self, lease: &Lease, now_ms: u64) -> Result<(), UsageError> {
        let (used, leases) = self.keys(&lease.jti);
        let mut invocation = self.0.confirm.key(&used);
        invocation.key(&leases).arg(lease.id).arg(now_ms).arg(expire_at_ms(lease.expires_at));
        let mut conn = self.0.conn.clone();
        match deadline(self.0.timeout, invocation.invoke_async::<i64>(&mut conn)).await? {
            1 => Ok(()),
            _ => Err(UsageError::LeaseExpired),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), UsageError> {
        let (_, leases) = self.keys(&lease.jti);
        let mut conn = self.0.conn.clone();
        deadline(self.0.timeout, conn.zrem::<_, _, i64>(&leases, lease.id)).await.map(drop)
    }

    async fn is_used_up(&self, jti: &str, limit: u64) -> Result<bool, UsageError> {
        let now_ms = super::unix_ms(SystemTime::now());
        let (used, _) = self.keys(jti);
        let mut invocation = self.0.used_up.key(used);
        invocation.key(self.born_key()).key(self.holds_key(jti));
        invocation.arg(limit).arg(self.born_at()).arg(now_ms);
        Ok(matches!(self.run_free_use(&invocation).await?, Free::Yes(_)))
    }

    async fn prune(&self, _expired_before: u64, now_ms: u64) -> Result<u64, UsageError> {
        self.0.revoked.prune(now_ms / 1_000);
        // Every use key carries its own PEXPIREAT: Redis prunes those (and
        // scripts delete dead holds as they meet them).
        let mut conn = self.0.conn.clone();
        let gone = conn.zrembyscore(self.revocations_key(), "-inf", format!("({now_ms}"));
        deadline(self.0.timeout, gone).await
    }

    async fn revoke(&self, revocation: &Revocation) -> Result<(), UsageError> {
        let mut invocation = self.0.revoke.key(self.revocations_key());
        invocation.arg(revocation.member()).arg(revocation.keep_until.saturating_mul(1_000));
        let mut conn = self.0.conn.clone();
        deadline(self.0.timeout, invocation.invoke_async::<i64>(&mut conn)).await?;
        self.0.revoked.add_own(revocation.clone());
        Ok(())
    }

    fn is_revoked(&self, jti: &str, subject: &str, iat: u64) -> bool {
        self.0.revoked.contains(jti, subject, iat)
    }

    fn revocation_feed(&self) -> Result<(), String> {
        self.0.feed.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Asks for the eviction policy, which is a ping too (one round trip per
    /// probe), so a `CONFIG SET` made after start-up shows in readiness.
    /// Where Redis refuses `CONFIG` (a server error, not a lost connection)
    /// it falls back to `PING`.
    async fn ping(&self) -> Result<(), UsageError> {
        if !self.0.config_refused.load(Ordering::SeqCst) {
            match self.eviction_policy().await {
                Ok(None) => return Ok(()),
                Ok(Some(policy)) => return Err(UsageError::MayEvict(policy)),
                Err(err) if !is_refusal(&err) => return Err(err),
                Err(_) => {}
            }
        }
        let mut conn = self.0.conn.clone();
        let ping = redis::cmd("PING");
        deadline(self.0.timeout, ping.query_async::<String>(&mut conn)).await.map(drop)
    }

    fn born_at(&self) -> u64 {
        self.0.born_at.load(Ordering::SeqCst)
    }
}

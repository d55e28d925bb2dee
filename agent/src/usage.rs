//! Durable use counting for tokens with a `usage_limit` (layer L1).
//!
//! A fetch that must run sops takes a [`Lease`] on one use
//! ([`UsageStore::reserve`]) before it, then either confirms it, durably,
//! before the value leaves ([`UsageStore::confirm`]), or gives it back
//! ([`UsageStore::release`]). A lease that is never settled (the agent was
//! killed) expires at its deadline and its use comes back: no value was sent
//! for it, because a use is confirmed before the answer. A fetch whose value
//! is already in hand (cached) needs no lease: it takes the use, durably, in
//! one step ([`UsageStore::take`]) — one operation, one round trip. A token
//! whose cached value is fetched again and again takes several uses at once
//! ([`UsageStore::take_held`]), spent and held for this agent's next
//! fetches, and gives back the unused ones ([`UsageStore::settle`]); the
//! agent's side of that is `usage/held.rs`.
//! Nothing is cleared at start-up, so several agents may share one store.
//! The rule, in full, is in the operator guide
//! (docs/VAULT_ACCESS_SYSTEM_README.md, "Usage limits").
//!
//! The store also holds the revocation list ([`UsageStore::revoke`]): each
//! backend keeps it in memory too ([`Revoked`]), so checking a token
//! ([`UsageStore::is_revoked`]) costs no I/O (operator guide, "Running a
//! fleet").
//!
//! The backend is chosen at run time ([`Store`]); every backend passes the
//! one conformance suite in `usage/conformance.rs`.

mod held;
mod redis;
mod revoked;
mod sqlite;

use std::future::Future;
use std::path::Path;
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

pub use self::held::{HOLD_MS, MAX_WAIT};
pub use self::redis::{RedisStore, RedisTarget};
pub use self::revoked::{Revocation, Revoked, RevokedTarget};
pub use self::sqlite::SqliteStore;

/// How long after its `exp` a token's count is kept (Unix seconds): longer
/// than any clock leeway, so a token is refused as expired before it is
/// forgotten.
pub const PRUNE_GRACE_SECS: u64 = 3_600;

/// Counts uses per `jti`, for one agent or a fleet.
pub trait UsageStore: Clone + Send + Sync + 'static {
    /// Takes a lease on one use of `ask.jti` if fewer than `ask.limit` are
    /// confirmed or leased. Expired leases of the token are reclaimed first.
    fn reserve(&self, ask: &UseAsk, now_ms: u64) -> impl Future<Output = Result<Reservation, UsageError>> + Send;
    /// Turns a lease into a use, durably. A lease past its deadline is not
    /// confirmed ([`UsageError::LeaseExpired`]): its use has come back.
    fn confirm(&self, lease: &Lease, now_ms: u64) -> impl Future<Output = Result<(), UsageError>> + Send;
    /// Takes one use of `ask.jti`, durably, if fewer than `ask.limit` are
    /// confirmed or leased (a lease and its confirm in one step, for a
    /// fetch whose value is in hand). Expired leases are reclaimed first;
    /// `ask.lease_ms` is not used.
    fn take(&self, ask: &UseAsk, now_ms: u64) -> impl Future<Output = Result<Taken, UsageError>> + Send;
    /// Takes up to `want` uses of `ask.jti` at once, durably, as [`take`]
    /// does one, *held* for the agent's requests of the token
    /// ([`Taken::Held`]) until `now_ms + hold_ms`. Held uses count as spent:
    /// a hold that is never settled (the agent died) keeps them spent. At
    /// most half of the uses still free are taken (at least one), so other
    /// agents keep some. With `want` 1 the use is simply spent
    /// ([`Taken::Spent`]); with more, even a single free use is held, so
    /// that it can be given back.
    ///
    /// [`take`]: UsageStore::take
    fn take_held(
        &self,
        ask: &UseAsk,
        want: u64,
        hold_ms: u64,
        now_ms: u64,
    ) -> impl Future<Output = Result<Taken, UsageError>> + Send;
    /// Ends a hold: `unused` of its uses come back if the hold's deadline
    /// has not passed at `now_ms`; after it, none does (they stay spent).
    fn settle(&self, hold: &Hold, unused: u64, now_ms: u64) -> impl Future<Output = Result<(), UsageError>> + Send;
    /// Gives a lease's use back (the fetch failed or was abandoned).
    fn release(&self, lease: &Lease) -> impl Future<Output = Result<(), UsageError>> + Send;
    /// Whether every one of `limit` uses of `jti` is confirmed (for requests
    /// that are not themselves a use, like listing); uses in a live hold may
    /// still come back, so they do not count.
    fn is_used_up(&self, jti: &str, limit: u64) -> impl Future<Output = Result<bool, UsageError>> + Send;
    /// Forgets tokens that expired before `expired_before` (Unix seconds), and
    /// leases and holds whose deadline passed before `now_ms` (a hold's uses
    /// stay spent); returns how many.
    fn prune(&self, expired_before: u64, now_ms: u64) -> impl Future<Output = Result<u64, UsageError>> + Send;
    /// Records a revocation durably, adds it to this agent's memory and
    /// tells every other agent on the store.
    fn revoke(&self, revocation: &Revocation) -> impl Future<Output = Result<(), UsageError>> + Send;
    /// Whether a token is revoked, from memory (no I/O).
    fn is_revoked(&self, jti: &str, subject: &str, iat: u64) -> bool;
    /// Whether the feed of other agents' revocations is live (readiness);
    /// `Err` says why not.
    fn revocation_feed(&self) -> Result<(), String> {
        Ok(())
    }
    /// Whether the store answers (readiness).
    fn ping(&self) -> impl Future<Output = Result<(), UsageError>> + Send;
    /// When the store was created (Unix seconds): it knows nothing of uses
    /// before that, so limited tokens issued earlier are refused.
    fn born_at(&self) -> u64;
}

/// One use asked of a limited token.
#[derive(Debug, Clone)]
pub struct UseAsk {
    /// The token's `jti`.
    pub jti: String,
    /// Its `usage_limit`.
    pub limit: u64,
    /// Its `exp` (Unix seconds): the store may forget it after that.
    pub expires_at: u64,
    /// How long the lease holds before its use comes back, in milliseconds.
    pub lease_ms: u64,
}

/// A use held for one request, until confirmed, released or expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The token's `jti`.
    pub jti: String,
    /// Unique within the store.
    pub id: u64,
    /// The token's `exp` (Unix seconds).
    pub expires_at: u64,
    /// After this (Unix milliseconds) the lease can no longer be confirmed.
    pub deadline_ms: u64,
}

/// Uses taken ahead for one agent's next requests of a token
/// ([`UsageStore::take_held`]): spent already, durably, and given back by
/// [`UsageStore::settle`] only if the agent settles before `deadline_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The token's `jti`.
    pub jti: String,
    /// Unique within the store.
    pub id: u64,
    /// How many uses it holds (the asking request's among them).
    pub uses: u64,
    /// After this (Unix milliseconds) its unused uses can no longer come back.
    pub deadline_ms: u64,
}

/// Outcome of [`UsageStore::reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// A use is leased to this request.
    Granted(Lease),
    /// Every use is taken.
    Exhausted,
    /// Every use is taken, but some are held (by this or another agent) and
    /// may come back by `until_ms` (Unix milliseconds).
    HeldElsewhere {
        /// The latest deadline of the token's live holds.
        until_ms: u64,
    },
}

/// Outcome of [`UsageStore::take`] and [`UsageStore::take_held`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// The use is counted, durably: the value may leave.
    Spent,
    /// The uses are counted, durably, and held for this and later requests.
    Held(Hold),
    /// Every use is taken.
    Exhausted,
    /// Every use is taken, but some are held and may come back by
    /// `until_ms` (as [`Reservation::HeldElsewhere`]).
    HeldElsewhere {
        /// The latest deadline of the token's live holds.
        until_ms: u64,
    },
}

/// The store failed; a limited token must not be served. Backend-neutral:
/// the backend's own error is only the source.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// The backend refused or did not answer.
    #[error("failed to reach the usage store")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The lease's deadline passed before the confirm.
    #[error("the lease on the use expired before it was confirmed")]
    LeaseExpired,
    /// The store is not one of ours (another application's data).
    #[error("the file is not a vanta-agent usage store")]
    Foreign,
    /// The store failed its integrity check.
    #[error("the usage store failed its integrity check")]
    Corrupt,
    /// The store's worker has stopped.
    #[error("the usage store has stopped")]
    Stopped,
    /// Redis may evict keys under memory pressure (`maxmemory` set, with
    /// this `maxmemory-policy`): counts and revocations could vanish unseen.
    #[error(
        "the Redis usage store may evict keys (maxmemory-policy {0}): use counts and revocations could be lost; set maxmemory-policy noeviction"
    )]
    MayEvict(String),
    /// A sync of the SQLite store's log failed: no use is durable until the
    /// agent restarts. Holds the reason confirms fail with.
    #[error("{0}")]
    Unsynced(String),
}

/// The backend chosen at start-up, with the metrics every backend shares.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    metrics: StoreMetrics,
    /// Uses held ahead for tokens in heavy use; `None` when each use is
    /// taken on its own (`--usage-hold-max 1`).
    held: Option<std::sync::Arc<held::HeldUses>>,
}

#[derive(Clone)]
enum Backend {
    /// One SQLite file on this host.
    Sqlite(SqliteStore),
    /// A Redis shared by a fleet.
    Redis(RedisStore),
}

/// What `/metrics` shows of the store: failed operations and the latency of
/// every operation (`app` registers them).
#[derive(Clone)]
pub struct StoreMetrics {
    /// Operations that failed (the store did not answer or refused).
    pub errors: Counter,
    /// Seconds per operation, queueing and commit included.
    pub latency: Histogram,
}

/// Resolves when the store's worker has closed its connection (shutdown).
pub struct StoreTask(Option<tokio::sync::oneshot::Receiver<()>>);

// === impl UsageError ===

impl UsageError {
    fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(err))
    }
}

// === impl StoreTask ===

impl StoreTask {
    /// Waits until the store's connection is closed.
    pub async fn closed(self) {
        if let Some(closed) = self.0 {
            let _ = closed.await;
        }
    }
}

// === impl StoreMetrics ===

impl StoreMetrics {
    fn new() -> Self {
        // 20 µs .. ~1.2 s: a lease without fsync at the bottom, a hung store at the top.
        Self { errors: Counter::default(), latency: Histogram::new(exponential_buckets(0.000_02, 3.0, 11)) }
    }
}

// === impl Store ===

impl Store {
    /// Opens the SQLite store at `path` (see [`SqliteStore::open`]).
    ///
    /// # Errors
    /// [`UsageError`] if it cannot be opened, is corrupt, or is not ours.
    pub fn open_sqlite(path: &Path) -> Result<(Self, StoreTask), UsageError> {
        let (store, task) = SqliteStore::open(path)?;
        Ok((Self { backend: Backend::Sqlite(store), metrics: StoreMetrics::new(), held: None }, task))
    }

    /// Connects to Redis (see [`RedisStore::open`]).
    ///
    /// # Errors
    /// [`UsageError`] if the URL is bad or Redis does not answer in time.
    pub async fn open_redis(target: RedisTarget) -> Result<(Self, StoreTask), UsageError> {
        let store = RedisStore::open(target).await?;
        Ok((Self { backend: Backend::Redis(store), metrics: StoreMetrics::new(), held: None }, StoreTask(None)))
    }

    /// Takes up to `most` uses at once for a token in heavy use and serves
    /// them from memory (see `usage/held.rs`); 1 takes each use on its own.
    #[must_use]
    pub fn holding_at_most(mut self, most: u64) -> Self {
        self.held = (most > 1).then(|| std::sync::Arc::new(held::HeldUses::new(most)));
        self
    }

    /// Whether the store was created by this start (it knows no earlier use).
    pub fn is_new(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(s) => s.is_new(),
            Backend::Redis(s) => s.is_new(),
        }
    }

    /// The store's error count and latency, for `/metrics`.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// Runs one operation, counting its time and whether it failed.
    async fn measured<T>(&self, op: impl Future<Output = Result<T, UsageError>>) -> Result<T, UsageError> {
        let started = Instant::now();
        let result = op.await;
        self.metrics.latency.observe(started.elapsed().as_secs_f64());
        if result.is_err() {
            self.metrics.errors.inc();
        }
        result
    }
}

impl UsageStore for Store {
    /// Waits while the uses are held elsewhere (see `usage/held.rs`); `now_ms`
    /// is read again for each ask.
    async fn reserve(&self, ask: &UseAsk, now_ms: u64) -> Result<Reservation, UsageError> {
        self.waiting_for_holds(now_ms, |now_ms| async move {
            match &self.backend {
                Backend::Sqlite(s) => self.measured(s.reserve(ask, now_ms)).await,
                Backend::Redis(s) => self.measured(s.reserve(ask, now_ms)).await,
            }
        })
        .await
    }

    async fn confirm(&self, lease: &Lease, now_ms: u64) -> Result<(), UsageError> {
        match &self.backend {
            Backend::Sqlite(s) => self.measured(s.confirm(lease, now_ms)).await,
            Backend::Redis(s) => self.measured(s.confirm(lease, now_ms)).await,
        }
    }

    /// From this agent's hold when it has one (see `usage/held.rs`), else
    /// from the store, waiting while the uses are held elsewhere.
    async fn take(&self, ask: &UseAsk, now_ms: u64) -> Result<Taken, UsageError> {
        if let Some(held) = &self.held {
            return self.take_with_holds(held, ask).await;
        }
        self.waiting_for_holds(now_ms, |now_ms| async move {
            match &self.backend {
                Backend::Sqlite(s) => self.measured(s.take(ask, now_ms)).await,
                Backend::Redis(s) => self.measured(s.take(ask, now_ms)).await,
            }
        })
        .await
    }

    async fn take_held(&self, ask: &UseAsk, want: u64, hold_ms: u64, now_ms: u64) -> Result<Taken, UsageError> {
        match &self.backend {
            Backend::Sqlite(s) => self.measured(s.take_held(ask, want, hold_ms, now_ms)).await,
            Backend::Redis(s) => self.measured(s.take_held(ask, want, hold_ms, now_ms)).await,
        }
    }

    async fn settle(&self, hold: &Hold, unused: u64, now_ms: u64) -> Result<(), UsageError> {
        match &self.backend {
            Backend::Sqlite(s) => self.measured(s.settle(hold, unused, now_ms)).await,
            Backend::Redis(s) => self.measured(s.settle(hold, unused, now_ms)).await,
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), UsageError> {
        match &self.backend {
            Backend::Sqlite(s) => self.measured(s.release(lease)).await,
            Backend::Redis(s) => self.measured(s.release(lease)).await,
        }
    }

    async fn is_used_up(&self, jti: &str, limit: u64) -> Result<bool, UsageError> {
        match &self.backend {
            Backend::Sqlite(s) => self.measured(s.is_used_up(jti, limit)).await,
            Backend::Redis(s) => self.measured(s.is_used_up(jti, limit)).await,
        }
    }

    async fn prune(&self, expired_before: u64, now_ms: u64) -> Result<u64, UsageError> {
        match &self.backend {
            Backend::Sqlite(s) => self.measured(s.prune(expired_before, now_ms)).await,
            Backend::Redis(s) => self.measured(s.prune(expired_before, now_ms)).await,
        }
    }

    async fn revoke(&self, revocation: &Revocation) -> Result<(), UsageError> {
        match &self.backend {
            Backend::Sqlite(s) => self.measured(s.revoke(revocation)).await,
            Backend::Redis(s) => self.measured(s.revoke(revocation)).await,
        }
    }

    fn is_revoked(&self, jti: &str, subject: &str, iat: u64) -> bool {
        match &self.backend {
            Backend::Sqlite(s) => s.is_revoked(jti, subject, iat),
            Backend::Redis(s) => s.is_revoked(jti, subject, iat),
        }
    }

    fn revocation_feed(&self) -> Result<(), String> {
        match &self.backend {
            Backend::Sqlite(s) => s.revocation_feed(),
            Backend::Redis(s) => s.revocation_feed(),
        }
    }

    async fn ping(&self) -> Result<(), UsageError> {
        match &self.backend {
            Backend::Sqlite(s) => self.measured(s.ping()).await,
            Backend::Redis(s) => self.measured(s.ping()).await,
        }
    }

    fn born_at(&self) -> u64 {
        match &self.backend {
            Backend::Sqlite(s) => s.born_at(),
            Backend::Redis(s) => s.born_at(),
        }
    }
}

/// `at` in Unix milliseconds (lease and hold deadlines).
fn unix_ms(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod test_redis;

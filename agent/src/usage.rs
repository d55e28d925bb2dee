//! Durable use counting for tokens with a `usage_limit` (layer L1).
//!
//! A fetch first reserves a use, then confirms it (durably) before its 200
//! leaves, or releases it on failure. The database is the source of truth, so
//! N allowed uses are N successful fetches across concurrency, crashes and
//! restarts. Reservations left by a crash are cleared at open: no 200 was
//! sent for them, because a use is confirmed before the response.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Counts uses per `jti`. Behind a trait so a shared multi-host backend can
/// replace SQLite without touching the use cases.
pub trait UsageStore: Send + Sync + 'static {
    /// Takes one use of `jti` if fewer than `limit` are used or in flight.
    /// `expires_at` (Unix seconds) lets the store forget the token later.
    fn reserve(
        &self,
        jti: &str,
        limit: u64,
        expires_at: u64,
    ) -> impl Future<Output = Result<Reserved, UsageError>> + Send;
    /// Turns a reservation into a use.
    fn confirm(&self, jti: &str) -> impl Future<Output = Result<(), UsageError>> + Send;
    /// Gives a reservation back (the fetch failed).
    fn release(&self, jti: &str) -> impl Future<Output = Result<(), UsageError>> + Send;
    /// Whether every one of `limit` uses of `jti` is confirmed (the token is
    /// used up, for requests that are not themselves a use, like listing).
    fn is_used_up(&self, jti: &str, limit: u64) -> impl Future<Output = Result<bool, UsageError>> + Send;
    /// Whether the store answers (readiness).
    fn ping(&self) -> impl Future<Output = Result<(), UsageError>> + Send;
}

/// Outcome of [`UsageStore::reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// A use is held for this request.
    Yes,
    /// Every use is taken.
    Exhausted,
}

/// The store failed; the request must not be served.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// SQLite refused.
    #[error("failed to update the usage store")]
    Db(#[from] rusqlite::Error),
    /// The blocking task died.
    #[error("failed to run the usage store task")]
    Task(#[from] tokio::task::JoinError),
    /// The file is a database of another application (or an unknown version).
    #[error("the file is not a vanta-agent usage store")]
    Foreign,
    /// A lock was poisoned by a panic elsewhere.
    #[error("the usage store is unusable after an earlier failure")]
    Poisoned,
}

/// SQLite-backed [`UsageStore`] (WAL, `synchronous=FULL`).
#[derive(Clone)]
pub struct SqliteUsageStore {
    conn: Arc<Mutex<Connection>>,
}

/// `PRAGMA application_id` of our stores ("VNTA"): marks the file as ours.
const APPLICATION_ID: i64 = 0x564e_5441;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS token_uses (
        jti        TEXT PRIMARY KEY NOT NULL,
        used       INTEGER NOT NULL DEFAULT 0,
        reserved   INTEGER NOT NULL DEFAULT 0,
        expires_at INTEGER NOT NULL
    ) STRICT;
    UPDATE token_uses SET reserved = 0 WHERE reserved != 0;
";

// === impl SqliteUsageStore ===

impl SqliteUsageStore {
    /// Opens (or creates) the store at `path` and checks it is a healthy
    /// database of ours, so a corrupt or foreign file stops start-up instead
    /// of resetting counts or being written into.
    ///
    /// # Errors
    /// [`UsageError`] if it cannot be opened, is corrupt, or is not ours.
    pub fn open(path: &Path) -> Result<Self, UsageError> {
        let conn = Connection::open(path)?;
        claim_or_check_ownership(&conn)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
        if check != "ok" {
            return Err(UsageError::Db(rusqlite::Error::InvalidQuery));
        }
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// A store that lives in memory (unit tests).
    ///
    /// # Errors
    /// [`rusqlite::Error`] if SQLite cannot start.
    pub fn in_memory() -> Result<Self, rusqlite::Error> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Forgets tokens that expired before `before` (Unix seconds).
    ///
    /// # Errors
    /// [`UsageError`] if the delete fails.
    pub async fn prune(&self, before: u64) -> Result<usize, UsageError> {
        self.with_conn(move |conn| conn.execute("DELETE FROM token_uses WHERE expires_at < ?1", params![before])).await
    }

    async fn with_conn<T, F>(&self, f: F) -> Result<T, UsageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| UsageError::Poisoned)?;
            f(&mut guard).map_err(UsageError::from)
        })
        .await?
    }
}

/// Marks a new, empty database as ours; refuses one that belongs to someone
/// else (another application id, or tables of its own without ours).
fn claim_or_check_ownership(conn: &Connection) -> Result<(), UsageError> {
    let id: i64 = conn.query_row("PRAGMA application_id", [], |row| row.get(0))?;
    if id == APPLICATION_ID {
        return Ok(());
    }
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
    if id != 0 || tables != 0 {
        return Err(UsageError::Foreign);
    }
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    Ok(())
}

fn reserve_in(conn: &mut Connection, jti: &str, limit: u64, expires_at: u64) -> rusqlite::Result<Reserved> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let taken: Option<u64> = tx
        .query_row("SELECT used + reserved FROM token_uses WHERE jti = ?1", params![jti], |row| row.get(0))
        .optional()?;
    if taken.unwrap_or(0) >= limit {
        return Ok(Reserved::Exhausted);
    }
    tx.execute(
        "INSERT INTO token_uses (jti, reserved, expires_at) VALUES (?1, 1, ?2)
         ON CONFLICT (jti) DO UPDATE SET reserved = reserved + 1",
        params![jti, expires_at],
    )?;
    tx.commit()?;
    Ok(Reserved::Yes)
}

impl UsageStore for SqliteUsageStore {
    async fn reserve(&self, jti: &str, limit: u64, expires_at: u64) -> Result<Reserved, UsageError> {
        let jti = jti.to_owned();
        self.with_conn(move |conn| reserve_in(conn, &jti, limit, expires_at)).await
    }

    async fn confirm(&self, jti: &str) -> Result<(), UsageError> {
        let jti = jti.to_owned();
        let sql = "UPDATE token_uses SET used = used + 1, reserved = reserved - 1 WHERE jti = ?1 AND reserved > 0";
        self.with_conn(move |conn| conn.execute(sql, params![jti]).map(drop)).await
    }

    async fn release(&self, jti: &str) -> Result<(), UsageError> {
        let jti = jti.to_owned();
        let sql = "UPDATE token_uses SET reserved = reserved - 1 WHERE jti = ?1 AND reserved > 0";
        self.with_conn(move |conn| conn.execute(sql, params![jti]).map(drop)).await
    }

    async fn ping(&self) -> Result<(), UsageError> {
        self.with_conn(|conn| conn.query_row("SELECT count(*) FROM token_uses", [], |_| Ok(()))).await
    }

    async fn is_used_up(&self, jti: &str, limit: u64) -> Result<bool, UsageError> {
        let jti = jti.to_owned();
        let sql = "SELECT used FROM token_uses WHERE jti = ?1";
        let used: Option<u64> =
            self.with_conn(move |conn| conn.query_row(sql, params![jti], |row| row.get(0)).optional()).await?;
        Ok(used.unwrap_or(0) >= limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exactly_limit_uses_and_releases_come_back() {
        let store = SqliteUsageStore::in_memory().expect("store");
        assert_eq!(store.reserve("a", 2, 100).await.expect("r1"), Reserved::Yes);
        assert_eq!(store.reserve("a", 2, 100).await.expect("r2"), Reserved::Yes);
        assert_eq!(store.reserve("a", 2, 100).await.expect("r3"), Reserved::Exhausted);
        store.release("a").await.expect("release");
        assert_eq!(store.reserve("a", 2, 100).await.expect("r4"), Reserved::Yes);
        store.confirm("a").await.expect("c1");
        assert!(!store.is_used_up("a", 2).await.expect("check"));
        store.confirm("a").await.expect("c2");
        assert!(store.is_used_up("a", 2).await.expect("check"));
        assert!(!store.is_used_up("never-seen", 1).await.expect("check"));
        store.ping().await.expect("ping");
        assert_eq!(store.reserve("a", 2, 100).await.expect("r5"), Reserved::Exhausted);
        assert_eq!(store.reserve("b", 1, 100).await.expect("other jti"), Reserved::Yes);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reservations_never_exceed_the_limit() {
        let store = SqliteUsageStore::in_memory().expect("store");
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.reserve("j", 7, 100).await.expect("reserve") })
            })
            .collect();
        let mut granted = 0;
        for task in tasks {
            granted += usize::from(task.await.expect("join") == Reserved::Yes);
        }
        assert_eq!(granted, 7);
    }

    #[tokio::test]
    async fn survives_reopen_and_clears_stale_reservations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("usage.db");
        {
            let store = SqliteUsageStore::open(&path).expect("open");
            store.reserve("j", 2, 100).await.expect("r");
            store.confirm("j").await.expect("c");
            store.reserve("j", 2, 100).await.expect("in flight at the crash");
        }
        let store = SqliteUsageStore::open(&path).expect("reopen");
        assert_eq!(store.reserve("j", 2, 100).await.expect("r"), Reserved::Yes);
        assert_eq!(store.reserve("j", 2, 100).await.expect("r"), Reserved::Exhausted);
        assert_eq!(store.prune(101).await.expect("prune"), 1);
    }

    #[test]
    fn another_applications_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("photos.db");
        let other = Connection::open(&path).expect("create");
        other.execute_batch("CREATE TABLE photos (id INTEGER); INSERT INTO photos VALUES (1);").expect("fill");
        drop(other);
        assert!(matches!(SqliteUsageStore::open(&path), Err(UsageError::Foreign)));
        let other = Connection::open(&path).expect("reopen");
        let tables: i64 = other.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).expect("count");
        assert_eq!(tables, 1, "nothing was added");
    }

    #[test]
    fn a_corrupt_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("usage.db");
        std::fs::write(&path, b"this is not a database, it is a text file that is long enough").expect("write");
        assert!(SqliteUsageStore::open(&path).is_err());
    }
}

//! The SQLite backend of the usage store (layer L1, part of [`crate::usage`]).
//!
//! One file in WAL mode, owned by one worker thread (`sqlite/writer.rs`) that
//! commits every operation queued while the previous commit ran in one
//! transaction (group commit), without an fsync; a second thread
//! (`sqlite/wal_sync.rs`) syncs the log for every confirm or take waiting
//! (one fsync serves them all) while the worker goes on. Leases need no fsync: a lease
//! lost to a power cut had no value sent for it. The file records when
//! it was born, so a lost or replaced file cannot give used-up tokens back.
//! After a failed sync every use is refused until a restart, and the ping
//! (readiness) fails with the same reason.

mod wal_sync;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use self::wal_sync::{SyncFailure, WalSync};
use self::writer::{Op, Reply};
use super::{Hold, Lease, Reservation, Revocation, Revoked, StoreTask, Taken, UsageError, UsageStore, UseAsk};

/// SQLite-backed [`UsageStore`]: cheap to clone, all clones share the worker.
#[derive(Clone)]
pub struct SqliteStore {
    ops: mpsc::UnboundedSender<Op>,
    born_at: u64,
    is_new: bool,
    revoked: Arc<Revoked>,
    /// Set once a sync of the log failed (a store in memory never syncs).
    sync_failure: SyncFailure,
}

/// `PRAGMA application_id` of our stores ("VNTA"): marks the file as ours.
const APPLICATION_ID: i64 = 0x564e_5441;

/// `reserved` is a column of the first release's stores, no longer used.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS token_uses (
        jti        TEXT PRIMARY KEY NOT NULL,
        used       INTEGER NOT NULL DEFAULT 0,
        reserved   INTEGER NOT NULL DEFAULT 0,
        expires_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS leases (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        jti         TEXT NOT NULL,
        deadline_ms INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS leases_by_jti ON leases (jti);
    CREATE TABLE IF NOT EXISTS holds (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        jti         TEXT NOT NULL,
        uses        INTEGER NOT NULL,
        deadline_ms INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS holds_by_jti ON holds (jti);
    CREATE TABLE IF NOT EXISTS revocations (
        member     TEXT PRIMARY KEY NOT NULL,
        keep_until INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS store_meta (
        name  TEXT PRIMARY KEY NOT NULL,
        value INTEGER NOT NULL
    ) STRICT;
";

// === impl SqliteStore ===

impl SqliteStore {
    /// Opens (or creates) the store at `path` and checks it is a healthy
    /// database of ours, so a corrupt or foreign file stops start-up instead
    /// of resetting counts or being written into.
    ///
    /// # Errors
    /// [`UsageError`] if it cannot be opened, is corrupt, or is not ours.
    pub fn open(path: &Path) -> Result<(Self, StoreTask), UsageError> {
        let mut conn = Connection::open(path)?;
        claim_or_check_ownership(&conn)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let check: String =
            conn.query_row("PRAGMA quick_check", [], |row| row.get(0)).map_err(|_| UsageError::Corrupt)?;
        if check != "ok" {
            return Err(UsageError::Corrupt);
        }
        let (born_at, is_new) = Self::start(&mut conn)?;
        // The log exists once a transaction has run (`start`); its sync is
        // what makes a confirm durable. It lies beside the file SQLite
        // opened, which is where a symbolic link at `path` leads.
        let mut wal_path = std::ffi::OsString::from(conn.path().unwrap_or_default());
        if wal_path.is_empty() {
            wal_path = path.as_os_str().to_owned();
        }
        wal_path.push("-wal");
        let wal = std::fs::File::open(&wal_path).map_err(UsageError::backend)?;
        let sync = WalSync::start(wal).map_err(UsageError::backend)?;
        Self::spawn(conn, Some(sync), born_at, is_new)
    }

    /// A store that lives in memory (tests).
    ///
    /// # Errors
    /// [`UsageError`] if SQLite cannot start.
    pub fn in_memory() -> Result<(Self, StoreTask), UsageError> {
        let mut conn = Connection::open_in_memory()?;
        Self::start(&mut conn).and_then(|(born_at, is_new)| Self::spawn(conn, None, born_at, is_new))
    }

    /// Whether this open created the store (it knows no earlier use).
    pub fn is_new(&self) -> bool {
        self.is_new
    }

    /// Creates the tables and reads (or, for a new store, writes) the birth
    /// time, in one durable transaction.
    fn start(conn: &mut Connection) -> Result<(u64, bool), UsageError> {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        let recorded: Option<u64> =
            tx.query_row("SELECT value FROM store_meta WHERE name = 'born_at'", [], |row| row.get(0)).optional()?;
        let birth = match recorded {
            Some(born_at) => (born_at, false),
            None => {
                // A store of the first release (uses, no birth time) knows
                // every use it ever confirmed: born at the epoch.
                let has_uses: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM token_uses)", [], |row| row.get(0))?;
                let born_at = if has_uses { 0 } else { unix_secs(SystemTime::now()) };
                tx.execute("INSERT INTO store_meta (name, value) VALUES ('born_at', ?1)", [born_at])?;
                (born_at, !has_uses)
            }
        };
        tx.commit()?;
        Ok(birth)
    }

    fn spawn(
        conn: Connection,
        sync: Option<WalSync>,
        born_at: u64,
        is_new: bool,
    ) -> Result<(Self, StoreTask), UsageError> {
        let revoked = Arc::new(Revoked::default());
        let now = unix_secs(SystemTime::now());
        revoked.add(load_revocations(&conn, now)?, now);
        let sync_failure = sync.as_ref().map(WalSync::failure).unwrap_or_default();
        let (ops, queue) = mpsc::unbounded_channel();
        let (done, closed) = oneshot::channel();
        std::thread::Builder::new()
            .name("vanta-usage".to_owned())
            .spawn(move || writer::run(conn, queue, sync, done))
            .map_err(UsageError::backend)?;
        Ok((Self { ops, born_at, is_new, revoked, sync_failure }, StoreTask(Some(closed))))
    }

    /// Queues one operation and waits for the commit that carries it.
    async fn call<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T, UsageError> {
        let (reply, answer) = oneshot::channel();
        self.ops.send(op(reply)).map_err(|_| UsageError::Stopped)?;
        answer.await.map_err(|_| UsageError::Stopped)?
    }
}

/// Marks a new, empty database as ours; refuses one that belongs to someone
/// else (another application id, or tables of its own without ours).
fn claim_or_check_ownership(conn: &Connection) -> Result<(), UsageError> {
    let id: i64 = conn.query_row("PRAGMA application_id", [], |row| row.get(0)).map_err(|_| UsageError::Corrupt)?;
    if id == APPLICATION_ID {
        return Ok(());
    }
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
    if id != 0 || tables != 0 {
        return Err(UsageError::Foreign);
    }
    conn.pragma_update(None, "application_id", APPLICATION_ID).map_err(UsageError::backend)
}

/// Every revocation still kept at `now` (Unix seconds).
fn load_revocations(conn: &Connection, now: u64) -> Result<Vec<Revocation>, UsageError> {
    let mut select = conn.prepare("SELECT member, keep_until FROM revocations WHERE keep_until >= ?1")?;
    let rows = select.query_map([now], |row| Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?)))?;
    let mut revocations = Vec::new();
    for row in rows {
        let (member, keep_until) = row?;
        revocations.extend(Revocation::from_member(&member, keep_until));
    }
    Ok(revocations)
}

impl From<rusqlite::Error> for UsageError {
    fn from(err: rusqlite::Error) -> Self {
        Self::backend(err)
    }
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl UsageStore for SqliteStore {
    async fn reserve(&self, ask: &UseAsk, now_ms: u64) -> Result<Reservation, UsageError> {
        self.call(|reply| Op::Reserve(ask.clone(), now_ms, reply)).await
    }

    async fn confirm(&self, lease: &Lease, now_ms: u64) -> Result<(), UsageError> {
        self.call(|reply| Op::Confirm(lease.clone(), now_ms, reply)).await
    }

    async fn take(&self, ask: &UseAsk, now_ms: u64) -> Result<Taken, UsageError> {
        self.call(|reply| Op::Take(ask.clone(), now_ms, reply)).await
    }

    async fn take_held(&self, ask: &UseAsk, want: u64, hold_ms: u64, now_ms: u64) -> Result<Taken, UsageError> {
        self.call(|reply| Op::TakeHeld(ask.clone(), want, hold_ms, now_ms, reply)).await
    }

    async fn settle(&self, hold: &Hold, unused: u64, now_ms: u64) -> Result<(), UsageError> {
        self.call(|reply| Op::Settle(hold.clone(), unused, now_ms, reply)).await
    }

    async fn release(&self, lease: &Lease) -> Result<(), UsageError> {
        self.call(|reply| Op::Release(lease.clone(), reply)).await
    }

    async fn is_used_up(&self, jti: &str, limit: u64) -> Result<bool, UsageError> {
        let now_ms = super::unix_ms(SystemTime::now());
        self.call(|reply| Op::UsedUp(jti.to_owned(), limit, now_ms, reply)).await
    }

    async fn revoke(&self, revocation: &Revocation) -> Result<(), UsageError> {
        self.call(|reply| Op::Revoke(revocation.clone(), reply)).await?;
        self.revoked.add_own(revocation.clone());
        Ok(())
    }

    fn is_revoked(&self, jti: &str, subject: &str, iat: u64) -> bool {
        self.revoked.contains(jti, subject, iat)
    }

    async fn prune(&self, expired_before: u64, now_ms: u64) -> Result<u64, UsageError> {
        self.revoked.prune(now_ms / 1_000);
        self.call(|reply| Op::Prune(expired_before, now_ms, reply)).await
    }

    async fn ping(&self) -> Result<(), UsageError> {
        if let Some(why) = self.sync_failure.get() {
            return Err(UsageError::Unsynced(why.clone()));
        }
        self.call(Op::Ping).await
    }

    fn born_at(&self) -> u64 {
        self.born_at
    }
}

#[cfg(test)]
impl SqliteStore {
    /// Fails a sync of the log as a disk would (`EIO`), through the same
    /// health the sync thread keeps (tests: a real fsync failure needs a
    /// failing disk).
    pub(crate) fn fail_a_sync(&self) {
        let mut health = wal_sync::SyncHealth::publishing_to(self.sync_failure.clone());
        health.after(Err(std::io::Error::from_raw_os_error(5)));
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[tokio::test]
    async fn survives_reopen_keeps_leases_and_its_birth_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("usage.db");
        let ask = UseAsk { jti: "j".into(), limit: 2, expires_at: 100, lease_ms: 1_000 };
        let born_at = {
            let (store, task) = SqliteStore::open(&path).expect("open");
            assert!(store.is_new());
            let Reservation::Granted(lease) = store.reserve(&ask, 0).await.expect("r") else { panic!("granted") };
            store.confirm(&lease, 1).await.expect("c");
            store.reserve(&ask, 2).await.expect("in flight at the crash");
            let revocation = super::super::Revocation {
                target: super::super::RevokedTarget::Jti("leaked".into()),
                keep_until: unix_secs(SystemTime::now()) + 60,
            };
            store.revoke(&revocation).await.expect("revoke");
            let born_at = store.born_at();
            drop(store);
            task.closed().await;
            born_at
        };
        let (store, _task) = SqliteStore::open(&path).expect("reopen");
        assert!(!store.is_new());
        assert_eq!(store.born_at(), born_at);
        assert!(store.is_revoked("leaked", "anyone", 0), "revocations survive a restart");
        assert_eq!(store.reserve(&ask, 3).await.expect("r"), Reservation::Exhausted, "the lease is kept");
        assert!(matches!(store.reserve(&ask, 2_000).await.expect("r"), Reservation::Granted(_)), "until it expires");
    }

    #[tokio::test]
    async fn a_confirm_or_take_is_answered_only_after_its_log_is_synced() {
        // /dev/null cannot be synced (EINVAL): a confirm or a take must
        // fail, not succeed before its sync; leases need none.
        let mut conn = Connection::open_in_memory().expect("db");
        let (born_at, is_new) = SqliteStore::start(&mut conn).expect("schema");
        let sync = WalSync::start(std::fs::File::open("/dev/null").expect("/dev/null")).expect("sync thread");
        let (store, _task) = SqliteStore::spawn(conn, Some(sync), born_at, is_new).expect("store");
        let ask = UseAsk { jti: "j".into(), limit: 1, expires_at: 100, lease_ms: 1_000 };
        let Reservation::Granted(lease) = store.reserve(&ask, 0).await.expect("r") else { panic!("granted") };
        let err = store.confirm(&lease, 1).await.expect_err("the sync failed");
        assert!(err.source().is_some_and(|e| e.to_string().contains("failed to sync")), "{err:?}");
        let other = UseAsk { jti: "k".into(), ..ask };
        let err = store.take(&other, 2).await.expect_err("the sync failed");
        assert!(err.source().is_some_and(|e| e.to_string().contains("failed to sync")), "{err:?}");
    }

    #[test]
    fn another_applications_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("photos.db");
        let other = Connection::open(&path).expect("create");
        other.execute_batch("CREATE TABLE photos (id INTEGER); INSERT INTO photos VALUES (1);").expect("fill");
        drop(other);
        assert!(matches!(SqliteStore::open(&path), Err(UsageError::Foreign)));
        let other = Connection::open(&path).expect("reopen");
        let tables: i64 = other.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).expect("count");
        assert_eq!(tables, 1, "nothing was added");
    }

    #[tokio::test]
    async fn a_state_path_that_is_a_symbolic_link_syncs_the_log_beside_its_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("real")).expect("dir");
        let link = dir.path().join("usage.db");
        std::os::unix::fs::symlink(dir.path().join("real/usage.db"), &link).expect("link");
        let (store, _task) = SqliteStore::open(&link).expect("open through the link");
        assert!(dir.path().join("real/usage.db-wal").exists(), "SQLite logs beside the target");
        let ask = UseAsk { jti: "j".into(), limit: 1, expires_at: u64::MAX / 2_000, lease_ms: 1_000 };
        assert_eq!(store.take(&ask, 0).await.expect("take"), Taken::Spent);
    }

    #[test]
    fn a_corrupt_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("usage.db");
        std::fs::write(&path, b"this is not a database, it is a text file that is long enough").expect("write");
        assert!(SqliteStore::open(&path).is_err());
    }

    #[test]
    fn a_store_of_the_first_release_is_adopted_as_born_at_the_epoch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("usage.db");
        let old = Connection::open(&path).expect("create");
        old.pragma_update(None, "application_id", APPLICATION_ID).expect("id");
        old.execute_batch(
            "CREATE TABLE token_uses (jti TEXT PRIMARY KEY NOT NULL, used INTEGER NOT NULL DEFAULT 0,
             reserved INTEGER NOT NULL DEFAULT 0, expires_at INTEGER NOT NULL) STRICT;
             INSERT INTO token_uses VALUES ('old', 1, 1, 99);",
        )
        .expect("fill");
        drop(old);
        let (store, _task) = SqliteStore::open(&path).expect("open");
        assert_eq!((store.born_at(), store.is_new()), (0, false));
    }
}

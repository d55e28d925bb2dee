//! The SQLite store's worker thread: group commit (layer L1, part of
//! [`crate::usage`]).
//!
//! It takes every operation queued while its previous commit ran, applies
//! them in one transaction (`synchronous=NORMAL`: in the log, which survives
//! a crash of the agent but not of the machine) and answers each after that
//! commit; confirms and takes only once `sqlite/wal_sync.rs` has synced the log (the
//! fsync that makes a use durable before its value leaves). The rule in the
//! operator guide says why leases need no fsync.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::wal_sync::WalSync;
use crate::usage::{Hold, Lease, Reservation, Revocation, Taken, UsageError, UseAsk};

/// Where an operation's answer goes.
pub(super) type Reply<T> = oneshot::Sender<Result<T, UsageError>>;

/// One queued operation and its reply.
pub(super) enum Op {
    Reserve(UseAsk, u64, Reply<Reservation>),
    Confirm(Lease, u64, Reply<()>),
    Take(UseAsk, u64, Reply<Taken>),
    TakeHeld(UseAsk, u64, u64, u64, Reply<Taken>),
    Settle(Hold, u64, u64, Reply<()>),
    Release(Lease, Reply<()>),
    UsedUp(String, u64, u64, Reply<bool>),
    Prune(u64, u64, Reply<u64>),
    Revoke(Revocation, Reply<()>),
    Ping(Reply<()>),
}

/// Sends an operation's answer once its commit is known (`Some` = failed).
pub(super) type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

/// The most operations one transaction carries.
const MAX_BATCH: usize = 1024;

/// The commit itself failed: every operation of the batch failed.
#[derive(Debug, thiserror::Error)]
#[error("failed to commit to the usage store: {0}")]
struct CommitFailed(String);

/// Serves operations until every sender is gone, then closes the database
/// (checkpointing its WAL) and signals `done`. Without `sync` (a store in
/// memory) confirms are answered at commit.
pub(super) fn run(
    mut conn: Connection,
    mut queue: mpsc::UnboundedReceiver<Op>,
    sync: Option<WalSync>,
    done: oneshot::Sender<()>,
) {
    if let Err(err) = conn.pragma_update(None, "synchronous", "NORMAL") {
        tracing::warn!(error = %err, "failed to set synchronous=NORMAL; every commit syncs");
    }
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        commit_batch(&mut conn, batch, sync.as_ref());
    }
    if let Some(sync) = sync {
        sync.finish();
    }
    if let Err((_, err)) = conn.close() {
        tracing::warn!(error = %err, "failed to close the usage store cleanly");
    }
    let _ = done.send(());
}

fn commit_batch(conn: &mut Connection, batch: Vec<Op>, sync: Option<&WalSync>) {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(err) => return fail_all(batch, &err.to_string()),
    };
    let mut durable = Vec::new();
    let mut now = Vec::new();
    for op in batch {
        let needs_sync = matches!(op, Op::Confirm(..) | Op::Take(..) | Op::TakeHeld(..) | Op::Revoke(..));
        let answer = apply(&tx, op);
        if needs_sync && sync.is_some() { durable.push(answer) } else { now.push(answer) }
    }
    let failed = tx.commit().err().map(|err| err.to_string());
    for answer in now {
        answer(failed.as_deref());
    }
    match (failed, sync) {
        (None, Some(sync)) => sync.after_sync(durable),
        (failed, _) => durable.into_iter().for_each(|answer| answer(failed.as_deref())),
    }
}

fn fail_all(batch: Vec<Op>, why: &str) {
    for op in batch {
        let finish = match op {
            Op::Reserve(.., reply) => answer(reply, Err(failed(why))),
            Op::Take(.., reply) | Op::TakeHeld(.., reply) => answer(reply, Err(failed(why))),
            Op::Confirm(.., reply)
            | Op::Settle(.., reply)
            | Op::Release(.., reply)
            | Op::Revoke(.., reply)
            | Op::Ping(reply) => answer(reply, Err(failed(why))),
            Op::UsedUp(.., reply) => answer(reply, Err(failed(why))),
            Op::Prune(.., reply) => answer(reply, Err(failed(why))),
        };
        finish(None);
    }
}

fn failed(why: &str) -> UsageError {
    UsageError::backend(CommitFailed(why.to_owned()))
}

fn answer<T: Send + 'static>(reply: Reply<T>, result: Result<T, UsageError>) -> Answer {
    Box::new(move |commit_failed: Option<&str>| {
        let result = match commit_failed {
            Some(why) => Err(failed(why)),
            None => result,
        };
        // The caller may have gone (request abandoned): nothing to tell.
        let _ = reply.send(result);
    })
}

fn apply(tx: &Transaction<'_>, op: Op) -> Answer {
    match op {
        Op::Reserve(ask, now_ms, reply) => answer(reply, reserve(tx, &ask, now_ms)),
        Op::Confirm(lease, now_ms, reply) => answer(reply, confirm(tx, &lease, now_ms)),
        Op::Take(ask, now_ms, reply) => answer(reply, take(tx, &ask, now_ms)),
        Op::TakeHeld(ask, want, hold_ms, now_ms, reply) => answer(reply, take_held(tx, &ask, want, hold_ms, now_ms)),
        Op::Settle(hold, unused, now_ms, reply) => answer(reply, settle(tx, &hold, unused, now_ms)),
        Op::Release(lease, reply) => answer(reply, release(tx, &lease)),
        Op::UsedUp(jti, limit, now_ms, reply) => answer(reply, is_used_up(tx, &jti, limit, now_ms)),
        Op::Prune(expired_before, now_ms, reply) => answer(reply, prune(tx, expired_before, now_ms)),
        Op::Revoke(revocation, reply) => answer(reply, revoke(tx, &revocation)),
        Op::Ping(reply) => answer(reply, ping(tx)),
    }
}

/// Whether a use of `ask.jti` is free: fewer than its limit confirmed or
/// leased, once its expired leases are reclaimed.
fn has_free_use(tx: &Transaction<'_>, ask: &UseAsk, now_ms: u64) -> Result<bool, UsageError> {
    Ok(free_uses(tx, ask, now_ms)? > 0)
}

/// How many uses of `ask.jti` are neither spent (confirmed, taken or held)
/// nor leased, once its expired leases are reclaimed.
fn free_uses(tx: &Transaction<'_>, ask: &UseAsk, now_ms: u64) -> Result<u64, UsageError> {
    let sql = "DELETE FROM leases WHERE jti = ?1 AND deadline_ms < ?2";
    tx.prepare_cached(sql)?.execute(params![ask.jti, now_ms])?;
    let sql = "SELECT count(*) FROM leases WHERE jti = ?1";
    let leased: u64 = tx.prepare_cached(sql)?.query_row(params![ask.jti], |row| row.get(0))?;
    Ok(ask.limit.saturating_sub(used(tx, &ask.jti)?.saturating_add(leased)))
}

fn reserve(tx: &Transaction<'_>, ask: &UseAsk, now_ms: u64) -> Result<Reservation, UsageError> {
    if !has_free_use(tx, ask, now_ms)? {
        return Ok(match latest_live_hold(tx, &ask.jti, now_ms)? {
            Some(until_ms) => Reservation::HeldElsewhere { until_ms },
            None => Reservation::Exhausted,
        });
    }
    let deadline_ms = now_ms.saturating_add(ask.lease_ms);
    tx.prepare_cached("INSERT INTO leases (jti, deadline_ms) VALUES (?1, ?2)")?
        .execute(params![ask.jti, deadline_ms])?;
    let id = u64::try_from(tx.last_insert_rowid()).map_err(UsageError::backend)?;
    Ok(Reservation::Granted(Lease { jti: ask.jti.clone(), id, expires_at: ask.expires_at, deadline_ms }))
}

fn confirm(tx: &Transaction<'_>, lease: &Lease, now_ms: u64) -> Result<(), UsageError> {
    let sql = "DELETE FROM leases WHERE id = ?1 AND jti = ?2 AND deadline_ms >= ?3";
    if tx.prepare_cached(sql)?.execute(params![lease.id, lease.jti, now_ms])? == 0 {
        // Expired (maybe reclaimed already): its use has come back.
        release(tx, lease)?;
        return Err(UsageError::LeaseExpired);
    }
    count_use(tx, &lease.jti, lease.expires_at)
}

/// Counts a use only if confirmed uses plus live leases stay under the
/// limit. The token's expired leases are deleted first, as a reserve does:
/// a lease this take does not count must not be confirmed afterwards (by a
/// request whose clock read earlier), or one use would count twice.
fn take(tx: &Transaction<'_>, ask: &UseAsk, now_ms: u64) -> Result<Taken, UsageError> {
    let sql = "DELETE FROM leases WHERE jti = ?1 AND deadline_ms < ?2";
    tx.prepare_cached(sql)?.execute(params![ask.jti, now_ms])?;
    let sql = "INSERT INTO token_uses (jti, used, expires_at)
               SELECT ?1, 1, ?2 WHERE (SELECT count(*) FROM leases WHERE jti = ?1 AND deadline_ms >= ?3) < ?4
               ON CONFLICT (jti) DO UPDATE SET used = used + 1
               WHERE used + (SELECT count(*) FROM leases WHERE jti = ?1 AND deadline_ms >= ?3) < ?4";
    // SQLite's integers are i64: a limit beyond (from a token minted
    // elsewhere) is one no count can reach either.
    let limit = i64::try_from(ask.limit).unwrap_or(i64::MAX);
    let counted = tx.prepare_cached(sql)?.execute(params![ask.jti, ask.expires_at, now_ms, limit])?;
    if counted == 1 { Ok(Taken::Spent) } else { refusal(tx, &ask.jti, now_ms) }
}

/// Takes up to `want` uses at once (at most half of the free ones, at least
/// one), held until `now_ms + hold_ms`; one use asked for is simply spent.
fn take_held(tx: &Transaction<'_>, ask: &UseAsk, want: u64, hold_ms: u64, now_ms: u64) -> Result<Taken, UsageError> {
    let free = free_uses(tx, ask, now_ms)?;
    if free == 0 {
        return refusal(tx, &ask.jti, now_ms);
    }
    let uses = want.min(free / 2).max(1);
    count_uses(tx, &ask.jti, ask.expires_at, uses)?;
    if want <= 1 {
        return Ok(Taken::Spent);
    }
    let deadline_ms = now_ms.saturating_add(hold_ms);
    tx.prepare_cached("INSERT INTO holds (jti, uses, deadline_ms) VALUES (?1, ?2, ?3)")?.execute(params![
        ask.jti,
        uses,
        deadline_ms
    ])?;
    let id = u64::try_from(tx.last_insert_rowid()).map_err(UsageError::backend)?;
    Ok(Taken::Held(Hold { jti: ask.jti.clone(), id, uses, deadline_ms }))
}

/// Ends a hold: its unused uses (no more than it holds) come back while it
/// is live; after its deadline they stay spent.
fn settle(tx: &Transaction<'_>, hold: &Hold, unused: u64, now_ms: u64) -> Result<(), UsageError> {
    let sql = "DELETE FROM holds WHERE id = ?1 AND jti = ?2 RETURNING uses, deadline_ms";
    let ended: Option<(u64, u64)> = tx
        .prepare_cached(sql)?
        .query_row(params![hold.id, hold.jti], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    if let Some((held, deadline_ms)) = ended
        && deadline_ms >= now_ms
    {
        let sql = "UPDATE token_uses SET used = max(used - ?2, 0) WHERE jti = ?1";
        tx.prepare_cached(sql)?.execute(params![hold.jti, unused.min(held)])?;
    }
    Ok(())
}

/// A refused use: `HeldElsewhere` while the token has a live hold (its uses
/// may come back), else `Exhausted`.
fn refusal(tx: &Transaction<'_>, jti: &str, now_ms: u64) -> Result<Taken, UsageError> {
    Ok(match latest_live_hold(tx, jti, now_ms)? {
        Some(until_ms) => Taken::HeldElsewhere { until_ms },
        None => Taken::Exhausted,
    })
}

/// The latest deadline of `jti`'s holds that are live at `now_ms`.
fn latest_live_hold(tx: &Transaction<'_>, jti: &str, now_ms: u64) -> Result<Option<u64>, UsageError> {
    let sql = "SELECT max(deadline_ms) FROM holds WHERE jti = ?1 AND deadline_ms >= ?2";
    Ok(tx.prepare_cached(sql)?.query_row(params![jti, now_ms], |row| row.get(0))?)
}

/// Whether every use is spent, not counting the uses of live holds (they
/// may come back).
fn is_used_up(tx: &Transaction<'_>, jti: &str, limit: u64, now_ms: u64) -> Result<bool, UsageError> {
    let sql = "SELECT coalesce(sum(uses), 0) FROM holds WHERE jti = ?1 AND deadline_ms >= ?2";
    let held: u64 = tx.prepare_cached(sql)?.query_row(params![jti, now_ms], |row| row.get(0))?;
    Ok(used(tx, jti)?.saturating_sub(held) >= limit)
}

fn count_use(tx: &Transaction<'_>, jti: &str, expires_at: u64) -> Result<(), UsageError> {
    count_uses(tx, jti, expires_at, 1)
}

fn count_uses(tx: &Transaction<'_>, jti: &str, expires_at: u64, uses: u64) -> Result<(), UsageError> {
    let sql = "INSERT INTO token_uses (jti, used, expires_at) VALUES (?1, ?3, ?2)
               ON CONFLICT (jti) DO UPDATE SET used = used + ?3";
    tx.prepare_cached(sql)?.execute(params![jti, expires_at, uses])?;
    Ok(())
}

fn release(tx: &Transaction<'_>, lease: &Lease) -> Result<(), UsageError> {
    tx.prepare_cached("DELETE FROM leases WHERE id = ?1 AND jti = ?2")?.execute(params![lease.id, lease.jti])?;
    Ok(())
}

fn used(tx: &Transaction<'_>, jti: &str) -> Result<u64, UsageError> {
    let sql = "SELECT used FROM token_uses WHERE jti = ?1";
    let used: Option<u64> = tx.prepare_cached(sql)?.query_row(params![jti], |row| row.get(0)).optional()?;
    Ok(used.unwrap_or(0))
}

fn prune(tx: &Transaction<'_>, expired_before: u64, now_ms: u64) -> Result<u64, UsageError> {
    let tokens = tx.execute("DELETE FROM token_uses WHERE expires_at < ?1", params![expired_before])?;
    let leases = tx.execute("DELETE FROM leases WHERE deadline_ms < ?1", params![now_ms])?;
    let holds = tx.execute("DELETE FROM holds WHERE deadline_ms < ?1", params![now_ms])?;
    let revocations = tx.execute("DELETE FROM revocations WHERE keep_until < ?1", params![now_ms / 1_000])?;
    Ok(u64::try_from(tokens + leases + holds + revocations).unwrap_or(u64::MAX))
}

fn revoke(tx: &Transaction<'_>, revocation: &Revocation) -> Result<(), UsageError> {
    let sql = "INSERT INTO revocations (member, keep_until) VALUES (?1, ?2)
               ON CONFLICT (member) DO UPDATE SET keep_until = max(keep_until, excluded.keep_until)";
    tx.prepare_cached(sql)?.execute(params![revocation.member(), revocation.keep_until])?;
    Ok(())
}

fn ping(tx: &Transaction<'_>) -> Result<(), UsageError> {
    tx.query_row("SELECT count(*) FROM store_meta", [], |_| Ok(()))?;
    Ok(())
}

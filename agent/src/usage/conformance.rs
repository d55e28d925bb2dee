//! The one conformance suite every usage store backend must pass (tests of
//! layer L1). Each check is a generic function over [`UsageStore`]; each
//! backend gets a `mod` below that runs all of them against a fresh store.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{
    Hold, Lease, PRUNE_GRACE_SECS, Reservation, Revocation, RevokedTarget, Taken, UsageError, UsageStore, UseAsk,
};

const LEASE_MS: u64 = 1_000;

/// Real time, in ms: a backend may expire keys on its own clock. Checks add
/// offsets to it to play out leases without waiting.
fn t0() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A unique `jti` per check, so backends that outlive a test stay apart.
fn jti(name: &str) -> String {
    format!("{name}-{}-{}", std::process::id(), rand::random::<u32>())
}

fn ask(jti: &str, limit: u64) -> UseAsk {
    UseAsk { jti: jti.to_owned(), limit, expires_at: t0() / 1_000 + 3_600, lease_ms: LEASE_MS }
}

async fn granted<S: UsageStore>(store: &S, ask: &UseAsk, now_ms: u64) -> Lease {
    match store.reserve(ask, now_ms).await.expect("reserve") {
        Reservation::Granted(lease) => lease,
        refused => panic!("{} was refused at {now_ms}: {refused:?}", ask.jti),
    }
}

async fn is_exhausted<S: UsageStore>(store: &S, ask: &UseAsk, now_ms: u64) -> bool {
    store.reserve(ask, now_ms).await.expect("reserve") == Reservation::Exhausted
}

/// Exactly `limit` of 200 concurrent reserves are granted.
pub(super) async fn exactly_n_of_200_concurrent_reserves<S: UsageStore>(store: S) {
    let (burst, now) = (jti("burst"), t0());
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (store, burst) = (store.clone(), burst.clone());
            tokio::spawn(async move { store.reserve(&ask(&burst, 7), now).await.expect("reserve") })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += usize::from(matches!(task.await.expect("join"), Reservation::Granted(_)));
    }
    assert_eq!(granted, 7);
}

/// Exactly `limit` of 200 concurrent uses are granted when leases and
/// one-step takes race for them.
pub(super) async fn exactly_n_of_200_concurrent_takes_and_reserves<S: UsageStore>(store: S) {
    let (burst, now) = (jti("mixed"), t0());
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (store, burst) = (store.clone(), burst.clone());
            tokio::spawn(async move {
                let ask = ask(&burst, 7);
                if i % 2 == 0 {
                    store.take(&ask, now).await.expect("take") == Taken::Spent
                } else {
                    matches!(store.reserve(&ask, now).await.expect("reserve"), Reservation::Granted(_))
                }
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += usize::from(task.await.expect("join"));
    }
    assert_eq!(granted, 7);
}

/// A take is a confirmed use at once: it counts against live leases, is
/// never given back, and an expired lease does not block it.
pub(super) async fn takes_spend_at_once_beside_leases<S: UsageStore>(store: S) {
    let (name, now) = (jti("take"), t0());
    let three = ask(&name, 3);
    let lease = granted(&store, &three, now).await;
    assert_eq!(store.take(&three, now).await.expect("take"), Taken::Spent);
    assert!(!store.is_used_up(&name, 3).await.expect("used up?"), "a lease is not a use");
    assert_eq!(store.take(&three, now).await.expect("take"), Taken::Spent);
    assert_eq!(store.take(&three, now).await.expect("take"), Taken::Exhausted, "two taken, one leased");
    store.release(&lease).await.expect("release");
    assert_eq!(store.take(&three, now).await.expect("take"), Taken::Spent);
    assert!(store.is_used_up(&name, 3).await.expect("used up?"));
    assert!(is_exhausted(&store, &three, now + 10 * LEASE_MS).await, "taken uses never come back");
    let (other, now) = (ask(&jti("late-take"), 1), t0());
    granted(&store, &other, now).await;
    assert_eq!(store.take(&other, now + LEASE_MS).await.expect("take"), Taken::Exhausted, "leased");
    assert_eq!(store.take(&other, now + LEASE_MS + 1).await.expect("take"), Taken::Spent, "the lease expired");
}

/// Confirmed uses stay spent; releases come back; other tokens are apart.
pub(super) async fn confirms_spend_and_releases_give_back<S: UsageStore>(store: S) {
    let (name, now) = (jti("a"), t0());
    let a = ask(&name, 2);
    let first = granted(&store, &a, now).await;
    let second = granted(&store, &a, now).await;
    assert_ne!(first.id, second.id, "lease ids are unique");
    assert!(is_exhausted(&store, &a, now).await);
    store.release(&second).await.expect("release");
    let again = granted(&store, &a, now).await;
    store.confirm(&first, now + 1).await.expect("confirm");
    assert!(!store.is_used_up(&name, 2).await.expect("used up?"));
    store.confirm(&again, now + 1).await.expect("confirm");
    assert!(store.is_used_up(&name, 2).await.expect("used up?"));
    assert!(is_exhausted(&store, &a, now + 10 * LEASE_MS).await, "confirmed uses never come back");
    assert!(!store.is_used_up(&jti("never-seen"), 1).await.expect("used up?"));
    granted(&store, &ask(&jti("b"), 1), now).await;
    store.ping().await.expect("ping");
}

/// A lease left unsettled gives its use back at its deadline, not before.
pub(super) async fn an_unsettled_lease_expires<S: UsageStore>(store: S) {
    let (one, now) = (ask(&jti("lease"), 1), t0());
    granted(&store, &one, now).await;
    assert!(is_exhausted(&store, &one, now + LEASE_MS).await, "held until its deadline");
    granted(&store, &one, now + LEASE_MS + 1).await;
}

/// A lease past its deadline is not confirmed, whether or not it was
/// reclaimed, and its use is not counted.
pub(super) async fn a_confirm_after_the_deadline_fails<S: UsageStore>(store: S) {
    let (name, now) = (jti("late"), t0());
    let one = ask(&name, 1);
    let late = granted(&store, &one, now).await;
    assert!(matches!(store.confirm(&late, now + LEASE_MS + 1).await, Err(UsageError::LeaseExpired)));
    let reclaimed = granted(&store, &one, now + LEASE_MS + 2).await;
    assert!(matches!(store.confirm(&late, now + LEASE_MS + 3).await, Err(UsageError::LeaseExpired)));
    store.confirm(&reclaimed, now + LEASE_MS + 3).await.expect("the new lease is confirmed");
    assert!(store.is_used_up(&name, 1).await.expect("used up?"));
}

/// A lease that a take found expired is gone: confirming it later fails,
/// even with a clock that reads earlier (a clock stepped back, or a request
/// that read the time just before its lease expired and was delayed), so
/// the use the take counted is never counted twice.
pub(super) async fn a_lease_reclaimed_by_a_take_is_never_confirmed<S: UsageStore>(store: S) {
    let (name, now) = (jti("reclaimed"), t0());
    let one = ask(&name, 1);
    let late = granted(&store, &one, now).await;
    assert_eq!(store.take(&one, now + LEASE_MS + 1).await.expect("take"), Taken::Spent, "the lease expired");
    assert!(matches!(store.confirm(&late, now + LEASE_MS).await, Err(UsageError::LeaseExpired)));
    assert_eq!(store.take(&one, now + LEASE_MS + 2).await.expect("take"), Taken::Exhausted, "one use, counted once");
    let endless = ask(&jti("endless"), u64::MAX);
    assert_eq!(store.take(&endless, now).await.expect("a limit beyond i64"), Taken::Spent);
    granted(&store, &endless, now).await;
}

/// Tokens expired for longer than the grace are forgotten (by `prune`, or
/// by the backend itself when their time comes), and nothing else.
pub(super) async fn pruning_forgets_only_expired_tokens<S: UsageStore>(store: S) {
    let (old_jti, kept_jti, now) = (jti("old"), jti("kept"), t0());
    let mut old = ask(&old_jti, 1);
    // Past its grace two seconds from now.
    old.expires_at = now / 1_000 + 2 - PRUNE_GRACE_SECS;
    let kept = ask(&kept_jti, 1);
    for token in [&old, &kept] {
        let lease = granted(&store, token, now).await;
        store.confirm(&lease, now + 1).await.expect("confirm");
    }
    let started = std::time::Instant::now();
    while store.is_used_up(&old_jti, 1).await.expect("used up?") {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the expired token is never forgotten");
        store.prune(old.expires_at + 1, t0()).await.expect("prune");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(store.is_used_up(&kept_jti, 1).await.expect("used up?"), "kept");
}

/// A revocation by `jti` refuses that token only; one by subject refuses
/// its tokens issued up to then, not later ones; both are forgotten after
/// their `keep_until`, by `prune`.
///
/// The prune runs at the real time, with `leaked` kept until just before:
/// a store with a feed (Redis) gets its own revocation back a moment later,
/// and a prune at a made-up later time would let that late echo in again
/// (the feed filters by the last prune, but only up to the real time).
pub(super) async fn revocations_refuse_their_tokens_until_pruned<S: UsageStore>(store: S) {
    let (leaked, subject, now) = (jti("leaked"), jti("subject"), t0() / 1_000);
    assert!(!store.is_revoked(&leaked, "anyone", now));
    store
        .revoke(&Revocation { target: RevokedTarget::Jti(leaked.clone()), keep_until: now - 1 })
        .await
        .expect("revoke");
    assert!(store.is_revoked(&leaked, "anyone", now));
    assert!(!store.is_revoked(&jti("other"), "anyone", now), "only that token");
    let by_subject = RevokedTarget::Subject { name: subject.clone(), issued_up_to: now };
    store.revoke(&Revocation { target: by_subject, keep_until: now + 120 }).await.expect("revoke");
    assert!(store.is_revoked(&jti("any"), &subject, now));
    assert!(!store.is_revoked(&jti("any"), &subject, now + 1), "issued after the revoke");
    store.prune(0, now * 1_000).await.expect("prune");
    assert!(!store.is_revoked(&leaked, "anyone", now), "forgotten after keep_until");
    assert!(store.is_revoked(&jti("any"), &subject, now), "kept until its own keep_until");
    assert_eq!(store.revocation_feed(), Ok(()));
}

async fn held<S: UsageStore>(store: &S, ask: &UseAsk, want: u64, now_ms: u64) -> Hold {
    match store.take_held(ask, want, LEASE_MS, now_ms).await.expect("take_held") {
        Taken::Held(hold) => hold,
        other => panic!("{} gave {other:?} for {want} at {now_ms}", ask.jti),
    }
}

async fn spent<S: UsageStore>(store: &S, ask: &UseAsk, now_ms: u64) -> Taken {
    store.take(ask, now_ms).await.expect("take")
}

/// A hold spends its uses at once; its unused ones come back when it is
/// settled in time, and while it lives the token is not used up but
/// refuses with the hold's deadline.
pub(super) async fn held_uses_are_spent_until_settled<S: UsageStore>(store: S) {
    let (name, now) = (jti("hold"), t0());
    let ten = ask(&name, 10);
    let hold = held(&store, &ten, 4, now).await;
    assert_eq!((hold.jti.as_str(), hold.uses, hold.deadline_ms), (name.as_str(), 4, now + LEASE_MS));
    for _ in 0..6 {
        assert_eq!(spent(&store, &ten, now).await, Taken::Spent);
    }
    let live = Taken::HeldElsewhere { until_ms: hold.deadline_ms };
    assert_eq!(spent(&store, &ten, now).await, live, "the held uses may come back");
    let reserve_live = Reservation::HeldElsewhere { until_ms: hold.deadline_ms };
    assert_eq!(store.reserve(&ten, now).await.expect("reserve"), reserve_live);
    assert!(!store.is_used_up(&name, 10).await.expect("used up?"), "held uses may come back");
    store.settle(&hold, 2, now + LEASE_MS).await.expect("settle");
    assert_eq!(spent(&store, &ten, now).await, Taken::Spent);
    assert!(matches!(store.reserve(&ten, now).await.expect("reserve"), Reservation::Granted(_)));
    assert_eq!(spent(&store, &ten, now).await, Taken::Exhausted, "no hold is left");
    store.settle(&hold, 2, now).await.expect("settle again");
    assert_eq!(spent(&store, &ten, now).await, Taken::Exhausted, "a hold gives back once");
    let other = jti("hold-all");
    let hold = held(&store, &ask(&other, 6), 3, now).await;
    store.settle(&hold, 100, now).await.expect("settle");
    for _ in 0..6 {
        assert_eq!(spent(&store, &ask(&other, 6), now).await, Taken::Spent);
    }
    assert_eq!(spent(&store, &ask(&other, 6), now).await, Taken::Exhausted, "no more than it held came back");
    assert!(store.is_used_up(&other, 6).await.expect("used up?"));
}

/// A hold takes at most half of the free uses (at least one, held too);
/// asking for one use holds none.
pub(super) async fn a_hold_leaves_half_of_the_free_uses<S: UsageStore>(store: S) {
    let (name, now) = (jti("half"), t0());
    let five = ask(&name, 5);
    assert_eq!(held(&store, &five, 64, now).await.uses, 2, "2 of 5");
    assert_eq!(held(&store, &five, 64, now).await.uses, 1, "1 of 3");
    assert_eq!(store.take_held(&five, 1, LEASE_MS, now).await.expect("take_held"), Taken::Spent);
    let last = held(&store, &five, 2, now).await;
    assert_eq!(last.uses, 1, "the last");
    assert!(matches!(store.take_held(&five, 64, LEASE_MS, now).await, Ok(Taken::HeldElsewhere { .. })));
    store.settle(&last, 1, now).await.expect("settle");
    assert_eq!(store.take_held(&five, 1, LEASE_MS, now).await.expect("take_held"), Taken::Spent, "given back");
}

/// Past its deadline a hold gives nothing back and no longer counts as
/// held: the token is used up.
pub(super) async fn a_hold_past_its_deadline_stays_spent<S: UsageStore>(store: S) {
    let (name, now) = (jti("late-hold"), t0());
    let four = ask(&name, 4);
    let hold = held(&store, &four, 4, now).await;
    assert_eq!(hold.uses, 2);
    let late = now + LEASE_MS + 1;
    store.settle(&hold, 1, late).await.expect("settle");
    assert_eq!(spent(&store, &four, late).await, Taken::Spent);
    assert_eq!(spent(&store, &four, late).await, Taken::Spent);
    assert_eq!(spent(&store, &four, late).await, Taken::Exhausted, "the late hold's use stays spent");
    // A hold taken long enough ago that it is dead by the store's own clock.
    let (other, past) = (ask(&jti("dead-hold"), 4), t0() - 10 * LEASE_MS);
    held(&store, &other, 4, past).await;
    assert_eq!(spent(&store, &other, past).await, Taken::Spent);
    assert_eq!(spent(&store, &other, past).await, Taken::Spent);
    assert_eq!(spent(&store, &other, past).await, Taken::HeldElsewhere { until_ms: past + LEASE_MS });
    assert_eq!(spent(&store, &other, now).await, Taken::Exhausted, "a dead agent's hold stays spent");
    assert!(store.is_used_up(&other.jti, 4).await.expect("used up?"));
}

/// Exactly `limit` uses are spent by 200 concurrent holding takes.
pub(super) async fn exactly_n_of_200_concurrent_held_takes<S: UsageStore>(store: S) {
    let (burst, now) = (jti("held-burst"), t0());
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (store, burst) = (store.clone(), burst.clone());
            tokio::spawn(async move { store.take_held(&ask(&burst, 50), 8, LEASE_MS, now).await.expect("take_held") })
        })
        .collect();
    let mut spent = 0;
    for task in tasks {
        spent += match task.await.expect("join") {
            Taken::Spent => 1,
            Taken::Held(hold) => hold.uses,
            Taken::Exhausted | Taken::HeldElsewhere { .. } => 0,
        };
    }
    assert_eq!(spent, 50);
}

/// Runs every check against a fresh store from `$new`, an async block that
/// yields the store and whatever must live as long as it.
macro_rules! conformance {
    ($backend:ident, $new:expr) => {
        mod $backend {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn exactly_n_of_200_concurrent_reserves() {
                let (store, _keep) = $new.await;
                super::exactly_n_of_200_concurrent_reserves(store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn exactly_n_of_200_concurrent_takes_and_reserves() {
                let (store, _keep) = $new.await;
                super::exactly_n_of_200_concurrent_takes_and_reserves(store).await;
            }
            #[tokio::test]
            async fn takes_spend_at_once_beside_leases() {
                let (store, _keep) = $new.await;
                super::takes_spend_at_once_beside_leases(store).await;
            }
            #[tokio::test]
            async fn confirms_spend_and_releases_give_back() {
                let (store, _keep) = $new.await;
                super::confirms_spend_and_releases_give_back(store).await;
            }
            #[tokio::test]
            async fn an_unsettled_lease_expires() {
                let (store, _keep) = $new.await;
                super::an_unsettled_lease_expires(store).await;
            }
            #[tokio::test]
            async fn a_confirm_after_the_deadline_fails() {
                let (store, _keep) = $new.await;
                super::a_confirm_after_the_deadline_fails(store).await;
            }
            #[tokio::test]
            async fn a_lease_reclaimed_by_a_take_is_never_confirmed() {
                let (store, _keep) = $new.await;
                super::a_lease_reclaimed_by_a_take_is_never_confirmed(store).await;
            }
            #[tokio::test]
            async fn revocations_refuse_their_tokens_until_pruned() {
                let (store, _keep) = $new.await;
                super::revocations_refuse_their_tokens_until_pruned(store).await;
            }
            #[tokio::test]
            async fn held_uses_are_spent_until_settled() {
                let (store, _keep) = $new.await;
                super::held_uses_are_spent_until_settled(store).await;
            }
            #[tokio::test]
            async fn a_hold_leaves_half_of_the_free_uses() {
                let (store, _keep) = $new.await;
                super::a_hold_leaves_half_of_the_free_uses(store).await;
            }
            #[tokio::test]
            async fn a_hold_past_its_deadline_stays_spent() {
                let (store, _keep) = $new.await;
                super::a_hold_past_its_deadline_stays_spent(store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn exactly_n_of_200_concurrent_held_takes() {
                let (store, _keep) = $new.await;
                super::exactly_n_of_200_concurrent_held_takes(store).await;
            }
            #[tokio::test]
            async fn pruning_forgets_only_expired_tokens() {
                let (store, _keep) = $new.await;
                super::pruning_forgets_only_expired_tokens(store).await;
            }
        }
    };
}

conformance!(sqlite, async { crate::usage::SqliteStore::in_memory().expect("store") });
conformance!(redis, crate::usage::test_redis::TestRedis::store());

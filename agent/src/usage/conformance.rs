//! The one conformance suite every usage store backend must pass (tests of
//! layer L1). Each check is a generic function over [`UsageStore`]; each
//! backend gets a `mod` below that runs all of them against a fresh store.

use super::{Lease, Reservation, UsageError, UsageStore, UseAsk};

const LEASE_MS: u64 = 1_000;

fn ask(jti: &str, limit: u64) -> UseAsk {
    UseAsk { jti: jti.to_owned(), limit, expires_at: 1_000, lease_ms: LEASE_MS }
}

async fn granted<S: UsageStore>(store: &S, ask: &UseAsk, now_ms: u64) -> Lease {
    match store.reserve(ask, now_ms).await.expect("reserve") {
        Reservation::Granted(lease) => lease,
        Reservation::Exhausted => panic!("{} was exhausted at {now_ms}", ask.jti),
    }
}

async fn is_exhausted<S: UsageStore>(store: &S, ask: &UseAsk, now_ms: u64) -> bool {
    store.reserve(ask, now_ms).await.expect("reserve") == Reservation::Exhausted
}

/// Exactly `limit` of 200 concurrent reserves are granted.
pub(super) async fn exactly_n_of_200_concurrent_reserves<S: UsageStore>(store: S) {
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.reserve(&ask("burst", 7), 0).await.expect("reserve") })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += usize::from(matches!(task.await.expect("join"), Reservation::Granted(_)));
    }
    assert_eq!(granted, 7);
}

/// Confirmed uses stay spent; releases come back; other tokens are apart.
pub(super) async fn confirms_spend_and_releases_give_back<S: UsageStore>(store: S) {
    let a = ask("a", 2);
    let first = granted(&store, &a, 0).await;
    let second = granted(&store, &a, 0).await;
    assert_ne!(first.id, second.id, "lease ids are unique");
    assert!(is_exhausted(&store, &a, 0).await);
    store.release(&second).await.expect("release");
    let again = granted(&store, &a, 0).await;
    store.confirm(&first, 1).await.expect("confirm");
    assert!(!store.is_used_up("a", 2).await.expect("used up?"));
    store.confirm(&again, 1).await.expect("confirm");
    assert!(store.is_used_up("a", 2).await.expect("used up?"));
    assert!(is_exhausted(&store, &a, 10 * LEASE_MS).await, "confirmed uses never come back");
    assert!(!store.is_used_up("never-seen", 1).await.expect("used up?"));
    granted(&store, &ask("b", 1), 0).await;
    store.ping().await.expect("ping");
}

/// A lease left unsettled gives its use back at its deadline, not before.
pub(super) async fn an_unsettled_lease_expires<S: UsageStore>(store: S) {
    let one = ask("lease", 1);
    granted(&store, &one, 0).await;
    assert!(is_exhausted(&store, &one, LEASE_MS).await, "held until its deadline");
    granted(&store, &one, LEASE_MS + 1).await;
}

/// A lease past its deadline is not confirmed, whether or not it was
/// reclaimed, and its use is not counted.
pub(super) async fn a_confirm_after_the_deadline_fails<S: UsageStore>(store: S) {
    let one = ask("late", 1);
    let late = granted(&store, &one, 0).await;
    assert!(matches!(store.confirm(&late, LEASE_MS + 1).await, Err(UsageError::LeaseExpired)));
    let reclaimed = granted(&store, &one, LEASE_MS + 2).await;
    assert!(matches!(store.confirm(&late, LEASE_MS + 3).await, Err(UsageError::LeaseExpired)));
    store.confirm(&reclaimed, LEASE_MS + 3).await.expect("the new lease is confirmed");
    assert!(store.is_used_up("late", 1).await.expect("used up?"));
}

/// Pruning forgets expired tokens and expired leases, and nothing else.
pub(super) async fn pruning_forgets_only_expired_tokens<S: UsageStore>(store: S) {
    let mut old = ask("old", 1);
    old.expires_at = 100;
    let lease = granted(&store, &old, 0).await;
    store.confirm(&lease, 1).await.expect("confirm");
    let kept = ask("kept", 1);
    let lease = granted(&store, &kept, 0).await;
    store.confirm(&lease, 1).await.expect("confirm");
    let pruned = store.prune(101, 0).await.expect("prune");
    assert_eq!(pruned, 1);
    assert!(!store.is_used_up("old", 1).await.expect("used up?"), "forgotten");
    assert!(store.is_used_up("kept", 1).await.expect("used up?"), "kept");
    granted(&store, &ask("stale", 1), 0).await;
    assert!(store.prune(0, LEASE_MS + 1).await.expect("prune") >= 1, "the stale lease is pruned");
}

/// Runs every check against a fresh store from `$new`.
macro_rules! conformance {
    ($backend:ident, $new:expr) => {
        mod $backend {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn exactly_n_of_200_concurrent_reserves() {
                super::exactly_n_of_200_concurrent_reserves($new).await;
            }
            #[tokio::test]
            async fn confirms_spend_and_releases_give_back() {
                super::confirms_spend_and_releases_give_back($new).await;
            }
            #[tokio::test]
            async fn an_unsettled_lease_expires() {
                super::an_unsettled_lease_expires($new).await;
            }
            #[tokio::test]
            async fn a_confirm_after_the_deadline_fails() {
                super::a_confirm_after_the_deadline_fails($new).await;
            }
            #[tokio::test]
            async fn pruning_forgets_only_expired_tokens() {
                super::pruning_forgets_only_expired_tokens($new).await;
            }
        }
    };
}

conformance!(sqlite, crate::usage::SqliteStore::in_memory().expect("store").0);

//! The revocation feed of the Redis backend (layer L1, part of
//! [`crate::usage`]): subscribe to `<prefix>:revocations`, load the whole
//! list once subscribed, add each published revocation to memory, reload
//! every [`FEED_RESYNC`], and resubscribe after losing Redis. `/readyz`
//! shows its state.

use std::sync::{Arc, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use redis::AsyncCommands;

use super::{RedisStore, Shared, deadline};
use crate::usage::{Revocation, UsageError};

/// How long the feed waits before it subscribes again after losing Redis.
const FEED_RETRY: Duration = Duration::from_millis(500);

/// How often the feed reloads the whole list while subscribed.
const FEED_RESYNC: Duration = Duration::from_secs(1);

// === impl RedisStore ===

impl RedisStore {
    /// Adds every revocation in Redis to memory; marks the feed live.
    pub(super) async fn resync(&self) -> Result<(), UsageError> {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let mut conn = self.0.conn.clone();
        let all: Vec<(String, u64)> =
            deadline(self.0.timeout, conn.zrangebyscore_withscores(self.revocations_key(), now_ms.to_string(), "+inf"))
                .await?;
        let revocations =
            all.into_iter().filter_map(|(member, until_ms)| Revocation::from_member(&member, until_ms / 1_000));
        self.0.revoked.add(revocations, u64::try_from(now_ms / 1_000).unwrap_or(u64::MAX));
        *self.0.feed.lock().unwrap_or_else(PoisonError::into_inner) = Ok(());
        Ok(())
    }

    /// Follows the channel for as long as the store lives: each message is
    /// added to memory; when the subscription ends (Redis restarted or
    /// unreachable) the feed is down until it has subscribed and resynced.
    /// Holds only a weak reference, so dropping the store ends it.
    pub(super) async fn feed(self, client: redis::Client, first: redis::aio::PubSub) {
        let weak = Arc::downgrade(&self.0);
        drop(self);
        let mut pubsub = Some(first);
        loop {
            if let Some(subscribed) = pubsub.take()
                && follow(&weak, subscribed).await.is_none()
            {
                return;
            }
            let Some(shared) = weak.upgrade() else { return };
            let store = Self(shared);
            store.feed_down("the revocation feed lost Redis; resubscribing");
            tokio::time::sleep(FEED_RETRY).await;
            pubsub = store.resubscribe(&client).await;
        }
    }

    fn feed_down(&self, why: &str) {
        tracing::warn!("{why}: revocations made at other agents are not seen until it is back");
        *self.0.feed.lock().unwrap_or_else(PoisonError::into_inner) = Err(why.to_owned());
    }

    async fn resubscribe(&self, client: &redis::Client) -> Option<redis::aio::PubSub> {
        let mut pubsub = deadline(self.0.timeout, client.get_async_pubsub()).await.ok()?;
        deadline(self.0.timeout, pubsub.subscribe(self.revocations_key())).await.ok()?;
        self.resync().await.ok()?;
        tracing::info!("the revocation feed is subscribed again");
        Some(pubsub)
    }
}

/// Adds each published revocation to memory and reloads the whole list
/// every [`FEED_RESYNC`] (a hung Redis then shows in `/readyz`, and a lost
/// message is made up for). Returns when the subscription ends; `None` when
/// the store is gone.
async fn follow(weak: &Weak<Shared>, subscribed: redis::aio::PubSub) -> Option<()> {
    let mut messages = subscribed.into_on_message();
    let mut resync = tokio::time::interval(FEED_RESYNC);
    resync.tick().await;
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else { return Some(()) };
                let shared = weak.upgrade()?;
                let payload: Option<String> = message.get_payload().ok();
                match payload.as_deref().and_then(parse_published) {
                    Some(revocation) => shared.revoked.add([revocation], unix_now()),
                    None => tracing::warn!("ignored a malformed message on the revocation channel"),
                }
            }
            _ = resync.tick() => {
                let store = RedisStore(weak.upgrade()?);
                if store.resync().await.is_err() {
                    store.feed_down("the revocation feed could not reload the list from Redis");
                }
            }
        }
    }
}

/// `<keep_until_ms> <member>`, as the revoke script publishes it.
fn parse_published(payload: &str) -> Option<Revocation> {
    let (until_ms, member) = payload.split_once(' ')?;
    Revocation::from_member(member, until_ms.parse::<u64>().ok()? / 1_000)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

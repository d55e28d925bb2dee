//! Taking uses of limited tokens (layer L2, part of [`crate::vault`]): the
//! store's birth rule, then either a lease held across a sops run or, when
//! the value is already cached, the use taken in one step once the value is
//! in hand. See docs/VAULT_ACCESS_SYSTEM_README.md, "Usage limits".

use std::time::{SystemTime, UNIX_EPOCH};

use vanta_shared::Claims;

use super::{Error, Vault};
use crate::sops::SecretSource;
use crate::usage::{Lease, Reservation, Taken, UsageStore, UseAsk};

/// The use a fetch of a limited token holds or still has to take.
pub(super) enum HeldUse {
    /// Leased before a sops run: confirmed once the value is in hand, or
    /// released.
    Leased(Lease),
    /// The value was cached: nothing is held yet, the use is taken (and
    /// made durable) in one step before the value leaves.
    ToTake(UseAsk),
}

// === impl HeldUse ===

impl HeldUse {
    /// Makes the use durable before the value leaves: confirms the lease or
    /// takes the use (the token may have run out meanwhile: 401).
    pub(super) async fn settle<U: UsageStore>(self, usage: &U) -> Result<(), Error> {
        match self {
            Self::Leased(lease) => usage.confirm(&lease, now_ms()).await.map_err(Error::Usage),
            Self::ToTake(ask) => match usage.take(&ask, now_ms()).await.map_err(Error::Usage)? {
                // A store that holds more uses for this agent has spent
                // them: left unsettled, they cost uses, never grant one.
                Taken::Spent | Taken::Held(_) => {
                    tracing::debug!(jti = %ask.jti, "use taken");
                    Ok(())
                }
                Taken::Exhausted | Taken::HeldElsewhere { .. } => Err(Error::UsageExhausted),
            },
        }
    }
}

/// The latest `exp` a store keeps a count until: 9999-12-31T23:59:59Z. A
/// token signed elsewhere may carry any `exp` up to `u64::MAX`, which no
/// store can hold (SQLite's integers are `i64`, Redis' expiry is in
/// milliseconds); its uses are counted until then, which is as good as for
/// ever.
const LAST_COUNTED_EXP: u64 = 253_402_300_799;

// === impl Vault ===

impl<S: SecretSource, U: UsageStore> Vault<S, U> {
    /// What the store is asked for one use of a limited token it can count.
    pub(super) fn use_ask(&self, claims: &Claims, limit: u64) -> Result<UseAsk, Error> {
        self.check_birth(claims)?;
        Ok(UseAsk {
            jti: claims.jti.clone(),
            limit,
            expires_at: claims.exp.min(LAST_COUNTED_EXP),
            lease_ms: u64::try_from(self.usage_rules.lease.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Leases one use (401 when none is left).
    ///
    /// The store is asked on a task of its own: hyper drops the fetch when
    /// its client goes away, and once asked the store may grant the lease
    /// anyway (the operation is queued or already sent). That task then
    /// gives the lease back at once, instead of leaving it held until its
    /// deadline with nobody to release it.
    pub(super) async fn reserve(&self, ask: &UseAsk) -> Result<Lease, Error> {
        let (usage, owned) = (self.usage.clone(), ask.clone());
        let (answer, answered) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let reserved = usage.reserve(&owned, now_ms()).await;
            if let Err(Ok(Reservation::Granted(lease))) = answer.send(reserved) {
                super::pending::release_abandoned(&usage, &lease).await;
            }
        });
        let reserved = answered.await.map_err(|_| Error::Usage(crate::usage::UsageError::Stopped))?;
        match reserved.map_err(Error::Usage)? {
            Reservation::Granted(lease) => {
                tracing::debug!(jti = %lease.jti, lease = lease.id, "use leased");
                Ok(lease)
            }
            Reservation::Exhausted | Reservation::HeldElsewhere { .. } => Err(Error::UsageExhausted),
        }
    }

    /// A store knows no use from before it was born: a limited token issued
    /// earlier (beyond the clock leeway) may have been used up already.
    pub(super) fn check_birth(&self, claims: &Claims) -> Result<(), Error> {
        let born_at = self.usage.born_at();
        if claims.iat.saturating_add(self.usage_rules.leeway.as_secs()) < born_at {
            return Err(Error::IssuedBeforeStore { iat: claims.iat, born_at });
        }
        Ok(())
    }
}

/// Now, in Unix milliseconds (lease deadlines).
pub(super) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

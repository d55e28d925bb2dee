//! Taking uses of limited tokens (layer L2, part of [`crate::vault`]): the
//! store's birth rule, then a lease. See docs/VAULT_ACCESS_SYSTEM_README.md,
//! "Usage limits".

use std::time::{SystemTime, UNIX_EPOCH};

use vanta_shared::Claims;

use super::{Error, Vault};
use crate::sops::SecretSource;
use crate::usage::{Lease, Reservation, UsageStore, UseAsk};

// === impl Vault ===

impl<S: SecretSource, U: UsageStore> Vault<S, U> {
    /// Leases one use of a limited token the store can count.
    pub(super) async fn reserve(&self, claims: &Claims, limit: u64) -> Result<Lease, Error> {
        self.check_birth(claims)?;
        let ask = UseAsk {
            jti: claims.jti.clone(),
            limit,
            expires_at: claims.exp,
            lease_ms: u64::try_from(self.usage_rules.lease.as_millis()).unwrap_or(u64::MAX),
        };
        match self.usage.reserve(&ask, now_ms()).await.map_err(Error::Usage)? {
            Reservation::Granted(lease) => {
                tracing::debug!(jti = %lease.jti, lease = lease.id, "use leased");
                Ok(lease)
            }
            Reservation::Exhausted => Err(Error::UsageExhausted),
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

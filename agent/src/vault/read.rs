//! Conditional reads (part of `vault`, layer L2): what a read returns, and
//! the checks that let a caller who has the current version get a 304
//! without a use of a limited token.

use vanta_shared::{Claims, EnvName, KeyPath};

use super::{Error, Vault};
use crate::etag::{Covers, ETag};
use crate::sops::SecretSource;
use crate::usage::UsageStore;

/// A successful read: the answer and its tag, or only the tag when the
/// caller already has this version (304; not a use of a limited token).
pub enum Read<T> {
    /// The answer (200).
    Fresh {
        /// What to send.
        body: T,
        /// Its entity tag.
        etag: ETag,
    },
    /// The caller's `If-None-Match` names the current version (304).
    NotModified(ETag),
}

/// Outcome and status of an answered request.
pub(super) const SUCCESS: (&str, u16) = ("success", 200);

// === impl Read ===

impl<T> Read<T> {
    /// The audit outcome and status: `success` 200 or `not_modified` 304.
    pub(super) fn outcome(&self) -> (&'static str, u16) {
        match self {
            Self::Fresh { .. } => SUCCESS,
            Self::NotModified(_) => ("not_modified", 304),
        }
    }
}

// === impl Vault ===

impl<S: SecretSource, U: UsageStore> Vault<S, U> {
    /// The value's tag when `if_none_match` names it (the caller has the
    /// current value); `None` when the value must be sent. A used-up limited
    /// token gets no 304: it is refused as it would be for the value.
    pub(super) async fn unchanged_value(
        &self,
        env: &EnvName,
        key: &KeyPath,
        claims: &Claims,
        if_none_match: &str,
    ) -> Result<Option<ETag>, Error> {
        let value = match self.lookup(env, key).await {
            Ok(value) => value,
            Err(missing) => {
                // A used-up token is refused (401) before a missing key (404).
                self.check_not_used_up(claims).await?;
                return Err(missing);
            }
        };
        let etag = self.etags.tag(Covers::Value, env.as_str(), [(key.as_str(), value.as_str())]);
        if !etag.matched_by(if_none_match) {
            return Ok(None);
        }
        self.check_not_used_up(claims).await?;
        Ok(Some(etag))
    }

    /// Refuses a limited token whose every use is spent (or that the store
    /// cannot vouch for, being younger than the token).
    pub(super) async fn check_not_used_up(&self, claims: &Claims) -> Result<(), Error> {
        if let Some(limit) = claims.usage_limit {
            self.check_birth(claims)?;
            if self.usage.is_used_up(&claims.jti, limit).await.map_err(Error::Usage)? {
                return Err(Error::UsageExhausted);
            }
        }
        Ok(())
    }
}

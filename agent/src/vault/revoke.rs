//! Revoking tokens (layer L2, part of [`crate::vault`]): who may (whoever
//! may mint here), what is kept (until the latest `exp` a revoked token can
//! have), and the `token_revoke` audit record. See
//! docs/VAULT_ACCESS_SYSTEM_README.md, "Running a fleet".

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use vanta_shared::Claims;
use vanta_shared::api::{RevokeTokenRequest, RevokeTokenResponse};

use super::{Error, Vault, audited};
use crate::audit::{AuditEvent, AuditRecord};
use crate::peer::Peer;
use crate::sops::SecretSource;
use crate::usage::{Revocation, RevokedTarget, UsageStore};

// === impl Vault ===

impl<S: SecretSource, U: UsageStore> Vault<S, U> {
    /// Revokes a token by `jti`, or every token of a subject issued up to
    /// now. The caller is checked before the body is read (`body` is only
    /// awaited for a caller who may mint).
    ///
    /// # Errors
    /// [`Error`] with the code to answer.
    pub async fn revoke_tokens(
        &self,
        peer: Peer,
        credential: Option<&str>,
        body: impl Future<Output = Result<Value, Error>>,
    ) -> Result<RevokeTokenResponse, Error> {
        let mut record = AuditRecord::new(AuditEvent::TokenRevoke, peer);
        let revoked = self.revoke(&mut record, credential, body).await;
        audited(&self.audit, &mut record, revoked).await
    }

    /// A revoked token is refused like any invalid one; from memory, no I/O.
    pub(super) fn check_revoked(&self, claims: &Claims) -> Result<(), Error> {
        if self.usage.is_revoked(&claims.jti, &claims.sub, claims.iat) {
            return Err(Error::Revoked);
        }
        Ok(())
    }

    async fn revoke(
        &self,
        record: &mut AuditRecord,
        credential: Option<&str>,
        body: impl Future<Output = Result<Value, Error>>,
    ) -> Result<RevokeTokenResponse, Error> {
        self.policy.check_caller(&record.client, credential).map_err(Error::Forbidden)?;
        let request = RevokeTokenRequest::from_json(&body.await?).map_err(Error::Validation)?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        // No token valid now outlives the longest lifetime plus the leeway.
        let keep_until = now + u64::from(self.ttl.max_minutes) * 60 + self.usage_rules.leeway.as_secs();
        let (target, issued_up_to) = match &request {
            RevokeTokenRequest::Jti(jti) => {
                record.jti = AuditRecord::echo(jti);
                (RevokedTarget::Jti(jti.clone()), None)
            }
            RevokeTokenRequest::Subject(name) => {
                record.subject = AuditRecord::echo(name);
                (RevokedTarget::Subject { name: name.clone(), issued_up_to: now }, Some(now))
            }
        };
        self.usage.revoke(&Revocation { target, keep_until }).await.map_err(Error::Usage)?;
        Ok(RevokeTokenResponse { revoked: request, issued_up_to, kept_until: keep_until })
    }
}

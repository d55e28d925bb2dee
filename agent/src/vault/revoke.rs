//! Revoking tokens (layer L2, part of [`crate::vault`]): who may (whoever
//! may mint here), what is kept (until the latest `exp` a revoked token can
//! have), and the `token_revoke` audit record. See
//! docs/VAULT_ACCESS_SYSTEM_README.md, "Running a fleet".

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use vanta_shared::Claims;
use vanta_shared::api::{RevokeTokenRequest, RevokeTokenResponse};

use super::{Error, Vault, audited};
use crate::audit::{AuditEvent, AuditRecord};
use crate::peer::Peer;
use crate::sops::SecretSource;
use crate::usage::{Revocation, RevokedTarget, UsageStore};

/// A caller allowed to revoke, as its audit records name it.
pub struct Revoker {
    /// The caller's executable, when attested.
    pub exe: Option<PathBuf>,
    /// The policy rule that lets it revoke.
    pub rule: String,
}

// === impl Vault ===

impl<S: SecretSource, U: UsageStore> Vault<S, U> {
    /// Checks, from the request's head alone, that this caller may revoke:
    /// whoever may mint here (the rule that covers it has `may_revoke`; the
    /// `--mint-*` flags' rule does). A refusal is audited.
    ///
    /// # Errors
    /// [`Error::Refused`] or [`Error::Unattested`] (403).
    pub async fn screen_revoker(&self, peer: &Peer, credential: Option<&str>) -> Result<Revoker, Error> {
        let identified = self.identify(peer, credential).await;
        let exe = identified.exe.clone();
        // A rule may cover the caller and still not let it revoke: the
        // record names it, so it does not read as "no rule covered".
        let covering = identified.rule_name();
        match identified.may_revoke() {
            Ok(rule) => Ok(Revoker { exe, rule: rule.name }),
            Err(err) => {
                let mut record = AuditRecord::new(AuditEvent::TokenRevoke, peer.clone());
                record.set_caller(exe.as_deref(), covering);
                self.audited(&mut record, Err(err)).await
            }
        }
    }

    /// Revokes a token by `jti`, or every token of a subject issued up to
    /// now, for a caller [`Self::screen_revoker`] let through.
    ///
    /// # Errors
    /// [`Error`] with the code to answer.
    pub async fn revoke_tokens(
        &self,
        peer: Peer,
        revoker: Revoker,
        request: &RevokeTokenRequest,
    ) -> Result<RevokeTokenResponse, Error> {
        let mut record = AuditRecord::new(AuditEvent::TokenRevoke, peer);
        record.set_caller(revoker.exe.as_deref(), Some(revoker.rule));
        let (revocation, response) = self.revocation(&mut record, request);
        // From here the revoke completes even if the client goes away (the
        // request future dropped mid-commit): the task stores it, adds it to
        // this agent's memory and writes its record, as a fetch settles its use.
        let (usage, audit, status_of) = (self.usage.clone(), self.audit.clone(), self.status_of);
        let done = tokio::spawn(async move {
            let stored = usage.revoke(&revocation).await.map(|()| response).map_err(Error::Usage);
            audited(&audit, status_of, &mut record, stored).await
        });
        done.await.unwrap_or(Err(Error::Usage(crate::usage::UsageError::Stopped)))
    }

    /// A revoked token is refused like any invalid one; from memory, no I/O.
    pub(super) fn check_revoked(&self, claims: &Claims) -> Result<(), Error> {
        if self.usage.is_revoked(&claims.jti, &claims.sub, claims.iat) {
            return Err(Error::Revoked);
        }
        Ok(())
    }

    /// Until when a revocation made at `now` is kept: until the latest
    /// `exp` a token this agent mints can have (issue 11: no longer), its
    /// longest lifetime plus the leeway. A token that lives longer (signed
    /// elsewhere, or under a longer `--max-ttl-minutes`) can outlive its
    /// revocation: the operator guide says so. Saturating, so no clock or
    /// leeway can wrap the deadline into the past.
    fn keep_revocations_until(&self, now: u64) -> u64 {
        now.saturating_add(u64::from(self.ttl.max_minutes) * 60).saturating_add(self.usage_rules.leeway.as_secs())
    }

    /// What a request revokes, kept as [`Self::keep_revocations_until`]
    /// says, and the answer once it is stored. Fills the record.
    fn revocation(&self, record: &mut AuditRecord, request: &RevokeTokenRequest) -> (Revocation, RevokeTokenResponse) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let keep_until = self.keep_revocations_until(now);
        let (target, issued_up_to) = match request {
            RevokeTokenRequest::Jti(jti) => {
                record.jti = AuditRecord::echo(jti);
                (RevokedTarget::Jti(jti.clone()), None)
            }
            RevokeTokenRequest::Subject(name) => {
                record.subject = AuditRecord::echo(name);
                (RevokedTarget::Subject { name: name.clone(), issued_up_to: now }, Some(now))
            }
        };
        let response = RevokeTokenResponse { revoked: request.clone(), issued_up_to, kept_until: keep_until };
        (Revocation { target, keep_until }, response)
    }
}

//! Token requests (mint and revoke) refused at the door, before the use
//! case: by the caller alone (a TCP caller without the admin credential, a
//! local caller no rule lets revoke; decided from the head) or by the HTTP
//! layer (body unreadable, too large, too slow, fields invalid). Each is
//! audited like every other attempt.

use serde_json::Value;
use vanta_shared::ErrorCode;

use super::{Error, Vault};
use crate::access;
use crate::audit::{AuditEvent, AuditRecord};
use crate::peer::Peer;
use crate::policy::Refusal;
use crate::sops::SecretSource;
use crate::usage::UsageStore;

/// A token request the HTTP layer refused before the use case (body
/// unreadable, too large, too slow, or its fields invalid): audited like
/// every other attempt.
pub struct RefusedRequest<'a> {
    /// `token_generate` or `token_revoke`.
    pub event: AuditEvent,
    /// Who asked.
    pub peer: Peer,
    /// The request's bearer credential (a TCP caller's admin token), to
    /// name the rule that covers the caller as an accepted request would.
    pub credential: Option<&'a str>,
    /// The body as sent, when it was JSON: its names are echoed.
    pub body: Option<&'a Value>,
    /// The code answered.
    pub code: ErrorCode,
    /// What was wrong, for the audit record.
    pub detail: &'a str,
}

// === impl Vault (refused token requests) ===

impl<S: SecretSource, U: UsageStore> Vault<S, U> {
    /// Checks, from the request's head alone, that this caller may mint at
    /// all (a TCP caller needs the admin credential); a refusal is audited.
    ///
    /// # Errors
    /// [`Error::Refused`] when the caller may not mint.
    pub async fn screen_minter(&self, peer: &Peer, credential: Option<&str>) -> Result<(), Error> {
        if !matches!(peer, Peer::Tcp(_)) || access::is_admin_credential(self.admin_token.as_ref(), credential) {
            return Ok(());
        }
        let mut record = AuditRecord::new(AuditEvent::TokenGenerate, peer.clone());
        self.audited(&mut record, Err(Error::Refused(Refusal::NotAdmin))).await
    }

    /// Audits a token request the HTTP layer refused, naming the caller's
    /// executable and covering rule as the record of an accepted one does
    /// (attesting it again: refusals are rare, the accepted path pays nothing).
    pub async fn refuse_request(&self, refused: RefusedRequest<'_>) {
        let identified = self.identify(&refused.peer, refused.credential).await;
        let mut record = AuditRecord::new(refused.event, refused.peer);
        record.set_caller(identified.exe.as_deref(), identified.rule_name());
        let field = |name| refused.body.and_then(|v| v.get(name)).and_then(Value::as_str);
        record.subject = field("subject").and_then(AuditRecord::echo);
        if refused.event == AuditEvent::TokenRevoke {
            record.jti = field("jti").and_then(AuditRecord::echo);
        } else {
            record.environment = field("environment").and_then(AuditRecord::echo);
            record.set_key_pattern(field("key_pattern"));
        }
        let code = refused.code;
        // The detail may quote the request (an unknown field's name): echoed
        // as every other text from a caller, cut and escaped.
        record.finish(code.as_str(), (self.status_of)(code), AuditRecord::echo(refused.detail));
        if let Err(audit_err) = self.audit.write(&record).await {
            tracing::error!(error = %audit_err, "failed to audit a refused request");
        }
    }
}

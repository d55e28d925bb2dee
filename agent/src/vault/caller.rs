//! Who asks to mint (or revoke), and which policy rule covers them.
//!
//! A local caller is attested from the kernel (a few quick `/proc` reads;
//! hashing an executable, when a rule asks, runs off the async workers).
//! With a policy file a caller that cannot be attested is refused; the
//! `--mint-*` flags' rule decides on the peer credentials alone, so there a
//! failed attestation only leaves the executable unknown in the audit record. A TCP caller is the admin if it
//! sent the admin credential, else it is refused.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Error, Vault};
use crate::access;
use crate::attest::{AttestError, Credentials, Wants};
use crate::peer::{Caller, Peer, PinnedProcess};
use crate::policy::{Policy, Rule, Who};
use crate::sops::SecretSource;
use crate::usage::UsageStore;

/// The outcome of identifying a caller: what the audit record says about it
/// and the rule that covers it (or why none does).
pub struct Identified {
    /// The caller's executable, when attested.
    pub exe: Option<PathBuf>,
    /// The covering rule, or the refusal.
    pub rule: Result<Rule, Error>,
}

// === impl Vault (callers) ===

impl<S: SecretSource, U: UsageStore> Vault<S, U> {
    /// Attests `peer` and finds the first policy rule that covers it.
    pub async fn identify(&self, peer: &Peer, credential: Option<&str>) -> Identified {
        let policy = self.policy.get();
        let caller = match peer {
            Peer::Unix { uid, gid, pid, process } => {
                match self.attested(&policy, *uid, *gid, *pid, process.as_ref()).await {
                    Ok(caller) => Some(caller),
                    Err(err) => return Identified { exe: None, rule: Err(err) },
                }
            }
            Peer::Tcp(_) | Peer::Unknown => None,
        };
        let who = match (peer, &caller) {
            (_, Some(caller)) => Who::Local(caller),
            (Peer::Tcp(_), _) if access::is_admin_credential(self.admin_token.as_ref(), credential) => Who::Admin,
            (Peer::Tcp(_), _) => Who::Remote,
            _ => Who::Unknown,
        };
        let rule = policy.rule_for(who).cloned().map_err(Error::Refused);
        Identified { exe: caller.and_then(|c| c.exe), rule }
    }
}

// === impl Identified ===

impl Identified {
    /// The rule, if it allows revoking tokens (for the revoke handler: take
    /// [`Identified::exe`] and [`Identified::rule_name`] for the audit record
    /// first).
    ///
    /// # Errors
    /// The refusal: not covered, or the rule has `may_revoke = false`.
    pub fn may_revoke(self) -> Result<Rule, Error> {
        self.rule.and_then(|rule| rule.check_revoke().map(|()| rule).map_err(Error::Refused))
    }

    /// The covering rule's name, for the audit record.
    pub fn rule_name(&self) -> Option<String> {
        self.rule.as_ref().ok().map(|r| r.name.clone())
    }
}

// === impl Vault (attestation) ===

impl<S: SecretSource, U: UsageStore> Vault<S, U> {
    /// The attested caller; without a policy file, the peer credentials
    /// alone when attestation fails. Only hashing runs off the workers.
    async fn attested(
        &self,
        policy: &Arc<Policy>,
        uid: u32,
        gid: u32,
        pid: Option<i32>,
        process: Option<&PinnedProcess>,
    ) -> Result<Caller, Error> {
        let wants = Wants { names: policy.needs_names(), exe_hash: policy.needs_exe_hash() };
        let outcome = match pid {
            // With a policy file the socket pins every peer's process: none
            // means the caller was gone before it was accepted.
            Some(pid) if process.is_none() && policy.needs_attestation() => Err(AttestError::Exited(pid)),
            Some(pid) if wants.exe_hash => {
                let creds = Credentials { pid, uid, gid, process: process.cloned() };
                let attestor = self.attestor.clone();
                tokio::task::spawn_blocking(move || attestor.attest(creds, wants))
                    .await
                    .unwrap_or(Err(AttestError::Exited(pid)))
            }
            Some(pid) => self.attestor.attest(Credentials { pid, uid, gid, process: process.cloned() }, wants),
            None => Err(AttestError::NoPid),
        };
        match outcome {
            Ok(caller) => Ok(caller),
            Err(err) if policy.needs_attestation() => Err(Error::Unattested(err)),
            Err(err) => {
                tracing::debug!(error = %err, "caller not attested; the flags' rule uses the peer credentials");
                Ok(Caller { pid, uid, gid, ..Caller::default() })
            }
        }
    }
}

//! Whether the agent can serve (layer L2, part of [`crate::vault`]): what
//! `/readyz` reports.

use super::Vault;
use crate::sops::SecretSource;
use crate::usage::UsageStore;

/// The outcome of each readiness check, `Err` saying what is wrong.
pub struct Readiness {
    /// `(check, outcome)` in a fixed order.
    pub checks: Vec<(&'static str, Result<(), String>)>,
    /// `(topic, warning)`: worth saying, but not a reason to be unready.
    pub warnings: Vec<(&'static str, String)>,
}

// === impl Readiness ===

impl Readiness {
    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.checks.iter().all(|(_, outcome)| outcome.is_ok())
    }
}

// === impl Vault ===

impl<S: SecretSource, U: UsageStore> Vault<S, U> {
    /// Checks that sops and the files directory are usable, that not every
    /// environment tried so far failed to decrypt, that the audit log is
    /// being written (after a failed write: that it can be reopened), the
    /// usage store answers and can still count (its ping fails after a failed
    /// sync of SQLite's log, or on a Redis that may evict keys) and its
    /// revocation feed is live. Runs no sops.
    pub async fn readiness(&self) -> Readiness {
        // An unhealthy writer is asked to reopen its file: with traffic held
        // back until the agent is ready, no record would try again.
        let audit = self.audit.check().await;
        let usage = self.usage.ping().await.map_err(|err| err.to_string());
        let checks = vec![
            ("sops", self.source.check_ready()),
            ("decryption", self.source.check_decryption()),
            ("audit", audit),
            ("usage_store", usage),
            ("revocations", self.usage.revocation_feed()),
        ];
        let warnings = self.source.readiness_warning().map(|w| ("key_material", w)).into_iter().collect();
        Readiness { checks, warnings }
    }
}

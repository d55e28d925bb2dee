//! Whether the agent can serve (layer L2, part of [`crate::vault`]): what
//! `/readyz` reports.

use super::Vault;
use crate::sops::SecretSource;
use crate::usage::UsageStore;

/// The outcome of each readiness check, `Err` saying what is wrong.
pub struct Readiness {
    /// `(check, outcome)` in a fixed order.
    pub checks: Vec<(&'static str, Result<(), String>)>,
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
    /// Checks that sops and the files directory are usable, the audit log is
    /// being written, the usage store answers and its revocation feed is live.
    pub async fn readiness(&self) -> Readiness {
        let audit = if self.audit.is_healthy() { Ok(()) } else { Err("the last audit write failed".to_owned()) };
        let usage = self.usage.ping().await.map_err(|err| err.to_string());
        let feed = ("revocations", self.usage.revocation_feed());
        Readiness { checks: vec![("sops", self.source.check_ready()), ("audit", audit), ("usage_store", usage), feed] }
    }
}

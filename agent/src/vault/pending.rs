//! A secret fetch in progress, and what happens if it is abandoned (layer L2,
//! part of [`crate::vault`]).
//!
//! hyper drops a request's future when its client goes away. A fetch that is
//! dropped before its answer was settled must not keep a use of a limited
//! token, and must leave an audit record: [`PendingFetch`]'s `Drop` releases
//! a lease it holds and writes the record with outcome `aborted`, on a task
//! of its own (a use still to be taken was never taken). Once the answer is
//! settled (see `Vault::get_secret`), the fetch is disarmed and the normal
//! record is written instead.

use super::uses::HeldUse;
use crate::audit::{AuditRecord, AuditWriter};
use crate::usage::{Lease, UsageStore};

/// The audit outcome of a fetch whose client went away first.
pub(super) const ABORTED: &str = "aborted";
/// The status written with [`ABORTED`]: no status was answered (as nginx's
/// "client closed request").
pub(super) const ABORTED_STATUS: u16 = 499;

/// The record of a fetch being served, and its lease once it holds one.
pub(super) struct PendingFetch<U: UsageStore> {
    /// Filled in as the fetch learns who asks what.
    pub(super) record: AuditRecord,
    /// The use held for this fetch (or to take), if its token has a limit.
    pub(super) held: Option<HeldUse>,
    usage: U,
    audit: AuditWriter,
    armed: bool,
}

// === impl PendingFetch ===

impl<U: UsageStore> PendingFetch<U> {
    pub(super) fn new(record: AuditRecord, usage: U, audit: AuditWriter) -> Self {
        Self { record, held: None, usage, audit, armed: true }
    }

    /// The fetch is settled: its owner writes the record and settles the
    /// use from here on.
    pub(super) fn disarm(mut self) -> (AuditRecord, Option<HeldUse>) {
        self.armed = false;
        (self.record.clone(), self.held.take())
    }
}

impl<U: UsageStore> Drop for PendingFetch<U> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("a fetch was abandoned outside the runtime; its lease expires by itself");
            return;
        };
        let lease = match self.held.take() {
            Some(HeldUse::Leased(lease)) => Some(lease),
            Some(HeldUse::ToTake(_)) | None => None,
        };
        let (usage, audit) = (self.usage.clone(), self.audit.clone());
        let mut record = self.record.clone();
        let detail = if lease.is_some() {
            "the client went away before the answer was ready; the reserved use was released"
        } else {
            "the client went away before the answer was ready"
        };
        record.finish(ABORTED, ABORTED_STATUS, Some(detail.to_owned()));
        runtime.spawn(async move {
            if let Some(lease) = lease {
                release_abandoned(&usage, &lease).await;
            }
            if let Err(err) = audit.write(&record).await {
                tracing::error!(error = %err, "failed to audit an abandoned fetch");
            }
        });
    }
}

/// Gives back the lease of a fetch that nobody waits for any more.
pub(super) async fn release_abandoned<U: UsageStore>(usage: &U, lease: &Lease) {
    if let Err(err) = usage.release(lease).await {
        tracing::warn!(error = %err, "failed to release the use of an abandoned fetch; it returns when its lease ends");
    }
}

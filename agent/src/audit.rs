//! The audit log (SecretFetchLogger): one JSON line per token generation,
//! secret fetch and key list (layer L1).
//!
//! [`record`] defines the line; [`writer`] is the task that appends lines in
//! batches and acknowledges each one, so the use cases can hold a secret back
//! until its record is written (docs/API.md §5). Audit is not logging: nothing
//! here goes through `tracing`.

pub mod record;
pub mod writer;

pub use record::{AuditEvent, AuditRecord};
pub use writer::{AuditCounters, AuditError, AuditSink, AuditWriter};

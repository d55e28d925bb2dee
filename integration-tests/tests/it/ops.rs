//! Running the agent (operator guide "Operations"): start-up and shutdown,
//! probes and limits, the TLS listener, logging, `doctor`, start-up hints,
//! the audit log when writing it fails.

mod audit_sink;
mod doctor;
mod lifecycle;
mod logging;
pub(crate) mod logs;
mod probes;
mod startup_hints;
mod tls;
mod troubleshooting;

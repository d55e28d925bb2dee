//! `vanta-agent`: the VANTA secrets sidecar.
//!
//! It mints short-lived JWTs scoped to one environment and a glob of keys,
//! validates them, decrypts single keys out of SOPS files by running the real
//! `sops`, and writes a JSONL audit record of every attempt.
//!
//! # Layout
//! Lower layers never use higher ones, and leaves never use each other.
//! - L0, plain data: [`peer`] (and the `vanta-shared` crate).
//! - L1, leaves: [`config`] (flags and env), [`logging`], [`shutdown`],
//!   [`hardening`], [`token`] (issue and validate JWTs), [`access`]
//!   (scope checks), [`sops`] (run sops, parse its output), [`usage`]
//!   (durable use counts and revocations: SQLite or a shared Redis), [`audit`] (JSONL records and their writer),
//!   [`transport`] (the Unix socket listener).
//! - L2: [`vault`], the use cases, ordering the steps the contract orders.
//! - L3: [`http`], routes and the one error-to-status table.
//! - L4: [`app`], wiring, serving and orderly shutdown.
#![forbid(unsafe_code)]

pub mod access;
pub mod app;
pub mod audit;
pub mod config;
pub mod hardening;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod peer;
pub mod shutdown;
pub mod sops;
pub mod token;
pub mod transport;
pub mod usage;
pub mod vault;

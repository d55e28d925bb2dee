//! `vanta-agent`: the VANTA secrets sidecar.
//!
//! It mints short-lived JWTs scoped to one environment and a glob of keys,
//! validates them, decrypts single keys out of SOPS files by running the real
//! `sops`, and writes a JSONL audit record of every attempt.
//!
//! # Layout
//! Lower layers never use higher ones, and leaves never use each other.
//! - L0, plain data: [`peer`] (and the `vanta-shared` crate).
//! - L1, leaves: [`config`] (flags and environment in, a checked `Config`
//!   out, one part per component `app` builds), [`logging`] (stderr, set from that configuration), [`shutdown`]
//!   (signals), [`hardening`] (no core dumps, not dumpable), [`open_files`]
//!   (the open-file limit raised to the hard one), [`metrics`]
//!   (the Prometheus registry), [`token`] (issue and validate JWTs),
//!   [`etag`] (tags of read answers), [`access`] (scope checks, the admin
//!   credential), [`attest`] (what the kernel says about a local caller),
//!   [`policy`] (per-caller minting rules), [`sops`] (run sops, cache and
//!   parse its output), [`usage`] (durable use counts and revocations: SQLite or a shared
//!   Redis), [`audit`] (JSONL records and their writer task), [`transport`]
//!   (the Unix socket and TCP listeners behind one accept, a connection cap
//!   per listener).
//! - L2: [`vault`], the use cases, ordering the steps the contract orders.
//! - L3: [`http`], routes, request limits and deadlines, the one error
//!   table, request metrics.
//! - L4: [`app`], wiring: each component from its part of the `Config` in
//!   one call, serving connections, housekeeping in its own task, orderly
//!   shutdown; `app::run(config, shutdown)` for in-process tests.
//!   [`doctor`], the `vanta-agent doctor` checks; [`commands`], the other
//!   subcommands that do not serve (`policy check`, `policy explain`).
#![forbid(unsafe_code)]

pub mod access;
pub mod app;
pub mod attest;
pub mod audit;
pub mod commands;
pub mod config;
pub mod doctor;
pub mod etag;
pub mod hardening;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod open_files;
pub mod peer;
pub mod policy;
pub mod shutdown;
pub mod sops;
pub mod token;
pub mod transport;
pub mod usage;
pub mod vault;

//! Benchmark tools for VANTA, driven by `scripts/bench.sh` (`make bench`).
//!
//! Nothing here is part of the product: these are the instruments that measure
//! `vanta-agent` from the outside, over its Unix socket, the way a client does.
//!
//! # Layout
//! - [`latency`]: latency samples and their percentiles (plain data).
//! - [`load`]: the load generator behind `vanta-load`: N keep-alive HTTP/1.1
//!   connections on a Unix socket, one task each, requests back to back.
//! - [`ceiling`]: the bare hyper server behind `ceiling-server`, answering a
//!   fixed JSON body with the agent's per-connection structure (the ceiling).
//! - [`startup`]: behind `startup-time`: spawn a server, poll `/healthz`.
//! - [`propagation`]: behind `revoke-propagation`: revoke at one agent,
//!   time until another refuses.
//! - [`report`]: behind `bench-report`: medians of the runs, `PERFORMANCE.md`.
#![forbid(unsafe_code)]

pub mod ceiling;
pub mod latency;
pub mod load;
pub mod propagation;
pub mod report;
pub mod startup;

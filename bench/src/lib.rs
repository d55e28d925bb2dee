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

/// Prints a tool's report as one line of JSON on stdout, or its error on
/// stderr; the exit code says which.
pub fn print_report<T: serde::Serialize>(tool: &str, report: anyhow::Result<T>) -> std::process::ExitCode {
    match report.and_then(|report| Ok(serde_json::to_string(&report)?)) {
        Ok(json) => {
            println!("{json}");
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{tool}: error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

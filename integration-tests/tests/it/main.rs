//! Black-box tests of `vanta-agent` and `vanta-cli` against the real `sops`
//! (CONTRACT.md). One test binary; each module covers one part of the contract.

// In tests a panic is a failed test, with its location: unwrap is fine here.
#![allow(clippy::unwrap_used)]

mod common;
mod dotenv;

mod audit;
mod auth;
mod cli_get;
mod cli_run;
mod cli_signals;
mod cli_tcp;
mod cli_token;
mod fleet;
mod helpers;
mod lifecycle;
mod listing;
mod ops;
mod revocation;
mod run_completions;
mod run_dotenv_python;
mod run_exit_codes;
mod run_feedback;
mod run_fifo;
mod run_files;
mod run_inject;
mod run_signals;
mod run_support;
mod run_terminal;
mod secrets;
mod security_hygiene;
mod security_minting;
mod security_request_header;
mod security_rotation;
mod security_tokens;
mod security_usage;
mod sops_runs;
mod tls;
mod tokens;
mod upstream;
mod usage;
mod usage_leases;

//! Black-box tests of `vanta-agent` and `vanta-cli` against the real `sops`
//! (docs/API.md). One test binary; each module covers one part of the contract.

// In tests a panic is a failed test, with its location: unwrap is fine here.
#![allow(clippy::unwrap_used)]

mod audit;
mod auth;
mod cli_colour;
mod cli_completions;
mod cli_get;
mod cli_hardening;
mod cli_list;
mod cli_run;
mod cli_signals;
mod cli_tcp;
mod cli_token;
mod common;
mod docs_troubleshooting;
mod doctor;
mod dotenv;
mod formats;
mod helpers;
mod lifecycle;
mod listing;
mod logging;
mod logs;
mod ops;
mod run_completions;
mod run_dotenv_python;
mod run_exit_codes;
mod run_feedback;
mod run_fifo;
mod run_files;
mod run_inject;
mod run_mask;
mod run_options;
mod run_signals;
mod run_support;
mod run_terminal;
mod run_watch;
mod secrets;
mod security_doors;
mod security_hygiene;
mod security_inputs;
mod security_minting;
mod security_permissions;
mod security_policy;
mod security_request_header;
mod security_rotation;
mod security_tokens;
mod security_usage;
mod sops_failures;
mod sops_runs;
mod startup_hints;
mod tls;
mod tokens;
mod upstream;
mod usage;
mod usage_leases;

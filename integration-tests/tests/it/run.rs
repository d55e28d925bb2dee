//! `vanta-cli run-with-secrets` (docs/API.md §6, operator guide "vanta-cli
//! run-with-secrets"): what the command gets, files and FIFOs, exit codes, signals,
//! masking, watching, terminals; `support` holds their shared fixtures.

mod basics;
mod completions;
mod dotenv;
mod dotenv_python;
mod exit_codes;
mod feedback;
mod fifo;
mod files;
mod inject;
mod mask;
mod options;
mod signals;
pub(crate) mod support;
mod terminal;
mod watch;

//! The HTTP API over the socket (docs/API.md §4, §5): minting, fetching, listing,
//! every refusal, usage limits, the audit log, every sops file format and failure.

mod audit;
mod auth;
mod bodies;
mod changes;
mod fleet;
mod formats;
mod listing;
mod openapi;
mod secrets;
mod sops_failures;
pub(crate) mod sops_runs;
mod tokens;
mod upstream;
mod usage;
mod usage_leases;

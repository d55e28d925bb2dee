//! `vanta-cli` apart from `run-with-secrets` (docs/API.md §6, operator guide
//! "vanta-cli"): `token generate`, `get`, `list`, `health`, TCP, completions, colour,
//! hardening, and the messages the troubleshooting section lists.

mod colour;
mod completions;
mod deadline;
mod get;
mod hardening;
mod list;
mod tcp;
mod token;
mod troubleshooting;

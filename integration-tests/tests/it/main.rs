//! Black-box tests of `vanta-agent` and `vanta-cli` against the real `sops`
//! (docs/API.md). One test binary, its modules grouped by area:
//! `api`, `cli`, `run`, `security`, `ops`; `common` and `helpers` serve them all.

// In tests a panic is a failed test, with its location: unwrap is fine here.
#![allow(clippy::unwrap_used)]

mod api;
mod cli;
mod common;
mod helpers;
mod messages;
mod ops;
mod run;
mod security;

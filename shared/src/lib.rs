//! Types shared by `vanta-agent` and `vanta-cli` (layer L0: plain data, no I/O).
//!
//! Everything that both sides of the wire must agree on lives here, so the
//! agent and the client cannot drift apart.
//!
//! # Layout
//! - [`env_name`]: validated environment names (`dev`, `prod-eu`).
//! - [`key_path`]: validated key paths into the YAML tree (`API_KEYS/stripe`).
//! - [`key_pattern`]: validated wildmatch globs over key paths.
//! - [`scope`]: what a token allows (environment + key pattern + permissions).
//! - [`claims`]: the JWT claim set the agent writes and accepts.
//! - [`api`]: request and response bodies of the HTTP API, and its routes.
//! - [`error_code`]: the machine-readable `error` codes of error bodies.
//! - [`defaults`]: default values shared by agent and client (socket path, ...).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api;
pub mod claims;
pub mod defaults;
pub mod env_name;
pub mod error_code;
pub mod key_path;
pub mod key_pattern;
pub mod scope;

pub use claims::Claims;
pub use env_name::EnvName;
pub use error_code::ErrorCode;
pub use key_path::KeyPath;
pub use key_pattern::KeyPattern;
pub use scope::{Permission, Scope};

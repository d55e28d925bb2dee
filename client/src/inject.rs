//! How secrets reach the command of `run-with-secrets` (client leaf layer,
//! below `commands`; uses `vanta_shared` and external crates only).
//!
//! - [`env_vars`]: key paths to variable names, with collision detection.
//! - [`dotenv`]: the private `secrets.env` file and its quoting.
//!
//! Nothing here talks to the agent, spawns processes or prints.

pub(crate) mod dotenv;
pub(crate) mod env_vars;

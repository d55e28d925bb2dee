//! How secrets reach the command of `run-with-secrets` (client leaf layer,
//! below `commands`; uses `vanta_shared` and external crates only).
//!
//! - [`env_vars`]: key paths to variable names: prefix, renames,
//!   collisions, dangerous names.
//! - [`environment`]: the command's whole environment (`--pristine`, the
//!   token variables, what was overridden).
//! - [`dotenv`], [`json`]: the two file formats, as text.
//! - [`private_dir`]: the 0700 directory, its 0600 file or pipe, and the
//!   removal of directories left by killed runs.
//! - [`fifo`]: serving a named pipe to one reader.
//!
//! Nothing here talks to the agent, spawns processes or prints.

pub(crate) mod dotenv;
pub(crate) mod env_vars;
pub(crate) mod environment;
pub(crate) mod fifo;
pub(crate) mod json;
pub(crate) mod private_dir;

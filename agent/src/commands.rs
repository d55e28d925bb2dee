//! Subcommands that do not serve (layer L4): they print to stdout and
//! return; errors are start-up errors (exit code 2), like a bad configuration.

use crate::app::AppError;
use crate::config::Command;

mod policy;

/// Runs `command`.
///
/// # Errors
/// [`AppError::Startup`] with what went wrong.
pub fn run(command: Command) -> Result<(), AppError> {
    match command {
        Command::Policy(policy) => policy::run(policy).map_err(AppError::Startup),
    }
}

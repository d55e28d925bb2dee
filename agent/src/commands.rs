//! Subcommands that do not serve (layer L4): they print to stdout and
//! return; errors are start-up errors (exit code 2), like a bad configuration.

use crate::app::AppError;
use crate::config::PolicyCommand;

mod policy;

/// Runs `vanta-agent policy …`.
///
/// # Errors
/// [`AppError::Startup`] with what went wrong.
pub fn policy(command: PolicyCommand, policy_file: Option<&std::path::Path>) -> Result<(), AppError> {
    policy::run(command, policy_file).map_err(AppError::Startup)
}

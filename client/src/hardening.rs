//! Process hardening before any command runs (client leaf layer, used by
//! `commands`): not dumpable, and no core file.
//!
//! `get` and `run-with-secrets` hold tokens and secret values in memory.
//! A non-dumpable process cannot be attached with ptrace, nor its
//! `/proc/<pid>/mem` and `/proc/<pid>/environ` read, by other processes of
//! the same user; a zero core limit keeps a crash from writing secrets to
//! disk. The agent does the same. Only the soft core limit is lowered: the
//! child of `run-with-secrets` inherits it and may raise it again up to the
//! hard limit, and is dumpable again after `execve` (the kernel resets the
//! flag), so the program it runs behaves as it would without VANTA.

use nix::sys::prctl;
use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Applies both protections.
///
/// # Errors
/// The errno of the call that failed.
pub(crate) fn apply() -> nix::Result<()> {
    let (_, hard) = getrlimit(Resource::RLIMIT_CORE)?;
    setrlimit(Resource::RLIMIT_CORE, 0, hard)?;
    prctl::set_dumpable(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_is_not_dumpable_and_cannot_dump_core() {
        apply().expect("hardened");
        assert!(!prctl::get_dumpable().expect("readable"));
        assert_eq!(getrlimit(Resource::RLIMIT_CORE).expect("readable").0, 0);
    }
}

//! Process hardening at start-up (layer L1): no core dumps, not dumpable.
//!
//! The agent holds the JWT key and decrypted secrets in memory. Marking the
//! process non-dumpable stops another process of the same user from
//! attaching with ptrace or reading `/proc/<pid>/mem`, and a zero core limit
//! keeps a crash from writing secrets to disk.

use nix::sys::prctl;
use nix::sys::resource::{Resource, setrlimit};

/// Applies both protections.
///
/// # Errors
/// The errno of the call that failed.
pub fn apply() -> nix::Result<()> {
    setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
    prctl::set_dumpable(false)
}

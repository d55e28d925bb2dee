//! The open-file limit (layer L1): raised at start-up to what the
//! connection caps need, as far as the hard limit allows.
//!
//! Every connection holds a descriptor, two on the socket with a policy
//! file (the caller's pidfd, `transport::unix`), and each sops run a few
//! more. Linux's default soft limit (1024) is below what the default caps
//! need (1024 on the socket, 256 over TCP), while the hard limit usually
//! allows it (systemd and container runtimes set 524,288 or more). So the
//! agent raises its soft limit to what its caps need, no further: sops and
//! what it starts inherit the limit, and some programs misbehave with a huge
//! one (they close or `select` every descriptor up to it). When even the
//! hard limit is short, the agent warns.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// What to do when the limit is short.
pub const FIX: &str =
    "raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower --max-connections/--max-tcp-connections";

/// Descriptors needed beside connections: listeners, the audit file, the
/// usage store, inotify, sops' pipes and stdio, with room to spare.
const RESERVE: u64 = 64;

/// The descriptors the connection caps need at most: `socket_cap` socket
/// connections (each with a pidfd when `pinned`) and `tcp_cap` TCP ones.
pub fn needed(socket_cap: usize, pinned: bool, tcp_cap: usize) -> u64 {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let per_socket_connection = if pinned { 2 } else { 1 };
    count(socket_cap).saturating_mul(per_socket_connection).saturating_add(count(tcp_cap)).saturating_add(RESERVE)
}

/// Raises the soft limit on open files to `needed`, or to the hard limit
/// if that is lower; never lowers it. The (soft, hard) limits now.
///
/// # Errors
/// The errno of `getrlimit` or `setrlimit`.
pub fn raise(needed: u64) -> nix::Result<(u64, u64)> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let wanted = needed.min(hard);
    if soft < wanted {
        setrlimit(Resource::RLIMIT_NOFILE, wanted, hard)?;
        return Ok((wanted, hard));
    }
    Ok((soft, hard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_socket_connection_needs_two_descriptors() {
        assert_eq!(needed(1024, false, 256), 1024 + 256 + RESERVE);
        assert_eq!(needed(1024, true, 0), 2048 + RESERVE);
        assert_eq!(needed(usize::MAX, true, usize::MAX), u64::MAX);
    }

    // Raising is tested on the agent started under `prlimit` (black-box):
    // here it would change the limit of the whole test process.
    #[test]
    fn a_limit_that_suffices_is_left_as_it_is() {
        let now = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        assert_eq!(raise(1).expect("raise"), now);
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit"), now);
    }
}

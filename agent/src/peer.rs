//! Who is calling: the peer of a connection, and a local caller as the
//! kernel describes it (layer L0, plain data; no I/O).

use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

/// The other end of a connection, as the audit log records it
/// (docs/VAULT_ACCESS_SYSTEM_README.md, "Audit log").
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Peer {
    /// A process on this host, from the Unix socket's peer credentials.
    Unix {
        /// Effective user id.
        uid: u32,
        /// Effective group id.
        gid: u32,
        /// Process id, when the kernel reports one.
        pid: Option<i32>,
        /// The process that connected, pinned when the connection was
        /// accepted (only when callers are attested): attestation refuses
        /// it once it has exited, and never describes another process given
        /// the same pid. Not audited.
        #[serde(skip)]
        process: Option<PinnedProcess>,
    },
    /// A TCP client, by IP address.
    Tcp(IpAddr),
    /// Credentials could not be read (should not happen on Linux).
    Unknown,
}

/// How the agent holds on to the process at the other end of a connection.
#[derive(Clone, Debug)]
pub enum PinnedProcess {
    /// A pidfd, the kernel's handle on the process itself (not on its
    /// number): from the connection (`SO_PEERPIDFD`, Linux 6.5; the process
    /// that called `connect`), else opened by pid at the accept
    /// (`pidfd_open`, Linux 5.3).
    Pidfd(Arc<OwnedFd>),
    /// The start time (clock ticks after boot) read at the accept, on a
    /// kernel without pidfds. Coarse: a process given the same pid within
    /// the same clock tick (10 ms) passes for the one that connected.
    StartTime(u64),
}

impl PartialEq for PinnedProcess {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Pidfd(a), Self::Pidfd(b)) => Arc::ptr_eq(a, b),
            (Self::StartTime(a), Self::StartTime(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for PinnedProcess {}

/// A local caller, attested from the kernel: the peer credentials of its
/// connection and what `/proc/PID/` says about the process. Nothing here
/// comes from the request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// Process id (`None` when described by hand).
    pub pid: Option<i32>,
    /// Effective user id.
    pub uid: u32,
    /// Effective (primary) group id.
    pub gid: u32,
    /// Supplementary group ids.
    pub groups: Vec<u32>,
    /// The user name of `uid`, if the agent's user database has one.
    pub user: Option<String>,
    /// The names of `gid` and `groups` that the agent's group database has.
    pub group_names: Vec<String>,
    /// The executable (`/proc/PID/exe`), if readable.
    pub exe: Option<PathBuf>,
    /// SHA-256 of the executable, lower-case hex, when a rule asks for it.
    pub exe_sha256: Option<String>,
    /// The cgroup path (the cgroup v2 line of `/proc/PID/cgroup`).
    pub cgroup: Option<String>,
    /// The caller runs in another user namespace than the agent (or its
    /// namespace could not be read): there it may mount any file at any
    /// path, so its `exe` path proves nothing (its `exe_sha256` still does:
    /// the hash is of the file actually running).
    pub foreign_user_namespace: bool,
}

/// The start time (field 22 of `/proc/PID/stat`, clock ticks after boot),
/// from the text of that file.
pub fn start_time_from_stat(stat: &str) -> Option<u64> {
    // Field 22 is the 20th after the name.
    fields_after_name(stat)?.nth(19)?.parse().ok()
}

/// Whether a `/proc/PID/stat` text is that of a zombie (state `Z`, field 3).
pub fn is_zombie_stat(stat: &str) -> bool {
    fields_after_name(stat).and_then(|mut fields| fields.next()) == Some("Z")
}

/// Fields 3 (the state) onwards of a `/proc/PID/stat` text: counted after
/// the last `)`, since the command name in field 2 may itself hold spaces
/// and parentheses.
fn fields_after_name(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    stat.rsplit_once(')').map(|(_, after_name)| after_name.split_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_field_22_even_with_odd_command_names() {
        let rest = "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 20 21";
        assert_eq!(start_time_from_stat(&format!("77 (sleep) {rest}")), Some(424_242));
        assert_eq!(start_time_from_stat(&format!("77 (a) b) (c) {rest}")), Some(424_242));
        assert_eq!(start_time_from_stat("77 (sleep) S 1 2"), None);
        assert_eq!(start_time_from_stat("garbage"), None);
        assert!(is_zombie_stat("77 (a) S) Z 1 2"), "the state after the last ')'");
        assert!(!is_zombie_stat(&format!("77 (Z) {rest}")));
        assert!(!is_zombie_stat("garbage"));
    }
}

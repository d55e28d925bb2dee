//! Caller attestation (layer L1): what the kernel says about the process on
//! the other end of a Unix socket connection.
//!
//! The uid and gid are the connection's peer credentials (fixed by the kernel
//! at `connect`); the rest is read from `/proc/PID/`: supplementary groups,
//! the executable, its SHA-256 (only when a rule asks for it) and the cgroup.
//! The process's start time is read before and after, and must equal the one
//! read when the connection was accepted: a process that exited, or another
//! process that was given the same pid, is refused, never guessed. Blocking
//! file I/O: callers run it off the async workers. Knows nothing of rules.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use nix::unistd::{Gid, Group, Uid, User};
use sha2::{Digest, Sha256};

use crate::peer::{Caller, start_time_from_stat};

/// The peer credentials a connection was accepted with.
#[derive(Debug, Clone, Copy)]
pub struct Credentials {
    /// Process id.
    pub pid: i32,
    /// Effective user id at connect.
    pub uid: u32,
    /// Effective group id at connect.
    pub gid: u32,
    /// Start time read at accept (`None`: the process was already gone).
    pub started: Option<u64>,
}

/// Why a caller could not be attested. Goes to the audit log only.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// The process is gone (it exited before or during attestation).
    #[error("caller process {0} exited before it could be attested")]
    Exited(i32),
    /// The kernel gave no pid for the connection.
    #[error("the connection's peer credentials carry no pid")]
    NoPid,
    /// The pid now names a process that started at another time.
    #[error("caller pid {0} was reused by another process")]
    Reused(i32),
    /// A `/proc` file could not be read for another reason.
    #[error("failed to read {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

// === attestation ===

/// Attests the peer of an accepted connection.
///
/// # Errors
/// [`AttestError`] when the process exited, its pid was reused, or `/proc`
/// cannot be read.
pub fn attest(creds: Credentials, hash_exe: bool) -> Result<Caller, AttestError> {
    let Credentials { pid, uid, gid, started } = creds;
    let before = start_time(pid)?;
    if started != Some(before) {
        return Err(if started.is_none() { AttestError::Exited(pid) } else { AttestError::Reused(pid) });
    }
    let caller = describe(pid, uid, gid, hash_exe)?;
    if start_time(pid)? != before {
        return Err(AttestError::Reused(pid));
    }
    Ok(caller)
}

/// Attests a running process by pid alone (for `policy explain --pid`): the
/// uid and gid are its effective ones from `/proc/PID/status`.
///
/// # Errors
/// As [`attest`].
pub fn attest_pid(pid: i32, hash_exe: bool) -> Result<Caller, AttestError> {
    let started = Some(start_time(pid)?);
    let status = read(pid, "status")?;
    let (uid, gid) = (status_id(&status, "Uid:"), status_id(&status, "Gid:"));
    let missing = || AttestError::Read { path: proc_path(pid, "status"), source: io::ErrorKind::InvalidData.into() };
    attest(Credentials { pid, uid: uid.ok_or_else(missing)?, gid: gid.ok_or_else(missing)?, started }, hash_exe)
}

fn describe(pid: i32, uid: u32, gid: u32, hash_exe: bool) -> Result<Caller, AttestError> {
    let status = read(pid, "status")?;
    let groups = status_list(&status, "Groups:");
    let exe = fs::read_link(proc_path(pid, "exe")).ok();
    let exe_sha256 = if hash_exe { sha256_file(&proc_path(pid, "exe")).ok() } else { None };
    let cgroup = cgroup_path(&read(pid, "cgroup")?);
    let mut caller = Caller { pid: Some(pid), uid, gid, groups, exe, exe_sha256, cgroup, ..Caller::default() };
    name_ids(&mut caller);
    Ok(caller)
}

/// Fills in the user and group names the agent's databases know.
pub fn name_ids(caller: &mut Caller) {
    caller.user = User::from_uid(Uid::from_raw(caller.uid)).ok().flatten().map(|u| u.name);
    let gids = std::iter::once(caller.gid).chain(caller.groups.iter().copied());
    caller.group_names =
        gids.filter_map(|g| Group::from_gid(Gid::from_raw(g)).ok().flatten().map(|g| g.name)).collect();
}

fn start_time(pid: i32) -> Result<u64, AttestError> {
    let stat = read(pid, "stat")?;
    start_time_from_stat(&stat)
        .ok_or_else(|| AttestError::Read { path: proc_path(pid, "stat"), source: io::ErrorKind::InvalidData.into() })
}

fn proc_path(pid: i32, file: &str) -> String {
    format!("/proc/{pid}/{file}")
}

fn read(pid: i32, file: &str) -> Result<String, AttestError> {
    let path = proc_path(pid, file);
    fs::read_to_string(&path).map_err(|source| match source.raw_os_error() {
        Some(nix::libc::ENOENT | nix::libc::ESRCH) => AttestError::Exited(pid),
        _ => AttestError::Read { path, source },
    })
}

/// The effective id (second column) of a `Uid:`/`Gid:` line.
fn status_id(status: &str, field: &str) -> Option<u32> {
    status_list(status, field).get(1).copied()
}

fn status_list(status: &str, field: &str) -> Vec<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix(field)).unwrap_or_default();
    line.split_whitespace().filter_map(|n| n.parse().ok()).collect()
}

/// The cgroup v2 path (`0::/…`), else the path of the first v1 line.
fn cgroup_path(text: &str) -> Option<String> {
    let path_of = |line: &str| line.splitn(3, ':').nth(2).map(str::to_owned);
    text.lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
        .or_else(|| text.lines().next().and_then(path_of))
}

fn sha256_file(path: &str) -> io::Result<String> {
    let mut file = fs::File::open(Path::new(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attests_this_process_and_refuses_a_wrong_start_time() {
        let pid = i32::try_from(std::process::id()).expect("pid fits");
        let me = attest_pid(pid, true).expect("this process can be attested");
        assert_eq!(me.uid, nix::unistd::geteuid().as_raw());
        assert_eq!(me.exe, std::env::current_exe().ok());
        let exe_bytes = fs::read(std::env::current_exe().expect("exe")).expect("read exe");
        let want: String = Sha256::digest(&exe_bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(me.exe_sha256.as_deref(), Some(want.as_str()));
        assert!(me.cgroup.is_some());
        let started = start_time(pid).expect("start time");
        let creds = Credentials { pid, uid: me.uid, gid: me.gid, started: Some(started + 1) };
        assert!(matches!(attest(creds, false), Err(AttestError::Reused(_))));
        let creds = Credentials { started: None, ..creds };
        assert!(matches!(attest(creds, false), Err(AttestError::Exited(_))));
    }

    #[test]
    fn a_process_that_is_gone_is_refused() {
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = i32::try_from(child.id()).expect("pid fits");
        child.wait().expect("reap");
        let creds = Credentials { pid, uid: 0, gid: 0, started: Some(1) };
        assert!(matches!(attest(creds, false), Err(AttestError::Exited(_) | AttestError::Reused(_))));
    }

    #[test]
    fn cgroup_and_status_lines_are_parsed() {
        assert_eq!(cgroup_path("0::/kubepods/pod1234/abc\n").as_deref(), Some("/kubepods/pod1234/abc"));
        assert_eq!(cgroup_path("12:cpu,cpuacct:/docker/x\n1:name=systemd:/y\n").as_deref(), Some("/docker/x"));
        let status = "Name:\tx\nUid:\t0\t1001\t1001\t1001\nGid:\t5\t6\t6\t6\nGroups:\t10 20 \n";
        assert_eq!(status_id(status, "Uid:"), Some(1001));
        assert_eq!(status_id(status, "Gid:"), Some(6));
        assert_eq!(status_list(status, "Groups:"), vec![10, 20]);
    }
}

//! Caller attestation (layer L1): what the kernel says about the process on
//! the other end of a Unix socket connection.
//!
//! The uid and gid are the connection's peer credentials (fixed by the kernel
//! at `connect`); the rest is read from `/proc/PID/`: supplementary groups,
//! the executable, its SHA-256 (only when a rule asks for it) and the cgroup.
//! The directory is opened once and every file is read through it
//! ([`ProcDir`]): the kernel ties that handle to the process, not to its
//! number, so all reads describe one process, and fail once it is gone
//! rather than describe another process that was given the same pid. That
//! the directory is the one of the process that connected is proven by the
//! process pinned at the accept ([`PinnedProcess`]): its pidfd must still
//! name a live process after the directory was opened (a pid is not given
//! to another process while its holder lives), or, without pidfds, its
//! start time must agree. A process that exited, or a newcomer at its pid,
//! is refused, never guessed.
//!
//! Reading `/proc` is quick (in-memory files); hashing an executable is not,
//! so [`Attestor`] remembers each file's hash by its identity (device, inode,
//! size, ctime, which any change to the file moves), and callers hash off the
//! async workers. User and group names (NSS lookups) are read only when
//! asked for. Knows nothing of rules.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use nix::unistd::{Gid, Group, Uid, User};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::{Mode, OFlags};
use sha2::{Digest, Sha256};

use crate::peer::{Caller, PinnedProcess, is_zombie_stat, start_time_from_stat};

/// The peer credentials a connection was accepted with.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Process id.
    pub pid: i32,
    /// Effective user id at connect.
    pub uid: u32,
    /// Effective group id at connect.
    pub gid: u32,
    /// The process pinned at the accept; `None`: not pinned, so nothing ties
    /// the process to the connection beyond its pid (the reads of one
    /// attestation still describe one process).
    pub process: Option<PinnedProcess>,
}

/// What to find out beyond ids, executable path and cgroup.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wants {
    /// User and group names (NSS lookups).
    pub names: bool,
    /// The executable's SHA-256.
    pub exe_hash: bool,
}

/// Attests callers; remembers executables' hashes. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Attestor {
    hashes: Arc<Mutex<HashMap<FileId, String>>>,
}

/// A file's identity: any write to it moves its ctime, which no caller can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    ctime: i64,
    ctime_nsec: i64,
}

/// Most executables' hashes remembered; the memory is dropped when full.
const MAX_HASHES: usize = 1024;

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

// === impl Attestor ===

impl Attestor {
    /// Attests the peer of an accepted connection.
    ///
    /// # Errors
    /// [`AttestError`] when the process exited, its pid was reused, or `/proc`
    /// cannot be read.
    pub fn attest(&self, creds: Credentials, wants: Wants) -> Result<Caller, AttestError> {
        let process = ProcDir::open(creds.pid)?;
        // Without a pinned process, the handle alone keeps the reads to one
        // process.
        match &creds.process {
            Some(PinnedProcess::Pidfd(pidfd)) => match has_exited(pidfd) {
                Ok(false) => {}
                Ok(true) => return Err(process.gone()),
                Err(source) => return Err(AttestError::Read { path: "the caller's pidfd".into(), source }),
            },
            Some(PinnedProcess::StartTime(started)) if process.start_time()? != *started => {
                return Err(AttestError::Reused(creds.pid));
            }
            _ => {}
        }
        let status = process.read("status")?;
        self.describe(&process, &status, creds.uid, creds.gid, wants)
    }

    /// Attests a running process by pid alone (for `policy explain --pid`):
    /// the uid and gid are its effective ones from `/proc/PID/status`.
    ///
    /// # Errors
    /// As [`Attestor::attest`].
    pub fn attest_pid(&self, pid: i32, wants: Wants) -> Result<Caller, AttestError> {
        let process = ProcDir::open(pid)?;
        let status = process.read("status")?;
        let (uid, gid) = (status_id(&status, "Uid:"), status_id(&status, "Gid:"));
        let missing =
            || AttestError::Read { path: proc_path(pid, "status"), source: io::ErrorKind::InvalidData.into() };
        self.describe(&process, &status, uid.ok_or_else(missing)?, gid.ok_or_else(missing)?, wants)
    }

    /// The caller, from its `status` text and the rest of `process`.
    fn describe(
        &self,
        process: &ProcDir,
        status: &str,
        uid: u32,
        gid: u32,
        wants: Wants,
    ) -> Result<Caller, AttestError> {
        let groups = status_list(status, "Groups:");
        let exe = process.exe_path();
        let exe_sha256 =
            if wants.exe_hash { process.open_file("exe").and_then(|file| self.sha256(file)).ok() } else { None };
        let cgroup = cgroup_path(&process.read("cgroup")?);
        let pid = Some(process.pid);
        let foreign_user_namespace = exe.is_some() && !in_own_user_namespace(process);
        let mut caller =
            Caller { pid, uid, gid, groups, exe, exe_sha256, cgroup, foreign_user_namespace, ..Caller::default() };
        if wants.names {
            name_ids(&mut caller);
        }
        Ok(caller)
    }

    /// The hash of `file`, remembered by the file's identity; a file that
    /// changes while it is hashed is not remembered.
    fn sha256(&self, mut file: fs::File) -> io::Result<String> {
        let id = file_id(&file.metadata()?);
        let known = self.hashes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&id).cloned();
        if let Some(hash) = known {
            return Ok(hash);
        }
        let hash = sha256_file(&mut file)?;
        if file_id(&file.metadata()?) == id {
            let mut hashes = self.hashes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if hashes.len() >= MAX_HASHES {
                hashes.clear();
            }
            hashes.insert(id, hash.clone());
        }
        Ok(hash)
    }
}

/// `/proc/PID/`, opened once. The kernel ties the handle to the process
/// that had the pid when it was opened: a file opened through it later
/// describes that process, or fails (`ESRCH`, `ENOENT`) once it is gone,
/// even if a new process has been given the same pid meanwhile. So one
/// attestation cannot mix two processes, with no second read of the start
/// time to prove it.
struct ProcDir {
    pid: i32,
    dir: fs::File,
}

// === impl ProcDir ===

impl ProcDir {
    fn open(pid: i32) -> Result<Self, AttestError> {
        let path = format!("/proc/{pid}");
        let dir = fs::File::open(&path).map_err(|source| read_error(pid, path, source))?;
        Ok(Self { pid, dir })
    }

    /// Opens `file` (a name in the directory, such as `status` or `exe`).
    fn open_file(&self, file: &str) -> io::Result<fs::File> {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC;
        Ok(fs::File::from(rustix::fs::openat(&self.dir, file, flags, Mode::empty())?))
    }

    /// The text of `file`.
    fn read(&self, file: &str) -> Result<String, AttestError> {
        let text = self
            .open_file(file)
            .and_then(read_whole)
            .and_then(|bytes| String::from_utf8(bytes).map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err)));
        text.map_err(|source| read_error(self.pid, proc_path(self.pid, file), source))
    }

    /// Where the `exe` link points, if it can be read (not for kernel
    /// threads, or once the process has exited).
    fn exe_path(&self) -> Option<PathBuf> {
        let target = rustix::fs::readlinkat(&self.dir, "exe", Vec::new()).ok()?;
        Some(PathBuf::from(OsString::from_vec(target.into_bytes())))
    }

    /// The user namespace (`ns/user`, e.g. `user:[4026531837]`), if readable.
    fn user_namespace(&self) -> Option<OsString> {
        let target = rustix::fs::readlinkat(&self.dir, "ns/user", Vec::new()).ok()?;
        Some(OsString::from_vec(target.into_bytes()))
    }

    /// Why the process that connected is not this one, or no longer runs:
    /// this one has exited too (or is a zombie), or it is a newcomer that
    /// was given the pid.
    fn gone(&self) -> AttestError {
        match self.read("stat") {
            Ok(stat) if !is_zombie_stat(&stat) => AttestError::Reused(self.pid),
            _ => AttestError::Exited(self.pid),
        }
    }

    /// The start time (clock ticks after boot), from `stat`.
    fn start_time(&self) -> Result<u64, AttestError> {
        let stat = self.read("stat")?;
        start_time_from_stat(&stat).ok_or_else(|| AttestError::Read {
            path: proc_path(self.pid, "stat"),
            source: io::ErrorKind::InvalidData.into(),
        })
    }
}

/// Whether the process behind `pidfd` has exited: its pidfd is readable
/// then. A failed poll is an error (the caller is refused, never guessed).
fn has_exited(pidfd: &OwnedFd) -> io::Result<bool> {
    let now = Timespec { tv_sec: 0, tv_nsec: 0 };
    loop {
        let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
        match poll(&mut fds, Some(&now)) {
            Ok(ready) => return Ok(ready > 0),
            Err(rustix::io::Errno::INTR) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
}

fn file_id(meta: &fs::Metadata) -> FileId {
    FileId { dev: meta.dev(), ino: meta.ino(), size: meta.size(), ctime: meta.ctime(), ctime_nsec: meta.ctime_nsec() }
}

/// Fills in the user and group names the agent's databases know.
pub fn name_ids(caller: &mut Caller) {
    caller.user = User::from_uid(Uid::from_raw(caller.uid)).ok().flatten().map(|u| u.name);
    let gids = std::iter::once(caller.gid).chain(caller.groups.iter().copied());
    caller.group_names =
        gids.filter_map(|g| Group::from_gid(Gid::from_raw(g)).ok().flatten().map(|g| g.name)).collect();
}

fn proc_path(pid: i32, file: &str) -> String {
    format!("/proc/{pid}/{file}")
}

/// Room for a whole `stat`, `status` or `cgroup` file in one `read(2)`.
const PROC_FILE_CAPACITY: usize = 4096;

/// A `/proc` read failed: the process is gone, or something else.
fn read_error(pid: i32, path: String, source: io::Error) -> AttestError {
    match source.raw_os_error() {
        Some(nix::libc::ENOENT | nix::libc::ESRCH) => AttestError::Exited(pid),
        _ => AttestError::Read { path, source },
    }
}

/// Everything left in `file`, read into a buffer that grows only for a file
/// longer than [`PROC_FILE_CAPACITY`]. Not `fs::read_to_string`: `/proc`
/// files report no size, so it would `statx` first and then read in growing
/// steps, each a system call; with room for the whole file the kernel hands
/// it over in one `read(2)`, and a second one sees the end
/// (docs/PERFORMANCE.md).
fn read_whole(mut file: fs::File) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0; PROC_FILE_CAPACITY];
    let mut len = 0;
    loop {
        if len == bytes.len() {
            bytes.resize(len * 2, 0);
        }
        match file.read(&mut bytes[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    bytes.truncate(len);
    Ok(bytes)
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

fn sha256_file(file: &mut fs::File) -> io::Result<String> {
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

/// Whether `process` is in the agent's own user namespace (no, when either
/// cannot be read).
fn in_own_user_namespace(process: &ProcDir) -> bool {
    static OWN: std::sync::OnceLock<Option<OsString>> = std::sync::OnceLock::new();
    let own = OWN.get_or_init(|| fs::read_link("/proc/self/ns/user").ok().map(PathBuf::into_os_string));
    own.as_ref().is_some_and(|own| process.user_namespace().as_ref() == Some(own))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_in_another_user_namespace_is_marked_as_such() {
        let pid = i32::try_from(std::process::id()).expect("pid fits");
        let attestor = Attestor::default();
        assert!(!attestor.attest_pid(pid, Wants::default()).expect("me").foreign_user_namespace);
        let Ok(mut child) = std::process::Command::new("unshare").args(["-U", "sleep", "30"]).spawn() else {
            eprintln!("skipped: unshare cannot be run here");
            return;
        };
        let child_pid = i32::try_from(child.id()).expect("pid fits");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let seen = loop {
            let caller = attestor.attest_pid(child_pid, Wants::default());
            if caller.as_ref().is_ok_and(|c| c.exe.as_ref().is_some_and(|e| e.ends_with("sleep"))) {
                break caller.ok();
            }
            if child.try_wait().ok().flatten().is_some() || std::time::Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        let _ = child.kill();
        let _ = child.wait();
        let Some(caller) = seen else {
            eprintln!("skipped: this machine does not allow a new user namespace");
            return;
        };
        assert!(caller.foreign_user_namespace, "{caller:?}");
    }

    #[test]
    fn attests_this_process_and_refuses_a_wrong_start_time() {
        let pid = i32::try_from(std::process::id()).expect("pid fits");
        let attestor = Attestor::default();
        let me = attestor.attest_pid(pid, Wants { names: true, exe_hash: true }).expect("this process can be attested");
        assert_eq!(me.uid, nix::unistd::geteuid().as_raw());
        assert_eq!(me.exe, std::env::current_exe().ok());
        let exe_bytes = fs::read(std::env::current_exe().expect("exe")).expect("read exe");
        let want: String = Sha256::digest(&exe_bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(me.exe_sha256.as_deref(), Some(want.as_str()));
        assert!(me.cgroup.is_some());
        assert!(me.user.is_some(), "the test's user has a name");
        let again = attestor.attest_pid(pid, Wants::default()).expect("attested");
        assert_eq!((again.exe_sha256, again.user), (None, None), "only what is asked for");
        assert_eq!(attestor.hashes.lock().expect("lock").len(), 1, "the hash is remembered");
        let started = ProcDir::open(pid).and_then(|me| me.start_time()).expect("start time");
        let process = Some(PinnedProcess::StartTime(started + 1));
        let creds = Credentials { pid, uid: me.uid, gid: me.gid, process };
        assert!(matches!(attestor.attest(creds.clone(), Wants::default()), Err(AttestError::Reused(_))));
        let unrecorded = Credentials { process: None, ..creds };
        assert!(attestor.attest(unrecorded, Wants::default()).is_ok(), "no accept-time check");
    }

    #[test]
    fn a_process_that_is_gone_is_refused() {
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = i32::try_from(child.id()).expect("pid fits");
        child.wait().expect("reap");
        let creds = Credentials { pid, uid: 0, gid: 0, process: Some(PinnedProcess::StartTime(1)) };
        let attested = Attestor::default().attest(creds, Wants::default());
        assert!(matches!(attested, Err(AttestError::Exited(_) | AttestError::Reused(_))));
    }

    #[test]
    fn reads_through_the_handle_stop_when_its_process_is_gone() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
        let pid = i32::try_from(child.id()).expect("pid fits");
        let process = ProcDir::open(pid).expect("open /proc/PID");
        let status = process.read("status").expect("alive");
        assert!(status.contains(&format!("\nPid:\t{pid}\n")), "{status}");
        child.kill().expect("kill");
        child.wait().expect("reap");
        assert!(matches!(process.read("status"), Err(AttestError::Exited(p)) if p == pid));
        assert!(matches!(process.read("cgroup"), Err(AttestError::Exited(_))));
        assert_eq!(process.exe_path(), None);
        let attested = process
            .read("status")
            .and_then(|status| Attestor::default().describe(&process, &status, 0, 0, Wants::default()));
        assert!(matches!(attested, Err(AttestError::Exited(_))), "a gone process is never described");
    }

    #[test]
    fn a_newcomer_given_the_same_pid_is_never_described() {
        let mut first = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
        let pid = i32::try_from(first.id()).expect("pid fits");
        let process = ProcDir::open(pid).expect("open /proc/PID");
        first.kill().expect("kill");
        first.wait().expect("reap");
        // Has the kernel give the same pid to a new process: the next pid is
        // `ns_last_pid` + 1 (root only; other tests' processes may take it
        // first, hence the tries). The counter is put back afterwards, so
        // the pids other processes used meanwhile are not handed out early.
        let Some(mut newcomer) = NextPid::spawn_sleep_at(pid) else {
            eprintln!("skipped: setting the next pid needs root");
            return;
        };
        assert!(fs::read_to_string(proc_path(pid, "status")).is_ok(), "the pid now names the newcomer");
        assert!(matches!(process.read("status"), Err(AttestError::Exited(_))), "the handle names the first only");
        assert_eq!(process.exe_path(), None);
        newcomer.kill().expect("kill");
        newcomer.wait().expect("reap");
    }

    /// The pid counter (`ns_last_pid`) as it was; put back on drop (or
    /// left where it is, if other processes moved it further meanwhile).
    struct NextPid(i64);

    impl NextPid {
        const PATH: &str = "/proc/sys/kernel/ns_last_pid";

        /// A `sleep` given `pid`; `None` if setting the next pid is not
        /// allowed (root only). Other tests' processes may take the pid
        /// first, hence the tries; the counter is put back afterwards.
        fn spawn_sleep_at(pid: i32) -> Option<std::process::Child> {
            let _counter = Self::rewind_to(pid)?;
            for _ in 0..50 {
                if !Self::set(pid) {
                    break;
                }
                let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
                if i32::try_from(child.id()) == Ok(pid) {
                    return Some(child);
                }
                child.kill().expect("kill");
                child.wait().expect("reap");
            }
            panic!("the pid was not given again within 50 tries");
        }

        /// Saves the counter and makes `pid` the next one, `None` if not allowed.
        fn rewind_to(pid: i32) -> Option<Self> {
            let saved = Self::read()?;
            Self::set(pid).then_some(Self(saved))
        }

        fn read() -> Option<i64> {
            fs::read_to_string(Self::PATH).ok()?.trim().parse().ok()
        }

        fn set(pid: i32) -> bool {
            fs::write(Self::PATH, (pid - 1).to_string()).is_ok()
        }
    }

    impl Drop for NextPid {
        fn drop(&mut self) {
            let last = Self::read().map_or(self.0, |now| now.max(self.0));
            let _ = fs::write(Self::PATH, last.to_string());
        }
    }

    #[test]
    fn a_caller_pinned_by_its_pidfd_is_refused_once_exited_and_never_confused_with_a_newcomer() {
        let mut caller = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
        let pid = i32::try_from(caller.id()).expect("pid fits");
        let pidfd = rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(pid).expect("pid > 0"),
            rustix::process::PidfdFlags::empty(),
        )
        .expect("pidfd_open (Linux 5.3)");
        let creds = Credentials { pid, uid: 0, gid: 0, process: Some(PinnedProcess::Pidfd(Arc::new(pidfd))) };
        let attestor = Attestor::default();
        assert!(attestor.attest(creds.clone(), Wants::default()).is_ok(), "alive: attested");

        caller.kill().expect("kill");
        let zombie = || fs::read_to_string(proc_path(pid, "stat")).is_ok_and(|stat| is_zombie_stat(&stat));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !zombie() {
            assert!(std::time::Instant::now() < deadline, "the caller never became a zombie");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(matches!(attestor.attest(creds.clone(), Wants::default()), Err(AttestError::Exited(_))), "zombie");
        caller.wait().expect("reap");
        assert!(matches!(attestor.attest(creds.clone(), Wants::default()), Err(AttestError::Exited(_))), "reaped");

        let Some(mut newcomer) = NextPid::spawn_sleep_at(pid) else {
            eprintln!("skipped (newcomer part): setting the next pid needs root");
            return;
        };
        let attested = attestor.attest(creds, Wants::default());
        newcomer.kill().expect("kill");
        newcomer.wait().expect("reap");
        assert!(matches!(attested, Err(AttestError::Reused(p)) if p == pid), "{attested:?}");
    }

    #[test]
    fn a_changed_file_is_hashed_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prog");
        fs::write(&path, b"one").expect("write");
        let attestor = Attestor::default();
        let first = attestor.sha256(fs::File::open(&path).expect("open")).expect("hash");
        fs::write(&path, b"two").expect("write");
        let second = attestor.sha256(fs::File::open(&path).expect("open")).expect("hash");
        assert_ne!(first, second);
        let want: String = Sha256::digest(b"two").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(second, want);
    }

    #[test]
    fn files_longer_than_the_first_buffer_are_read_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("long");
        let text: Vec<u8> = (0..PROC_FILE_CAPACITY * 2 + 17).map(|i| b'a' + (i % 26) as u8).collect();
        fs::write(&path, &text).expect("write");
        assert_eq!(read_whole(fs::File::open(&path).expect("open")).expect("read"), text);
        let pid = i32::try_from(std::process::id()).expect("pid fits");
        let status = ProcDir::open(pid).and_then(|me| me.read("status")).expect("own status");
        assert!(status.starts_with("Name:") && status.ends_with('\n'), "{status}");
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

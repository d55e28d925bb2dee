//! The Unix domain socket listener.
//!
//! The socket is bound under a temporary name, given its mode, then renamed
//! into place, so no client ever sees it with the umask's permissions. A
//! socket file that nobody answers on (left by a dead agent) is replaced; one
//! that a live agent serves is refused, as is any path that is not a socket.

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::socket::{getsockopt, sockopt::PeerPidfd};
use rustix::process::{Pid, PidfdFlags, pidfd_open};
use tokio::net::{UnixListener, UnixStream};

use crate::peer::{Peer, PinnedProcess, start_time_from_stat};

/// A bound socket, and the identity of its file so we only ever remove our own.
pub struct UnixSocket {
    listener: UnixListener,
    path: PathBuf,
    inode: u64,
    /// Pin each peer's process at accept (for attestation).
    pin_peers: bool,
}

/// Why the socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another agent answers on this socket.
    #[error("another agent is already serving {0}")]
    InUse(PathBuf),
    /// The path exists and is not a socket; we will not delete it.
    #[error("{0} exists and is not a socket")]
    NotASocket(PathBuf),
    /// A socket whose liveness could not be told (connecting failed with
    /// something other than "refused"); we will not delete it.
    #[error(
        "{path} exists and may be in use (connecting to it failed: {error}): remove it if no agent serves it, or \
         choose another --socket"
    )]
    MaybeInUse {
        /// The socket.
        path: PathBuf,
        /// Why connecting failed (in the message, not a source: said once).
        error: std::io::Error,
    },
    /// Other users may write the socket's directory, so any of them could
    /// replace the socket with their own.
    #[error(
        "the socket directory {path} is writable by other users (mode {mode:04o}): any local user could replace \
         the socket; remove their write access (chmod o-w) or choose another --socket"
    )]
    OpenDirectory {
        /// The directory.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// File-system or socket failure.
    #[error("failed to {action} {path}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Mode of a socket directory the agent creates: the group (that the
/// socket's mode lets connect) may enter it, nobody else may, and only the
/// agent may add or remove files in it.
const DIR_MODE: u32 = 0o750;

/// The mode of a socket directory the agent creates for a socket of mode
/// `socket_mode`: [`DIR_MODE`], and others may pass through (not list) when
/// the socket's mode lets them connect, as `--socket-mode 0666` with a
/// policy file means; a directory they could not enter would refuse them
/// before the policy is asked.
fn dir_mode_for(socket_mode: u32) -> u32 {
    if socket_mode & 0o006 == 0 { DIR_MODE } else { DIR_MODE | 0o001 }
}

// === impl UnixSocket ===

impl UnixSocket {
    /// Binds `path` with file mode `mode`, creating its parent directory.
    ///
    /// # Errors
    /// [`BindError`] if the path is taken or cannot be used.
    pub fn bind(path: &Path, mode: u32) -> Result<Self, BindError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            prepare_directory(parent, dir_mode_for(mode))?;
        }
        clear_stale(path)?;
        let (listener, staged) = Staged::bind(path, mode)?;
        staged.publish(path)?;
        let inode = std::fs::metadata(path).map_err(io("stat", path))?.ino();
        Ok(Self { listener, path: path.to_owned(), inode, pin_peers: false })
    }

    /// Pins each peer's process when its connection is accepted (one
    /// `getsockopt` and one more descriptor per connection), so that
    /// attestation can tell the caller from another process given the same
    /// pid later ([`pin`]).
    pub fn pin_peer_processes(&mut self) {
        self.pin_peers = true;
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts one connection and reads its peer's credentials, with the
    /// peer process pinned when [`UnixSocket::pin_peer_processes`] asked.
    ///
    /// # Errors
    /// The accept error (the caller decides whether it is fatal).
    pub async fn accept(&self) -> std::io::Result<(UnixStream, Peer)> {
        let (stream, _) = self.listener.accept().await?;
        let peer = match stream.peer_cred() {
            Ok(cred) => {
                let process = cred.pid().filter(|_| self.pin_peers).and_then(|pid| pin(&stream, pid));
                Peer::Unix { uid: cred.uid(), gid: cred.gid(), pid: cred.pid(), process }
            }
            Err(_) => Peer::Unknown,
        };
        Ok((stream, peer))
    }

    /// Removes the socket file if it is still the one we bound (a newer agent
    /// may have replaced it).
    pub fn remove(&self) {
        if std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A socket bound where no other user can reach it: in a fresh directory of
/// mode 0700 beside its final path. Only once it has its mode is it renamed
/// into place, so no client connects while it has the umask's permissions;
/// the directory is removed when this is dropped.
struct Staged {
    dir: PathBuf,
    socket: PathBuf,
}

impl Staged {
    fn bind(path: &Path, mode: u32) -> Result<(UnixListener, Self), BindError> {
        // Short names: a socket path may not exceed 107 bytes; the
        // configuration checks that this one fits too
        // (`config::STAGING_SUFFIX_BYTES`, held to this name by a test).
        let dir = path.with_file_name(format!(".{}.d", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(io("create", &dir))?;
        let staged = Self { socket: dir.join("s"), dir };
        let listener = UnixListener::bind(&staged.socket).map_err(io("bind", &staged.socket))?;
        let permissions = std::fs::Permissions::from_mode(mode);
        std::fs::set_permissions(&staged.socket, permissions).map_err(io("chmod", &staged.socket))?;
        Ok((listener, staged))
    }

    fn publish(self, path: &Path) -> Result<(), BindError> {
        std::fs::rename(&self.socket, path).map_err(io("rename socket to", path))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BindError {
    let path = path.to_owned();
    move |source| BindError::Io { action, path, source }
}

/// The peer process of `stream` (pid `pid`), held by the best means the
/// kernel (and a seccomp profile) allows. First the connection's own pidfd
/// (`SO_PEERPIDFD`, Linux 6.5), which names the process that called
/// `connect` even once its pid was given to another (older kernels fail the
/// option once the caller has been reaped: refused as gone). Else a pidfd
/// opened by pid (`pidfd_open`, Linux 5.3), or its start time, both of which
/// name whoever holds the pid at the accept. `None`: gone already, or not
/// held (refused either way).
fn pin(stream: &UnixStream, pid: i32) -> Option<PinnedProcess> {
    match getsockopt(stream, PeerPidfd) {
        Ok(pidfd) => return Some(PinnedProcess::Pidfd(Arc::new(pidfd))),
        // Unknown to the kernel (before Linux 6.5), or refused by seccomp.
        Err(Errno::ENOPROTOOPT | Errno::EPERM | Errno::EACCES) => {}
        Err(errno) => return not_pinned(pid, errno as i32),
    }
    match pidfd_open(Pid::from_raw(pid)?, PidfdFlags::empty()) {
        Ok(pidfd) => Some(PinnedProcess::Pidfd(Arc::new(pidfd))),
        // No pidfds (before Linux 5.3), or a seccomp profile older than them.
        Err(errno @ (rustix::io::Errno::NOSYS | rustix::io::Errno::PERM | rustix::io::Errno::ACCESS)) => {
            warn_once_of_start_times(errno.raw_os_error());
            start_time(pid).map(PinnedProcess::StartTime)
        }
        Err(errno) => not_pinned(pid, errno.raw_os_error()),
    }
}

/// `None` (so the caller is refused): its process is gone, which needs no
/// word, or it could not be held for another reason (out of descriptors,
/// most likely), which the operator must hear of.
fn not_pinned(pid: i32, errno: i32) -> Option<PinnedProcess> {
    if !matches!(errno, nix::libc::ESRCH | nix::libc::EINVAL) {
        let error = std::io::Error::from_raw_os_error(errno);
        let hint = if matches!(errno, nix::libc::EMFILE | nix::libc::ENFILE) { "; raise ulimit -n" } else { "" };
        tracing::warn!(pid, %error, "could not hold on to a caller's process, so it will be refused{hint}");
    }
    None
}

/// Says once that callers are told apart by their start time only.
fn warn_once_of_start_times(errno: i32) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        let error = std::io::Error::from_raw_os_error(errno);
        tracing::warn!(
            %error,
            "no pidfds (Linux 5.3, or a seccomp profile that allows pidfd_open): callers are told from a process \
             given the same pid by their start time, to 10 ms"
        );
    }
}

/// The start time of process `pid`, `None` if it is gone already.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    start_time_from_stat(&stat)
}

/// Creates the socket's directory with `dir_mode` whatever the umask, or
/// refuses an existing one that other users may write.
fn prepare_directory(dir: &Path, dir_mode: u32) -> Result<(), BindError> {
    match std::fs::metadata(dir) {
        Ok(meta) => refuse_open(dir, &meta),
        Err(err) if err.kind() == ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(dir_mode)
                .create(dir)
                .map_err(io("create directory", dir))?;
            // The umask may have taken bits away; the group needs them to reach the socket.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dir_mode)).map_err(io("chmod", dir))
        }
        Err(source) => Err(BindError::Io { action: "stat", path: dir.to_owned(), source }),
    }
}

/// Refuses an existing socket directory that other users may write, as
/// start-up does (`doctor` asks the same); `Ok` for one that does not exist.
///
/// # Errors
/// [`BindError::OpenDirectory`], or why the directory could not be read.
pub fn check_directory(dir: &Path) -> Result<(), BindError> {
    match std::fs::metadata(dir) {
        Ok(meta) => refuse_open(dir, &meta),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(BindError::Io { action: "stat", path: dir.to_owned(), source }),
    }
}

/// Others may write `dir` (even with the sticky bit, they could take the
/// socket's name while the agent is down): refused.
fn refuse_open(dir: &Path, meta: &std::fs::Metadata) -> Result<(), BindError> {
    if meta.mode() & 0o002 != 0 {
        return Err(BindError::OpenDirectory { path: dir.to_owned(), mode: meta.mode() & 0o7777 });
    }
    Ok(())
}

/// Removes a dead agent's socket file; refuses a live one or a non-socket.
fn clear_stale(path: &Path) -> Result<(), BindError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(BindError::Io { action: "stat", path: path.to_owned(), source }),
    };
    if !meta.file_type().is_socket() {
        return Err(BindError::NotASocket(path.to_owned()));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(BindError::InUse(path.to_owned())),
        // Nothing listens there: a dead agent's file.
        Err(err) if err.kind() == ErrorKind::ConnectionRefused => std::fs::remove_file(path)
            .map_err(|source| BindError::Io { action: "remove stale socket", path: path.to_owned(), source }),
        // Anything else (another user's socket we may not connect to) says
        // nothing of whether an agent serves it: never remove it.
        Err(error) => Err(BindError::MaybeInUse { path: path.to_owned(), error }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_with_mode_replaces_stale_refuses_live() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/agent.sock");
        let first = UnixSocket::bind(&path, 0o660).expect("bind");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o660);
        assert!(matches!(UnixSocket::bind(&path, 0o660), Err(BindError::InUse(_))));
        drop(first); // the file stays behind, like after a crash
        assert!(path.exists());
        let second = UnixSocket::bind(&path, 0o600).expect("stale socket replaced");
        second.remove();
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn the_socket_gets_its_mode_where_no_client_can_reach_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.sock");
        let (_listener, staged) = Staged::bind(&path, 0o666).expect("staged");
        let staging = std::fs::metadata(&staged.dir).expect("stat").permissions().mode();
        assert_eq!(staging & 0o077, 0, "only the agent may reach the socket before its mode is set");
        assert_eq!(std::fs::metadata(&staged.socket).expect("stat").permissions().mode() & 0o777, 0o666);
        let added = staged.socket.as_os_str().len() - dir.path().as_os_str().len();
        let longest_pid = 4_194_304_u32.to_string().len() - std::process::id().to_string().len();
        assert!(added + longest_pid <= crate::config::STAGING_SUFFIX_BYTES, "the staging name the config allows for");
        let staging_dir = staged.dir.clone();
        staged.publish(&path).expect("published");
        assert!(path.exists() && !staging_dir.exists(), "in place, and nothing left behind");
    }

    #[tokio::test]
    async fn creates_its_directory_0750_and_refuses_one_others_may_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new/agent.sock");
        let socket = UnixSocket::bind(&path, 0o660).expect("bind");
        let mode = std::fs::metadata(dir.path().join("new")).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, DIR_MODE);
        socket.remove();
        // A socket others may connect to: others may pass through its directory too.
        let socket = UnixSocket::bind(&dir.path().join("for-all/agent.sock"), 0o666).expect("bind");
        let mode = std::fs::metadata(dir.path().join("for-all")).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o751);
        socket.remove();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        let refused = UnixSocket::bind(&open.join("agent.sock"), 0o660).err().expect("refused");
        assert!(matches!(refused, BindError::OpenDirectory { mode: 0o1777, .. }), "{refused}");
    }

    #[test]
    fn refuses_to_replace_a_regular_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.sock");
        std::fs::write(&path, b"data").expect("write");
        assert!(matches!(UnixSocket::bind(&path, 0o660), Err(BindError::NotASocket(_))));
        assert!(path.exists());
    }
}

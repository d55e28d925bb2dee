//! The private directory of `--inject-as file|fifo` (client leaf layer, part
//! of `inject`): a new directory, mode 0700, under `--secrets-dir`, holding
//! one 0600 file or named pipe; removed on drop.
//!
//! While the CLI lives it holds an exclusive `flock` on the directory, whose
//! name holds the CLI's pid (`vanta-secrets-<pid>-<random>`). A CLI killed
//! with SIGKILL cannot remove its directory, but its lock goes with it: the
//! next run (whatever its mode) removes every `vanta-secrets-*` directory of
//! this user that nobody holds a lock on and whose CLI is gone: its pid no
//! longer runs, or the directory is older than [`STALE_AFTER`] (a pid may
//! have been reused, or belong to another pid namespace). A directory being
//! created by a live CLI, before it is locked, is never taken.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::kill;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use tempfile::TempDir;
use tracing::debug;

/// The directory; dropping it removes the directory and what is in it.
pub(crate) struct PrivateDir {
    /// Dropped first: the directory goes before the lock is released.
    dir: TempDir,
    _lock: Flock<File>,
}

/// Why the private directory or its file could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The parent is missing or not a directory.
    #[error("the secrets directory {parent} does not exist or is not a directory (see --secrets-dir)")]
    Parent { parent: String },
    /// The private directory could not be created or locked.
    #[error("failed to create a private directory in {parent}")]
    Create {
        parent: String,
        #[source]
        source: io::Error,
    },
    /// The file could not be created or written.
    #[error("failed to write {path}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The named pipe could not be created.
    #[error("failed to create the named pipe {path}")]
    Fifo {
        path: String,
        #[source]
        source: nix::Error,
    },
}

/// Name prefix of the private directories.
const DIR_PREFIX: &str = "vanta-secrets-";
/// Age below which an unlocked directory is left alone: it may be one that
/// a starting CLI has just created and not locked yet.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(10);

/// `parent`, or the system temporary directory, if it is a directory.
///
/// # Errors
/// [`Error::Parent`] if it is missing or not a directory.
pub(crate) fn check_parent(parent: Option<&Path>) -> Result<PathBuf, Error> {
    let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
    if !parent.is_dir() {
        return Err(Error::Parent { parent: parent.display().to_string() });
    }
    Ok(parent)
}

// === impl PrivateDir ===

impl PrivateDir {
    /// Creates and locks a new directory (mode 0700) in `parent`, or in the
    /// system temporary directory.
    ///
    /// # Errors
    /// [`Error::Parent`] or [`Error::Create`].
    pub(crate) fn create(parent: Option<&Path>) -> Result<Self, Error> {
        let parent = check_parent(parent)?;
        let create = |source| Error::Create { parent: parent.display().to_string(), source };
        let prefix = format!("{DIR_PREFIX}{}-", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .permissions(Permissions::from_mode(0o700))
            .tempdir_in(&parent)
            .map_err(create)?;
        let handle = File::open(dir.path()).map_err(create)?;
        let lock = Flock::lock(handle, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| create(e.into()))?;
        Ok(Self { dir, _lock: lock })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `content` to a new file `name` (mode 0600) in the directory.
    ///
    /// # Errors
    /// [`Error::Write`]; a partial file goes with the directory.
    pub(crate) fn write_file(&self, name: &str, content: &[u8]) -> Result<PathBuf, Error> {
        let path = self.dir.path().join(name);
        let write_err = |source| Error::Write { path: path.display().to_string(), source };
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(write_err)?;
        file.write_all(content).and_then(|()| file.flush()).map_err(write_err)?;
        Ok(path)
    }

    /// Replaces the content of file `name` atomically: the new content is
    /// written and synced to a file beside it, which is then renamed over
    /// it, so a reader sees the old file or the new one, never a mix.
    ///
    /// # Errors
    /// [`Error::Write`]; the old file is then left as it was.
    pub(crate) fn replace_file(&self, name: &str, content: &[u8]) -> Result<PathBuf, Error> {
        let next = self.dir.path().join(format!(".{name}.next"));
        let _ = fs::remove_file(&next);
        let written = self.write_file(&format!(".{name}.next"), content).and_then(|path| {
            let write_err = |source| Error::Write { path: path.display().to_string(), source };
            File::open(&path).and_then(|file| file.sync_all()).map_err(write_err)?;
            let target = self.dir.path().join(name);
            fs::rename(&path, &target).map_err(write_err)?;
            Ok(target)
        });
        if written.is_err() {
            let _ = fs::remove_file(&next);
        }
        written
    }

    /// Creates a named pipe `name` (mode 0600) in the directory.
    ///
    /// # Errors
    /// [`Error::Fifo`].
    pub(crate) fn make_fifo(&self, name: &str) -> Result<PathBuf, Error> {
        let path = self.dir.path().join(name);
        nix::unistd::mkfifo(&path, Mode::S_IRUSR | Mode::S_IWUSR)
            .map_err(|source| Error::Fifo { path: path.display().to_string(), source })?;
        Ok(path)
    }
}

/// Removes the directories that killed runs left in `parent` (or the
/// system temporary directory); returns how many. Best effort: anything
/// that cannot be checked or removed is left alone.
pub(crate) fn sweep_stale(parent: Option<&Path>) -> usize {
    let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let Ok(entries) = fs::read_dir(&parent) else {
        return 0;
    };
    let uid = nix::unistd::getuid().as_raw();
    let now = SystemTime::now();
    let stale = entries.filter_map(Result::ok).filter(|entry| {
        let ours = entry.file_name().to_str().is_some_and(|n| n.starts_with(DIR_PREFIX));
        // symlink_metadata: a symlink named like ours is not followed.
        let meta = entry.path().symlink_metadata();
        ours && meta.is_ok_and(|m| {
            let age = m.modified().ok().and_then(|t| now.duration_since(t).ok());
            m.is_dir() && m.uid() == uid && (age.is_some_and(|a| a >= STALE_AFTER) || owner_is_gone(&entry.file_name()))
        })
    });
    stale.filter(|entry| remove_if_abandoned(&entry.path())).count()
}

/// Whether the CLI named in a directory name (`vanta-secrets-<pid>-...`)
/// no longer runs. Our own pid is not gone, and an unknown one is not.
fn owner_is_gone(name: &std::ffi::OsStr) -> bool {
    let pid = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)?.split('-').next()?.parse::<i32>().ok());
    match pid {
        Some(pid) if pid > 0 && pid != nix::unistd::getpid().as_raw() => {
            kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH)
        }
        _ => false,
    }
}

/// Removes `dir` if no live CLI holds its lock.
fn remove_if_abandoned(dir: &Path) -> bool {
    let Ok(handle) = File::open(dir) else {
        return false;
    };
    let Ok(lock) = Flock::lock(handle, FlockArg::LockExclusiveNonblock) else {
        return false;
    };
    let removed = fs::remove_dir_all(dir);
    drop(lock);
    debug!(dir = %dir.display(), ok = removed.is_ok(), "removing a stale secrets directory");
    removed.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("exists").permissions().mode() & 0o7777
    }

    fn age(path: &Path) {
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        File::open(path).and_then(|dir| dir.set_modified(hour_ago)).expect("mtime can be set");
    }

    #[test]
    fn the_directory_is_private_and_removed_on_drop() {
        let parent = tempfile::tempdir().expect("parent");
        let dir = PrivateDir::create(Some(parent.path())).expect("created");
        let file = dir.write_file("secrets.env", b"A=\"1\"\n").expect("written");
        let fifo = dir.make_fifo("pipe").expect("fifo");
        assert_eq!((mode(dir.path()), mode(&file), mode(&fifo)), (0o700, 0o600, 0o600));
        assert_eq!(fs::read(&file).expect("readable"), b"A=\"1\"\n");
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists(), "directory left behind");
    }

    #[test]
    fn a_file_is_replaced_whole_and_stays_private() {
        let dir = PrivateDir::create(None).expect("dir");
        let file = dir.write_file("secrets.env", b"A=\"1\"\n").expect("written");
        let held = File::open(&file).expect("open");
        assert_eq!(dir.replace_file("secrets.env", b"A=\"2\"\n").expect("replaced"), file);
        assert_eq!(fs::read(&file).expect("read"), b"A=\"2\"\n");
        assert_eq!(mode(&file), 0o600);
        // An open handle keeps the old version whole: it was replaced, not rewritten.
        assert_eq!(io::read_to_string(held).expect("old"), "A=\"1\"\n");
        let names: Vec<_> = fs::read_dir(dir.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, ["secrets.env"]);
    }

    #[test]
    fn a_missing_parent_is_named() {
        let err = PrivateDir::create(Some(Path::new("/nonexistent/vanta"))).err().expect("refused");
        assert_eq!(
            err.to_string(),
            "the secrets directory /nonexistent/vanta does not exist or is not a directory (see --secrets-dir)"
        );
    }

    #[test]
    fn only_old_unlocked_directories_of_ours_are_swept() {
        let parent = tempfile::tempdir().expect("parent");
        let live = PrivateDir::create(Some(parent.path())).expect("live");
        let abandoned = parent.path().join("vanta-secrets-dead");
        let fresh = parent.path().join("vanta-secrets-new");
        let other = parent.path().join("not-ours");
        // A fresh directory of a CLI that is gone; one of a live process.
        let gone = parent.path().join(format!("vanta-secrets-{}-x", dead_pid()));
        let alive = parent.path().join(format!("vanta-secrets-{}-x", std::os::unix::process::parent_id()));
        for dir in [&gone, &alive] {
            fs::create_dir(dir).expect("dir");
        }
        for dir in [&abandoned, &fresh, &other] {
            fs::create_dir(dir).expect("dir");
        }
        fs::write(abandoned.join("secrets.env"), "A=1").expect("file");
        for dir in [live.path(), abandoned.as_path(), other.as_path()] {
            age(dir);
        }
        assert_eq!(sweep_stale(Some(parent.path())), 2);
        assert!(!abandoned.exists() && fresh.exists() && other.exists() && live.path().exists());
        assert!(!gone.exists() && alive.exists());
        assert!(
            live.path()
                .file_name()
                .expect("name")
                .to_string_lossy()
                .starts_with(&format!("vanta-secrets-{}-", std::process::id()))
        );
    }

    /// The pid of a process that has ended and been reaped.
    fn dead_pid() -> u32 {
        let _reaping = crate::child::REAP_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut child = std::process::Command::new("true").spawn().expect("true runs");
        let pid = child.id();
        child.wait().expect("reaped");
        pid
    }
}

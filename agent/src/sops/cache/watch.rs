//! Change detection for the cache: an inotify watch on the files directory,
//! read without blocking on the request path (layer L1, part of `sops`).
//!
//! The kernel queues an inotify event inside the write, rename, removal or
//! `chmod` itself, so a change that finished before a request began is in
//! the queue when that request looks: the next request sees it, with no
//! background thread to wait for. Looking at an empty queue is one `read(2)`
//! that answers `EAGAIN`, against a `stat` of every candidate file name of
//! the environment (docs/PERFORMANCE.md). Any event in the directory counts
//! as a change of every environment, which then `stat`s its file once more
//! and keeps its decryption if the fingerprint did not change.
//!
//! When the directory cannot be watched (inotify unavailable or out of
//! watches, a path through a symbolic link, a file system that may change
//! without telling inotify, such as NFS, SMB or FUSE, the directory removed or
//! moved away, an unexpected read error), [`DirWatch::generation`] answers
//! `None` from then on and the cache `stat`s on every request, as without a
//! watch.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::statfs::{self, FsType};

/// Local file systems, where every change goes through this kernel and so
/// raises inotify events (ext2/3/4 share one magic number).
const LOCAL_FILE_SYSTEMS: [FsType; 6] = [
    statfs::EXT4_SUPER_MAGIC,
    statfs::XFS_SUPER_MAGIC,
    statfs::BTRFS_SUPER_MAGIC,
    statfs::TMPFS_MAGIC,
    statfs::OVERLAYFS_SUPER_MAGIC,
    statfs::F2FS_SUPER_MAGIC,
];

/// The watch on the files directory.
pub(super) struct DirWatch {
    state: Mutex<State>,
}

struct State {
    /// `None`: not watching (never could, or lost the watch).
    inotify: Option<Inotify>,
    /// Bumped whenever events were read.
    generation: u64,
}

/// Every change to an entry of the directory, and to the directory itself.
fn watched_events() -> AddWatchFlags {
    AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
}

/// Events after which the watch no longer covers the path.
fn watch_lost() -> AddWatchFlags {
    AddWatchFlags::IN_IGNORED | AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_MOVE_SELF | AddWatchFlags::IN_UNMOUNT
}

// === impl DirWatch ===

impl DirWatch {
    /// Watches `dir`. A directory reached through a symbolic link is not
    /// watched (re-pointing the link would go unnoticed), nor one on a file
    /// system outside [`LOCAL_FILE_SYSTEMS`] (another host's changes raise no
    /// event here).
    pub(super) fn new(dir: &Path) -> Self {
        let inotify = Self::watch(dir);
        if inotify.is_none() {
            tracing::debug!("the secrets directory is not watched; every fetch checks its file");
        }
        Self { state: Mutex::new(State { inotify, generation: 0 }) }
    }

    fn watch(dir: &Path) -> Option<Inotify> {
        let canonical = std::fs::canonicalize(dir).ok()?;
        if canonical != std::path::absolute(dir).ok()? {
            return None;
        }
        let fs_type = statfs::statfs(&canonical).ok()?.filesystem_type();
        if !LOCAL_FILE_SYSTEMS.contains(&fs_type) {
            return None;
        }
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
        inotify.add_watch(&canonical, watched_events()).ok()?;
        Some(inotify)
    }

    /// How many times the directory was seen to change, or `None` if it is
    /// not watched: then every fetch must check its file.
    pub(super) fn generation(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let events = state.inotify.as_ref()?.read_events();
        match events {
            Err(Errno::EAGAIN) => {}
            Ok(events) if !events.iter().any(|e| e.mask.intersects(watch_lost())) => state.generation += 1,
            Ok(_) | Err(_) => {
                tracing::debug!("the secrets directory is no longer watched; every fetch checks its file");
                state.inotify = None;
                return None;
            }
        }
        Some(state.generation)
    }
}

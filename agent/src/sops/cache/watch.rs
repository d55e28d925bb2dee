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
//!
//! Even a watched directory does not see every change of every file in it:
//! the kernel reports a change to the watch of the directory the file was
//! reached through. A write through a hard link elsewhere, or to a file that
//! is bind-mounted into the directory (Docker's `-v ./prod.enc.yaml:/vault/…`,
//! whose source directory is another one), raises its event there, not here.
//! [`sees_changes_of`] tells which files the watch covers; the cache `stat`s
//! the others on every request, as it does symbolic links.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::statfs::{self, FsType};
use rustix::fs::{AtFlags, CWD, FileType, Statx, StatxAttributes, StatxFlags};

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

/// Whether the watch on `dir` sees every change of `file`, one of its
/// entries: a regular file (not a symbolic link, whose target may live
/// elsewhere) with no other hard link, and not a mount point. Asked once per
/// decryption, never per request; any doubt (the file cannot be examined)
/// answers no, which only costs a `stat` per request.
pub(super) fn sees_changes_of(dir: &Path, file: &Path) -> bool {
    let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT;
    let Ok(stx) = rustix::fs::statx(CWD, file, flags, StatxFlags::TYPE | StatxFlags::NLINK) else {
        return false;
    };
    let regular = FileType::from_raw_mode(u32::from(stx.stx_mode)) == FileType::RegularFile;
    regular && stx.stx_nlink == 1 && !is_mount_point(dir, &stx)
}

/// Whether the file `stx` describes (an entry of `dir`) is the root of a
/// mount, e.g. a file bind-mounted onto its name. Kernels before 5.8 do not
/// say; there a file on another device than `dir` counts as mounted, and a
/// bind mount within one file system goes unnoticed.
fn is_mount_point(dir: &Path, stx: &Statx) -> bool {
    if stx.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) {
        return stx.stx_attributes.contains(StatxAttributes::MOUNT_ROOT);
    }
    let device = |s: &Statx| (s.stx_dev_major, s.stx_dev_minor);
    rustix::fs::statx(CWD, dir, AtFlags::empty(), StatxFlags::empty()).map_or(true, |d| device(&d) != device(stx))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;

    use super::*;

    #[test]
    fn only_a_singly_linked_regular_file_is_covered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("plain.enc.yaml");
        std::fs::write(&file, "a: b\n").expect("write");
        assert!(sees_changes_of(dir.path(), &file), "the common case keeps the watch");
        let linked = outside.path().join("other-name.yaml");
        std::fs::hard_link(&file, &linked).expect("hard link");
        assert!(!sees_changes_of(dir.path(), &file), "a second name elsewhere");
        std::fs::remove_file(&linked).expect("unlink");
        assert!(sees_changes_of(dir.path(), &file), "one name again");
        let symlink = dir.path().join("symlink.enc.yaml");
        std::os::unix::fs::symlink(&file, &symlink).expect("symlink");
        assert!(!sees_changes_of(dir.path(), &symlink));
        assert!(!sees_changes_of(dir.path(), &dir.path().join("missing.enc.yaml")));
    }

    /// Unmounts on drop, so a failing test leaves no mount behind.
    struct BindMount(PathBuf);

    impl Drop for BindMount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }

    #[test]
    fn a_file_bind_mounted_onto_its_name_is_not_covered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let source = outside.path().join("prod.enc.yaml");
        let target = dir.path().join("prod.enc.yaml");
        std::fs::write(&source, "a: b\n").expect("write");
        std::fs::write(&target, "").expect("mount point");
        assert!(sees_changes_of(dir.path(), &target));
        // Needs the right to mount (root, as in a container's build); skipped
        // without it.
        let mounted = Command::new("mount").arg("--bind").arg(&source).arg(&target).output();
        if !mounted.is_ok_and(|out| out.status.success()) {
            eprintln!("skipped: cannot bind-mount here");
            return;
        }
        let _mount = BindMount(target.clone());
        assert!(!sees_changes_of(dir.path(), &target), "same file system, another mount");
    }
}

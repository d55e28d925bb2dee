//! Programs another user can run (harness).
//!
//! Tests that drop privileges (run the agent or the CLI as `nobody` or as a
//! test uid) cannot run what they test from where it was built: a checkout
//! under a `0700` home directory is out of that user's reach, and so is a
//! `sops` that the tool script linked from a private `PATH` entry. A
//! [`Staged`] directory holds copies of such programs, each resolved to the
//! real file first (symlinks followed), in a directory every user can enter.
//! Copies also give a program a second path, for the policy's `exe` selector.
//!
//! Programs a test writes and then runs are written by a child process
//! ([`write_program`], [`copy_program`]), so no write descriptor to them is
//! ever open in the test process while other tests fork beside it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A temporary directory (mode `0755`) of program copies (mode `0755`),
/// removed on drop.
#[derive(Debug)]
pub struct Staged {
    dir: tempfile::TempDir,
}

// === impl Staged ===

impl Default for Staged {
    fn default() -> Self {
        Self::new()
    }
}

impl Staged {
    /// A new, empty directory under the system's temporary directory.
    ///
    /// # Panics
    /// If it cannot be created.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("vanta-staged").tempdir().expect("temp dir for staged programs");
        reachable(dir.path());
        Self { dir }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copies `program` (resolved to the real file) into the directory under
    /// its own file name; returns the copy's path.
    ///
    /// # Panics
    /// If it cannot be resolved or copied.
    pub fn program(&self, program: &Path) -> PathBuf {
        let name = program.file_name().expect("a program path names a file");
        self.program_as(program, &name.to_string_lossy())
    }

    /// Copies `program` (resolved to the real file) into the directory as
    /// `name` (which may hold subdirectories); returns the copy's path.
    ///
    /// # Panics
    /// If it cannot be resolved or copied.
    pub fn program_as(&self, program: &Path, name: &str) -> PathBuf {
        copy_program(program, &self.dir.path().join(name))
    }
}

/// Copies the real file behind `program` to `to` (creating its parent
/// directories, each reachable by every user) with mode `0755`.
///
/// # Panics
/// If `program` cannot be resolved or the copy fails.
pub fn copy_program(program: &Path, to: &Path) -> PathBuf {
    let real = fs::canonicalize(program).unwrap_or_else(|e| panic!("cannot resolve {}: {e}", program.display()));
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        reachable(parent);
    }
    copy_out_of_process(&real, to);
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).expect("a fresh copy can be made executable");
    to.to_path_buf()
}

/// Writes the executable script `text` to `path` (mode `0755`) from a child
/// process, for the reason given at [`copy_out_of_process`]; returns `path`.
///
/// # Panics
/// If the child cannot run or fails.
pub fn write_program(path: &Path, text: &str) -> PathBuf {
    let mut child = Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 0755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sh to write {}: {e}", path.display()));
    let mut stdin = child.stdin.take().expect("stdin was piped");
    stdin.write_all(text.as_bytes()).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    drop(stdin);
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    assert!(out.status.success(), "cannot write {}: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim());
    path.to_path_buf()
}

/// Copies `from` to `to` in a `cp` child, never in this process.
///
/// Tests run side by side in one process, and each spawn forks it. A copy
/// written here holds a write descriptor that a concurrent fork inherits
/// until its `exec`; executing the copy in that window fails with "Text file
/// busy" (ETXTBSY). A copy written by another process leaves no descriptor
/// here to inherit.
///
/// # Panics
/// If `cp` cannot run or fails.
fn copy_out_of_process(from: &Path, to: &Path) {
    let copied = Command::new("cp").arg("--").arg(from).arg(to).stdin(Stdio::null()).output();
    match copied {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "cannot copy {} to {}: {}",
            from.display(),
            to.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("cannot run cp to copy {}: {e}", from.display()),
    }
}

/// Gives `dir` mode `0755`, so every user can enter it and read its files.
///
/// # Panics
/// If the mode cannot be set.
pub fn reachable(dir: &Path) {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", dir.display()));
}

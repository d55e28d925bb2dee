//! File permissions that do not depend on the umask (operator guide,
//! "Security model"): under `umask 000` the socket's directory is created
//! 0750, the state directory 0700 and the usage store's files 0600; an
//! existing socket directory that other users may write is refused (exit 2).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;

use crate::common::{assert_cli_error_line, dev_builder, ok_json};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

#[test]
fn under_umask_000_directories_and_store_files_are_private() {
    let builder = dev_builder().umask(0o000);
    let root = builder.paths().root.clone();
    let (socket_dir, state_dir) = (root.join("sockets"), root.join("state/nested"));
    let agent =
        builder.socket(&socket_dir.join("agent.sock")).env("VANTA_STATE_PATH", state_dir.join("usage.db")).start();
    // A limited token's fetch makes SQLite write (and create its WAL files).
    let body = json!({"subject": "perm", "environment": "dev", "key_pattern": "*", "usage_limit": 2});
    let token = agent.mint(&body);
    ok_json(&agent.get_secret("dev", "DATABASE_URL", &token));
    assert_eq!(mode(&socket_dir), 0o750, "socket directory");
    assert_eq!(mode(&state_dir), 0o700, "state directory");
    assert_eq!(mode(&root.join("state")), 0o700, "every state directory the agent creates");
    let store_files: Vec<_> = fs::read_dir(&state_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(store_files.iter().any(|p| p.ends_with("usage.db")), "{store_files:?}");
    for file in &store_files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
}

#[test]
fn an_existing_store_file_is_made_private() {
    let builder = dev_builder();
    let state = builder.paths().state.clone();
    fs::write(&state, b"").unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o666)).unwrap();
    let _agent = builder.start();
    assert_eq!(mode(&state), 0o600);
}

#[test]
fn a_socket_directory_others_may_write_is_refused() {
    let builder = dev_builder();
    let open = builder.paths().root.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let (finished, _agent) = builder.socket(&open.join("agent.sock")).run_to_exit();
    assert_eq!(finished.code(), Some(2), "{}", finished.stderr_text());
    let line = assert_cli_error_line(&finished);
    assert!(line.contains("writable by other users") && line.contains("0777"), "{line}");
    assert!(!open.join("agent.sock").exists());
}

/// A live socket of another user in the agent's own socket directory: the
/// agent may not connect to it (EACCES), which says nothing of whether
/// someone serves it. It was taken for a dead agent's file, removed, and its
/// name taken over; now start-up stops and the socket stays.
#[test]
fn a_socket_the_agent_may_not_connect_to_is_never_removed() {
    const NOBODY: u32 = 65534;
    if !nix::unistd::getuid().is_root() {
        eprintln!("not tested: needs root to give the socket and its directory different owners");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sockets = dir.path().join("sockets");
    fs::create_dir(&sockets).unwrap();
    let path = sockets.join("agent.sock");
    let live = std::os::unix::net::UnixListener::bind(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&sockets, Some(NOBODY), Some(NOBODY)).unwrap();
    fs::set_permissions(&sockets, fs::Permissions::from_mode(0o700)).unwrap();
    let (finished, _agent) = dev_builder().run_as(NOBODY, NOBODY).socket(&path).run_to_exit();
    assert_eq!(finished.code(), Some(2), "{}", finished.stderr_text());
    let line = assert_cli_error_line(&finished);
    assert!(line.contains("exists and may be in use (connecting to it failed: Permission denied"), "{line}");
    assert!(path.exists(), "the other user's socket is still there");
    drop(live);
}

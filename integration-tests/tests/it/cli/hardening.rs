//! `vanta-cli` holds tokens and secrets like the agent does (operator guide,
//! "Security model"): it is not dumpable and cannot dump core from the
//! start of every command.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::stat::Mode;
use vanta_integration_tests::bins;
use vanta_integration_tests::staged::Staged;

const NOBODY: u32 = 65534;

/// The soft and hard core limits of `pid`, as `/proc/<pid>/limits` shows them.
fn core_limits(pid: u32) -> Vec<String> {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max core file size")).expect("a core limit line");
    line["Max core file size".len()..].split_whitespace().take(2).map(str::to_owned).collect()
}

#[test]
fn the_cli_is_not_dumpable_and_cannot_dump_core_while_it_runs() {
    // A non-dumpable process has its /proc/<pid>/ files owned by root. As
    // root everything is root's, so then the client runs as `nobody`.
    let me = nix::unistd::getuid();
    let uid = if me.is_root() { NOBODY } else { me.as_raw() };
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    // The client blocks opening this pipe for its token until the test writes.
    let fifo = dir.path().join("token");
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o666)).unwrap();
    fs::set_permissions(&fifo, fs::Permissions::from_mode(0o666)).unwrap();
    // `nobody` may not reach the build directory of a private checkout: it
    // runs a copy from a directory every user can enter.
    let staged = Staged::new();
    let mut cmd = Command::new(staged.program(&bins::cli()));
    cmd.env_clear().args(["--socket", "/nonexistent/agent.sock", "get", "--environment", "dev", "KEY", "--token-file"]);
    cmd.arg(&fifo).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    if me.is_root() {
        cmd.uid(uid).gid(uid);
    }
    let mut cli = cmd.spawn().unwrap_or_else(|e| panic!("cannot start the staged vanta-cli: {e}"));
    let pid = cli.id();
    // Wait for the client to block on the pipe: past start-up, hardened.
    let deadline = Instant::now() + Duration::from_secs(30);
    let blocked = || {
        fs::read_to_string(format!("/proc/{pid}/wchan"))
            .is_ok_and(|w| w.contains("wait_for_partner") || w.contains("fifo"))
    };
    while !blocked() && Instant::now() < deadline {
        if cli.try_wait().unwrap().is_some() {
            let early = cli.wait_with_output().unwrap();
            panic!(
                "vanta-cli ended before it read its token: {}: {}",
                early.status,
                String::from_utf8_lossy(&early.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let limits = core_limits(pid);
    let environ_owner = fs::metadata(format!("/proc/{pid}/environ")).unwrap().uid();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    // Let it go: an empty token ends it.
    drop(fs::OpenOptions::new().write(true).open(&fifo).unwrap());
    let exit = cli.wait().unwrap();
    assert!(status.lines().any(|l| l.starts_with("Uid:") && l.contains(&uid.to_string())), "runs as {uid}: {status}");
    assert_eq!(limits[0], "0", "soft core limit: {limits:?}");
    assert_eq!(environ_owner, 0, "/proc/{pid}/environ belongs to root only when the client is not dumpable");
    assert_eq!(exit.code(), Some(1), "an empty token is refused");
}

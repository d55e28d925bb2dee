//! Tests of `child`: exit codes, spawn errors, and real children (serialized
//! by [`REAP_LOCK`], since `waitpid(-1)` would reap other tests' children).

use std::time::Duration;

use super::*;

#[test]
fn exit_codes_follow_the_contract() {
    let pid = Pid::from_raw(1);
    let cases = [
        (WaitStatus::Exited(pid, 0), Some(0)),
        (WaitStatus::Exited(pid, 3), Some(3)),
        (WaitStatus::Exited(pid, 255), Some(255)),
        (WaitStatus::Signaled(pid, Signal::SIGINT, false), Some(130)),
        (WaitStatus::Signaled(pid, Signal::SIGKILL, false), Some(137)),
        (WaitStatus::Signaled(pid, Signal::SIGTERM, true), Some(143)),
        (WaitStatus::Signaled(pid, Signal::SIGHUP, false), Some(129)),
        (WaitStatus::Stopped(pid, Signal::SIGSTOP), None),
        (WaitStatus::Continued(pid), None),
    ];
    for (status, want) in cases {
        assert_eq!(exit_code(status), want, "{status:?}");
    }
}

#[test]
fn spawn_failures_map_to_shell_codes() {
    let spawn = |kind| Error::Spawn { program: "x".into(), source: io::Error::from(kind) };
    assert_eq!(spawn(io::ErrorKind::NotFound).exit_code(), 127);
    assert_eq!(spawn(io::ErrorKind::PermissionDenied).exit_code(), 126);
    assert_eq!(Error::Interrupted { signal: Signal::SIGTERM }.exit_code(), 143);
    assert_eq!(Error::Wait { program: "x".into(), source: Errno::ECHILD }.exit_code(), 1);
}

fn sh(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    command
}

/// Runs `test` on a fresh runtime while holding [`REAP_LOCK`].
fn serially(test: impl std::future::Future<Output = ()>) {
    let _serial = REAP_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(test);
}

#[test]
fn runs_commands_reports_their_status_and_reaps_orphans() {
    serially(runs_and_reaps());
}

async fn runs_and_reaps() {
    let mut signals = Signals::install().expect("signals");

    let exits = Running::spawn(sh("exit 7"), "sh").expect("spawned");
    assert_eq!(exits.wait(&mut signals).await.expect("waited"), 7);

    let missing = Running::spawn(Command::new("/nonexistent/vanta-test"), "x").err().expect("missing");
    assert_eq!(missing.exit_code(), 127);

    // The orphan's parent exits at once. The orphan waits until it has been
    // re-parented and records its new parent: with the subreaper in place
    // that is this process, not init. It then exits, and the command waits
    // (bounded) until the orphan is gone, which only happens if it is reaped
    // while the command still runs.
    let dir = tempfile::tempdir().expect("dir");
    let (ppid_file, pid_file) = (dir.path().join("orphan.ppid"), dir.path().join("orphan.pid"));
    let orphan = dir.path().join("orphan.sh");
    std::fs::write(&orphan, ORPHAN_SCRIPT.replace("PPID_FILE", &ppid_file.display().to_string())).expect("script");
    let script = format!(
        "sh -c 'sh {orphan} \"$$\" & echo $! > {pids}'; \
         i=0; until [ -s {ppid} ] && [ ! -e /proc/$(cat {pids}) ]; do \
         i=$((i+1)); [ $i -gt 2000 ] && exit 3; sleep 0.01; done",
        orphan = orphan.display(),
        pids = pid_file.display(),
        ppid = ppid_file.display(),
    );
    let running = Running::spawn(sh(&script), "sh").expect("spawned");
    let waited = tokio::time::timeout(Duration::from_secs(60), running.wait(&mut signals));
    let code = waited.await.expect("in time").expect("waited");
    let adopter: u32 = std::fs::read_to_string(&ppid_file).expect("ppid written").trim().parse().expect("a pid");
    assert_eq!(adopter, std::process::id(), "the orphan was re-parented to the CLI (subreaper), not to init");
    assert_eq!(code, 0, "the orphan was reaped while the command ran (3: it stayed a zombie)");
}

/// Waits (at most about 20 s) until its parent is no longer `$1` (the
/// process that started it), then writes the new parent's pid to
/// `PPID_FILE` (written whole via a rename).
const ORPHAN_SCRIPT: &str = r#"parent() { read -r _ _ _ ppid _ < /proc/$$/stat; echo "$ppid"; }
i=0
while [ "$(parent)" = "$1" ]; do i=$((i+1)); [ $i -gt 2000 ] && exit 1; sleep 0.01; done
parent > "PPID_FILE.tmp" && mv "PPID_FILE.tmp" "PPID_FILE"
"#;

#[test]
fn a_forwarded_signal_ends_the_child_with_128_plus_n() {
    serially(forwards());
}

async fn forwards() {
    let mut signals = Signals::install().expect("signals");
    let running = Running::spawn(sh("exec sleep 30"), "sh").expect("spawned");
    running.forward(Signal::SIGUSR1);
    let waited = tokio::time::timeout(Duration::from_secs(10), running.wait(&mut signals));
    assert_eq!(waited.await.expect("in time").expect("waited"), 128 + Signal::SIGUSR1 as u8);
}

#[test]
fn try_wait_sees_an_ended_command_without_its_sigchld() {
    serially(tries());
}

/// `--watch` asks after a poll whether the command ended meanwhile; no
/// signal is awaited, so only `waitpid` can tell.
async fn tries() {
    let running = Running::spawn(sh("exec sleep 60"), "sh").expect("spawned");
    assert_eq!(running.try_wait().expect("asked"), None, "still running");
    running.signal(Signal::SIGKILL).expect("killed");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(code) = running.try_wait().expect("asked") {
            break code;
        }
        assert!(std::time::Instant::now() < deadline, "not reaped in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(code, 128 + Signal::SIGKILL as u8);
}

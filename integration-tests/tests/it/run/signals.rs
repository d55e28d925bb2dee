//! Signals sent to `run-with-secrets` reach its command (SIGINT, SIGTERM,
//! SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2), the CLI waits for the command and
//! exits with its code; orphans are reaped, as a subreaper and as PID 1.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use vanta_integration_tests::bins;
use vanta_integration_tests::cli::Cli;
use vanta_integration_tests::process::{self, DEADLINE};

use crate::run::support::{WAIT, app_agent, assert_code, helper, path_arg, run_args, wait_for_line};

#[test]
fn every_forwarded_signal_reaches_the_command() {
    let agent = app_agent();
    let running = Cli::new(agent.socket()).spawn(&run_args("MARK", &[], &[&helper("run-trap")]));
    wait_for_line(&running, "ready");
    for sig in [Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2] {
        running.signal(sig);
        assert_eq!(wait_for_line(&running, "got"), format!("got {}", sig.as_str()), "the command got {sig}");
    }
    running.signal(Signal::SIGTERM);
    assert_eq!(wait_for_line(&running, "got"), "got SIGTERM");
    let finished = running.wait(WAIT);
    // The command survived every signal but the last, and exited 0 after it.
    assert_code(&finished, 0);
}

#[test]
fn the_cli_waits_for_a_command_that_outlives_the_signal() {
    let agent = app_agent();
    let script = "trap 'echo got-term; sleep 0.5; echo done; exit 7' TERM; echo ready; while :; do sleep 0.05; done";
    let running = Cli::new(agent.socket()).spawn(&run_args("MARK", &[], &["sh", "-c", script]));
    wait_for_line(&running, "ready");
    running.signal(Signal::SIGTERM);
    let finished = running.wait(WAIT);
    assert_code(&finished, 7);
    assert!(finished.stdout_text().ends_with("got-term\ndone\n"), "{}", finished.stdout_text());
}

/// A signal ignored when vanta-cli starts (`nohup`, `trap '' HUP`, `&` in a
/// script for SIGINT) stays ignored, as through a plain `exec`: neither
/// caught nor passed on, and ignored by the command too.
#[test]
fn a_signal_ignored_at_start_stays_ignored_for_the_cli_and_the_command() {
    let agent = app_agent();
    let dir = tempfile::tempdir().unwrap();
    let nohup = format!("#!/bin/sh\ntrap '' HUP INT\nexec {} \"$@\"\n", bins::cli().display());
    let wrapper = vanta_integration_tests::staged::write_program(&dir.path().join("nohup-cli"), &nohup);
    let script = "grep '^SigIgn:' /proc/self/status; echo ready; while :; do sleep 0.05; done";
    let cli = Cli::new(agent.socket()).program(&wrapper);
    let running = cli.spawn(&run_args("MARK", &["--quiet"], &["sh", "-c", script]));
    let mask = running.next_line(WAIT);
    wait_for_line(&running, "ready");
    let mask = u64::from_str_radix(mask.trim_start_matches("SigIgn:").trim(), 16).expect("a hex mask");
    for sig in [Signal::SIGHUP, Signal::SIGINT] {
        assert_ne!(mask & (1 << (sig as i32 - 1)), 0, "the command ignores {sig} too: {mask:x}");
        running.signal(sig);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    running.signal(Signal::SIGTERM);
    let finished = running.wait(WAIT);
    assert_code(&finished, 128 + Signal::SIGTERM as i32);
}

/// A script that orphans a `sleep`, reports the orphan's parent while it
/// lives, and whether it is still a zombie after it ended.
const ORPHAN_SCRIPT: &str = r#"(sleep 0.5 & echo $! > "$1")
sleep 0.2
echo "cli=$PPID parent=$(awk '/^PPid:/ {print $2}' /proc/$(cat "$1")/status)"
sleep 1
if kill -0 "$(cat "$1")" 2>/dev/null; then echo zombie; else echo reaped; fi"#;

/// The same for PID 1, whose namespace has no /proc of its own: an orphan's
/// parent there is PID 1 by definition; whether it was reaped is checked.
const PID1_SCRIPT: &str = r#"(sleep 0.3 & echo $! > "$1")
sleep 1
echo "cli=$PPID"
if kill -0 "$(cat "$1")" 2>/dev/null; then echo zombie; else echo reaped; fi"#;

#[test]
fn orphans_are_adopted_and_reaped_while_the_command_runs() {
    let agent = app_agent();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = path_arg(&dir.path().join("orphan.pid"));
    let finished =
        Cli::new(agent.socket()).run(&run_args("MARK", &["-q"], &["sh", "-c", ORPHAN_SCRIPT, "sh", &pid_file]));
    assert_code(&finished, 0);
    let out = finished.stdout_text();
    let mut lines = out.lines();
    let parents = lines.next().unwrap_or_default();
    let (cli, parent) = parents.split_once(' ').unwrap_or_default();
    assert_eq!(cli.trim_start_matches("cli="), parent.trim_start_matches("parent="), "the CLI adopted it: {out}");
    assert_eq!(lines.next(), Some("reaped"), "{out}");
}

/// `unshare` arguments that give a new PID namespace here, if any.
fn pid_namespace() -> Option<Vec<&'static str>> {
    let variants: [&[&str]; 2] = [&["--pid", "--fork"], &["--user", "--map-root-user", "--pid", "--fork"]];
    variants.into_iter().map(<[&str]>::to_vec).find(|args| {
        let mut probe = Command::new("unshare");
        probe.args(args).args(["sh", "-c", "test $$ = 1"]);
        probe.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    })
}

#[test]
fn as_pid_1_it_forwards_signals_and_reaps_orphans() {
    let Some(unshare) = pid_namespace() else {
        eprintln!(
            "SKIPPED as_pid_1_it_forwards_signals_and_reaps_orphans: `unshare --pid --fork` is not permitted here"
        );
        return;
    };
    let agent = app_agent();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = path_arg(&dir.path().join("orphan.pid"));
    // The orphan check, then a trap: SIGTERM to PID 1 must reach the command.
    let script = format!("{PID1_SCRIPT}\nexec {}", helper("run-trap"));
    let mut cmd = Command::new("unshare");
    cmd.args(&unshare).arg(bins::cli()).arg("--socket").arg(agent.socket());
    cmd.args(run_args("MARK", &["-q"], &["sh", "-c", &script, "sh", &pid_file]));
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn().expect("unshare runs");
    let stderr = process::collect(child.stderr.take());
    let (tx, lines) = mpsc::channel();
    let out = child.stdout.take().expect("piped");
    std::thread::spawn(move || BufReader::new(out).lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
    let mut seen = Vec::new();
    while !seen.last().is_some_and(|l: &String| l.starts_with("ready")) {
        seen.push(lines.recv_timeout(WAIT).unwrap_or_else(|e| panic!("after {seen:?}: {e}")));
    }
    let cli = process::poll_until(WAIT, "vanta-cli as PID 1", || cli_pid_under(child.id()));
    kill(cli, Signal::SIGTERM).expect("vanta-cli can be signalled");
    let status = process::wait_with_deadline(&mut child, DEADLINE);
    process::kill_group(&child);
    seen.extend(lines.iter());
    let err = String::from_utf8_lossy(&process::join(stderr)).into_owned();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "stdout: {seen:?}; stderr: {err}");
    assert_eq!(seen[..2], ["cli=1", "reaped"], "PID 1 reaped the orphan: {seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("got SIGTERM"), "SIGTERM to PID 1 reached the command");
}

/// The host pid of the process `unshare` forked (vanta-cli, PID 1 inside).
fn cli_pid_under(unshare: u32) -> Option<Pid> {
    let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok().map(Pid::from_raw)
}

//! docs/API.md §6 `run-with-secrets` and signals: SIGINT, SIGTERM and SIGHUP go
//! to the child; death by signal N is exit 128+N; the secrets file goes too.

use std::fs;
use std::time::Duration;

use nix::sys::signal::Signal;
use vanta_integration_tests::bins;
use vanta_integration_tests::cli::{Cli, RunningCli};

use crate::cli_run::assert_gone;
use crate::common::dev_agent;

const WAIT: Duration = Duration::from_secs(20);

fn start(cli: &Cli, extra: &[&str], cmd: &[&str]) -> RunningCli {
    let mut args = vec!["run-with-secrets", "--environment", "dev", "--key-pattern", "INT"];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(cmd);
    cli.spawn(&args)
}

fn wait_for_line(running: &RunningCli, want: &str) -> String {
    loop {
        let line = running.next_line(WAIT);
        if line.contains(want) {
            return line;
        }
    }
}

#[test]
fn signals_are_forwarded_to_the_child() {
    let agent = dev_agent();
    let cli = Cli::new(agent.socket());
    let trap = bins::helper("trap-signals");
    let dir = tempfile::tempdir().unwrap();
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        let got = dir.path().join(sig.as_str());
        let running = start(&cli, &[], &[trap.to_str().unwrap(), got.to_str().unwrap()]);
        wait_for_line(&running, "ready");
        running.signal(sig);
        let finished = running.wait(WAIT);
        assert_eq!(fs::read_to_string(&got).ok().as_deref(), Some(sig.as_str()), "the child got {sig}");
        assert_eq!(finished.code(), Some(0), "{sig}: the child exited 0, so does the CLI: {}", finished.stderr_text());
    }
}

#[test]
fn a_child_killed_by_a_forwarded_signal_gives_128_plus_n() {
    let agent = dev_agent();
    let cli = Cli::new(agent.socket());
    let trap = bins::helper("trap-signals");
    let dir = tempfile::tempdir().unwrap();
    for (sig, code) in [(Signal::SIGTERM, 143), (Signal::SIGHUP, 129)] {
        let got = dir.path().join(sig.as_str());
        let running = start(&cli, &[], &[trap.to_str().unwrap(), got.to_str().unwrap(), "--reraise"]);
        wait_for_line(&running, "ready");
        running.signal(sig);
        let finished = running.wait(WAIT);
        assert_eq!(finished.code(), Some(code), "{sig}: {}", finished.stderr_text());
    }
}

#[test]
fn the_secrets_file_is_removed_when_the_cli_is_interrupted() {
    let agent = dev_agent();
    let cli = Cli::new(agent.socket());
    let report = bins::helper("report-secrets-file");
    let running = start(&cli, &["--inject-as", "file"], &[report.to_str().unwrap(), "--then-sleep"]);
    let line = wait_for_line(&running, "\"path\"");
    let report: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(report["content"].as_str().is_some_and(|c| c.contains("INT")), "the file was there: {report}");
    running.signal(Signal::SIGTERM);
    let finished = running.wait(WAIT);
    assert_eq!(finished.code(), Some(143), "{}", finished.stderr_text());
    assert_gone(&report);
}

//! `run-with-secrets --inject-as file`: a 0600 file in a fresh 0700
//! directory under `--secrets-dir`, removed on every way out: the command
//! exits (0 or not), is killed, the CLI gets SIGINT/SIGTERM/SIGHUP, fetching
//! fails half-way; after a SIGKILL of the CLI, the next run removes it.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::cli::{Cli, RunningCli};
use vanta_integration_tests::process::poll_until;

use crate::run::support::{
    APP_VALUES, WAIT, app_agent, assert_code, assert_no_values, assert_refused, assert_usage_error, entries, helper,
    json, path_arg, run_args, wait_for_line,
};

/// `--inject-as file --secrets-dir DIR` and `extra`.
fn file_args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let dir = path_arg(dir);
    let mut args = vec!["--inject-as", "file", "--secrets-dir", dir.as_str()];
    args.extend_from_slice(extra);
    args.into_iter().map(String::from).collect()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn assert_private(report: &Value, parent: &Path, name: &str) {
    assert_eq!(report["kind"], "file", "{report}");
    assert_eq!((&report["mode"], &report["dir_mode"]), (&json!(0o600), &json!(0o700)), "{report}");
    assert_eq!(report["listing"], json!([name]), "only the file is in the directory: {report}");
    let dir = Path::new(report["dir"].as_str().unwrap());
    assert_eq!(dir.parent(), Some(parent), "the directory is made in --secrets-dir");
    assert!(dir.file_name().unwrap().to_str().unwrap().starts_with("vanta-secrets-"), "{report}");
}

#[test]
fn the_file_is_private_and_gone_after_the_command_exits() {
    let agent = app_agent();
    let parent = tempfile::tempdir().unwrap();
    let extra = file_args(parent.path(), &[]);
    let inspect = helper("run-inspect");
    let failing = format!("{inspect}; exit 3");
    for (cmd, code) in [(vec![inspect.as_str()], 0), (vec!["sh", "-c", failing.as_str()], 3)] {
        let finished = Cli::new(agent.socket()).run(&run_args("*", &strs(&extra), &cmd));
        assert_code(&finished, code);
        let report = json(&finished.stdout);
        assert_private(&report, parent.path(), "secrets.env");
        assert!(report["content"].as_str().unwrap().contains("MARK=\"marker-value-8c\""), "{report}");
        assert_eq!(entries(parent.path()), Vec::<String>::new(), "exit {code}: nothing left behind");
    }
}

#[test]
fn json_format_holds_every_value() {
    let agent = app_agent();
    let parent = tempfile::tempdir().unwrap();
    let extra = file_args(parent.path(), &["--file-format", "json"]);
    let finished = Cli::new(agent.socket()).run(&run_args("*", &strs(&extra), &[&helper("run-inspect")]));
    assert_code(&finished, 0);
    let report = json(&finished.stdout);
    assert_private(&report, parent.path(), "secrets.json");
    let content: Value = serde_json::from_str(report["content"].as_str().unwrap()).unwrap();
    for (_, name, value) in APP_VALUES {
        assert_eq!(content[name], *value, "{name}");
    }
    assert!(finished.stderr_text().contains("into the json file "), "{}", finished.stderr_text());
    assert_eq!(entries(parent.path()), Vec::<String>::new());
}

#[test]
fn the_file_is_gone_when_the_command_is_killed() {
    let agent = app_agent();
    let parent = tempfile::tempdir().unwrap();
    let extra = file_args(parent.path(), &[]);
    let (running, report) = start_sleeping_inspector(&agent, &extra);
    assert_private(&report, parent.path(), "secrets.env");
    let pid = Pid::from_raw(i32::try_from(report["pid"].as_u64().unwrap()).unwrap());
    kill(pid, Signal::SIGKILL).unwrap();
    let finished = running.wait(WAIT);
    assert_code(&finished, 137);
    assert_eq!(entries(parent.path()), Vec::<String>::new());
}

#[test]
fn the_file_is_gone_when_the_cli_is_interrupted() {
    let agent = app_agent();
    let parent = tempfile::tempdir().unwrap();
    let extra = file_args(parent.path(), &[]);
    for (sig, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143), (Signal::SIGHUP, 129)] {
        let (running, report) = start_sleeping_inspector(&agent, &extra);
        assert!(Path::new(report["path"].as_str().unwrap()).exists(), "{sig}: the file is there while it runs");
        running.signal(sig);
        let finished = running.wait(WAIT);
        assert_code(&finished, code);
        assert_eq!(entries(parent.path()), Vec::<String>::new(), "{sig}: nothing left behind");
    }
}

#[test]
fn nothing_is_left_when_fetching_fails_half_way() {
    let agent = app_agent();
    let parent = tempfile::tempdir().unwrap();
    // Two uses, one already spent elsewhere (the CLI cannot know): the
    // first value is served, the second is refused.
    let token = agent.mint(&json!({"subject": "it", "environment": "app", "key_pattern": "*", "usage_limit": 2}));
    assert_eq!(agent.get_secret("app", "MARK", &token).status, 200);
    let extra = file_args(parent.path(), &["--key", "MARK", "--key", "DB_USER"]);
    let finished = Cli::new(agent.socket()).env("VANTA_TOKEN", &token).run(&run_args(
        "*",
        &strs(&extra),
        &[&helper("run-inspect")],
    ));
    let line = assert_refused(&finished);
    assert!(line.contains("failed to fetch 'DB_USER' from 'app' (not fetched: DB_USER)"), "{line}");
    assert_no_values(&line, "the error");
    assert_eq!(entries(parent.path()), Vec::<String>::new());
}

#[test]
fn a_killed_cli_leaves_its_directory_and_the_next_run_removes_it() {
    let agent = app_agent();
    let parent = tempfile::tempdir().unwrap();
    let extra = file_args(parent.path(), &[]);
    let (running, report) = start_sleeping_inspector(&agent, &extra);
    running.signal(Signal::SIGKILL);
    running.wait(WAIT);
    let left = Path::new(report["dir"].as_str().unwrap());
    assert!(left.exists(), "SIGKILL cannot be caught: the directory stays");
    // Directories younger than 10 s are left alone (one may be being made).
    let old = SystemTime::now() - Duration::from_secs(3600);
    File::open(left).and_then(|dir| dir.set_modified(old)).unwrap();
    let finished = Cli::new(agent.socket()).run(&run_args("MARK", &strs(&extra), &["true"]));
    assert_code(&finished, 0);
    let want = format!("vanta-cli: removed 1 secrets directory left in {} by a killed run", parent.path().display());
    assert!(finished.stderr_text().contains(&want), "{}", finished.stderr_text());
    assert_eq!(entries(parent.path()), Vec::<String>::new());
}

#[test]
fn a_killed_cli_takes_its_command_along_and_any_next_run_sweeps_at_once() {
    let agent = app_agent();
    let parent = tempfile::tempdir().unwrap();
    let extra = file_args(parent.path(), &[]);
    let (running, report) = start_sleeping_inspector(&agent, &extra);
    let child = Pid::from_raw(i32::try_from(report["pid"].as_u64().unwrap()).unwrap());
    running.signal(Signal::SIGKILL);
    // The parent-death signal: the command does not outlive the CLI.
    poll_until(WAIT, "the command to die with the CLI", || (!alive(child)).then_some(()));
    drop(running);
    let left = Path::new(report["dir"].as_str().unwrap());
    assert!(left.exists(), "SIGKILL cannot be caught: the directory stays");
    // The next run, in another mode, removes it at once: its CLI is gone.
    let finished =
        Cli::new(agent.socket()).run(&run_args("MARK", &["--secrets-dir", &path_arg(parent.path())], &["true"]));
    assert_code(&finished, 0);
    let want = format!("vanta-cli: removed 1 secrets directory left in {} by a killed run", parent.path().display());
    assert!(finished.stderr_text().contains(&want), "{}", finished.stderr_text());
    assert_eq!(entries(parent.path()), Vec::<String>::new());
}

/// Whether `pid` runs (a zombie does not).
fn alive(pid: Pid) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn file_options_are_checked_before_anything_runs() {
    let agent = app_agent();
    let cli = Cli::new(agent.socket());
    let print = helper("print-env");
    let env_json = cli.run(&run_args("*", &["--file-format", "json"], &[&print]));
    assert!(assert_usage_error(&env_json).ends_with("--file-format applies to --inject-as file and fifo, not env"));
    // Before any token is minted or value read: a --usage-limit token's
    // uses would be spent for nothing.
    let not_a_dir = tempfile::NamedTempFile::new().unwrap();
    for (mode, dir) in [("file", "/nonexistent/vanta"), ("fifo", &path_arg(not_a_dir.path()))] {
        let missing = cli.run(&run_args("*", &["--inject-as", mode, "--secrets-dir", dir], &[&print]));
        let line = assert_refused(&missing);
        assert!(line.contains(&format!("the secrets directory {dir} does not exist or is not a directory")), "{line}");
    }
    // A directory in which none can be made (even by root).
    for mode in ["file", "fifo"] {
        let unwritable = cli.run(&run_args("*", &["--inject-as", mode, "--secrets-dir", "/proc"], &[&print]));
        let line = assert_refused(&unwritable);
        assert!(line.contains("failed to create a private directory in /proc"), "{line}");
    }
    let events: Vec<_> = agent.audit_lines().into_iter().map(|l| l["event"].clone()).collect();
    assert!(events.iter().all(|e| e != "token_generate" && e != "secret_access"), "nothing was asked: {events:?}");
}

/// Starts `run-with-secrets` of `MARK` into `run-inspect --then-sleep` and
/// returns it with the report the child printed (file path, mode, pid).
fn start_sleeping_inspector(agent: &TestAgent, extra: &[String]) -> (RunningCli, Value) {
    let running =
        Cli::new(agent.socket()).spawn(&run_args("MARK", &strs(extra), &[&helper("run-inspect"), "--then-sleep"]));
    let report = serde_json::from_str(&wait_for_line(&running, "\"path\"")).unwrap();
    (running, report)
}

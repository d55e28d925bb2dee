//! `run-with-secrets --inject-as fifo`: the secrets go through a 0600 named
//! pipe in a private directory, never a regular file; one read, then the
//! pipe is gone; nothing is left however the run ends.

use std::path::Path;

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use vanta_integration_tests::cli::Cli;

use crate::run::support::{
    APP_VALUES, WAIT, app_agent, assert_code, entries, helper, json, path_arg, run_args, wait_for_line,
};

fn fifo_args(dir: &Path, format: &str) -> Vec<String> {
    ["--inject-as", "fifo", "--file-format", format, "--secrets-dir", &path_arg(dir)].map(String::from).to_vec()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn the_pipe_serves_one_read_and_is_removed() {
    let agent = app_agent();
    let parent = tempfile::tempdir().unwrap();
    let extra = fifo_args(parent.path(), "json");
    let finished = Cli::new(agent.socket()).run(&run_args("*", &strs(&extra), &[&helper("run-inspect")]));
    assert_code(&finished, 0);
    let report = json(&finished.stdout);
    assert_eq!(report["kind"], "fifo", "a named pipe, not a file: {report}");
    assert_eq!((&report["mode"], &report["dir_mode"]), (&json!(0o600), &json!(0o700)), "{report}");
    assert_eq!(report["listing"], json!(["secrets.json"]), "no regular file beside it: {report}");
    let content: Value = serde_json::from_str(report["content"].as_str().unwrap()).unwrap();
    for (_, name, value) in APP_VALUES {
        assert_eq!(content[name], *value, "{name}");
    }
    assert_eq!(report["after_read"], "missing", "one read: the pipe is gone after it: {report}");
    let stderr = finished.stderr_text();
    assert!(stderr.contains("through the named pipe ") && stderr.contains("(json, one read, VANTA_SECRETS_FILE)"));
    assert_eq!(entries(parent.path()), Vec::<String>::new());
}

#[test]
fn an_unread_pipe_is_removed_when_the_command_ends() {
    let agent = app_agent();
    let parent = tempfile::tempdir().unwrap();
    let extra = fifo_args(parent.path(), "dotenv");
    let script = r#"test -p "$VANTA_SECRETS_FILE" && echo is-a-pipe"#;
    let finished = Cli::new(agent.socket()).run(&run_args("*", &strs(&extra), &["sh", "-c", script]));
    assert_code(&finished, 0);
    assert_eq!(finished.stdout_text(), "is-a-pipe\n");
    assert_eq!(entries(parent.path()), Vec::<String>::new());
}

#[test]
fn the_pipe_is_removed_when_the_cli_is_interrupted() {
    let agent = app_agent();
    let parent = tempfile::tempdir().unwrap();
    let extra = fifo_args(parent.path(), "dotenv");
    // The command waits without reading: the CLI is still waiting for a reader.
    let script = r#"echo "waiting $VANTA_SECRETS_FILE"; exec sleep 60"#;
    let running = Cli::new(agent.socket()).spawn(&run_args("MARK", &strs(&extra), &["sh", "-c", script]));
    let line = wait_for_line(&running, "waiting");
    let pipe = line.trim_start_matches("waiting ").to_owned();
    assert!(Path::new(&pipe).exists(), "{pipe}");
    running.signal(Signal::SIGTERM);
    let finished = running.wait(WAIT);
    assert_code(&finished, 143);
    assert_eq!(entries(parent.path()), Vec::<String>::new());
}

//! `run-with-secrets --watch` against secrets changed by the real `sops set`
//! (or re-encryption) while the command runs: restart, signal and exit
//! modes, a failing read that keeps the command, renewed and rotated
//! tokens; and the 304 answers the watch polls for.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::{Value, json};
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::cli::{Cli, RunningCli};
use vanta_integration_tests::fixtures::{self, write_private};
use vanta_integration_tests::process::{self, poll_until};

use crate::run::support::{WAIT, assert_code, assert_usage_error, helper, json, run_args};

const YAML: &str = "MARK: first-value-1a\nOTHER: other-value-2b\n";

/// How long a change may take to reach the command: interval 1 s, jitter,
/// a sops run, a stop; generous for a loaded machine.
const CHANGE: std::time::Duration = std::time::Duration::from_secs(30);

fn agent() -> TestAgent {
    TestAgent::builder().secrets("app", YAML).start()
}

fn vault_file(agent: &TestAgent) -> PathBuf {
    agent.paths().vault.join("app.enc.yaml")
}

/// Rotates `key` of `app` to `value` with `sops set`.
fn rotate(agent: &TestAgent, key: &str, value: &str) {
    fixtures::sops_set(&agent.paths().age_keys, &vault_file(agent), key, value);
}

/// `--watch --watch-interval 1` and `extra`, running `watch-child VARS`.
fn watch(agent: &TestAgent, pattern: &str, extra: &[&str], child: &[&str]) -> RunningCli {
    let mut args = vec!["--watch", "--watch-interval", "1"];
    args.extend_from_slice(extra);
    let child_path = helper("watch-child");
    let cmd: Vec<&str> = std::iter::once(child_path.as_str()).chain(child.iter().copied()).collect();
    Cli::new(agent.socket()).spawn(&run_args(pattern, &args, &cmd))
}

/// The next event line of the child.
fn event(running: &RunningCli) -> Value {
    json(running.next_line(CHANGE).as_bytes())
}

fn assert_no_value_in(stderr: &str) {
    for value in ["first-value-1a", "other-value-2b", "second-value-3c", "third-value-4d"] {
        assert!(!stderr.contains(value), "stderr shows a value: {stderr}");
    }
}

#[test]
fn restart_mode_stops_the_old_command_and_starts_one_with_the_new_value() {
    let agent = agent();
    let running = watch(&agent, "*", &[], &["MARK", "OTHER"]);
    let first = event(&running);
    assert_eq!((&first["event"], &first["env"]["MARK"]), (&json!("start"), &json!("first-value-1a")));
    rotate(&agent, "MARK", "second-value-3c");
    let stopped = event(&running);
    assert_eq!((&stopped["event"], &stopped["pid"]), (&json!("SIGTERM"), &first["pid"]), "{stopped}");
    let second = event(&running);
    assert_eq!(second["event"], "start", "{second}");
    assert_ne!(second["pid"], first["pid"]);
    assert_eq!(second["env"], json!({"MARK": "second-value-3c", "OTHER": "other-value-2b"}));
    // Signals still reach the command, and its exit code is the CLI's.
    running.signal(Signal::SIGTERM);
    assert_eq!(event(&running)["event"], "SIGTERM");
    let finished = running.wait(WAIT);
    assert_code(&finished, 0);
    let stderr = finished.stderr_text();
    let changed: Vec<&str> = stderr.lines().filter(|l| l.contains("secrets changed")).collect();
    assert_eq!(
        changed,
        ["vanta-cli: secrets changed in 'app': MARK changed; restarted the command (the old one ended with 0)"],
        "{stderr}"
    );
    assert_no_value_in(&stderr);
}

#[test]
fn a_command_that_ignores_the_stop_signal_is_killed_after_the_timeout() {
    let agent = agent();
    let extra = ["--stop-signal", "SIGUSR1", "--stop-timeout", "1", "--quiet"];
    let running = watch(&agent, "MARK", &extra, &["--keep-on-term", "MARK"]);
    let first = event(&running);
    rotate(&agent, "MARK", "second-value-3c");
    assert_eq!(event(&running)["event"], "SIGUSR1", "the stop signal is --stop-signal");
    let second = event(&running);
    assert_eq!((&second["event"], &second["env"]["MARK"]), (&json!("start"), &json!("second-value-3c")));
    assert_ne!(second["pid"], first["pid"]);
    running.signal(Signal::SIGINT);
    let finished = running.wait(WAIT);
    assert_code(&finished, 130);
    assert_eq!(finished.stderr_text(), "", "--quiet: no change line");
}

/// A signal that vanta-cli gets while it stops the old command (which
/// takes its time: it only reports the stop signal) reaches that command,
/// and ends the run: no new command, exit 128+N (not 75 with `exit`).
#[test]
fn a_signal_while_the_old_command_stops_ends_the_run_without_a_new_one() {
    let agent = agent();
    // watch-child ends on SIGTERM; SIGINT, which it does not catch, kills it.
    let cases = [("restart", Signal::SIGTERM, "second-value-3c"), ("exit", Signal::SIGINT, "third-value-4d")];
    for (on_change, signal, value) in cases {
        let extra = ["--on-change", on_change, "--stop-signal", "SIGUSR1", "--stop-timeout", "600"];
        let running = watch(&agent, "MARK", &extra, &["MARK"]);
        assert_eq!(event(&running)["event"], "start", "{on_change}");
        rotate(&agent, "MARK", value);
        // The stop has begun: vanta-cli waits for the command to end.
        assert_eq!(event(&running)["event"], "SIGUSR1", "{on_change}");
        running.signal(signal);
        let finished = running.wait(WAIT);
        let code = 128 + signal as i32;
        assert_code(&finished, code);
        let starts = finished.stdout_text().matches(r#""event":"start""#).count();
        assert_eq!(starts, 1, "{on_change}: no new command: {}", finished.stdout_text());
        let stderr = finished.stderr_text();
        assert!(stderr.contains(&format!("got {signal} meanwhile, exiting with {code}")), "{on_change}: {stderr}");
    }
}

/// A SIGTERM passed on to the command ends the run, however long the
/// command takes to shut down: a change found meanwhile is not acted on
/// (no stop signal again, no new command, not 75 with `exit`), and
/// vanta-cli exits with the command's code.
#[test]
fn a_signal_during_the_run_ends_the_watch_and_the_cli_exits_with_the_commands_code() {
    let agent = agent();
    let script = r#"trap 'echo got TERM; sleep 6; echo done; exit 0' TERM; echo ready; while :; do sleep 0.2; done"#;
    for (on_change, value) in [("restart", "second-value-3c"), ("exit", "third-value-4d")] {
        let extra = ["--watch", "--watch-interval", "1", "--on-change", on_change, "--stop-timeout", "1"];
        let running = Cli::new(agent.socket()).spawn(&run_args("MARK", &extra, &["sh", "-c", script]));
        assert_eq!(running.next_line(CHANGE), "ready", "{on_change}");
        running.signal(Signal::SIGTERM);
        assert_eq!(running.next_line(CHANGE), "got TERM", "{on_change}");
        // Found by a poll within the six seconds the command takes, were
        // there one.
        rotate(&agent, "MARK", value);
        let finished = running.wait(WAIT);
        assert_code(&finished, 0);
        assert_eq!(finished.stdout_text(), "ready\ngot TERM\ndone\n", "{on_change}: one command, one TERM");
        let stderr = finished.stderr_text();
        assert!(!stderr.contains("secrets changed"), "{on_change}: no change acted on: {stderr}");
        assert!(stderr.contains("SIGTERM passed on: no longer watching for changes"), "{on_change}: said: {stderr}");
    }
}

/// With `--mask` and a stdout nobody reads, a SIGTERM while vanta-cli
/// relays the rest of a stopped command's output gives that output up and
/// ends the run as a SIGTERM during the stop does: no new command, 143
/// (not 75 with `exit`).
#[test]
fn a_signal_while_the_stopped_commands_output_is_drained_ends_the_run() {
    let agent = agent();
    let dir = tempfile::tempdir().unwrap();
    let (pid_file, starts, marker) = (dir.path().join("pid"), dir.path().join("starts"), dir.path().join("stopped"));
    // On the stop signal: more output than a pipe holds, less than the
    // relay takes in, so it ends while the relay is stuck writing.
    let script = format!(
        r#"echo $$ > '{}'; echo start >> '{}'; trap "head -c 100000 /dev/zero | tr '\0' x; : > '{}'; exit 3" TERM
        while :; do sleep 0.1; done"#,
        pid_file.display(),
        starts.display(),
        marker.display()
    );
    for (on_change, value) in [("restart", "second-value-3c"), ("exit", "third-value-4d")] {
        let _ = std::fs::remove_file(&marker);
        std::fs::write(&starts, "").unwrap();
        let extra = ["-q", "--mask", "--watch", "--watch-interval", "1", "--on-change", on_change];
        let mut cmd = Cli::new(agent.socket()).command(&run_args("MARK", &extra, &["sh", "-c", &script]));
        let (unread, stdout) = nix::unistd::pipe().unwrap();
        cmd.stdin(Stdio::null()).stdout(Stdio::from(stdout)).stderr(Stdio::null()).process_group(0);
        let mut child = cmd.spawn().unwrap();
        drop(cmd);
        poll_until(CHANGE, "the command started", || {
            (std::fs::read_to_string(&starts).ok()? == "start\n").then_some(())
        });
        let command: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        rotate(&agent, "MARK", value);
        poll_until(CHANGE, "the command stopped", || marker.exists().then_some(()));
        // Reaped by vanta-cli: the stop is over, the drain has begun.
        poll_until(CHANGE, "the command reaped", || (!Path::new(&format!("/proc/{command}")).exists()).then_some(()));
        std::thread::sleep(std::time::Duration::from_millis(200));
        let cli = Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(cli, Signal::SIGTERM).unwrap();
        let status = process::wait_with_deadline(&mut child, WAIT);
        process::kill_group(&child);
        drop(unread);
        let status = status.unwrap_or_else(|| panic!("{on_change}: vanta-cli is still running"));
        assert_eq!(status.code(), Some(143), "{on_change}: {status:?}");
        assert_eq!(std::fs::read_to_string(&starts).unwrap(), "start\n", "{on_change}: no new command");
    }
}

#[test]
fn signal_mode_replaces_the_file_whole_and_signals_the_same_command() {
    let agent = agent();
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let extra =
        ["--inject-as", "file", "--file-format", "json", "--secrets-dir", dir_arg, "--on-change", "signal:SIGHUP"];
    let running = watch(&agent, "*", &extra, &[]);
    let first = event(&running);
    let content = |e: &Value| -> Value { serde_json::from_str(e["file"].as_str().unwrap()).unwrap() };
    assert_eq!(content(&first)["MARK"], "first-value-1a");
    for value in ["second-value-3c", "third-value-4d"] {
        rotate(&agent, "MARK", value);
        let hup = event(&running);
        assert_eq!((&hup["event"], &hup["pid"]), (&json!("SIGHUP"), &first["pid"]), "{hup}");
        assert_eq!(content(&hup), json!({"MARK": value, "OTHER": "other-value-2b"}));
        assert_eq!(hup["torn"], 0, "the reader never saw a partial file");
    }
    running.signal(Signal::SIGTERM);
    let finished = running.wait(WAIT);
    assert_code(&finished, 0);
    assert!(
        finished.stderr_text().contains("MARK changed; replaced the file, sent SIGHUP"),
        "{}",
        finished.stderr_text()
    );
    assert_eq!(crate::run::support::entries(dir.path()), Vec::<String>::new(), "the directory is gone");
}

#[test]
fn signal_mode_is_a_usage_error_for_environment_injection_and_masking() {
    let agent = agent();
    let args = run_args("*", &["--watch", "--on-change", "signal:SIGHUP"], &["true"]);
    let line = assert_usage_error(&Cli::new(agent.socket()).run(&args));
    assert!(line.contains("needs --inject-as file (an environment cannot change under a running process)"), "{line}");
    let masked = ["--inject-as", "file", "--mask", "--watch", "--on-change", "signal:SIGHUP"];
    let line = assert_usage_error(&Cli::new(agent.socket()).run(&run_args("*", &masked, &["true"])));
    assert!(line.contains("--mask with --on-change signal:SIGHUP would go on masking the old values"), "{line}");
}

#[test]
fn exit_mode_stops_the_command_and_exits_75() {
    let agent = agent();
    let running = watch(&agent, "MARK", &["--on-change", "exit"], &["MARK"]);
    assert_eq!(event(&running)["event"], "start");
    rotate(&agent, "MARK", "second-value-3c");
    assert_eq!(event(&running)["event"], "SIGTERM");
    let finished = running.wait(WAIT);
    assert_code(&finished, 75);
    assert!(finished.stderr_text().contains("stopped the command, exiting with 75"), "{}", finished.stderr_text());
}

#[test]
fn a_failing_read_keeps_the_old_command_and_is_said_once() {
    let agent = agent();
    let running = watch(&agent, "MARK", &[], &["MARK"]);
    let first = event(&running);
    std::fs::write(vault_file(&agent), "not: [a sops file\n").unwrap();
    // Evidence of several failed polls, then a good file with a new value.
    poll_until(CHANGE, "three failed polls", || {
        let failed = agent.audit_lines().iter().filter(|l| l["status_code"] == 500).count();
        (failed >= 3).then_some(())
    });
    fixtures::encrypt_yaml(agent.age_key().recipient(), "MARK: third-value-4d\n", &agent.paths().vault, "app");
    assert_eq!(event(&running)["pid"], first["pid"], "the old command got its stop signal only now");
    let second = event(&running);
    assert_eq!(second["env"]["MARK"], "third-value-4d");
    running.signal(Signal::SIGTERM);
    let finished = running.wait(WAIT);
    let stderr = finished.stderr_text();
    assert_eq!(stderr.matches("cannot read the secrets of 'app' now").count(), 1, "{stderr}");
    assert!(stderr.contains("the command keeps running with the secrets it has"), "{stderr}");
    assert_eq!(stderr.matches("reading the secrets of 'app' again").count(), 1, "{stderr}");
    assert_no_value_in(&stderr);
}

#[test]
fn a_change_that_cannot_be_handed_over_is_tried_again_until_it_can() {
    let agent = agent();
    let base = tempfile::tempdir().unwrap();
    let (real, link) = (base.path().join("real"), base.path().join("link"));
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    // Points `link` at `target`, replacing it in one step.
    let point = |target: &Path| {
        let next = base.path().join("link.next");
        std::os::unix::fs::symlink(target, &next).unwrap();
        std::fs::rename(&next, &link).unwrap();
    };
    let reads = || agent.audit_lines().iter().filter(|l| l["event"] == "secret_access").count();
    let extra = ["--inject-as", "file", "--file-format", "json", "--secrets-dir", link.to_str().unwrap()];
    let running = watch(&agent, "MARK", &extra, &[]);
    let first = event(&running);
    let before = reads();
    // The secrets directory is gone (as good as full): no new private
    // directory can be made for the new set.
    point(&base.path().join("gone"));
    rotate(&agent, "MARK", "second-value-3c");
    poll_until(CHANGE, "the new set read three times", || (reads() >= before + 3).then_some(()));
    point(&real);
    let stopped = event(&running);
    assert_eq!((&stopped["event"], &stopped["pid"]), (&json!("SIGTERM"), &first["pid"]), "{stopped}");
    let second = event(&running);
    let content: Value = serde_json::from_str(second["file"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"MARK": "second-value-3c"}));
    running.signal(Signal::SIGTERM);
    let finished = running.wait(WAIT);
    assert_code(&finished, 0);
    let stderr = finished.stderr_text();
    assert_eq!(stderr.matches("but cannot be handed over").count(), 1, "said once: {stderr}");
    assert!(stderr.contains("MARK changed) but cannot be handed over (the secrets directory"), "{stderr}");
    assert!(stderr.contains("the changed secrets of 'app' could be handed over now"), "{stderr}");
    assert!(stderr.contains("MARK changed; restarted the command"), "{stderr}");
    assert_no_value_in(&stderr);
}

/// A change the values themselves keep from the command (a NUL byte, which
/// no environment variable can hold) waits for the next change: retrying
/// it read and audited every value at every poll, without end.
#[test]
fn a_change_whose_values_cannot_be_handed_over_waits_for_the_next_one() {
    let agent = agent();
    let reads = || agent.audit_lines().iter().filter(|l| l["event"] == "secret_access").count();
    let running = watch(&agent, "MARK", &[], &["MARK"]);
    let first = event(&running);
    let before = reads();
    rotate(&agent, "MARK", "bad\u{0}value-5e");
    poll_until(CHANGE, "the new set read", || (reads() > before).then_some(()));
    // Four polls at one a second: none reads the set again.
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(reads(), before + 1, "the set is not read again until it changes");
    rotate(&agent, "MARK", "third-value-4d");
    let stopped = event(&running);
    assert_eq!((&stopped["event"], &stopped["pid"]), (&json!("SIGTERM"), &first["pid"]), "{stopped}");
    let second = event(&running);
    assert_eq!((&second["event"], &second["env"]["MARK"]), (&json!("start"), &json!("third-value-4d")));
    running.signal(Signal::SIGTERM);
    let finished = running.wait(WAIT);
    assert_code(&finished, 0);
    let stderr = finished.stderr_text();
    assert!(stderr.contains("contains a NUL byte") && stderr.contains("keeps the old ones until the next change"));
    assert!(!stderr.contains("trying again"), "{stderr}");
    assert_no_value_in(&stderr);
}

/// In signal mode the file lives in the command's own private directory,
/// made once: with its --secrets-dir removed, no retry can put the file
/// back, so the change waits for the next one instead of reading and
/// auditing every value at every poll.
#[test]
fn signal_mode_does_not_retry_a_file_whose_directory_is_gone() {
    let agent = agent();
    let reads = || agent.audit_lines().iter().filter(|l| l["event"] == "secret_access").count();
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("secrets");
    std::fs::create_dir(&dir).unwrap();
    let extra = ["--inject-as", "file", "--secrets-dir", dir.to_str().unwrap(), "--on-change", "signal:SIGHUP"];
    let running = watch(&agent, "MARK", &extra, &[]);
    event(&running);
    std::fs::remove_dir_all(&dir).unwrap();
    let before = reads();
    rotate(&agent, "MARK", "second-value-3c");
    poll_until(CHANGE, "the new set read", || (reads() > before).then_some(()));
    // Four polls at one a second: none reads the set again.
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(reads(), before + 1, "the set is not read again until it changes");
    running.signal(Signal::SIGTERM);
    let stderr = running.wait(WAIT).stderr_text();
    assert!(stderr.contains("keeps the old ones until the next change"), "{stderr}");
    assert_no_value_in(&stderr);
}

/// A value rotated to one holding `${` is named after a restart, as at the
/// first start: python-dotenv's default reader would expand it.
#[test]
fn a_rotated_value_a_dotenv_reader_may_expand_is_named_after_the_restart() {
    let agent = agent();
    let running = watch(&agent, "MARK", &["--inject-as", "file"], &[]);
    event(&running);
    rotate(&agent, "MARK", "pw-${HOME}-6f");
    assert_eq!(event(&running)["event"], "SIGTERM");
    assert_eq!(event(&running)["event"], "start");
    running.signal(Signal::SIGTERM);
    let finished = running.wait(WAIT);
    let stderr = finished.stderr_text();
    assert_eq!(stderr.matches("the values of MARK hold '${'").count(), 1, "{stderr}");
    assert!(!stderr.contains("pw-"), "{stderr}");
}

/// Without `--ttl` the agent's default lifetime applies (here one minute,
/// under a maximum of two that a fixed request of 5 would exceed), and the
/// token is renewed from the lifetime the agent granted.
#[test]
fn a_short_lived_self_minted_token_of_the_agents_default_lifetime_is_renewed() {
    let agent = TestAgent::builder()
        .secrets("app", YAML)
        .args(["--default-ttl-minutes", "1", "--max-ttl-minutes", "2"])
        .start();
    // One minute: renewed after 40 s, before the first one expires.
    let running = watch(&agent, "MARK", &[], &["MARK"]);
    assert_eq!(event(&running)["event"], "start");
    let minted = |agent: &TestAgent| -> Vec<String> {
        let lines = agent.audit_lines();
        lines.iter().filter(|l| l["event"] == "token_generate").map(|l| l["jti"].as_str().unwrap().to_owned()).collect()
    };
    let renewed = poll_until(std::time::Duration::from_secs(90), "a second token", || {
        let jtis = minted(&agent);
        (jtis.len() >= 2).then(|| jtis[1].clone())
    });
    poll_until(CHANGE, "a poll with the new token", || {
        agent.audit_lines().iter().any(|l| l["event"] == "key_list" && l["jti"] == renewed.as_str()).then_some(())
    });
    rotate(&agent, "MARK", "second-value-3c");
    assert_eq!(event(&running)["event"], "SIGTERM");
    assert_eq!(event(&running)["env"]["MARK"], "second-value-3c");
    running.signal(Signal::SIGTERM);
    let finished = running.wait(WAIT);
    assert!(
        finished.stderr_text().contains("renewed the self-minted token (same scope)"),
        "{}",
        finished.stderr_text()
    );
}

#[test]
fn a_rotated_token_file_is_picked_up_and_a_bad_one_is_said_once() {
    let agent = agent();
    let home = tempfile::tempdir().unwrap();
    let token_file = home.path().join("token");
    let write = |path: &Path, token: &str| {
        let next = path.with_extension("next");
        write_private(&next, token.as_bytes());
        std::fs::rename(&next, path).unwrap();
    };
    // One minute left: well inside the warning's five minutes.
    let short = json!({"subject": "it", "environment": "app", "key_pattern": "MARK", "ttl_minutes": 1});
    write(&token_file, &agent.mint(&short));
    let running = watch(&agent, "MARK", &["--token-file", token_file.to_str().unwrap()], &["MARK"]);
    assert_eq!(event(&running)["event"], "start");
    poll_until(CHANGE, "two polls with the short-lived token", || {
        (agent.audit_lines().iter().filter(|l| l["status_code"] == 304).count() >= 2).then_some(())
    });
    // A token for another environment: every poll is refused.
    write(&token_file, &agent.mint_for("other", "*"));
    poll_until(CHANGE, "three refused polls", || {
        (agent.audit_lines().iter().filter(|l| l["status_code"] == 403).count() >= 3).then_some(())
    });
    let good = agent.mint_for("app", "*");
    let good_jti = vanta_integration_tests::jwt::decode_part(&good, 1)["jti"].as_str().unwrap().to_owned();
    write(&token_file, &good);
    poll_until(CHANGE, "a poll with the rotated token", || {
        agent.audit_lines().iter().any(|l| l["jti"] == good_jti.as_str() && l["status_code"] == 304).then_some(())
    });
    rotate(&agent, "MARK", "second-value-3c");
    assert_eq!(event(&running)["event"], "SIGTERM");
    assert_eq!(event(&running)["env"]["MARK"], "second-value-3c");
    running.signal(Signal::SIGTERM);
    let stderr = running.wait(WAIT).stderr_text();
    assert_eq!(stderr.matches("cannot read the secrets of 'app' now").count(), 1, "{stderr}");
    assert!(stderr.contains("read a new token from the token file"), "{stderr}");
    let warned = "warning: the given token expires in";
    assert_eq!(stderr.matches(warned).count(), 1, "warned once, for the short-lived token: {stderr}");
    assert!(stderr.contains(&format!("write a new one to {} (it is read again", token_file.display())), "{stderr}");
}

#[test]
fn unchanged_environments_answer_304_and_a_304_is_no_use() {
    let agent = agent();
    let token = agent.mint(&json!({"subject": "w", "environment": "app", "key_pattern": "*", "usage_limit": 1}));
    let auth = format!("Bearer {token}");
    let list = agent.list_keys("app", &token);
    let tag = list.header("etag").expect("an ETag").to_owned();
    assert!(tag.starts_with('"') && tag.len() == 24, "{tag}");
    let again = agent.request("GET", "/api/v1/vault/app", &[("Authorization", &auth), ("If-None-Match", &tag)], None);
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(again.header("etag"), Some(tag.as_str()));
    let value = agent.get_secret("app", "MARK", &agent.mint_for("app", "*"));
    let value_tag = value.header("etag").expect("an ETag").to_owned();
    assert_ne!(value_tag, tag);
    let path = "/api/v1/vault/app/MARK";
    for _ in 0..3 {
        let cached = agent.request("GET", path, &[("Authorization", &auth), ("If-None-Match", &value_tag)], None);
        assert_eq!(cached.status, 304, "a 304 takes no use: {}", cached.text());
    }
    assert_eq!(agent.get_secret("app", "MARK", &token).status, 200, "the one use is still there");
    rotate(&agent, "MARK", "second-value-3c");
    let changed = agent.request("GET", "/api/v1/vault/app", &[("Authorization", &auth), ("If-None-Match", &tag)], None);
    assert_eq!(changed.status, 401, "used up: no 304 either");
    let fresh = agent.mint_for("app", "*");
    let changed = agent.request(
        "GET",
        "/api/v1/vault/app",
        &[("Authorization", &format!("Bearer {fresh}")), ("If-None-Match", &tag)],
        None,
    );
    assert_eq!(changed.status, 200, "a changed value changes the list's tag");
    let not_modified: Vec<Value> = agent.audit_lines().into_iter().filter(|l| l["outcome"] == "not_modified").collect();
    assert_eq!(not_modified.len(), 4, "{not_modified:?}");
    assert!(not_modified.iter().all(|l| l["status_code"] == 304));
}

#[test]
fn a_restarted_command_gets_a_new_pipe_with_the_new_set() {
    let agent = agent();
    let args = run_args(
        "MARK",
        &["--inject-as", "fifo", "--watch", "--watch-interval", "1"],
        &[&helper("run-inspect"), "--then-sleep"],
    );
    let running = Cli::new(agent.socket()).spawn(&args);
    let first = json(crate::run::support::wait_for_line(&running, "\"path\"").as_bytes());
    assert_eq!(first["content"], "MARK=\"first-value-1a\"\n", "{first}");
    rotate(&agent, "MARK", "second-value-3c");
    let second = json(crate::run::support::wait_for_line(&running, "\"path\"").as_bytes());
    assert_eq!(second["content"], "MARK=\"second-value-3c\"\n", "{second}");
    assert_ne!(second["pid"], first["pid"]);
    assert_ne!(second["path"], first["path"], "a new pipe in a new directory");
    running.signal(Signal::SIGTERM);
    assert_code(&running.wait(WAIT), 143);
    assert!(!Path::new(first["path"].as_str().unwrap()).parent().unwrap().exists(), "the old directory is gone");
}

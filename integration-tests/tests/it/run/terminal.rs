//! `run-with-secrets` on a terminal (a pseudo-terminal driven by python3's
//! `pty`): the command gets the terminal unchanged (an interactive `sh`
//! works, `cat` echoes), and Ctrl-C / Ctrl-\ reach it once, from the
//! terminal, not a second time from the CLI; a SIGTERM sent to the CLI is
//! still forwarded. With `--mask` (explicit), only stdin stays the terminal.

use std::process::Command;

use serde_json::{Value, json};
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::bins;
use vanta_integration_tests::process::{DEADLINE, output_with_deadline};

use crate::run::support::{app_agent, helper, run_args};

/// Runs `argv` on a new pseudo-terminal (as session leader, in the
/// foreground), plays `steps` on it, then reads to the end. Steps:
/// `["wait", text]`, `["write", text]`, `["sleep", seconds]`,
/// `["kill", "SIGTERM"]` (to the process on the terminal, the CLI).
const DRIVER: &str = r#"
import json, os, pty, select, signal, sys, time
steps, argv = json.loads(sys.argv[1]), sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out = b""
def read(until, timeout):
    global out
    end = time.time() + timeout
    while (until is None or until.encode() not in out) and time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            out += chunk
for action, arg in steps:
    if action == "wait":
        read(arg, 15)
        if arg.encode() not in out:
            print(json.dumps({"output": out.decode("utf-8", "replace"), "code": None, "missing": arg}))
            os.kill(pid, signal.SIGKILL)
            sys.exit(0)
    elif action == "write":
        os.write(fd, arg.encode())
    elif action == "sleep":
        time.sleep(arg)
    elif action == "kill":
        os.kill(pid, getattr(signal, arg))
read(None, 10)
_, status = os.waitpid(pid, 0)
print(json.dumps({"output": out.decode("utf-8", "replace"), "code": os.waitstatus_to_exitcode(status)}))
"#;

/// Runs `vanta-cli run-with-secrets ... -- cmd` on a terminal.
fn on_terminal(agent: &TestAgent, cmd: &[&str], steps: &Value) -> (String, Option<i64>) {
    on_terminal_with(agent, &["-q"], cmd, steps)
}

/// [`on_terminal`] with other flags than `-q`.
fn on_terminal_with(agent: &TestAgent, flags: &[&str], cmd: &[&str], steps: &Value) -> (String, Option<i64>) {
    let mut driver = Command::new("python3");
    driver.env_clear().env("PATH", bins::child_path()).env("HOME", &agent.paths().home).env("TERM", "dumb");
    driver.args(["-c", DRIVER]).arg(steps.to_string()).arg(bins::cli()).arg("--socket").arg(agent.socket());
    driver.args(run_args("*", flags, cmd));
    let finished = output_with_deadline(&mut driver, DEADLINE);
    assert_eq!(finished.code(), Some(0), "the pty driver failed: {}", finished.stderr_text());
    let report: Value = serde_json::from_slice(&finished.stdout).expect("the driver prints JSON");
    assert!(report.get("missing").is_none(), "never saw {}: {}", report["missing"], report["output"]);
    (report["output"].as_str().unwrap_or_default().to_owned(), report["code"].as_i64())
}

#[test]
fn ctrl_c_and_ctrl_backslash_reach_the_command_once() {
    let agent = app_agent();
    let steps = json!([
        ["wait", "ready"],
        ["write", "\u{3}"],
        ["wait", "got SIGINT"],
        ["write", "\u{1c}"],
        ["wait", "got SIGQUIT"],
        // A second one would arrive within this time if the CLI forwarded it too.
        ["sleep", 0.5],
        ["kill", "SIGTERM"],
        ["wait", "got SIGTERM"]
    ]);
    let (output, code) = on_terminal(&agent, &[&helper("run-trap")], &steps);
    assert_eq!(output.matches("got SIGINT").count(), 1, "Ctrl-C once: {output}");
    assert_eq!(output.matches("got SIGQUIT").count(), 1, "Ctrl-\\ once: {output}");
    assert_eq!(code, Some(0), "{output}");
}

#[test]
fn an_interactive_shell_works_under_it() {
    let agent = app_agent();
    let steps = json!([
        ["sleep", 0.5],
        ["write", "echo \"[$MARK]\"; tty -s && echo on-a-tty\n"],
        ["wait", "[marker-value-8c]"],
        ["wait", "on-a-tty"],
        ["write", "exit 5\n"]
    ]);
    let (output, code) = on_terminal(&agent, &["sh", "-i"], &steps);
    assert_eq!(code, Some(5), "{output}");
}

#[test]
fn cat_echoes_what_is_typed() {
    let agent = app_agent();
    let steps =
        json!([["sleep", 0.3], ["write", "typed line\n"], ["wait", "typed line\r\ntyped line"], ["write", "\u{4}"]]);
    let (output, code) = on_terminal(&agent, &["cat"], &steps);
    assert_eq!(code, Some(0), "{output}");
}

/// `--mask`, given explicitly, takes stdout and stderr off the terminal to
/// mask them; stdin stays the terminal. Without it the command keeps all.
#[test]
fn with_mask_only_stdin_stays_the_terminal() {
    let agent = app_agent();
    let script = r#"test -t 0 && echo stdin-tty; test -t 1 && echo stdout-tty; test -t 1 || echo stdout-pipe
        echo "[$MARK]"; read -r line; echo "got $line""#;
    let steps = json!([["wait", "]"], ["write", "typed\n"], ["wait", "got typed"]]);
    let (output, code) = on_terminal_with(&agent, &["-q", "--mask"], &["sh", "-c", script], &steps);
    assert_eq!(code, Some(0), "{output}");
    for want in ["stdin-tty", "stdout-pipe", "[<concealed by vanta>]", "got typed"] {
        assert!(output.contains(want), "{want}: {output}");
    }
    assert!(!output.contains("marker-value-8c"), "{output}");
    let (output, code) = on_terminal(&agent, &["sh", "-c", script], &steps);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("stdout-tty") && output.contains("[marker-value-8c]"), "{output}");
}

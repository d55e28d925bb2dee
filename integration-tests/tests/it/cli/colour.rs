//! Colour (operator guide, "Troubleshooting"): ANSI colour codes only on a
//! terminal and never with `NO_COLOR`, in clap's messages, the CLI's
//! diagnostics and the agent's log; never in redirected stderr.

use std::process::Command;

use vanta_integration_tests::bins;
use vanta_integration_tests::cli::Cli;
use vanta_integration_tests::process::{self, DEADLINE};

use crate::common::dev_agent;

const ESC: char = '\x1b';

/// What `args` of vanta-cli print on a terminal (a pty from `script`),
/// with `NO_COLOR=1` or without it.
fn on_a_terminal(args: &str, no_color: bool) -> String {
    let line = format!("{} {args}", bins::cli().to_str().expect("UTF-8 path"));
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env_clear()
        .env("PATH", bins::child_path())
        .env("VANTA_LOG", "debug")
        .env("TERM", "xterm");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    process::output_with_deadline(&mut cmd, DEADLINE).stdout_text()
}

#[test]
fn colour_only_on_a_terminal_without_no_color() {
    let agent = dev_agent();
    let socket = agent.socket().to_str().expect("UTF-8 path").to_owned();
    for args in ["--bogus".to_owned(), format!("--socket {socket} health")] {
        let coloured = on_a_terminal(&args, false);
        assert!(coloured.contains(ESC), "the control: colour on a terminal for {args}: {coloured:?}");
        let plain = on_a_terminal(&args, true);
        assert!(!plain.contains(ESC) && !plain.is_empty(), "NO_COLOR for {args}: {plain:?}");
    }
    // Redirected: clap's usage error and the CLI's debug log.
    let cli = Cli::new(agent.socket()).env("VANTA_LOG", "debug");
    for finished in [cli.run(&["--bogus"]), cli.run(&["health"])] {
        let stderr = finished.stderr_text();
        assert!(!stderr.is_empty() && !stderr.contains(ESC), "{stderr:?}");
    }
    let log = agent.stderr_text();
    assert!(!log.is_empty() && !log.contains(ESC), "the agent's log in a file: {log:?}");
}

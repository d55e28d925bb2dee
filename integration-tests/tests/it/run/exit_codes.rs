//! `run-with-secrets` exits with its command's code: 0 and 3 as they are,
//! 126 for a command that cannot be executed, 127 for one that does not
//! exist, 128+N when signal N killed it (130, 143); stdin reaches the
//! command byte for byte.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use nix::sys::signal::Signal;
use vanta_integration_tests::cli::Cli;

use crate::run::support::{WAIT, app_agent, assert_code, helper, path_arg, run_args, wait_for_line};

#[test]
fn the_commands_own_codes_pass_through() {
    let agent = app_agent();
    let cli = Cli::new(agent.socket());
    for code in [0, 3, 42, 255] {
        let finished = cli.run(&run_args("MARK", &["-q"], &[&helper("exit-with"), &code.to_string()]));
        assert_code(&finished, code);
        assert!(finished.stderr.is_empty(), "--quiet: {}", finished.stderr_text());
    }
}

#[test]
fn not_found_is_127_and_not_executable_is_126() {
    let agent = app_agent();
    let cli = Cli::new(agent.socket());
    let dir = tempfile::tempdir().unwrap();
    let not_exec = dir.path().join("script.sh");
    fs::write(&not_exec, "#!/bin/sh\necho ran\n").unwrap();
    fs::set_permissions(&not_exec, fs::Permissions::from_mode(0o644)).unwrap();
    let cases = [
        ("vanta-no-such-command-xyz".to_owned(), 127),
        (path_arg(&dir.path().join("missing")), 127),
        (path_arg(&not_exec), 126),
        (path_arg(dir.path()), 126),
    ];
    for (program, code) in cases {
        let finished = cli.run(&run_args("MARK", &[], &[&program]));
        assert_code(&finished, code);
        let stderr = finished.stderr_text();
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("vanta-cli: error: cannot run "), "{program}: one error line: {stderr}");
        assert!(last.contains(&program), "the error names the program: {last}");
        assert!(finished.stdout.is_empty());
    }
}

#[test]
fn death_by_a_forwarded_signal_is_128_plus_n() {
    let agent = app_agent();
    let cli = Cli::new(agent.socket());
    for (sig, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143), (Signal::SIGHUP, 129), (Signal::SIGQUIT, 131)] {
        let running = cli.spawn(&run_args("MARK", &[], &[&helper("run-trap"), "--die"]));
        wait_for_line(&running, "ready");
        running.signal(sig);
        let finished = running.wait(WAIT);
        assert_code(&finished, code);
        assert!(finished.stdout_text().contains(&format!("got {}", sig.as_str())), "{sig}");
    }
    let killed = cli.run(&run_args("MARK", &[], &["sh", "-c", "kill -TERM $$"]));
    assert_code(&killed, 143);
}

#[test]
fn stdin_reaches_the_command_byte_for_byte() {
    let agent = app_agent();
    let input: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let finished = Cli::new(agent.socket()).run_with_stdin(&run_args("MARK", &["-q"], &["cat"]), &input);
    assert_code(&finished, 0);
    assert!(finished.stdout == input, "cat echoed {} of {} bytes", finished.stdout.len(), input.len());
}

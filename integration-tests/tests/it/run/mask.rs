//! `run-with-secrets --mask`: every injected value of 6 bytes or more is
//! replaced by `<concealed by vanta>` in the command's stdout and stderr,
//! also when the command writes it in pieces; shorter values stay;
//! multi-line values go whole and line by line. Off by default, on with
//! `VANTA_MASK`, off again with `--no-mask`. Exit codes, signals, stdin,
//! the order of stdout and stderr in one file, and SIGPIPE are as without
//! it; a descendant holding the output does not keep the run going, nor
//! does a stdout nobody reads once a signal asks the CLI to end.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use vanta_integration_tests::cli::Cli;
use vanta_integration_tests::process::{self, DEADLINE, killed_by};

use crate::run::support::{
    APP_VALUES, WAIT, agent_with, app_agent, assert_code, assert_no_values, entries, helper, path_arg, run_args,
    wait_for_line,
};

const P: &str = "<concealed by vanta>";

/// `mask-probe` with `flags`, then the variable names of every app value.
fn probe_all(flags: &[&str]) -> Vec<String> {
    let mut cmd = vec![helper("mask-probe")];
    cmd.extend(flags.iter().map(|f| (*f).to_owned()));
    cmd.extend(APP_VALUES.iter().map(|(_, name, _)| (*name).to_owned()));
    cmd
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn values_written_in_pieces_are_masked_on_stdout_and_stderr() {
    let agent = app_agent();
    let cli = Cli::new(agent.socket());
    for pieces in ["1", "3", "7"] {
        let cmd = probe_all(&["--pieces", pieces]);
        let finished = cli.run(&run_args("*", &["--mask"], &refs(&cmd)));
        assert_code(&finished, 0);
        let (out, err) = (finished.stdout_text(), finished.stderr_text());
        assert_no_values(&out, "stdout");
        assert_no_values(&err, "stderr");
        for (_, name, _) in APP_VALUES {
            assert!(out.contains(&format!("{name}={P}\n")), "pieces of {pieces}: {out}");
            assert!(err.contains(&format!("err {name}={P}\n")), "pieces of {pieces}: {err}");
        }
        assert!(out.ends_with("end\n"), "{out}");
        assert!(err.contains("vanta-cli: masking 5 values in the command's output\n"), "{err}");
    }
}

#[test]
fn masking_is_off_by_default_on_with_vanta_mask_and_no_mask_wins() {
    let agent = app_agent();
    let plain = "MARK=marker-value-8c\nend\n";
    let masked = format!("MARK={P}\nend\n");
    let cases: [(Option<&str>, &[&str], &str); 6] = [
        (None, &[], plain),
        (None, &["--mask"], &masked),
        (Some("1"), &[], &masked),
        (Some("0"), &[], plain),
        (Some("1"), &["--no-mask"], plain),
        (None, &["--mask", "--no-mask"], plain),
    ];
    for (env, flags, want) in cases {
        let cli = Cli::new(agent.socket());
        let cli = if let Some(value) = env { cli.env("VANTA_MASK", value) } else { cli };
        let finished = cli.run(&run_args("MARK", flags, &[&helper("mask-probe"), "--pieces", "4", "MARK"]));
        assert_code(&finished, 0);
        assert_eq!(finished.stdout_text(), want, "VANTA_MASK={env:?} {flags:?}");
    }
}

#[test]
fn short_values_stay_and_multi_line_values_go_whole_and_line_by_line() {
    let pem = "-----BEGIN TEST KEY-----\nMIIEvQIBADANBgkqhkiG\nw0BAQEFAASCBKcwggSj\n-----END TEST KEY-----";
    let agent = agent_with(&[("FLAG", "true"), ("PORT", "5432"), ("PEM", pem)]);
    let script = r#"printf 'flag=%s port=%s\n' "$FLAG" "$PORT"; printf 'pem:\n%s\n' "$PEM";
        printf '%s\n' "$PEM" | while read -r line; do printf 'line: %s\n' "$line"; done"#;
    let finished = Cli::new(agent.socket()).run(&run_args("*", &["--mask"], &["sh", "-c", script]));
    assert_code(&finished, 0);
    let want = format!("flag=true port=5432\npem:\n{P}\nline: {P}\nline: {P}\nline: {P}\nline: {P}\n");
    assert_eq!(finished.stdout_text(), want);
    let err = finished.stderr_text();
    let report = "vanta-cli: masking 1 value in the command's output; not masked, shorter than 6 bytes: FLAG, PORT";
    assert!(err.contains(report), "{err}");
}

/// A shell drops the surrounding whitespace of an unquoted `$VALUE`: the
/// value is masked without it as well.
#[test]
fn a_value_printed_without_its_surrounding_whitespace_is_masked() {
    let agent = agent_with(&[("PADDED", "sk_live_padded_value ")]);
    let script = r#"echo unquoted: $PADDED; echo "quoted: $PADDED|""#;
    let finished = Cli::new(agent.socket()).run(&run_args("*", &["--mask"], &["sh", "-c", script]));
    assert_code(&finished, 0);
    assert_eq!(finished.stdout_text(), format!("unquoted: {P}\nquoted: {P}|\n"));
}

#[test]
fn output_is_passed_on_while_the_command_runs() {
    let agent = app_agent();
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let cmd = [helper("mask-probe"), "MARK".into(), "--wait-for".into(), path_arg(&go)];
    let running = Cli::new(agent.socket()).spawn(&run_args("MARK", &["--mask"], &refs(&cmd)));
    // The command waits for `go` before it ends: these lines can only
    // arrive if the relay passes them on at once.
    assert_eq!(running.next_line(WAIT), format!("MARK={P}"));
    wait_for_line(&running, "waiting");
    std::fs::write(&go, "").unwrap();
    assert_eq!(running.next_line(WAIT), "go");
    let finished = running.wait(WAIT);
    assert_code(&finished, 0);
}

#[test]
fn exit_codes_signals_and_stdin_are_as_without_mask() {
    let agent = app_agent();
    let cli = Cli::new(agent.socket());
    for code in [0, 3, 255] {
        let finished = cli.run(&run_args("MARK", &["--mask", "-q"], &[&helper("exit-with"), &code.to_string()]));
        assert_code(&finished, code);
        assert!(finished.stderr.is_empty(), "--quiet: {}", finished.stderr_text());
    }
    assert_code(&cli.run(&run_args("MARK", &["--mask"], &["vanta-no-such-command-xyz"])), 127);
    for (sig, code) in [(Signal::SIGTERM, 143), (Signal::SIGINT, 130), (Signal::SIGHUP, 129)] {
        let running = cli.spawn(&run_args("MARK", &["--mask"], &[&helper("run-trap"), "--die"]));
        wait_for_line(&running, "ready");
        running.signal(sig);
        let finished = running.wait(WAIT);
        assert_code(&finished, code);
        assert!(finished.stdout_text().contains(&format!("got {}", sig.as_str())), "{sig}");
    }
    let input: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let finished = cli.run_with_stdin(&run_args("MARK", &["--mask", "-q"], &["cat"]), &input);
    assert_code(&finished, 0);
    assert!(finished.stdout == input, "cat echoed {} of {} bytes", finished.stdout.len(), input.len());
}

#[test]
fn stdout_and_stderr_in_one_file_keep_their_order() {
    let agent = app_agent();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let cmd = [helper("mask-probe"), "--pieces".into(), "5".into(), "--interleave".into(), "40".into(), "MARK".into()];
    let mut args = vec!["-c".to_owned(), r#"exec "$0" "$@" >"$LOG" 2>&1"#.to_owned()];
    args.push(vanta_integration_tests::bins::cli().to_string_lossy().into_owned());
    args.push("--socket".to_owned());
    args.push(path_arg(agent.socket()));
    args.extend(run_args("MARK", &["--mask", "-q"], &refs(&cmd)));
    let mut sh = std::process::Command::new("sh");
    sh.args(&args).env("LOG", &log).env("PATH", vanta_integration_tests::bins::child_path());
    let finished = process::output_with_deadline(&mut sh, DEADLINE);
    assert_code(&finished, 0);
    let mut want = format!("MARK={P}\nerr MARK={P}\n");
    for i in 0..40 {
        want.push_str(&format!("out {i}\nerr {i}\n"));
    }
    want.push_str("end\n");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), want);
}

#[test]
fn a_descendant_holding_the_output_does_not_keep_the_run_going() {
    let agent = app_agent();
    // Without the relay stopping once the command has ended, the run would
    // last as long as `sleep` and pass the harness's deadline.
    let script = r#"sleep 600 & echo "MARK=$MARK""#;
    let finished = Cli::new(agent.socket()).run(&run_args("MARK", &["--mask", "-q"], &["sh", "-c", script]));
    assert_code(&finished, 0);
    assert_eq!(finished.stdout_text(), format!("MARK={P}\n"));
}

#[test]
fn a_reader_that_goes_away_ends_the_command_by_sigpipe_as_without_mask() {
    let agent = app_agent();
    let cli = Cli::new(agent.socket());
    for flags in [&["-q"][..], &["-q", "--mask"]] {
        let mut cmd = cli.command(&run_args("MARK", flags, &["sh", "-c", r#"while :; do echo "$MARK"; done"#]));
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).process_group(0);
        let mut child = cmd.spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 64];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let status = process::wait_with_deadline(&mut child, DEADLINE);
        process::kill_group(&child);
        let status = status.unwrap_or_else(|| panic!("{flags:?}: still running after the reader went away"));
        assert_eq!(status.code(), Some(128 + Signal::SIGPIPE as i32), "{flags:?}: {status:?}");
        assert_eq!(killed_by(&status), None, "{flags:?}: the CLI itself exits with the code");
    }
}

#[test]
fn a_passed_token_is_masked_too() {
    let agent = app_agent();
    let token = agent.mint_for("app", "*");
    let cmd = [helper("mask-probe"), "--pieces".into(), "9".into(), "VANTA_TOKEN".into(), "MARK".into()];
    let cli = Cli::new(agent.socket()).env("VANTA_TOKEN", &token);
    let finished = cli.run(&run_args("MARK", &["--mask", "--pass-token"], &refs(&cmd)));
    assert_code(&finished, 0);
    assert_eq!(finished.stdout_text(), format!("VANTA_TOKEN={P}\nMARK={P}\nend\n"));
    assert!(!finished.stderr_text().contains(&token), "{}", finished.stderr_text());
}

/// Operator guide, `--mask`: once the command has exited, a stdout that
/// nobody reads cannot keep vanta-cli from ending on SIGTERM; the rest of
/// the output is dropped, the secrets directory removed, and the exit code
/// is the command's.
#[test]
fn a_stdout_nobody_reads_does_not_hold_the_cli_after_a_signal() {
    let agent = app_agent();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("exited");
    let secrets = tempfile::tempdir().unwrap();
    // More than the 64 KiB a pipe holds, less than the relay takes in, so
    // the command ends while the relay is stuck writing. It ignores the
    // SIGTERMs vanta-cli passes on before it has seen the command end.
    let script = format!(r#"trap '' TERM; head -c 100000 /dev/zero | tr '\0' x; : > '{}'; exit 3"#, marker.display());
    let extra = ["-q", "--mask", "--inject-as", "file", "--secrets-dir", &path_arg(secrets.path())];
    let mut cmd = Cli::new(agent.socket()).command(&run_args("MARK", &extra, &["sh", "-c", &script]));
    let (unread, stdout) = nix::unistd::pipe().unwrap();
    cmd.stdin(Stdio::null()).stdout(Stdio::from(stdout)).stderr(Stdio::null()).process_group(0);
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    let deadline = Instant::now() + WAIT;
    let status = loop {
        // Again until it ends: one that comes before the CLI saw the
        // command end is passed on to it, and ignored.
        if marker.exists() {
            nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
        }
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    process::kill_group(&child);
    drop(unread);
    let status = status.unwrap_or_else(|| panic!("vanta-cli is still running (marker written: {})", marker.exists()));
    assert_eq!(status.code(), Some(3), "the command's code: {status:?}");
    assert_eq!(entries(secrets.path()), Vec::<String>::new(), "the secrets directory is gone");
}

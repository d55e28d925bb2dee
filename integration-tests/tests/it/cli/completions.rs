//! Completion scripts in real shells (operator guide, "completions and
//! man"): bash completes the options of every subcommand with the
//! hyphenated binary name (clap-rs/clap#6421 worked around), and so do fish
//! and an interactive zsh on a pty. zsh and fish come from `make tools`
//! (scripts/install-tools.sh).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use vanta_integration_tests::cli::Cli;
use vanta_integration_tests::process::{self, DEADLINE};

/// Completes in bash as a user pressing Tab would: `complete -p` names the
/// function, which runs with COMP_WORDS and COMP_CWORD set; one candidate a
/// line.
const BASH_COMPLETE: &str = r#"
source "$1"; shift
spec=$(complete -p vanta-cli) || exit 3
echo "spec: $spec"
fn=$(sed -E 's/.* -F ([^ ]+) .*/\1/' <<<"$spec")
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
"$fn" vanta-cli "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;

fn script(dir: &Path, shell: &str) -> String {
    let finished = Cli::new(&dir.join("unused.sock")).run(&["completions", shell]);
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr_text());
    let path = dir.join(format!("vanta-cli.{shell}"));
    std::fs::write(&path, &finished.stdout).unwrap();
    path.to_str().expect("UTF-8 path").to_owned()
}

fn run(cmd: &mut Command) -> String {
    let finished = process::output_with_deadline(cmd, DEADLINE);
    assert_eq!(finished.code(), Some(0), "{cmd:?}: {}", finished.stderr_text());
    finished.stdout_text()
}

#[test]
fn bash_completes_the_options_of_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let file = script(dir.path(), "bash");
    let cases: [(&[&str], &[&str]); 6] = [
        (&["vanta-cli", "--"], &["--socket", "--url"]),
        (&["vanta-cli", "he"], &["health", "help"]),
        (&["vanta-cli", "get", "--"], &["--environment", "--token-file", "--subject"]),
        (&["vanta-cli", "run-with-secrets", "--inj"], &["--inject-as"]),
        (&["vanta-cli", "token", "generate", "--out"], &["--output"]),
        (&["vanta-cli", "list", "--output", ""], &["text", "json"]),
    ];
    for (words, want) in cases {
        let out =
            run(Command::new("bash").arg("--norc").arg("-c").arg(BASH_COMPLETE).arg("bash").arg(&file).args(words));
        let mut lines = out.lines();
        let spec = lines.next().unwrap_or_default();
        assert!(spec.starts_with("spec: complete ") && spec.ends_with(" vanta-cli"), "{spec}");
        let got: Vec<&str> = lines.collect();
        for word in want {
            assert!(got.contains(word), "{words:?}: {word} not in {got:?}");
        }
    }
}

/// Reads `from` until `needle` has appeared in everything read, or the
/// deadline passes; returns everything read.
fn read_until(from: &mpsc::Receiver<Vec<u8>>, seen: &mut String, needle: &str) -> bool {
    let deadline = Instant::now() + DEADLINE;
    while !seen.contains(needle) {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else { return false };
        match from.recv_timeout(left) {
            Ok(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            Err(_) => return false,
        }
    }
    true
}

#[test]
fn an_interactive_zsh_completes_subcommand_options() {
    let dir = tempfile::tempdir().unwrap();
    let zsh = script(dir.path(), "zsh");
    // `script` gives zsh a terminal, as a user's; TERM=dumb keeps the screen plain.
    let mut shell = Command::new("script")
        .args(["-qec", "zsh -f -i", "/dev/null"])
        .env_clear()
        .env("PATH", vanta_integration_tests::bins::child_path())
        .env("TERM", "dumb")
        .env("HOME", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut input, mut output) = (shell.stdin.take().unwrap(), shell.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = output.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    // The marker is printed computed, so the echoed command line does not match it.
    let init = format!("autoload -Uz compinit; compinit -u -D; source {zsh}; print ready-$((6*7))\n");
    input.write_all(init.as_bytes()).unwrap();
    let ready = read_until(&rx, &mut seen, "ready-42");
    input.write_all(b"vanta-cli get --\t\t").unwrap();
    let listed = ready && read_until(&rx, &mut seen, "--token-file");
    let _ = input.write_all(b"\x03exit\n");
    drop(input);
    if process::wait_with_deadline(&mut shell, DEADLINE).is_none() {
        let _ = shell.kill();
        let _ = shell.wait();
    }
    let _ = reader.join();
    assert!(ready, "zsh loaded the script: {seen:?}");
    assert!(listed && seen.contains("--environment") && seen.contains("--subject"), "zsh listed: {seen:?}");
}

#[test]
fn fish_completes_subcommand_options_and_zsh_registers_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let fish = script(dir.path(), "fish");
    let source =
        format!("source {fish}; and complete -C 'vanta-cli get --'; and complete -C 'vanta-cli list --output '");
    let out = run(Command::new("fish").args(["--no-config", "-c", &source]));
    let got: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap_or_default()).collect();
    for word in ["--environment", "--token-file", "text", "json"] {
        assert!(got.contains(&word), "fish: {word} not in {got:?}");
    }
    let zsh = script(dir.path(), "zsh");
    run(Command::new("zsh").args(["-n", &zsh]));
    let check = format!(
        "autoload -Uz compinit && compinit -u -d {0}/zcompdump && source {zsh} && print -r -- $_comps[vanta-cli]",
        dir.path().display()
    );
    assert_eq!(run(Command::new("zsh").args(["-f", "-c", &check])).trim(), "_vanta-cli");
}

//! Completion scripts in real shells (operator guide, "completions and
//! man"): bash completes the options of every subcommand with the
//! hyphenated binary name (clap-rs/clap#6421 worked around), fish too; zsh
//! loads the script and registers it. zsh and fish come from
//! `make tools` (scripts/install-tools.sh).

use std::path::Path;
use std::process::Command;

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

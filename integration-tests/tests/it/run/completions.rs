//! `vanta-cli completions bash|zsh|fish` and `vanta-cli man`: generated from
//! the clap definition, so they know every subcommand and flag.

use std::process::Command;

use vanta_integration_tests::cli::Cli;

use crate::run::support::{assert_code, path_arg};

#[test]
fn completion_scripts_know_the_subcommands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::new(&dir.path().join("unused.sock"));
    for shell in ["bash", "zsh", "fish"] {
        let finished = cli.run(&["completions", shell]);
        assert_code(&finished, 0);
        let script = finished.stdout_text();
        for word in ["run-with-secrets", "--inject-as", "--key-pattern", "--pristine", "completions"] {
            assert!(script.contains(word.trim_start_matches('-')), "{shell}: {word}");
        }
    }
    let bash = dir.path().join("vanta-cli.bash");
    std::fs::write(&bash, cli.run(&["completions", "bash"]).stdout).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&bash).output().unwrap();
    assert!(syntax.status.success(), "bash -n: {}", String::from_utf8_lossy(&syntax.stderr));
    assert_eq!(cli.run(&["completions", "powershell"]).code(), Some(2), "an unknown shell is a usage error");
}

#[test]
fn man_pages_are_generated() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::new(&dir.path().join("unused.sock"));
    let page = cli.run(&["man"]);
    assert_code(&page, 0);
    let text = page.stdout_text();
    assert!(text.contains(".TH vanta-cli 1") && text.contains("run\\-with\\-secrets"), "{text}");
    let out = dir.path().join("man1");
    std::fs::create_dir(&out).unwrap();
    assert_code(&cli.run(&["man", "--out-dir", &path_arg(&out)]), 0);
    let run_page = std::fs::read_to_string(out.join("vanta-cli-run-with-secrets.1")).unwrap();
    for word in ["pristine", "fifo", "Exit status"] {
        assert!(run_page.contains(word), "the run-with-secrets page explains {word}");
    }
}

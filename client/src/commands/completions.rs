//! `vanta-cli completions bash|zsh|fish`: print a completion script made
//! from the clap definition (top layer, part of `commands`).

use std::io::{self, Write};

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell as Generator;

use crate::cli::{Cli, CompletionsArgs, Shell};

/// Writes the script for `args.shell` to stdout.
///
/// # Errors
/// A failed write to stdout.
pub(crate) fn run(args: &CompletionsArgs) -> anyhow::Result<u8> {
    let generator = match args.shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut Cli::command(), "vanta-cli", &mut script);
    let mut stdout = io::stdout().lock();
    stdout.write_all(&script).and_then(|()| stdout.flush()).context("failed to write the script to stdout")?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for generator in [Generator::Bash, Generator::Zsh, Generator::Fish] {
            let mut script = Vec::new();
            clap_complete::generate(generator, &mut Cli::command(), "vanta-cli", &mut script);
            let text = String::from_utf8(script).expect("utf-8");
            for word in ["run-with-secrets", "inject-as", "key-pattern"] {
                assert!(text.contains(word), "{generator}: {word}");
            }
        }
    }
}

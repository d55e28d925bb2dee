//! `vanta-cli completions bash|zsh|fish`: print a completion script made
//! from the clap definition (top layer, part of `commands`).
//!
//! clap_complete's bash script spells the state of a subcommand two ways
//! when the binary name has a hyphen (clap-rs/clap#6421): its loop builds
//! `vanta__cli__subcmd__get`, its `case` arms say
//! `vanta__subcmd__cli__subcmd__get`, so no option of any subcommand is
//! ever completed. [`script`] rewrites the arms to the loop's spelling (a
//! no-op once clap_complete is fixed); the integration tests complete in a
//! real bash.

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
    let script = script(generator);
    let mut stdout = io::stdout().lock();
    stdout.write_all(&script).and_then(|()| stdout.flush()).context("failed to write the script to stdout")?;
    Ok(0)
}

/// The binary name the scripts complete.
const BIN: &str = "vanta-cli";

/// The completion script for `generator`, with clap-rs/clap#6421 fixed.
fn script(generator: Generator) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut Cli::command(), BIN, &mut script);
    if generator != Generator::Bash {
        return script;
    }
    let text = String::from_utf8_lossy(&script);
    let (arms, state) = (BIN.replace('-', "__subcmd__"), BIN.replace('-', "__"));
    text.replace(&arms, &state).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for generator in [Generator::Bash, Generator::Zsh, Generator::Fish] {
            let text = String::from_utf8(script(generator)).expect("utf-8");
            for word in ["run-with-secrets", "inject-as", "key-pattern"] {
                assert!(text.contains(word), "{generator}: {word}");
            }
        }
    }
}

//! `run-with-secrets --mask`: decide whether the command's output is
//! masked, and give it the pipes of the relay (top layer, part of
//! `commands::run`). Prints nothing; it adds a report line.
//!
//! Off unless `--mask` or `VANTA_MASK` asks for it, and `--no-mask` turns
//! it off again: masking changes the bytes a command writes, which breaks
//! output that is data (a rendered config file, a `tar` stream), and
//! takes the terminal from the command. The values masked are every
//! injected value and, with `--pass-token`, the token.

use anyhow::Context;

use super::fetch::Secret;
use super::grant::Grant;
use super::handover::Handover;
use crate::cli::RunArgs;
use crate::mask::relay::Prepared;
use crate::mask::{self, Patterns};
use crate::output::report;

/// Sets up the relay if masking is on; `None` if it is off.
///
/// # Errors
/// If the values cannot be compiled or a pipe cannot be made.
pub(super) fn prepare(
    args: &RunArgs,
    secrets: &[Secret],
    grants: &[Grant],
    handover: &mut Handover,
) -> anyhow::Result<Option<Prepared>> {
    if !wanted(args) {
        return Ok(None);
    }
    let token = if args.pass_token { grants.iter().find_map(|g| g.given()) } else { None };
    let values = secrets.iter().map(|s| s.value.as_str()).chain(token.map(|t| t.expose()));
    let patterns = Patterns::new(values)?;
    let prepared = Prepared::attach(&mut handover.command, patterns)
        .context("failed to make the pipes for masking the command's output")?;
    let short: Vec<&str> = secrets.iter().filter(|s| !mask::is_maskable(&s.value)).map(|s| s.name.as_str()).collect();
    handover.report.push(report::masking(secrets.len() - short.len(), &short, mask::MIN_LEN));
    Ok(Some(prepared))
}

/// Whether the output is masked: `--mask` or `VANTA_MASK`, unless
/// `--no-mask` (the off switch wins, wherever the others come from).
fn wanted(args: &RunArgs) -> bool {
    args.mask && !args.no_mask
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::wanted;
    use crate::cli::{Cli, Command};

    fn parsed(flags: &[&str]) -> bool {
        let argv = ["vanta-cli", "run-with-secrets", "--environment", "dev", "--key-pattern", "*"];
        let argv = argv.iter().chain(flags).chain(&["--", "true"]);
        match Cli::try_parse_from(argv).expect("valid flags").command {
            Command::RunWithSecrets(args) => wanted(&args),
            _ => unreachable!("parsed as run-with-secrets"),
        }
    }

    #[test]
    fn masking_is_off_unless_asked_for_and_no_mask_wins() {
        assert!(!parsed(&[]), "off by default");
        assert!(parsed(&["--mask"]));
        assert!(!parsed(&["--no-mask"]));
        assert!(!parsed(&["--mask", "--no-mask"]));
        assert!(!parsed(&["--no-mask", "--mask"]));
    }
}

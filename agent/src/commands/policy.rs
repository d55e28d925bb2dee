//! `vanta-agent policy check FILE` and `vanta-agent policy explain`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::attest;
use crate::config::{ExplainArgs, PolicyCommand};
use crate::peer::Caller;
use crate::policy::{CallerLine, Policy, Who};

/// Runs one `policy` subcommand; `policy_file` is the agent's `--policy-file`.
///
/// # Errors
/// A policy file that does not load or was not given, or a process that
/// cannot be attested.
pub(super) fn run(command: PolicyCommand, policy_file: Option<&Path>) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Check { file } => {
            let policy = Policy::load(&file).context("invalid policy file")?;
            let mut lines = vec![format!(
                "{}: {} rules, tried in this order; a caller no rule covers is refused",
                file.display(),
                policy.rules().len()
            )];
            lines.extend(policy.rules().iter().map(ToString::to_string));
            print_lines(&lines);
            Ok(())
        }
        PolicyCommand::Explain(args) => {
            let file = policy_file.context("policy explain needs --policy-file (VANTA_POLICY_FILE)")?;
            explain(file, &args)
        }
    }
}

fn explain(policy_file: &Path, args: &ExplainArgs) -> anyhow::Result<()> {
    let policy = Policy::load(policy_file).context("invalid policy file")?;
    let caller = match (args.pid, args.uid) {
        (Some(pid), _) => attest::Attestor::default()
            .attest_pid(pid, attest::Wants { names: true, exe_hash: policy.needs_exe_hash() })
            .with_context(|| format!("failed to attest process {pid}"))?,
        (None, Some(uid)) => {
            let mut caller = Caller {
                uid,
                gid: args.gid.unwrap_or(uid),
                exe: args.exe.clone(),
                cgroup: args.cgroup.clone(),
                ..Caller::default()
            };
            attest::name_ids(&mut caller);
            caller
        }
        (None, None) => anyhow::bail!("give --pid, or --uid (with --exe, --cgroup, --gid as known)"),
    };
    let verdict = match policy.rule_for(Who::Local(&caller)) {
        Ok(rule) => format!("covered by {rule}"),
        Err(refusal) => format!("refused: {refusal} (deny by default)"),
    };
    print_lines(&[format!("caller: {}", CallerLine(&caller)), verdict]);
    Ok(())
}

/// Prints `lines` on stdout. Not `println!`, which panics when the reader
/// has gone (`policy check FILE | head -1`): the lines not read are lost,
/// as with any command in a pipe.
fn print_lines(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}

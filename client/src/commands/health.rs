//! `vanta-cli health [--ready]`: ask the agent's probe routes, for scripts
//! and Kubernetes exec probes (top layer, part of `commands`).
//!
//! Quiet on success (exit 0, nothing printed) so that probe logs stay
//! clean; `--verbose` prints one line. A failure is the usual one error
//! line, without added context, so that it reads `the agent at … is not
//! ready: audit: …`.

use std::io::{self, Write};

use anyhow::Context;

use crate::agent_client::{AgentClient, Target};
use crate::cli::HealthArgs;

/// Asks `/healthz` (or `/readyz` with `--ready`); 0 on a 200.
///
/// # Errors
/// No connection, or any answer but 200 (naming the failing checks).
pub(crate) async fn run(target: &Target, args: &HealthArgs) -> anyhow::Result<u8> {
    let client = AgentClient::new(target)?;
    let line = if args.ready {
        let checks = client.readiness().await?;
        ready_line(&checks)
    } else {
        client.health().await?;
        "ok".to_owned()
    };
    if args.verbose {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "{line}").and_then(|()| stdout.flush()).context("failed to write to stdout")?;
    }
    Ok(0)
}

/// `ready (audit: ok, sops: ok, usage_store: ok)`, or `ready` without checks.
fn ready_line(checks: &[(String, String)]) -> String {
    if checks.is_empty() {
        return "ready".to_owned();
    }
    let each: Vec<String> = checks.iter().map(|(name, outcome)| format!("{name}: {outcome}")).collect();
    format!("ready ({})", each.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_lists_the_checks() {
        let checks = [("audit".to_owned(), "ok".to_owned()), ("sops".to_owned(), "ok".to_owned())];
        assert_eq!(ready_line(&checks), "ready (audit: ok, sops: ok)");
        assert_eq!(ready_line(&[]), "ready");
    }
}

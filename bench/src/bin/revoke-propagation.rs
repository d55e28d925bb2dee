//! `revoke-propagation`: the delay from a revoke's 200 at one agent to a 401
//! at another agent on the same usage store (p50/p99), as JSON.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use vanta_bench::propagation::{PropagationConfig, measure};

/// Revoke at one agent, time until another refuses the token.
///
/// Example: `revoke-propagation --from /tmp/a.sock --to /tmp/b.sock --path /api/v1/vault/dev/K1 --runs 200`
#[derive(clap::Parser)]
#[command(name = "revoke-propagation", version)]
struct Args {
    /// Socket of the agent that revokes.
    #[arg(long)]
    from: PathBuf,
    /// Socket of the agent that must refuse.
    #[arg(long)]
    to: PathBuf,
    /// Secret route fetched at the second agent.
    #[arg(long)]
    path: String,
    /// Environment of the tokens.
    #[arg(long, default_value = "dev")]
    environment: String,
    /// Revocations to time.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Give up on one revocation after this many seconds.
    #[arg(long, default_value_t = 10)]
    deadline_secs: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = PropagationConfig {
        from: args.from,
        to: args.to,
        path: args.path,
        environment: args.environment,
        runs: args.runs,
        deadline: Duration::from_secs(args.deadline_secs),
    };
    vanta_bench::print_report("revoke-propagation", measure(&config))
}

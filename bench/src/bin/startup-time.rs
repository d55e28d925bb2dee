//! `startup-time`: how long a server takes from spawn until `/healthz` answers.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use vanta_bench::startup::{StartupConfig, measure};

/// Start a server several times and time each start until its socket answers `GET /healthz`.
///
/// Example: `startup-time --socket /tmp/a.sock --runs 20 -- target/release/vanta-agent --socket /tmp/a.sock ...`
#[derive(clap::Parser)]
#[command(name = "startup-time", version)]
struct Args {
    /// The socket the server answers on.
    #[arg(long)]
    socket: PathBuf,
    /// Start-ups to time.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Give up on one start-up after this many seconds.
    #[arg(long, default_value_t = 10)]
    deadline_secs: u64,
    /// The server command.
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = StartupConfig {
        socket: args.socket,
        command: args.command,
        runs: args.runs,
        deadline: Duration::from_secs(args.deadline_secs),
    };
    vanta_bench::print_report("startup-time", measure(&config))
}

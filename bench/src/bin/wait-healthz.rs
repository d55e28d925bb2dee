//! `wait-healthz --socket PATH`: exits 0 once `GET /healthz` answers 200, 1 at the deadline.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

/// Wait until a server on a Unix socket answers `GET /healthz` with 200.
///
/// Example: `wait-healthz --socket /run/vanta/agent.sock --deadline-secs 10`
#[derive(clap::Parser)]
#[command(name = "wait-healthz", version)]
struct Args {
    /// The socket to poll.
    #[arg(long)]
    socket: PathBuf,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10)]
    deadline_secs: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let deadline = Instant::now() + Duration::from_secs(args.deadline_secs);
    while Instant::now() < deadline {
        if vanta_bench::startup::healthy(&args.socket) {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    eprintln!("wait-healthz: error: {} did not answer /healthz within {}s", args.socket.display(), args.deadline_secs);
    ExitCode::FAILURE
}

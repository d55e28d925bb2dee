//! `ceiling-server --socket PATH`: the bare hyper ceiling; stops on SIGTERM/SIGINT.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};

/// Answer every request on a Unix socket with a fixed small JSON body.
///
/// Example: `ceiling-server --socket /tmp/ceiling.sock &`
#[derive(clap::Parser)]
#[command(name = "ceiling-server", version)]
struct Args {
    /// Where to listen.
    #[arg(long)]
    socket: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        eprintln!("ceiling-server: error: failed to listen for signals");
        return ExitCode::FAILURE;
    };
    let shutdown = async move {
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    };
    match vanta_bench::ceiling::serve(&args.socket, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ceiling-server: error: failed to listen on {}: {err}", args.socket.display());
            ExitCode::FAILURE
        }
    }
}

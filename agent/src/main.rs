//! `vanta-agent` entry point: parse flags, run a subcommand or check the
//! configuration, start logging from it and serve; map the outcome to an
//! exit code (2 for start-up errors, 1 for runtime errors; `doctor` picks
//! its own).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use vanta_agent::app::{self, AppError};
use vanta_agent::config::{Args, Command, LogFormat};
use vanta_agent::{commands, doctor, logging};

fn main() -> ExitCode {
    block_file_size_signal();
    let mut args = Args::parse();
    let outcome = match args.command.take() {
        // The doctor checks the configuration itself, one line per check.
        Some(Command::Doctor) => return doctor::main(args),
        Some(Command::Policy(policy)) => commands::policy(policy, args.policy_file.as_deref()),
        None => app::configure(args).and_then(|config| {
            logging::init(&config.log.filter, config.log.format == LogFormat::Json)
                .map_err(|err| AppError::Startup(anyhow::Error::new(err).context("invalid --log (VANTA_LOG)")))?;
            app::main(config)
        }),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Not `eprintln!`, which panics (exit 101, not 2) when stderr
            // is a pipe whose reader has gone.
            let _ = writeln!(std::io::stderr(), "vanta-agent: error: {:#}", err.error());
            err.exit_code()
        }
    }
}

/// Blocks SIGXFSZ in the main thread, and so in every thread started after
/// it: a write past the file size limit (`ulimit -f`, systemd's
/// `LimitFSIZE=`) then fails with EFBIG, which the audit writer answers with
/// 503 and a cut-back, instead of killing the agent with a torn record and a
/// stale socket. Blocked rather than ignored: ignoring takes `unsafe` (the
/// workspace forbids it), and a blocked signal does not outlive `exec` into
/// sops, whose mask std's spawn resets to empty. The signal then stays
/// pending, harmless, since no thread ever unblocks it.
fn block_file_size_signal() {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
    let mut set = SigSet::empty();
    set.add(Signal::SIGXFSZ);
    // Fails only for an invalid `how`; the agent would then run as before.
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
}

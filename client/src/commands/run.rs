//! `vanta-cli run-with-secrets`: fetch every secret, then run the command
//! with them as variables, in a private file or through a named pipe (top
//! layer, part of `commands`).
//!
//! Steps, in order: check the options; catch signals (so that from here on
//! the CLI only ends through its own code and `Drop` runs); fetch every
//! value ([`fetch`]); only when all succeeded, hand them over ([`handover`])
//! and start the command; wait for it while passing signals on, reaping
//! orphans and serving the pipe; remove the private directory; exit with
//! the command's code. A signal before the start aborts without running
//! anything, with 128+N.

mod fetch;
mod handover;
mod masking;

use std::io::{self, Write};

use crate::agent_client::Target;
use crate::child::{self, Running, Signals};
use crate::cli::RunArgs;
use crate::inject::fifo::Fifo;
use crate::output::report;

/// Runs `run-with-secrets`; returns the command's exit code.
///
/// # Errors
/// Anything that keeps the command from running (exit 1, or 126/127/128+N
/// through [`child::Error`]); nothing is run after any such error.
pub(crate) async fn run(target: &Target, args: RunArgs) -> anyhow::Result<u8> {
    handover::check_options(&args)?;
    let mut signals = Signals::install().map_err(child::Error::Signals)?;
    let fetched = tokio::select! {
        fetched = fetch::fetch(target, &args) => fetched?,
        signal = signals.recv() => return Err(child::Error::Interrupted { signal }.into()),
    };
    let mut handover = handover::prepare(&args, &fetched)?;
    let masked = masking::prepare(&args, &fetched, &mut handover)?;
    drop(fetched);
    if let Some(signal) = signals.pending().await {
        // `handover` is dropped on the way out: its directory goes too.
        return Err(child::Error::Interrupted { signal }.into());
    }
    if !args.quiet {
        say(&handover.report);
    }
    let program = args.command.first().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let running = Running::spawn(handover.command, &program)?;
    let relay = masked.map(|masked| masked.start());
    let code = supervise(&running, &mut signals, handover.fifo).await;
    if let Some(relay) = relay {
        relay.finish().await;
    }
    let code = code?;
    // The command has ended, whatever way: its directory goes now.
    drop(handover.dir);
    Ok(code)
}

/// Waits for the command while serving the pipe, if there is one; a pipe
/// nobody read is simply dropped with the directory.
async fn supervise(running: &Running, signals: &mut Signals, fifo: Option<Fifo>) -> Result<u8, child::Error> {
    let wait = running.wait(signals);
    let Some(fifo) = fifo else {
        return wait.await;
    };
    tokio::pin!(wait);
    let path = fifo.path().to_path_buf();
    let serve = fifo.serve_once();
    tokio::pin!(serve);
    let mut serving = true;
    loop {
        tokio::select! {
            code = &mut wait => return code,
            served = &mut serve, if serving => {
                serving = false;
                if let Err(err) = served {
                    say(&[report::warning(&err.to_string())]);
                }
                tracing::debug!(pipe = %path.display(), pid = %running.pid(), "named pipe served");
            }
        }
    }
}

/// Writes report lines to stderr; nothing sensible to do if it is gone.
fn say(lines: &[String]) {
    let mut stderr = io::stderr().lock();
    for line in lines {
        let _ = writeln!(stderr, "{line}");
    }
}

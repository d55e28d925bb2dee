//! `vanta-cli run-with-secrets`: fetch every secret, then run the command
//! with them as variables, in a private file or through a named pipe (top
//! layer, part of `commands`).
//!
//! Steps, in order: check the options; catch signals (so that from here on
//! the CLI only ends through its own code and `Drop` runs); make the
//! private directory (file and fifo modes: a `--secrets-dir` that cannot
//! hold one fails before a token is minted or a value read); fetch every
//! value ([`fetch`], with the tokens of [`grant`]); only when all succeeded,
//! hand them over ([`handover`]) and start the command; wait for it while
//! passing signals on, reaping orphans and serving the pipe; remove the
//! private directory; exit with the command's code. A signal before the
//! start aborts without running anything, with 128+N.
//!
//! With `--watch`, while waiting, [`watch`] looks for changes; each one,
//! a complete new set already in hand, restarts the command, replaces its
//! file and signals it, or stops it and exits [`EXIT_ON_CHANGE`]. A SIGINT,
//! SIGTERM or SIGHUP (passed on) ends the watch: no change is acted on
//! after it, and the CLI exits with the command's code once it ends.

mod fetch;
mod grant;
mod handover;
mod masking;
mod watch;

use std::io::{self, Write};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::Signal;
use tokio::task::JoinHandle;

use self::handover::Handover;
use self::watch::{Change, Watcher};
use crate::agent_client::{AgentClient, Target};
use crate::child::{self, Running, Signals, Stopped, Waited};
use crate::cli::{EXIT_ON_CHANGE, OnChange, RunArgs};
use crate::inject::fifo::Fifo;
use crate::inject::private_dir::PrivateDir;
use crate::mask::relay::{Prepared, Relay};
use crate::output::report;

/// A started command and what must live as long as it runs.
struct Started {
    running: Running,
    /// Serves the named pipe; stopped first on drop.
    _pipe: Option<Serving>,
    /// Relays the command's output with the values masked (`--mask`);
    /// drained once the command has ended.
    relay: Option<Relay>,
    /// The private directory (file and fifo modes); removed on drop.
    dir: Option<PrivateDir>,
}

/// The task serving a named pipe; aborted on drop.
struct Serving(JoinHandle<()>);

/// Runs `run-with-secrets`; returns the command's exit code.
///
/// # Errors
/// Anything that keeps the command from running (exit 1, or 126/127/128+N
/// through [`child::Error`]); nothing is run after any such error.
pub(crate) async fn run(target: &Target, args: RunArgs) -> anyhow::Result<u8> {
    handover::check_options(&args)?;
    let mut signals = Signals::install().map_err(child::Error::Signals)?;
    let swept = handover::sweep(&args);
    if !args.quiet {
        say(&swept);
    }
    let dir = handover::make_private_dir(&args)?;
    let client = AgentClient::new(target)?;
    let fetched = tokio::select! {
        fetched = fetch::fetch(&client, &args) => fetched?,
        signal = signals.recv() => return Err(child::Error::Interrupted { signal }.into()),
    };
    let mut handover = handover::prepare(&args, &fetched.secrets, &fetched.grants, dir)?;
    let masked = masking::prepare(&args, &fetched.secrets, &fetched.grants, &mut handover)?;
    if let Some(signal) = signals.pending().await {
        // `handover` is dropped on the way out: its directory goes too.
        return Err(child::Error::Interrupted { signal }.into());
    }
    if !args.quiet {
        say(&handover.report);
    }
    if !args.watch {
        // Without --watch nothing more is read: the values and the
        // connection go before the command starts.
        drop((fetched, client));
        let started = start(handover, masked, &args)?;
        // The directory goes when `started` does, after the command ended.
        return Ok(started.wait(&mut signals).await?);
    }
    let started = start(handover, masked, &args)?;
    let watcher = Watcher::new(&client, &args, fetched);
    watch(started, watcher, &mut signals, &args).await
}

/// Starts the command of `handover`, serves its pipe if it has one and
/// relays its output if it is masked.
fn start(handover: Handover, masked: Option<Prepared>, args: &RunArgs) -> Result<Started, child::Error> {
    let program = args.command.first().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let running = Running::spawn(handover.command, &program)?;
    let pipe = handover.fifo.map(|fifo| Serving::spawn(fifo, &running));
    let relay = masked.map(Prepared::start);
    Ok(Started { running, _pipe: pipe, relay, dir: handover.dir })
}

/// Waits for the command while watching; returns its exit code, or
/// [`EXIT_ON_CHANGE`] after `--on-change exit`, or 128+N when signal N
/// came while the command was being stopped for a change.
async fn watch(
    mut started: Started,
    mut watcher: Watcher<'_>,
    signals: &mut Signals,
    args: &RunArgs,
) -> anyhow::Result<u8> {
    loop {
        let change = tokio::select! {
            // The command's end first: when both are ready, a command that
            // ended (say, crashed) gives its code rather than being restarted.
            biased;
            waited = started.running.wait_until_interrupted(signals) => match waited? {
                Waited::Ended(code) => {
                    started.drain_output(signals).await;
                    return Ok(code);
                }
                // Passed on: the run ends with this command, however long
                // its shutdown takes; a change meanwhile must not restart it.
                Waited::Interrupted(signal) => {
                    // Said, not only logged: a command that takes SIGHUP as
                    // "reload" goes on running, unwatched.
                    if !args.quiet {
                        say(&[format!("vanta-cli: {signal} passed on: no longer watching for changes; the run ends with the command")]);
                    }
                    drop(watcher);
                    return Ok(started.wait(signals).await?);
                }
            },
            change = watcher.next_change() => change,
        };
        // It may have ended while the poll ran, before its SIGCHLD was seen.
        if let Some(code) = started.running.try_wait()? {
            started.drain_output(signals).await;
            return Ok(code);
        }
        started = match args.on_change {
            OnChange::Restart => match restart(started, change, &mut watcher, signals, args).await? {
                Restarted::Running(started) => started,
                Restarted::Interrupted(code) => return Ok(code),
            },
            OnChange::Signal(signal) => resignal(started, change, &mut watcher, signal, args)?,
            OnChange::Exit => {
                let stopped = stop(&mut started, signals, args).await?;
                let (code, what) = match stopped.interrupted {
                    Some(signal) => interrupted(&stopped, signal),
                    None => (
                        EXIT_ON_CHANGE,
                        format!("stopped the command, exiting with {EXIT_ON_CHANGE} (--on-change exit)"),
                    ),
                };
                watcher.note(changed(args, &change, &what));
                return Ok(code);
            }
        };
    }
}

/// What [`restart`] left running.
enum Restarted {
    /// The new command, or the old one if the new set could not be handed over.
    Running(Started),
    /// The CLI got a terminating signal while the old command stopped: no
    /// new one was started; the CLI's exit code.
    Interrupted(u8),
}

/// `--on-change restart`: the new command is prepared, with the complete
/// new set, before the old one is stopped; if it cannot be, the old one
/// runs on. A SIGINT, SIGTERM or SIGHUP during the stop ends the run there.
async fn restart(
    started: Started,
    change: Change,
    watcher: &mut Watcher<'_>,
    signals: &mut Signals,
    args: &RunArgs,
) -> anyhow::Result<Restarted> {
    let prepared = handover::prepare(args, &change.secrets, watcher.grants(), None).and_then(|mut handover| {
        let masked = masking::prepare(args, &change.secrets, watcher.grants(), &mut handover)?;
        Ok((handover, masked))
    });
    let (handover, masked) = match prepared {
        Ok(prepared) => prepared,
        Err(err) => {
            let may_work_later = handover::may_work_later(&err);
            watcher.reject(change, &err, may_work_later);
            return Ok(Restarted::Running(started));
        }
    };
    let mut started = started;
    let stopped = stop(&mut started, signals, args).await?;
    // The old command's directory goes before the new command starts.
    drop(started);
    if let Some(signal) = stopped.interrupted {
        // `handover` is dropped on the way out: its directory goes too.
        let (code, what) = interrupted(&stopped, signal);
        watcher.note(changed(args, &change, &what));
        return Ok(Restarted::Interrupted(code));
    }
    let started = start(handover, masked, args)?;
    let what = format!("restarted the command (the old one ended with {})", stopped.code);
    watcher.note(changed(args, &change, &what));
    note_interpolation(args, &change);
    watcher.adopt(change);
    Ok(Restarted::Running(started))
}

/// Stops the command for a change and relays the rest of its output; a
/// terminating signal during either counts as [`Stopped::interrupted`].
async fn stop(started: &mut Started, signals: &mut Signals, args: &RunArgs) -> Result<Stopped, child::Error> {
    let mut stopped = started.running.stop(signals, args.stop_signal, grace(args)).await?;
    if let Some(signal) = started.drain_output(signals).await {
        stopped.interrupted.get_or_insert(signal);
    }
    Ok(stopped)
}

/// The exit code and the line for a stop during which the CLI got
/// `signal`: 128+N, as for a signal before a command started, since the
/// signal is why no command follows.
fn interrupted(stopped: &Stopped, signal: Signal) -> (u8, String) {
    let code = child::signal_code(signal);
    let what =
        format!("stopped the command (it ended with {}); got {signal} meanwhile, exiting with {code}", stopped.code);
    (code, what)
}

/// `--on-change signal:NAME`: the file is replaced whole, then the signal
/// is sent; if it cannot be replaced, the old one stays.
fn resignal(
    started: Started,
    change: Change,
    watcher: &mut Watcher<'_>,
    signal: Signal,
    args: &RunArgs,
) -> anyhow::Result<Started> {
    let dir = started.dir.as_ref().context("--on-change signal: without a secrets file")?;
    if let Err(err) = handover::rewrite(args, dir, &change.secrets) {
        // The command's own directory is made once: once it is gone (its
        // --secrets-dir removed), no later try can put the file back.
        let may_work_later = handover::may_work_later(&err) && dir.path().is_dir();
        watcher.reject(change, &err, may_work_later);
        return Ok(started);
    }
    if let Err(errno) = started.running.signal(signal) {
        say(&[report::warning(&format!("failed to send {signal} to the command: {errno}"))]);
    }
    watcher.note(changed(args, &change, &format!("replaced the file, sent {signal}")));
    note_interpolation(args, &change);
    watcher.adopt(change);
    Ok(started)
}

/// The `${` line of the first start, for the set a change handed over.
fn note_interpolation(args: &RunArgs, change: &Change) {
    if let Some(line) = handover::interpolation_line(args, &change.secrets).filter(|_| !args.quiet) {
        say(&[line]);
    }
}

/// The line for a change handled: keys by name, and what was done.
fn changed(args: &RunArgs, change: &Change, what: &str) -> String {
    format!("secrets changed in '{}': {}; {what}", args.environment, change.summary)
}

fn grace(args: &RunArgs) -> Duration {
    Duration::from_secs(u64::from(args.stop_timeout))
}

// === impl Started ===

impl Started {
    /// Waits for the command, then for the last of its masked output.
    async fn wait(mut self, signals: &mut Signals) -> Result<u8, child::Error> {
        let code = self.running.wait(signals).await;
        self.drain_output(signals).await;
        code
    }

    /// Relays what the ended command still had in its pipes. A stdout that
    /// nobody reads would hold this forever: a terminating signal gives up
    /// the rest (the signal's job is done once the CLI ends) and is
    /// returned, since it asks the run to end.
    async fn drain_output(&mut self, signals: &mut Signals) -> Option<Signal> {
        let relay = self.relay.take()?;
        tokio::select! {
            () = relay.finish() => None,
            signal = signals.recv_terminating() => {
                tracing::debug!(%signal, "giving up the rest of the command's output");
                Some(signal)
            }
        }
    }
}

// === impl Serving ===

impl Serving {
    /// Serves `fifo` to the command's first reader; a failure is a warning.
    fn spawn(fifo: Fifo, running: &Running) -> Self {
        let pid = running.pid();
        Self(tokio::spawn(async move {
            let path = fifo.path().to_path_buf();
            if let Err(err) = fifo.serve_once().await {
                say(&[report::warning(&err.to_string())]);
            }
            tracing::debug!(pipe = %path.display(), %pid, "named pipe served");
        }))
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Writes report lines to stderr; nothing sensible to do if it is gone.
fn say(lines: &[String]) {
    let mut stderr = io::stderr().lock();
    for line in lines {
        let _ = writeln!(stderr, "{line}");
    }
}

//! The child process of `run-with-secrets`: spawn it, pass signals on, reap
//! it and orphaned descendants, turn its end into an exit code (client leaf
//! layer, below `commands`; external crates only). It never prints.
//!
//! Signal policy, after astral-sh/uv's `child.rs`: SIGTERM, SIGHUP, SIGUSR1
//! and SIGUSR2 are always forwarded; SIGINT and SIGQUIT only when stdin is
//! not a terminal or the child left our process group, because otherwise
//! the terminal already sent them to the child (Ctrl-C, Ctrl-\) and a
//! second one changes their meaning for many programs. A signal ignored
//! when the CLI started (`nohup`) is neither caught nor forwarded, and the
//! command inherits it ignored (see `signals`).
//!
//! Reaping: the CLI makes itself a child subreaper (Linux), so descendants
//! orphaned while the command runs are re-parented to it rather than to
//! init, and it reaps every child with `waitpid(-1)` on each SIGCHLD, as an
//! init does. As PID 1 of a container it is the reaper anyway, and it
//! catches every forwarded signal, so none is dropped by the kernel's PID 1
//! rule. It returns when the command ends, without waiting for orphans.
//!
//! The command is started with a parent-death signal ([`command`], `exec`):
//! if the CLI is killed with SIGKILL, the command gets SIGKILL too (not the
//! processes it started).

mod exec;
mod signals;

use std::io::{self, IsTerminal};
use std::process::Command;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, getpgid};
use tracing::debug;

pub(crate) use exec::{TRAMPOLINE, command, exec};
use signals::Event;
pub(crate) use signals::Signals;

/// A started command, until it is reaped.
pub(crate) struct Running {
    pid: Pid,
    program: String,
    /// Whether stdin is a terminal (for the SIGINT/SIGQUIT policy).
    interactive: bool,
}

/// How [`Running::stop`] ended.
pub(crate) struct Stopped {
    /// The command's exit code (see [`exit_code`]).
    pub(crate) code: u8,
    /// The first SIGINT, SIGTERM or SIGHUP the CLI got while it waited
    /// (passed on to the command as well): the caller should end too.
    pub(crate) interrupted: Option<Signal>,
}

/// How [`Running::wait_until_interrupted`] returned.
pub(crate) enum Waited {
    /// The command ended with this exit code (see [`exit_code`]).
    Ended(u8),
    /// The CLI got this SIGINT, SIGTERM or SIGHUP and passed it on; the
    /// command may still be running.
    Interrupted(Signal),
}

/// Why the command could not be run to its end.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The signal handlers could not be installed.
    #[error("failed to install signal handlers")]
    Signals(#[source] io::Error),
    /// The program could not be started.
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    /// Waiting for the child failed.
    #[error("failed to wait for {program}")]
    Wait {
        program: String,
        #[source]
        source: Errno,
    },
    /// A signal arrived before the command was started; it was not run.
    #[error("interrupted by {signal} before the command was started")]
    Interrupted { signal: Signal },
}

/// Serializes the unit tests that reap with `waitpid(-1)` or spawn.
#[cfg(test)]
pub(crate) static REAP_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

// === impl Running ===

impl Running {
    /// Starts `command` (stdio, terminal and process group inherited).
    ///
    /// # Errors
    /// [`Error::Spawn`] if it cannot be started (see [`Error::exit_code`]).
    pub(crate) fn spawn(mut command: Command, program: &str) -> Result<Self, Error> {
        become_subreaper();
        let child = command.spawn().map_err(|source| Error::Spawn { program: program.to_owned(), source })?;
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("Linux pids fit in i32"));
        // Dropping a std `Child` neither waits nor kills: `wait` reaps it.
        drop(child);
        Ok(Self { pid, program: program.to_owned(), interactive: io::stdin().is_terminal() })
    }

    /// The command's process id.
    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    /// Waits for the command, forwarding signals and reaping orphans;
    /// returns the CLI's exit code (see [`exit_code`]).
    ///
    /// # Errors
    /// [`Error::Wait`] if `waitpid` fails.
    pub(crate) async fn wait(&self, signals: &mut Signals) -> Result<u8, Error> {
        self.wait_noting(signals, &mut None).await
    }

    /// As [`Running::wait`], but returns as soon as a terminating signal
    /// (see [`signals::TERMINATING`]) has been passed on: a caller that acts
    /// on its own while the command runs (`--watch`) must stop then, since
    /// the signal ends the run, and a graceful shutdown can take long.
    ///
    /// # Errors
    /// [`Error::Wait`] if `waitpid` fails.
    pub(crate) async fn wait_until_interrupted(&self, signals: &mut Signals) -> Result<Waited, Error> {
        loop {
            if let Some(code) = self.reap()? {
                return Ok(Waited::Ended(code));
            }
            if let Event::Forward(signal) = signals.next().await {
                self.forward(signal);
                if signals::TERMINATING.contains(&signal) {
                    return Ok(Waited::Interrupted(signal));
                }
            }
        }
    }

    /// The command's exit code if it has ended (reaping it and any
    /// orphans), without waiting: a SIGCHLD may not have been seen yet.
    ///
    /// # Errors
    /// [`Error::Wait`] if `waitpid` fails.
    pub(crate) fn try_wait(&self) -> Result<Option<u8>, Error> {
        self.reap()
    }

    /// As [`Running::wait`]; also keeps in `interrupted` the first
    /// terminating signal (see [`signals::TERMINATING`]) passed on meanwhile.
    async fn wait_noting(&self, signals: &mut Signals, interrupted: &mut Option<Signal>) -> Result<u8, Error> {
        loop {
            if let Some(code) = self.reap()? {
                return Ok(code);
            }
            if let Event::Forward(signal) = signals.next().await {
                if signals::TERMINATING.contains(&signal) {
                    interrupted.get_or_insert(signal);
                }
                self.forward(signal);
            }
        }
    }

    /// Sends `signal` to the command (`--on-change signal:NAME`).
    ///
    /// # Errors
    /// What `kill` reports; the command is not reaped yet, so it exists.
    pub(crate) fn signal(&self, signal: Signal) -> Result<(), Errno> {
        debug!(%signal, pid = %self.pid, "signalling the child");
        kill(self.pid, signal)
    }

    /// Stops the command: `stop`, then SIGKILL if it still runs after
    /// `grace`; signals are passed on meanwhile. Returns its exit code and
    /// whether the CLI was asked to end while it waited: a stop can take
    /// long, and a SIGTERM then is meant for the CLI too, not only for the
    /// command that is already on its way out.
    ///
    /// # Errors
    /// [`Error::Wait`] if `waitpid` fails.
    pub(crate) async fn stop(&self, signals: &mut Signals, stop: Signal, grace: Duration) -> Result<Stopped, Error> {
        // If it has already ended, the signal reaches a zombie: harmless.
        let _ = self.signal(stop);
        let mut interrupted = None;
        let waited = tokio::time::timeout(grace, self.wait_noting(signals, &mut interrupted)).await;
        let code = match waited {
            Ok(code) => code?,
            Err(_) => {
                debug!(pid = %self.pid, "the child outlived its stop timeout: SIGKILL");
                let _ = self.signal(Signal::SIGKILL);
                self.wait_noting(signals, &mut interrupted).await?
            }
        };
        Ok(Stopped { code, interrupted })
    }

    /// Reaps every child that has ended; the command's exit code if it did.
    fn reap(&self) -> Result<Option<u8>, Error> {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => return Ok(None),
                Ok(status) if status.pid() == Some(self.pid) => {
                    if let Some(code) = exit_code(status) {
                        return Ok(Some(code));
                    }
                }
                Ok(status) => debug!(?status, "reaped an orphaned descendant"),
                Err(Errno::EINTR) => {}
                Err(source) => return Err(Error::Wait { program: self.program.clone(), source }),
            }
        }
    }

    fn forward(&self, signal: Signal) {
        let from_terminal = matches!(signal, Signal::SIGINT | Signal::SIGQUIT);
        if from_terminal && self.interactive && same_group(self.pid) {
            debug!(%signal, "not forwarded: the terminal sent it to the child too");
            return;
        }
        // The child is reaped only by `reap`, so its pid cannot be reused yet.
        debug!(%signal, pid = %self.pid, "forwarding signal to the child");
        if let Err(errno) = kill(self.pid, signal) {
            debug!(%signal, %errno, "failed to forward signal");
        }
    }
}

/// Whether the child is still in our process group (so the terminal's
/// SIGINT reached it). When in doubt, say no: forwarding is the safe side.
fn same_group(child: Pid) -> bool {
    match (getpgid(None), getpgid(Some(child))) {
        (Ok(ours), Ok(its)) => ours == its,
        _ => false,
    }
}

/// Asks Linux to re-parent orphaned descendants to this process rather than
/// to init, so that `reap` collects them. Best effort.
fn become_subreaper() {
    #[cfg(target_os = "linux")]
    if let Err(errno) = nix::sys::prctl::set_child_subreaper(true) {
        debug!(%errno, "cannot become a child subreaper; orphans go to init");
    }
}

/// The CLI's exit code for a child that ended with `status`: its own code,
/// or 128+N if signal N killed it (docs/API.md §6); `None` if it did not end.
pub(crate) fn exit_code(status: WaitStatus) -> Option<u8> {
    match status {
        // Exit codes are 8 bits on Unix; anything else is not a real status.
        WaitStatus::Exited(_, code) => Some(u8::try_from(code).unwrap_or(1)),
        WaitStatus::Signaled(_, signal, _) => Some(signal_code(signal)),
        _ => None,
    }
}

/// 128+N for signal N, the shell's convention.
pub(crate) fn signal_code(signal: Signal) -> u8 {
    u8::try_from(128 + signal as i32).unwrap_or(255)
}

// === impl Error ===

impl Error {
    /// The exit code this error gives: 127 for a command that does not
    /// exist, 126 for one that cannot be executed, 128+N after signal N.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound => 127,
            Self::Spawn { .. } => 126,
            Self::Interrupted { signal } => signal_code(*signal),
            Self::Signals(_) | Self::Wait { .. } => 1,
        }
    }
}

#[cfg(test)]
mod tests;

//! The child process of `run-with-secrets`: spawn it, pass signals on, wait
//! for it and turn its end into an exit code (client leaf layer, below
//! `commands`; external crates only).
//!
//! Signal policy, after astral-sh/uv's `child.rs`: SIGTERM and SIGHUP are
//! always forwarded; SIGINT only when stdin is not a terminal or the child
//! left our process group, because otherwise the terminal already sent it to
//! the child and a second one changes its meaning for many programs. The CLI
//! itself never dies of these signals while a child runs, so its `Drop`
//! guards (the secrets directory) always run. It never prints.

use std::io::{self, IsTerminal};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpgid};
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};
use tracing::debug;

/// Handlers for the signals that are passed on. Installing them replaces the
/// default action (death), so install them before creating anything that a
/// `Drop` guard must remove.
pub(crate) struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
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
        source: io::Error,
    },
    /// A signal arrived before the command was started; it was not run.
    #[error("interrupted by {signal} before the command was started")]
    Interrupted { signal: Signal },
}

// === impl Signals ===

impl Signals {
    /// Installs handlers for SIGINT, SIGTERM and SIGHUP.
    ///
    /// # Errors
    /// [`Error::Signals`] if the runtime cannot register them.
    pub(crate) fn install() -> Result<Self, Error> {
        let handler = |kind| signal(kind).map_err(Error::Signals);
        Ok(Self {
            interrupt: handler(SignalKind::interrupt())?,
            terminate: handler(SignalKind::terminate())?,
            hangup: handler(SignalKind::hangup())?,
        })
    }

    /// The next of the three signals to arrive.
    pub(crate) async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::SIGINT,
            _ = self.terminate.recv() => Signal::SIGTERM,
            _ = self.hangup.recv() => Signal::SIGHUP,
        }
    }
}

/// Spawns `command` (stdio inherited) and waits for it, forwarding signals.
///
/// # Errors
/// [`Error::Spawn`] if it cannot be started (see [`Error::exit_code`]),
/// [`Error::Wait`] if waiting fails.
pub(crate) async fn run(mut command: Command, program: &str, mut signals: Signals) -> Result<ExitStatus, Error> {
    let mut child = command.spawn().map_err(|source| Error::Spawn { program: program.to_owned(), source })?;
    let interactive = io::stdin().is_terminal();
    loop {
        tokio::select! {
            status = child.wait() => {
                return status.map_err(|source| Error::Wait { program: program.to_owned(), source });
            }
            signal = signals.recv() => forward(&child, signal, interactive),
        }
    }
}

fn forward(child: &Child, signal: Signal, interactive: bool) {
    let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw) else {
        debug!(%signal, "signal received, but the child has already exited");
        return;
    };
    if signal == Signal::SIGINT && interactive && same_group(pid) {
        debug!("SIGINT received; the terminal sent it to the child too");
        return;
    }
    debug!(%signal, %pid, "forwarding signal to the child");
    if let Err(errno) = kill(pid, signal) {
        debug!(%signal, %errno, "failed to forward signal");
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

/// The CLI's exit code for a child that ended with `status`: its own code,
/// or 128+N if signal N killed it (CONTRACT §6).
pub(crate) fn exit_code(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        // Exit codes are 8 bits on Unix; anything else is not a real status.
        return u8::try_from(code).unwrap_or(1);
    }
    match status.signal() {
        Some(signal) => u8::try_from(128 + signal).unwrap_or(255),
        None => 1,
    }
}

// === impl Error ===

impl Error {
    /// The exit code this error gives: 127 for a command that does not
    /// exist, 126 for one that cannot be executed, 128+N after signal N.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound => 127,
            Self::Spawn { .. } => 126,
            Self::Interrupted { signal } => u8::try_from(128 + *signal as i32).unwrap_or(255),
            Self::Signals(_) | Self::Wait { .. } => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wait status as `waitpid` reports it.
    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    fn killed(signal: Signal) -> ExitStatus {
        ExitStatus::from_raw(signal as i32)
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        let cases = [
            (exited(0), 0),
            (exited(1), 1),
            (exited(42), 42),
            (exited(255), 255),
            (killed(Signal::SIGINT), 130),
            (killed(Signal::SIGKILL), 137),
            (killed(Signal::SIGTERM), 143),
            (killed(Signal::SIGHUP), 129),
        ];
        for (status, want) in cases {
            assert_eq!(exit_code(status), want, "{status:?}");
        }
    }

    #[test]
    fn spawn_failures_map_to_shell_codes() {
        let spawn = |kind| Error::Spawn { program: "x".into(), source: io::Error::from(kind) };
        assert_eq!(spawn(io::ErrorKind::NotFound).exit_code(), 127);
        assert_eq!(spawn(io::ErrorKind::PermissionDenied).exit_code(), 126);
        assert_eq!(Error::Interrupted { signal: Signal::SIGTERM }.exit_code(), 143);
        assert_eq!(Error::Wait { program: "x".into(), source: io::ErrorKind::Other.into() }.exit_code(), 1);
    }

    #[tokio::test]
    async fn runs_a_command_and_reports_its_status() {
        let signals = Signals::install().expect("signals");
        let mut command = Command::new("sh");
        command.args(["-c", "exit 7"]);
        let status = run(command, "sh", signals).await.expect("ran");
        assert_eq!(exit_code(status), 7);
    }

    #[tokio::test]
    async fn a_missing_command_is_127() {
        let signals = Signals::install().expect("signals");
        let err = run(Command::new("/nonexistent/vanta-test"), "x", signals).await.expect_err("missing");
        assert_eq!(err.exit_code(), 127);
    }
}

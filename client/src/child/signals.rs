//! The signals `run-with-secrets` catches: the ones it passes on, and
//! SIGCHLD (client leaf layer, part of `child`).
//!
//! Catching a signal replaces its default action (death, or nothing at all
//! for PID 1), so they are caught from the start of `run-with-secrets`:
//! from then on the CLI ends only through its own code, and `Drop` guards
//! (the secrets directory) always run.
//!
//! Except the ones ignored when the CLI started (`nohup`, `&` in a
//! non-interactive shell, `trap '' SIG`): catching those would undo the
//! ignoring — a caught signal is reset to its default action by `execve`,
//! so the command could die of it — and passing them on would deliver
//! what the caller meant nobody to get. They are left ignored, neither
//! caught nor passed on, and the command inherits them ignored, as with a
//! plain `exec`.

use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};

/// What [`Signals::next`] saw.
pub(crate) enum Event {
    /// A signal to pass on.
    Forward(Signal),
    /// SIGCHLD: a child or an adopted orphan changed state; signals
    /// coalesce, so the caller reaps all it can.
    ChildChanged,
}

/// Handlers for [`FORWARDED`] and SIGCHLD.
pub(crate) struct Signals {
    forwarded: Vec<(Signal, tokio::signal::unix::Signal)>,
    child: tokio::signal::unix::Signal,
}

/// The signals passed on to the command (SIGINT and SIGQUIT only when the
/// terminal did not already deliver them; see `child`).
pub(crate) const FORWARDED: [Signal; 6] =
    [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2];

/// The forwarded signals that ask a process to end (not SIGQUIT, which asks
/// for a core dump, nor the user signals): the ones the CLI heeds itself
/// when it has no command to pass them to.
pub(crate) const TERMINATING: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

// === impl Signals ===

impl Signals {
    /// Installs the handlers.
    ///
    /// # Errors
    /// If the runtime cannot register one of them.
    pub(crate) fn install() -> io::Result<Self> {
        let ignored = ignored_at_start();
        let forwarded = FORWARDED
            .iter()
            .filter(|&&sig| !is_in(sig, ignored))
            .map(|&sig| signal(SignalKind::from_raw(sig as i32)).map(|handler| (sig, handler)))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self { forwarded, child: signal(SignalKind::child())? })
    }

    /// The next forwarded signal to arrive.
    pub(crate) async fn recv(&mut self) -> Signal {
        poll_fn(|cx| poll_forwarded(&mut self.forwarded, cx)).await
    }

    /// The next terminating signal (see [`TERMINATING`]); other forwarded
    /// signals that arrive meanwhile are dropped.
    pub(crate) async fn recv_terminating(&mut self) -> Signal {
        loop {
            let signal = self.recv().await;
            if TERMINATING.contains(&signal) {
                return signal;
            }
        }
    }

    /// A forwarded signal that has already arrived, if any.
    pub(crate) async fn pending(&mut self) -> Option<Signal> {
        tokio::select! {
            biased;
            sig = self.recv() => Some(sig),
            () = std::future::ready(()) => None,
        }
    }

    /// The next forwarded signal or SIGCHLD.
    pub(crate) async fn next(&mut self) -> Event {
        poll_fn(|cx| {
            // `None` only once the runtime shuts down: then never ready.
            if let Poll::Ready(Some(())) = self.child.poll_recv(cx) {
                return Poll::Ready(Event::ChildChanged);
            }
            poll_forwarded(&mut self.forwarded, cx).map(Event::Forward)
        })
        .await
    }
}

/// The signals this process ignores (`SIG_IGN`), as the `SigIgn` mask of
/// `/proc/self/status`: bit N-1 for signal N. Read there because asking
/// `sigaction` takes `unsafe`, which this crate forbids. None without
/// `/proc`: every signal is caught then, as before this check.
fn ignored_at_start() -> u64 {
    std::fs::read_to_string("/proc/self/status").ok().and_then(|status| sig_ign_mask(&status)).unwrap_or(0)
}

/// The `SigIgn:` mask of a `/proc/PID/status` text.
fn sig_ign_mask(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|line| line.strip_prefix("SigIgn:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn is_in(signal: Signal, mask: u64) -> bool {
    let bit = (signal as i32) - 1;
    (0..64).contains(&bit) && mask & (1 << bit) != 0
}

fn poll_forwarded(forwarded: &mut [(Signal, tokio::signal::unix::Signal)], cx: &mut Context<'_>) -> Poll<Signal> {
    for (sig, handler) in forwarded {
        // `None` only once the runtime shuts down: then never ready.
        if let Poll::Ready(Some(())) = handler.poll_recv(cx) {
            return Poll::Ready(*sig);
        }
    }
    Poll::Pending
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ignored_mask_is_read_from_proc_status() {
        let status = "Name:\tvanta-cli\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001003\nSigCgt:\t0\n";
        let mask = sig_ign_mask(status).expect("a mask");
        assert!(is_in(Signal::SIGHUP, mask) && is_in(Signal::SIGINT, mask) && is_in(Signal::SIGPIPE, mask));
        assert!(!is_in(Signal::SIGTERM, mask) && !is_in(Signal::SIGQUIT, mask));
        assert_eq!(sig_ign_mask("Name:\tx\n"), None);
        assert_eq!(sig_ign_mask("SigIgn:\tnot hex\n"), None);
    }
}

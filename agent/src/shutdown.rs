//! Process signals (layer L1): shutdown on the first SIGTERM or SIGINT,
//! reload on SIGHUP.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Handlers for SIGTERM and SIGINT, installed when made: a signal that
/// arrives before anyone waits is still seen (and does not kill the process).
/// SIGHUP's handler is installed with them: one that arrives before serving
/// starts has nothing to reload, and must not kill the agent (its default
/// action) after its socket is bound.
pub struct ShutdownSignals {
    term: Signal,
    int: Signal,
    _early_hangups: Signal,
}

// === impl ShutdownSignals ===

impl ShutdownSignals {
    /// Installs the handlers; call inside the runtime, before serving.
    ///
    /// # Errors
    /// If the signal handlers cannot be installed.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            _early_hangups: hangups()?,
        })
    }

    /// Waits for the first SIGTERM or SIGINT and names it.
    pub async fn received(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// A stream of SIGHUPs (reopen the audit file, reload the TLS certificate).
///
/// # Errors
/// If the handler cannot be installed.
pub fn hangups() -> std::io::Result<Signal> {
    signal(SignalKind::hangup())
}

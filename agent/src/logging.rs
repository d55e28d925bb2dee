//! Diagnostic logging to stderr (layer L1). Audit records never go here, and
//! stdout stays free for them (`--audit-log -`). The settings come from the
//! checked configuration (`--log`, `--log-format`); nothing is read here.
//! A log line that cannot be written (stderr a pipe whose reader has gone)
//! is dropped: logging never stops the agent or a request.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::ParseError;

/// Installs the subscriber: `filter` in `tracing` directive syntax (the
/// configuration has checked it), JSON lines when `json`, else plain text;
/// colour only on a terminal, and never with `NO_COLOR` set (no-color.org).
///
/// # Errors
/// If `filter` does not parse.
pub fn init(filter: &str, json: bool) -> Result<(), ParseError> {
    let filter = EnvFilter::try_new(filter)?;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // tracing-subscriber reports a failed write with `eprintln!`, which
    // panics when stderr is a broken pipe: in the request that logged.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .log_internal_errors(false);
    // Fails only when a subscriber is already installed (tests): keep that one.
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
    Ok(())
}

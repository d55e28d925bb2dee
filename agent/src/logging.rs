//! Diagnostic logging to stderr (layer L1). Audit records never go here, and
//! stdout stays free for them (`--audit-log -`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the subscriber: filter from `VANTA_LOG` (default `info`), format
/// from `VANTA_LOG_FORMAT` (`plain` or `json`).
pub fn init() {
    let filter = EnvFilter::try_from_env("VANTA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only on a terminal, and never with NO_COLOR set (no-color.org).
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    let json = std::env::var("VANTA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

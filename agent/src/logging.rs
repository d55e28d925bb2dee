//! Diagnostic logging to stderr (layer L1). Audit records never go here, and
//! stdout stays free for them (`--audit-log -`).

use tracing_subscriber::EnvFilter;

/// Installs the subscriber: filter from `VANTA_LOG` (default `info`), format
/// from `VANTA_LOG_FORMAT` (`plain` or `json`).
pub fn init() {
    let filter = EnvFilter::try_from_env("VANTA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let json = std::env::var("VANTA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

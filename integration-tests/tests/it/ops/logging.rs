//! Diagnostic logging from the checked configuration (operator guide,
//! "Configuration reference"): `VANTA_LOG_FORMAT` is `plain` or `json` (any
//! case), `VANTA_LOG` must parse; anything else stops start-up with exit 2.

use crate::common::dev_builder;

#[test]
fn an_unknown_log_format_or_a_broken_filter_stops_start_up() {
    let (format, _a) = dev_builder().env("VANTA_LOG_FORMAT", "yaml").run_to_exit();
    assert_eq!(format.code(), Some(2), "{}", format.stderr_text());
    let stderr = format.stderr_text();
    assert!(stderr.contains("yaml") && stderr.contains("plain") && stderr.contains("json"), "{stderr}");
    let (filter, _b) = dev_builder().env("VANTA_LOG", "vanta_agent=loud").run_to_exit();
    assert_eq!(filter.code(), Some(2), "{}", filter.stderr_text());
    let line = filter.stderr_text();
    assert!(line.starts_with("vanta-agent: error: invalid configuration: --log (VANTA_LOG)"), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
}

#[test]
fn the_json_format_is_taken_in_any_case() {
    let agent = dev_builder().env("VANTA_LOG_FORMAT", "JSON").start();
    let stderr = agent.stderr_text();
    let listening = stderr.lines().find(|l| l.contains("listening")).unwrap_or_else(|| panic!("{stderr}"));
    let json: serde_json::Value = serde_json::from_str(listening).unwrap_or_else(|e| panic!("{e}: {listening}"));
    assert_eq!(json["fields"]["message"], "listening");
}

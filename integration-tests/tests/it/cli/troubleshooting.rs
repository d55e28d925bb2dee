//! The operator guide's troubleshooting section lists every message
//! `vanta-cli` can print, with its fix: the messages are read from the
//! client's source (error types, `context`, hints, TLS reasons, refusal
//! explanations, usage errors, warnings) and each must be in the section,
//! with `…` for the parts filled in at run time; and every message the
//! section lists must still be in the source.

use crate::messages::{Markers, assert_listed, source_messages};

/// Where the section lists the CLI's messages, one table row each.
const TABLE: &str = "### vanta-cli messages";

/// Code right before a string literal that makes it a message, and the
/// files (suffix of the path under `client/src`, empty for any) it counts in.
const MARKERS: &Markers = &[
    ("#[error(", ""),
    (".context(", ""),
    ("with_context(|| format!(", ""),
    ("with_context(|| { format!(", ""),
    ("bail!(", ""),
    ("anyhow!(", ""),
    ("return Err(", "cli/agent_args.rs"),
    ("TOKEN_IN_ARGV: &str =", "commands.rs"),
    ("Some(", "error.rs"),
    ("=>", "error.rs"),
    ("=> {", "error.rs"),
    ("write_str(", "tls/failure.rs"),
    ("write!(f,", "tls/failure.rs"),
    ("BadCertificate(", "tls/failure.rs"),
    ("Some(format!(", "agent_client/refusal.rs"),
    ("return format!(", "agent_client/refusal.rs"),
    ("=> format!(", "agent_client/refusal.rs"),
    ("=>", "agent_client/refusal.rs"),
    ("then(||", "agent_client/refusal.rs"),
];

#[test]
fn every_cli_message_is_in_the_troubleshooting_section_with_its_fix() {
    assert_listed(&source_messages("client/src", MARKERS), TABLE, 51);
}

//! The operator guide's troubleshooting section lists every message
//! `vanta-agent` can print on stderr before it serves, or answer in an error
//! body, with its fix (the rule for which literals count is in the
//! subsection's intro); every message listed must still be in the source.

use crate::messages::{Markers, assert_listed, source_messages};

/// Where the section lists the agent's messages, one table row each.
const TABLE: &str = "### vanta-agent messages";

/// Code right before a string literal that makes it a message, and the
/// files (suffix of the path under `agent/src`, empty for any) it counts in.
const MARKERS: &Markers = &[
    // Start-up: the causes chained under the context strings below.
    ("#[error(", "config.rs"),
    ("#[error(", "transport/tcp.rs"),
    ("#[error(", "transport/unix.rs"),
    ("#[error(", "policy/file.rs"),
    ("#[error(", "usage.rs"),
    ("#[error(", "usage/redis.rs"),
    ("#[error(", "usage/sqlite/writer.rs"),
    // Why a use was not made durable (audited, 503).
    ("self.failed = Some(format!(", "usage/sqlite/wal_sync.rs"),
    ("#[error(", "audit/writer.rs"),
    ("#[error(", "token/key.rs"),
    // The problem of an invalid setting: `invalid(flag, problem)`, the
    // problem a `format!` or a literal after the flag's name.
    ("format!(", "config.rs"),
    ("format!(", "config/secrets.rs"),
    ("invalid(name,", "config/secrets.rs"),
    ("format!(", "config/usage_store.rs"),
    ("\",", "config/usage_store.rs"),
    ("invalid(name,", "config/usage_store.rs"),
    ("format!(", "config/sops.rs"),
    ("\",", "config/sops.rs"),
    ("invalid(name,", "config.rs"),
    ("\",", "config.rs"),
    // Why a policy file is refused (after its path and line).
    ("format!(", "policy/file.rs"),
    ("Err(", "policy/file.rs"),
    ("Err((None,", "policy/file.rs"),
    ("at(", "policy/file.rs"),
    // What failed, around those causes.
    (".context(", ""),
    ("with_context(|| format!(", ""),
    ("with_context(|| { format!(", ""),
    ("bail!(", ""),
    ("anyhow!(", ""),
    // Answers: the one table, and what a 400, 404 or 422 says instead.
    (",", "http/error.rs"),
    ("Cow::Owned(format!(", "http/error.rs"),
    ("#[error(", "vault/error.rs"),
    ("#[error(", "sops/tree.rs"),
    ("#[error(", "sops/command.rs"),
    ("let message = format!(", "vault.rs"),
    ("ErrorCode::NotFound,", "http/router.rs"),
    ("ErrorCode::BadRequest,", "http/body.rs"),
];

/// The same for `shared/src`: why a name, key, pattern or token request
/// body is refused (answered in a 400 or 422).
const SHARED_MARKERS: &Markers = &[
    ("#[error(", "env_name.rs"),
    ("#[error(", "key_path.rs"),
    ("#[error(", "key_pattern.rs"),
    ("FieldError::body(", "api.rs"),
    ("format!(", "api.rs"),
    ("\",", "api.rs"),
];

/// Literals the markers catch that are not messages: a conflicting setting's
/// name, how the usage store is named in logs, and the line part of a policy
/// file error.
const NOT_MESSAGES: &[&str] = &["the --mint-* flags", "redis (key prefix …)", ": line …"];

#[test]
fn every_agent_message_is_in_the_troubleshooting_section_with_its_fix() {
    let mut messages = source_messages("agent/src", MARKERS);
    messages.extend(source_messages("shared/src", SHARED_MARKERS));
    // Names (environment variables, flags) and bare `{}: {}` joins are not
    // messages: a message has a word and a space.
    messages.retain(|m| m.contains(' ') && m.chars().any(char::is_alphabetic) && !NOT_MESSAGES.contains(&m.as_str()));
    assert_listed(&messages, TABLE, 100);
}

//! One audit record, as written to the JSONL file (docs/API.md §5).

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use vanta_shared::api::is_unsafe_in_text;

use crate::peer::Peer;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    /// `POST /api/v1/vault/tokens/generate`.
    TokenGenerate,
    /// `GET /api/v1/vault/{environment}/{key}`.
    SecretAccess,
    /// `GET /api/v1/vault/{environment}`.
    KeyList,
    /// `POST /api/v1/vault/tokens/revoke`.
    TokenRevoke,
}

/// One line of the audit log. Never holds a secret value or a token; fields
/// unknown for an event are `null`.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// When the request came in; written as RFC 3339, UTC. A time that cannot
    /// be written so fails the whole record, never writes an empty one.
    #[serde(serialize_with = "rfc3339")]
    pub timestamp: OffsetDateTime,
    /// What happened.
    pub event: AuditEvent,
    /// The token's `jti` (the new token's, for generation).
    pub jti: Option<String>,
    /// The token's `sub` (the requested subject, for generation).
    pub subject: Option<String>,
    /// The environment asked for, as asked.
    pub environment: Option<String>,
    /// The key asked for: present (maybe `null`) on fetches and lists only.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<Option<String>>,
    /// The pattern asked for: present (maybe `null`) on token generation only.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_pattern: Option<Option<String>>,
    /// Who asked.
    pub client: Peer,
    /// The caller's executable: present (maybe `null`) on token generation only.
    #[serde(skip_serializing_if = "Option::is_none")]
    exe: Option<Option<String>>,
    /// The policy rule that covered the caller (`null`: none did): present on
    /// token generation only.
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<Option<String>>,
    /// `success` or the error code.
    pub outcome: String,
    /// The HTTP status answered.
    pub status_code: u16,
    /// What went wrong, precisely (the audit log may say more than the client
    /// is told); `null` on success.
    pub error: Option<String>,
}

/// Longest requested name copied into a record, in bytes; longer ones are
/// cut, so a hostile request cannot bloat the log. A valid subject (256
/// characters of up to 4 bytes) always fits whole: a revoke by subject
/// copied from the log must name the same subject.
const MAX_ECHO: usize = 1024;

// === impl AuditRecord ===

impl AuditRecord {
    /// A record of `event` by `client`, timestamped now, outcome to be set.
    pub fn new(event: AuditEvent, client: Peer) -> Self {
        let timestamp = OffsetDateTime::now_utc();
        // docs/API.md §5: `key` for fetches and lists, `key_pattern` for generation.
        let generates = event == AuditEvent::TokenGenerate;
        let reads = matches!(event, AuditEvent::SecretAccess | AuditEvent::KeyList);
        Self {
            timestamp,
            event,
            jti: None,
            subject: None,
            environment: None,
            key: reads.then_some(None),
            key_pattern: generates.then_some(None),
            client,
            exe: generates.then_some(None),
            rule: generates.then_some(None),
            outcome: String::new(),
            status_code: 0,
            error: None,
        }
    }

    /// Sets a requested name (subject, environment, key, pattern), cut to a
    /// safe length, with characters that could forge or disguise a line
    /// (controls, U+2028/U+2029, bidirectional overrides) written as `\u{…}`.
    pub fn echo(value: &str) -> Option<String> {
        let mut end = value.len().min(MAX_ECHO);
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        Some(escape_unsafe(&value[..end]))
    }

    /// Sets the requested key (fetches).
    pub fn set_key(&mut self, key: &str) {
        self.key = Some(Self::echo(key));
    }

    /// Sets the requested pattern (token generation).
    pub fn set_key_pattern(&mut self, pattern: Option<&str>) {
        self.key_pattern = Some(pattern.and_then(Self::echo));
    }

    /// Sets who asked to mint: the attested executable and the rule that
    /// covered the caller (token generation). The caller chose the
    /// executable's path, so it is escaped like a requested name, but never
    /// cut: a path must match the policy's `exe` selector as logged.
    pub fn set_caller(&mut self, exe: Option<&std::path::Path>, rule: Option<String>) {
        self.exe = Some(exe.map(|p| escape_unsafe(&p.to_string_lossy())));
        self.rule = Some(rule);
    }

    /// Fills in the outcome.
    pub fn finish(&mut self, outcome: &str, status_code: u16, error: Option<String>) {
        self.outcome = outcome.to_owned();
        self.status_code = status_code;
        self.error = error;
    }

    /// The record as one JSON line, newline included.
    ///
    /// # Errors
    /// If the record cannot be encoded (a timestamp RFC 3339 cannot hold):
    /// the caller must treat the record as not written.
    pub fn to_line(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut line = serde_json::to_vec(self)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// `text` with characters that could forge or disguise a line (controls,
/// U+2028/U+2029, bidirectional overrides) written as `\u{…}`.
fn escape_unsafe(text: &str) -> String {
    if !text.chars().any(is_unsafe_in_text) {
        return text.to_owned();
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe_in_text(c) {
            escaped.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        } else {
            escaped.push(c);
        }
    }
    escaped
}

fn rfc3339<S: serde::Serializer>(time: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    let text = time.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::PinnedProcess;

    fn parse(record: &AuditRecord) -> serde_json::Value {
        let line = record.to_line().expect("encodable");
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        serde_json::from_slice(&line).expect("json line")
    }

    #[test]
    fn secret_access_has_every_field() {
        let mut r = AuditRecord::new(
            AuditEvent::SecretAccess,
            Peer::Unix { uid: 1, gid: 2, pid: Some(3), process: Some(PinnedProcess::StartTime(4)) },
        );
        r.environment = AuditRecord::echo("dev");
        r.set_key("A/B");
        r.finish("not_found", 404, Some("no such key".into()));
        let v = parse(&r);
        for field in
            ["timestamp", "event", "jti", "subject", "environment", "key", "client", "outcome", "status_code", "error"]
        {
            assert!(v.get(field).is_some(), "missing {field}: {v}");
        }
        assert_eq!(v["event"], "secret_access");
        assert_eq!(v["client"], serde_json::json!({"uid": 1, "gid": 2, "pid": 3}));
        assert!(v["jti"].is_null());
        assert!(v.get("key_pattern").is_none() && v.get("exe").is_none() && v.get("rule").is_none());
        assert!(v["timestamp"].as_str().expect("string").ends_with('Z'));
    }

    #[test]
    fn fields_come_in_contract_order_and_lists_have_a_null_key() {
        let mut r = AuditRecord::new(AuditEvent::KeyList, Peer::Unknown);
        r.finish("success", 200, None);
        let line = String::from_utf8(r.to_line().expect("encodable")).expect("utf-8");
        let order =
            ["timestamp", "event", "jti", "subject", "environment", "key", "client", "outcome", "status_code", "error"];
        let positions: Vec<usize> = order.iter().map(|f| line.find(&format!("\"{f}\":")).expect(f)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{line}");
        assert!(line.contains("\"key\":null") && !line.contains("key_pattern"), "{line}");
    }

    #[test]
    fn token_generate_has_key_pattern_not_key() {
        let mut r = AuditRecord::new(AuditEvent::TokenGenerate, Peer::Tcp([127, 0, 0, 1].into()));
        r.finish("success", 200, None);
        let v = parse(&r);
        assert!(v.get("key").is_none());
        assert!(v["key_pattern"].is_null());
        assert!(v["exe"].is_null() && v["rule"].is_null(), "{v}");
        r.set_caller(Some(std::path::Path::new("/usr/bin/payments")), Some("payments".into()));
        let v = parse(&r);
        assert_eq!((v["exe"].as_str(), v["rule"].as_str()), (Some("/usr/bin/payments"), Some("payments")));
        assert_eq!(v["client"], "127.0.0.1");
    }

    #[test]
    fn a_timestamp_rfc3339_cannot_hold_fails_the_record() {
        let mut r = AuditRecord::new(AuditEvent::KeyList, Peer::Unknown);
        // RFC 3339 has no room for an offset with seconds.
        let odd = time::UtcOffset::from_hms(0, 0, 1).expect("a valid offset");
        r.timestamp = r.timestamp.to_offset(odd);
        assert!(r.to_line().is_err(), "no record with an empty or wrong timestamp");
    }

    #[test]
    fn echo_escapes_line_breaking_and_bidi_characters() {
        let echoed = AuditRecord::echo("a\u{2028}b\u{202E}c\nd Zoë").expect("some");
        assert_eq!(echoed, "a\\u{2028}b\\u{202e}c\\u{000a}d Zoë");
    }

    #[test]
    fn the_callers_executable_is_escaped_and_never_cut() {
        let mut r = AuditRecord::new(AuditEvent::TokenGenerate, Peer::Unknown);
        let exe = format!("/opt/app\u{2028}x\u{202E}gpj.exe\n{}", "d/".repeat(700));
        r.set_caller(Some(std::path::Path::new(&exe)), None);
        let v = parse(&r);
        let logged = v["exe"].as_str().expect("a string");
        assert!(logged.starts_with("/opt/app\\u{2028}x\\u{202e}gpj.exe\\u{000a}d/"), "{logged}");
        assert!(logged.ends_with(&"d/".repeat(700)), "cut: {logged}");
    }

    #[test]
    fn echo_cuts_long_names_on_a_char_boundary() {
        let long = "é".repeat(600);
        let cut = AuditRecord::echo(&long).expect("some");
        assert!(cut.len() <= MAX_ECHO);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}

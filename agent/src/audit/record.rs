//! One audit record, as written to the JSONL file (CONTRACT §5).

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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
    /// RFC 3339, UTC.
    pub timestamp: String,
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
    /// `success` or the error code.
    pub outcome: String,
    /// The HTTP status answered.
    pub status_code: u16,
    /// What went wrong, precisely (the audit log may say more than the client
    /// is told); `null` on success.
    pub error: Option<String>,
}

/// Longest requested name copied into a record; longer ones are cut, so a
/// hostile request cannot bloat the log.
const MAX_ECHO: usize = 512;

// === impl AuditRecord ===

impl AuditRecord {
    /// A record of `event` by `client`, timestamped now, outcome to be set.
    pub fn new(event: AuditEvent, client: Peer) -> Self {
        let timestamp = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
        // CONTRACT §5: `key` for fetches and lists, `key_pattern` for generation.
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
            outcome: String::new(),
            status_code: 0,
            error: None,
        }
    }

    /// Sets a requested name (environment, key, pattern), cut to a safe length.
    pub fn echo(value: &str) -> Option<String> {
        let mut end = value.len().min(MAX_ECHO);
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        Some(value[..end].to_owned())
    }

    /// Sets the requested key (fetches).
    pub fn set_key(&mut self, key: &str) {
        self.key = Some(Self::echo(key));
    }

    /// Sets the requested pattern (token generation).
    pub fn set_key_pattern(&mut self, pattern: Option<&str>) {
        self.key_pattern = Some(pattern.and_then(Self::echo));
    }

    /// Fills in the outcome.
    pub fn finish(&mut self, outcome: &str, status_code: u16, error: Option<String>) {
        self.outcome = outcome.to_owned();
        self.status_code = status_code;
        self.error = error;
    }

    /// The record as one JSON line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(record: &AuditRecord) -> serde_json::Value {
        let line = record.to_line();
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        serde_json::from_slice(&line).expect("json line")
    }

    #[test]
    fn secret_access_has_every_field() {
        let mut r = AuditRecord::new(AuditEvent::SecretAccess, Peer::Unix { uid: 1, gid: 2, pid: Some(3) });
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
        assert!(v.get("key_pattern").is_none());
        assert!(v["timestamp"].as_str().expect("string").ends_with('Z'));
    }

    #[test]
    fn fields_come_in_contract_order_and_lists_have_a_null_key() {
        let mut r = AuditRecord::new(AuditEvent::KeyList, Peer::Unknown);
        r.finish("success", 200, None);
        let line = String::from_utf8(r.to_line()).expect("utf-8");
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
        assert_eq!(v["client"], "127.0.0.1");
    }

    #[test]
    fn echo_cuts_long_names_on_a_char_boundary() {
        let long = "é".repeat(600);
        let cut = AuditRecord::echo(&long).expect("some");
        assert!(cut.len() <= MAX_ECHO);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}

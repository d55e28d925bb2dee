//! Request and response bodies of the agent's HTTP API, and its routes (layer L0).
//!
//! The token request is checked field by field rather than with a derived
//! `Deserialize`, so that every refusal names the field at fault (docs/API.md §4).

mod revoke;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use self::revoke::{RevokeTokenRequest, RevokeTokenResponse, TOKENS_REVOKE_PATH};

use crate::{EnvName, ErrorCode, KeyPattern, Permission};

/// `POST` here mints a token.
pub const TOKENS_GENERATE_PATH: &str = "/api/v1/vault/tokens/generate";
/// Prefix of `GET /api/v1/vault/{environment}[/{key}]`.
pub const VAULT_PREFIX: &str = "/api/v1/vault/";
/// The header `--require-request-header` demands (value `true`), so that a
/// confused deputy (an SSRF in a local service) cannot reach the agent.
pub const REQUEST_HEADER: &str = "x-vanta-request";
/// Liveness route, no auth.
pub const HEALTHZ_PATH: &str = "/healthz";
/// Readiness route, no auth: sops usable, audit log writable, store open.
pub const READYZ_PATH: &str = "/readyz";
/// Prometheus metrics, no auth (names and counts only, never secrets).
pub const METRICS_PATH: &str = "/metrics";

/// A checked `POST /api/v1/vault/tokens/generate` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateTokenRequest {
    /// Who the token is for (free text, 1–256 characters).
    pub subject: String,
    /// The environment the token is scoped to.
    pub environment: EnvName,
    /// The keys the token may read.
    pub key_pattern: KeyPattern,
    /// Requested lifetime; `None` means the agent's default.
    pub ttl_minutes: Option<u32>,
    /// Requested number of successful fetches; `None` means unlimited.
    pub usage_limit: Option<u64>,
}

/// Why a token request body was refused; `field` is `None` for the body as a whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// The field at fault, if one is.
    pub field: Option<String>,
    /// What is wrong, naming the field.
    pub message: String,
}

/// The success body of `POST /api/v1/vault/tokens/generate`. Its `Debug`
/// hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateTokenResponse {
    /// The signed JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// What the token allows, for humans and scripts.
    pub scope_details: ScopeDetails,
}

/// `scope_details` of a [`GenerateTokenResponse`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeDetails {
    /// The environment.
    pub environment: String,
    /// The key pattern.
    pub key_pattern: String,
    /// The permissions (today always `["read"]`).
    pub permissions: Vec<Permission>,
    /// The usage limit, `null` when unlimited.
    pub usage_limit: Option<u64>,
}

/// The success body of `GET /api/v1/vault/{environment}/{key}`. Holds a
/// secret, so it has no `Debug`.
#[derive(Clone, Serialize, Deserialize)]
pub struct SecretValue {
    /// The plaintext value.
    pub value: String,
}

/// The success body of `GET /api/v1/vault/{environment}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyList {
    /// The environment listed.
    pub environment: String,
    /// The key paths the token may read, sorted.
    pub keys: Vec<String>,
}

/// Every error body: `{"error": "<code>", "message": "<text>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub error: ErrorCode,
    /// Text for humans.
    pub message: String,
}

/// The body of `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `ok` when the agent answers.
    pub status: String,
}

/// Largest `usage_limit` a token may carry: the SQLite usage store keeps
/// counts as signed 64-bit integers and cannot store a larger limit, so such
/// a token would be minted and then never served (503 on every fetch).
pub const MAX_USAGE_LIMIT: u64 = i64::MAX.unsigned_abs();

const REQUEST_FIELDS: [&str; 5] = ["subject", "environment", "key_pattern", "ttl_minutes", "usage_limit"];
const MAX_SUBJECT_LEN: usize = 256;

// === impl GenerateTokenResponse ===

impl std::fmt::Debug for GenerateTokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateTokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope_details", &self.scope_details)
            .finish()
    }
}

// === impl GenerateTokenRequest ===

impl GenerateTokenRequest {
    /// Checks a parsed JSON body: an object with exactly the known fields, of
    /// the right types, non-empty, with valid names and patterns.
    /// `ttl_minutes` is range-checked by the agent, which knows its maximum.
    ///
    /// # Errors
    /// A [`FieldError`] naming the first field at fault.
    pub fn from_json(body: &Value) -> Result<Self, FieldError> {
        let Value::Object(map) = body else {
            return Err(FieldError::body("request body must be a JSON object"));
        };
        if let Some(unknown) = map.keys().find(|k| !REQUEST_FIELDS.contains(&k.as_str())) {
            return Err(FieldError::field(unknown, format!("unknown field '{unknown}'")));
        }
        let subject = required_string(map, "subject")?;
        if subject.chars().count() > MAX_SUBJECT_LEN || subject.chars().any(is_unsafe_in_text) {
            return Err(FieldError::field(
                "subject",
                "subject must be at most 256 characters without control, line separator or bidirectional \
                 formatting characters",
            ));
        }
        let environment = required_string(map, "environment")?
            .parse()
            .map_err(|e| FieldError::field("environment", format!("environment: {e}")))?;
        let key_pattern = required_string(map, "key_pattern")?
            .parse()
            .map_err(|e| FieldError::field("key_pattern", format!("{e}")))?;
        let ttl_minutes = optional_positive(map, "ttl_minutes")?
            .map(|n| u32::try_from(n).map_err(|_| FieldError::field("ttl_minutes", "ttl_minutes is too large")))
            .transpose()?;
        let usage_limit = optional_positive(map, "usage_limit")?;
        if usage_limit.is_some_and(|n| n > MAX_USAGE_LIMIT) {
            return Err(FieldError::field("usage_limit", format!("usage_limit must be at most {MAX_USAGE_LIMIT}")));
        }
        Ok(Self { subject: subject.to_owned(), environment, key_pattern, ttl_minutes, usage_limit })
    }

    /// The body as JSON, as the client sends it.
    pub fn to_json(&self) -> Value {
        let mut body = serde_json::json!({
            "subject": self.subject,
            "environment": self.environment.as_str(),
            "key_pattern": self.key_pattern.as_str(),
        });
        if let Some(ttl) = self.ttl_minutes {
            body["ttl_minutes"] = ttl.into();
        }
        if let Some(limit) = self.usage_limit {
            body["usage_limit"] = limit.into();
        }
        body
    }
}

/// Characters that would let a subject forge or disguise lines where it is
/// printed (audit log, terminals): C0/C1 controls, U+2028 and U+2029 (line
/// and paragraph separators) and the bidirectional marks, embeddings,
/// overrides and isolates (U+061C, U+200E-U+200F, U+202A-U+202E,
/// U+2066-U+2069). Letters of every script stay allowed.
pub fn is_unsafe_in_text(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{061C}' | '\u{200E}' | '\u{200F}')
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn required_string<'a>(map: &'a Map<String, Value>, field: &str) -> Result<&'a str, FieldError> {
    match map.get(field) {
        None | Some(Value::Null) => Err(FieldError::field(field, format!("{field} is required"))),
        Some(Value::String(s)) if s.is_empty() => Err(FieldError::field(field, format!("{field} must not be empty"))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(FieldError::field(field, format!("{field} must be a string"))),
    }
}

fn optional_positive(map: &Map<String, Value>, field: &str) -> Result<Option<u64>, FieldError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v >= 1 => Ok(Some(v)),
            _ => Err(FieldError::field(field, format!("{field} must be a whole number of at least 1"))),
        },
        Some(_) => Err(FieldError::field(field, format!("{field} must be a number"))),
    }
}

// === impl FieldError ===

impl FieldError {
    /// A refusal of one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self { field: Some(field.to_owned()), message: message.into() }
    }

    /// A refusal of the body as a whole.
    pub fn body(message: impl Into<String>) -> Self {
        Self { field: None, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: Value) -> Result<GenerateTokenRequest, FieldError> {
        GenerateTokenRequest::from_json(&v)
    }

    #[test]
    fn accepts_a_full_request_and_round_trips() {
        let body = json!({"subject": "ci", "environment": "dev", "key_pattern": "DB_*",
                          "ttl_minutes": 5, "usage_limit": 3});
        let req = parse(body.clone()).expect("valid");
        assert_eq!(req.ttl_minutes, Some(5));
        assert_eq!(req.usage_limit, Some(3));
        assert_eq!(req.to_json(), body);
    }

    #[test]
    fn the_largest_usage_limit_is_the_largest_the_store_can_count() {
        let body = json!({"subject": "s", "environment": "dev", "key_pattern": "*", "usage_limit": MAX_USAGE_LIMIT});
        assert_eq!(parse(body).expect("valid").usage_limit, Some(9_223_372_036_854_775_807));
    }

    #[test]
    fn optional_fields_may_be_absent_or_null() {
        let req = parse(json!({"subject": "s", "environment": "dev", "key_pattern": "*", "usage_limit": null}))
            .expect("valid");
        assert_eq!((req.ttl_minutes, req.usage_limit), (None, None));
    }

    #[test]
    fn every_refusal_names_its_field() {
        let base = json!({"subject": "s", "environment": "dev", "key_pattern": "*"});
        let cases: Vec<(&str, Value)> = vec![
            ("subject", json!(null)),
            ("subject", json!("")),
            ("subject", json!(7)),
            ("subject", json!("a\nb")),
            ("subject", json!("a\u{2028}b")),
            ("subject", json!("a\u{2029}b")),
            ("subject", json!("admin\u{202E}txt.exe")),
            ("subject", json!("a\u{2066}b")),
            ("subject", json!("a\u{200F}b")),
            ("subject", json!("a\u{0085}b")),
            ("environment", json!("../etc")),
            ("environment", json!("")),
            ("environment", json!(["dev"])),
            ("key_pattern", json!("a[b]")),
            ("key_pattern", json!("")),
            ("ttl_minutes", json!(0)),
            ("ttl_minutes", json!(-5)),
            ("ttl_minutes", json!(1.5)),
            ("ttl_minutes", json!("10")),
            ("ttl_minutes", json!(u64::MAX)),
            ("usage_limit", json!(0)),
            ("usage_limit", json!(true)),
            ("usage_limit", json!(MAX_USAGE_LIMIT + 1)),
            ("usage_limit", json!(u64::MAX)),
            ("extra", json!(1)),
        ];
        for (field, value) in cases {
            let mut body = base.clone();
            body[field] = value.clone();
            let err = parse(body).expect_err(field);
            assert_eq!(err.field.as_deref(), Some(field), "{field} = {value}");
            assert!(err.message.contains(field), "{field}: {}", err.message);
        }
    }

    #[test]
    fn subjects_in_any_script_are_accepted() {
        for subject in ["Zoë", "東京-deploy", "Ελλάδα ci", "مرحبا", "emoji 🚀"] {
            let body = json!({"subject": subject, "environment": "dev", "key_pattern": "*"});
            assert_eq!(parse(body).expect(subject).subject, subject);
        }
    }

    #[test]
    fn response_debug_hides_the_token() {
        let response = GenerateTokenResponse {
            access_token: "eyJ.secret.sig".into(),
            token_type: "Bearer".into(),
            expires_in: 60,
            scope_details: ScopeDetails {
                environment: "dev".into(),
                key_pattern: "*".into(),
                permissions: vec![Permission::Read],
                usage_limit: None,
            },
        };
        let text = format!("{response:?}");
        assert!(!text.contains("secret") && text.contains("redacted"), "{text}");
    }

    #[test]
    fn missing_fields_are_named() {
        for field in ["subject", "environment", "key_pattern"] {
            let mut body = json!({"subject": "s", "environment": "dev", "key_pattern": "*"});
            body.as_object_mut().expect("object").remove(field);
            assert_eq!(parse(body).expect_err(field).field.as_deref(), Some(field));
        }
        assert_eq!(parse(json!([1])).expect_err("array").field, None);
    }
}

//! The body and answer of `POST /api/v1/vault/tokens/revoke` (layer L0, part
//! of [`crate::api`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::FieldError;

/// `POST` here revokes tokens.
pub const TOKENS_REVOKE_PATH: &str = "/api/v1/vault/tokens/revoke";

/// Longest `jti` or subject accepted (a subject is at most 256 characters).
const MAX_NAME_LEN: usize = 256;

/// A checked revoke body: exactly one of `{"jti": "…"}` and `{"subject": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeTokenRequest {
    /// The one token with this `jti`.
    Jti(String),
    /// Every token of this subject issued up to now.
    Subject(String),
}

/// The success body: what was revoked, and until when the agents keep it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeTokenResponse {
    /// What was revoked (the request, echoed).
    pub revoked: RevokeTokenRequest,
    /// For a subject: tokens issued at or before this (Unix seconds) are
    /// refused; `null` for a `jti`.
    pub issued_up_to: Option<u64>,
    /// Unix seconds after which no token it affects can still be valid: the
    /// revocation is forgotten then.
    pub kept_until: u64,
}

// === impl RevokeTokenRequest ===

impl RevokeTokenRequest {
    /// Checks a parsed JSON body.
    ///
    /// # Errors
    /// A [`FieldError`] naming the field at fault.
    pub fn from_json(body: &Value) -> Result<Self, FieldError> {
        let Value::Object(map) = body else {
            return Err(FieldError::body("request body must be a JSON object"));
        };
        if let Some(unknown) = map.keys().find(|k| !matches!(k.as_str(), "jti" | "subject")) {
            return Err(FieldError::field(unknown, format!("unknown field '{unknown}'")));
        }
        let (field, value) = match (map.get("jti"), map.get("subject")) {
            (Some(jti), None) => ("jti", jti),
            (None, Some(subject)) => ("subject", subject),
            _ => return Err(FieldError::body("give exactly one of 'jti' and 'subject'")),
        };
        let name = match value.as_str() {
            Some(name) if !name.is_empty() && name.chars().count() <= MAX_NAME_LEN => name.to_owned(),
            _ => {
                let message = format!("'{field}' must be a string of 1 to {MAX_NAME_LEN} characters");
                return Err(FieldError::field(field, message));
            }
        };
        Ok(if field == "jti" { Self::Jti(name) } else { Self::Subject(name) })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn exactly_one_non_empty_name() {
        assert_eq!(RevokeTokenRequest::from_json(&json!({"jti": "a"})), Ok(RevokeTokenRequest::Jti("a".into())));
        assert_eq!(
            RevokeTokenRequest::from_json(&json!({"subject": "ci"})),
            Ok(RevokeTokenRequest::Subject("ci".into()))
        );
        for bad in [json!([]), json!({}), json!({"jti": "a", "subject": "b"}), json!({"jti": ""}), json!({"jti": 3})] {
            assert!(RevokeTokenRequest::from_json(&bad).is_err(), "{bad}");
        }
        let unknown = RevokeTokenRequest::from_json(&json!({"jti": "a", "why": "x"})).expect_err("unknown");
        assert_eq!(unknown.field.as_deref(), Some("why"));
        assert_eq!(serde_json::to_value(RevokeTokenRequest::Jti("a".into())).expect("json"), json!({"jti": "a"}));
    }
}

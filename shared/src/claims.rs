//! The JWT claim set that the agent writes and accepts (layer L0).
//!
//! Validation is stateless (docs/API.md §7): any token signed with the agent's
//! key whose claims have these names and types is honoured. Numeric dates must
//! be JSON numbers; `usage_limit` is absent when there is none.

use serde::{Deserialize, Serialize};

use crate::Scope;

/// The claims of a VANTA access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer; must equal the agent's `--issuer`.
    pub iss: String,
    /// Audience; must equal (or, as a list, contain) the agent's `--audience`.
    pub aud: Audience,
    /// Who the token was minted for.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Not valid before, seconds since the Unix epoch.
    pub nbf: u64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Unique token id; the key of the usage counter and of audit records.
    pub jti: String,
    /// What the token allows.
    pub scope: Scope,
    /// How many successful fetches the token allows; `None` means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_limit: Option<u64>,
}

/// The `aud` claim: RFC 7519 allows a single string or a list of strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience (what the agent writes).
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

// === impl Audience ===

impl Audience {
    /// Whether `expected` is (one of) the audience(s).
    pub fn contains(&self, expected: &str) -> bool {
        match self {
            Self::One(aud) => aud == expected,
            Self::Many(auds) => auds.iter().any(|aud| aud == expected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> serde_json::Value {
        serde_json::json!({
            "iss": "vanta-agent", "aud": "vanta-vault", "sub": "ci", "exp": 2000, "nbf": 1000,
            "iat": 1000, "jti": "abc",
            "scope": {"environment": "dev", "key_pattern": "*", "permissions": ["read"]}
        })
    }

    #[test]
    fn usage_limit_is_optional_and_omitted() {
        let claims: Claims = serde_json::from_value(sample()).expect("valid claims");
        assert_eq!(claims.usage_limit, None);
        let back = serde_json::to_value(&claims).expect("serialize");
        assert!(back.get("usage_limit").is_none());
    }

    #[test]
    fn wrong_types_are_refused() {
        for (field, bad) in [
            ("exp", serde_json::json!("2000")),
            ("nbf", serde_json::json!(1.5)),
            ("usage_limit", serde_json::json!("3")),
            ("scope", serde_json::json!("dev")),
            ("jti", serde_json::json!(5)),
        ] {
            let mut v = sample();
            v[field] = bad;
            assert!(serde_json::from_value::<Claims>(v).is_err(), "{field}");
        }
    }

    #[test]
    fn audience_may_be_a_list() {
        let mut v = sample();
        v["aud"] = serde_json::json!(["other", "vanta-vault"]);
        let claims: Claims = serde_json::from_value(v).expect("valid claims");
        assert!(claims.aud.contains("vanta-vault"));
        assert!(!claims.aud.contains("nope"));
    }
}

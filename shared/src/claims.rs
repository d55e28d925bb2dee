//! The JWT claim set that the agent writes and accepts (layer L0).
//!
//! Validation is stateless (docs/API.md §7): any token signed with the agent's
//! key whose claims have these names and types is honoured. Numeric dates must
//! be JSON numbers: RFC 7519 allows fractions (`time.time() + 600` in Python),
//! so a date is any finite, non-negative number, rounded towards the stricter
//! reading (see [`dates`]); `usage_limit` is absent when there is none.

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
    /// Expiry, seconds since the Unix epoch (a fraction is cut: the token
    /// ends up to a second early, never late).
    #[serde(deserialize_with = "dates::rounded_down")]
    pub exp: u64,
    /// Not valid before, seconds since the Unix epoch (a fraction rounds up:
    /// the token starts up to a second late, never early).
    #[serde(deserialize_with = "dates::rounded_up")]
    pub nbf: u64,
    /// Issued at, seconds since the Unix epoch (a fraction is cut: a token
    /// minted in the second of a revocation by subject counts as revoked).
    #[serde(deserialize_with = "dates::rounded_down")]
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

/// NumericDate claims (RFC 7519 §2): any finite JSON number from 0 up,
/// rounded to whole seconds in the direction that can only shorten a
/// token's life. Strings, negative numbers and other types are refused.
mod dates {
    use serde::Deserializer;
    use serde::de::{Error, Unexpected, Visitor};

    /// Which way a fraction of a second goes.
    #[derive(Clone, Copy)]
    enum Round {
        Down,
        Up,
    }

    struct Date(Round);

    impl Visitor<'_> for Date {
        type Value = u64;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a non-negative number of seconds since the Unix epoch")
        }

        fn visit_u64<E: Error>(self, seconds: u64) -> Result<u64, E> {
            Ok(seconds)
        }

        fn visit_i64<E: Error>(self, seconds: i64) -> Result<u64, E> {
            u64::try_from(seconds).map_err(|_| E::invalid_value(Unexpected::Signed(seconds), &self))
        }

        fn visit_f64<E: Error>(self, seconds: f64) -> Result<u64, E> {
            if !seconds.is_finite() || seconds < 0.0 {
                return Err(E::invalid_value(Unexpected::Float(seconds), &self));
            }
            let whole = match self.0 {
                Round::Down => seconds.floor(),
                Round::Up => seconds.ceil(),
            };
            // Saturates beyond u64::MAX seconds: as far away as any integer date.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(whole as u64)
        }
    }

    pub(super) fn rounded_down<'de, D: Deserializer<'de>>(value: D) -> Result<u64, D::Error> {
        value.deserialize_any(Date(Round::Down))
    }

    pub(super) fn rounded_up<'de, D: Deserializer<'de>>(value: D) -> Result<u64, D::Error> {
        value.deserialize_any(Date(Round::Up))
    }
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
            ("exp", serde_json::json!(-1)),
            ("nbf", serde_json::json!(-0.5)),
            ("iat", serde_json::json!(null)),
            ("nbf", serde_json::json!(true)),
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
    fn fractional_dates_are_honoured_and_round_towards_a_shorter_life() {
        let mut v = sample();
        v["exp"] = serde_json::json!(2000.9);
        v["nbf"] = serde_json::json!(1000.1);
        v["iat"] = serde_json::json!(1000.7);
        let claims: Claims = serde_json::from_value(v).expect("fractional dates are numbers");
        assert_eq!((claims.exp, claims.nbf, claims.iat), (2000, 1001, 1000));
        let mut v = sample();
        v["exp"] = serde_json::json!(2000.0);
        let claims: Claims = serde_json::from_str(&v.to_string()).expect("2000.0 is a number");
        assert_eq!(claims.exp, 2000);
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

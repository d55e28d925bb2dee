//! Environment names: the `E` of `E.enc.yaml` (layer L0).
//!
//! An environment name becomes part of a file name, so it is validated before
//! anything touches the file system: 1–64 characters of `[A-Za-z0-9_-]`, not
//! starting with `-` (docs/API.md §2). That rules out `..`, `/`, `%2F` and NUL.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A validated environment name. Can only be built through [`FromStr`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvName(String);

/// Why a string is not a valid environment name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvNameError {
    /// The name is empty.
    #[error("environment name is empty")]
    Empty,
    /// The name is longer than [`EnvName::MAX_LEN`].
    #[error("environment name is longer than 64 characters")]
    TooLong,
    /// The name starts with `-` (it would read as a flag).
    #[error("environment name must not start with '-'")]
    LeadingDash,
    /// The name contains a character outside `[A-Za-z0-9_-]`.
    #[error("environment name may only contain letters, digits, '_' and '-'")]
    BadChar,
}

// === impl EnvName ===

impl EnvName {
    /// Longest accepted name, in characters (all ASCII, so also bytes).
    pub const MAX_LEN: usize = 64;

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EnvName {
    type Err = EnvNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(EnvNameError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(EnvNameError::TooLong);
        }
        if s.starts_with('-') {
            return Err(EnvNameError::LeadingDash);
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(EnvNameError::BadChar);
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for EnvName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EnvName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_contract_names() {
        for ok in ["dev", "prod-eu", "a", "A_1", "x".repeat(64).as_str(), "9lives"] {
            assert!(ok.parse::<EnvName>().is_ok(), "{ok:?} should be valid");
        }
    }

    #[test]
    fn rejects_everything_else() {
        let cases = [
            ("", EnvNameError::Empty),
            ("-dev", EnvNameError::LeadingDash),
            ("..", EnvNameError::BadChar),
            ("a/b", EnvNameError::BadChar),
            ("a%2Fb", EnvNameError::BadChar),
            ("a\0b", EnvNameError::BadChar),
            ("dev.enc", EnvNameError::BadChar),
            ("dév", EnvNameError::BadChar),
            (" dev", EnvNameError::BadChar),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<EnvName>(), Err(want), "{input:?}");
        }
        assert_eq!("x".repeat(65).parse::<EnvName>(), Err(EnvNameError::TooLong));
    }
}

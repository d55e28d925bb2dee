//! Key patterns: the wildmatch glob in a token's scope (layer L0).
//!
//! `*` matches any run of characters including `/`, `?` exactly one; the
//! pattern is matched against the whole key path (docs/API.md §2). Patterns use
//! the key-path alphabet plus `*` and `?`; anything else (brackets, spaces,
//! quotes) is refused so that a pattern never means more than it shows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use wildmatch::WildMatch;

use crate::KeyPath;

/// A validated key pattern. Can only be built through [`FromStr`].
#[derive(Clone)]
pub struct KeyPattern {
    text: String,
    matcher: WildMatch,
}

/// Why a string is not a valid key pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyPatternError {
    /// The pattern is empty.
    #[error("key_pattern is empty")]
    Empty,
    /// The pattern is longer than [`KeyPath::MAX_LEN`] bytes.
    #[error("key_pattern is longer than 512 bytes")]
    TooLong,
    /// A character outside `[A-Za-z0-9_.-/*?]`.
    #[error("key_pattern may only contain letters, digits, '_', '.', '-', '/', '*' and '?'")]
    BadChar,
}

// === impl KeyPattern ===

impl KeyPattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the whole of `key` matches this pattern.
    pub fn matches(&self, key: &KeyPath) -> bool {
        self.matcher.matches(key.as_str())
    }

    /// Whether the whole of `raw` matches this pattern (for keys found while
    /// listing a tree, before they are known to be valid [`KeyPath`]s).
    pub fn matches_str(&self, raw: &str) -> bool {
        self.matcher.matches(raw)
    }

    /// Whether every key `requested` can match is provably matched by this
    /// pattern. Proven cases: this is `*`; the two are equal; `requested` is
    /// a literal key that this matches; this is a literal prefix followed by
    /// one `*` and `requested` starts with that prefix. Anything else is
    /// `false`, even if it might be narrower: a grant covers only what can be
    /// proved.
    pub fn covers(&self, requested: &KeyPattern) -> bool {
        let (allowed_text, requested_text) = (self.as_str(), requested.as_str());
        let is_literal = |p: &str| !p.contains(['*', '?']);
        if allowed_text == "*" || allowed_text == requested_text {
            return true;
        }
        if is_literal(requested_text) {
            return self.matches_str(requested_text);
        }
        match allowed_text.strip_suffix('*') {
            Some(prefix) if is_literal(prefix) => requested_text.starts_with(prefix),
            _ => false,
        }
    }
}

impl FromStr for KeyPattern {
    type Err = KeyPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(KeyPatternError::Empty);
        }
        if s.len() > KeyPath::MAX_LEN {
            return Err(KeyPatternError::TooLong);
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/' | b'*' | b'?');
        if !s.bytes().all(allowed) {
            return Err(KeyPatternError::BadChar);
        }
        Ok(Self { text: s.to_owned(), matcher: WildMatch::new(s) })
    }
}

impl PartialEq for KeyPattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for KeyPattern {}

impl fmt::Debug for KeyPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyPattern").field(&self.text).finish()
    }
}

impl fmt::Display for KeyPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for KeyPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for KeyPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> KeyPath {
        s.parse().expect("test key is valid")
    }

    fn pattern(s: &str) -> KeyPattern {
        s.parse().expect("test pattern is valid")
    }

    #[test]
    fn matches_like_the_contract_says() {
        let cases = [
            ("DATABASE_*", "DATABASE_URL", true),
            ("DATABASE_*", "DATABASE_", true),
            ("DATABASE_*", "API_KEYS/stripe", false),
            ("API_KEYS/*", "API_KEYS/stripe", true),
            ("API_KEYS/*", "API_KEYS/a/b", true),
            ("API_KEYS/*", "API_KEYS", false),
            ("*", "anything/at/all", true),
            ("DB_?", "DB_1", true),
            ("DB_?", "DB_12", false),
            ("DATABASE_URL", "DATABASE_URL", true),
            ("DATABASE_URL", "DATABASE_URL2", false),
            ("database_url", "DATABASE_URL", false),
        ];
        for (p, k, want) in cases {
            assert_eq!(pattern(p).matches(&key(k)), want, "{p} vs {k}");
        }
    }

    #[test]
    fn containment_is_proven_or_refused() {
        let cases = [
            ("*", "anything/*", true),
            ("DB_*", "DB_*", true),
            ("DB_*", "DB_URL", true),
            ("DB_*", "DB_PROD_*", true),
            ("DB_*", "DB_?", true),
            ("API_KEYS/*", "API_KEYS/stripe", true),
            ("DB_*", "*", false),
            ("DB_*", "D*", false),
            ("DB_*", "API_URL", false),
            ("DB_URL", "DB_*", false),
            ("DB_?", "DB_1", true),
            ("DB_?", "DB_?", true),
            ("DB_?", "DB_*", false),
            ("*_URL", "DB_*", false),
            ("*_URL", "DB_URL", true),
        ];
        for (allowed, requested, want) in cases {
            assert_eq!(pattern(allowed).covers(&pattern(requested)), want, "{allowed} ⊇ {requested}");
        }
    }

    #[test]
    fn rejects_bad_patterns() {
        assert_eq!("".parse::<KeyPattern>(), Err(KeyPatternError::Empty));
        assert_eq!("a[bc]".parse::<KeyPattern>(), Err(KeyPatternError::BadChar));
        assert_eq!("a b".parse::<KeyPattern>(), Err(KeyPatternError::BadChar));
        assert_eq!("*".repeat(513).parse::<KeyPattern>(), Err(KeyPatternError::TooLong));
    }
}

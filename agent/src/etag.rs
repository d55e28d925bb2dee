//! Entity tags of read answers, so a watcher can ask "changed?" cheaply
//! (layer L1; external crates only).
//!
//! A tag is an HMAC-SHA256, keyed with a random secret each agent draws at
//! start and never shows, over what the answer depends on: the environment
//! and every (key, value) pair the answer covers. Without the secret a tag
//! cannot be computed, so it tells a caller nothing about a value beyond
//! "same as before" or "different": no guess can be checked against it.
//! A new agent draws a new secret, so every tag changes once on a restart
//! (a watcher then fetches once and finds nothing new).
//! See docs/VAULT_ACCESS_SYSTEM_README.md, "Rotating secrets under a
//! running program".

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The agent's tag secret. No `Debug`: it is key material.
pub struct EtagKey {
    mac: Hmac<Sha256>,
}

/// A strong entity tag, quotes included, as sent in `ETag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ETag(String);

/// What one answer covers: a single value, or the key list of a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Covers {
    /// `GET /api/v1/vault/{env}/{key}`.
    Value,
    /// `GET /api/v1/vault/{env}`: every key in scope and its value.
    List,
}

/// Bytes of the tag secret.
const SECRET_BYTES: usize = 32;
/// Bytes of the MAC kept in a tag: 128 bits, plenty to tell versions apart.
const TAG_BYTES: usize = 16;

// === impl EtagKey ===

impl EtagKey {
    /// A key from the operating system's random source.
    pub fn random() -> Self {
        let mut secret = zeroize::Zeroizing::new([0u8; SECRET_BYTES]);
        rand::rngs::OsRng.fill_bytes(secret.as_mut());
        Self::from_secret(secret.as_ref())
    }

    fn from_secret(secret: &[u8]) -> Self {
        Self { mac: Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length") }
    }

    /// The tag of an answer about `env` covering `entries` (key, value), in
    /// the order the answer has them.
    pub fn tag<'a>(&self, covers: Covers, env: &str, entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> ETag {
        let mut mac = self.mac.clone();
        let kind: &[u8] = match covers {
            Covers::Value => b"value",
            Covers::List => b"list",
        };
        // Every field is length-prefixed, so no two inputs encode alike.
        let mut field = |bytes: &[u8]| {
            mac.update(&(bytes.len() as u64).to_be_bytes());
            mac.update(bytes);
        };
        field(kind);
        field(env.as_bytes());
        for (key, value) in entries {
            field(key.as_bytes());
            field(value.as_bytes());
        }
        let digest = mac.finalize().into_bytes();
        ETag(format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..TAG_BYTES])))
    }
}

// === impl ETag ===

impl ETag {
    /// The header value, quotes included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether an `If-None-Match` header value names this tag: `*`, or a
    /// comma-separated list of tags (weak ones compare weakly, RFC 9110).
    pub fn matched_by(&self, if_none_match: &str) -> bool {
        if_none_match
            .split(',')
            .map(str::trim)
            .any(|candidate| candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_change_with_any_covered_byte_and_with_the_key() {
        let key = EtagKey::from_secret(b"one");
        let tag = |covers, env, entries: &[(&str, &str)]| key.tag(covers, env, entries.iter().copied());
        let base = tag(Covers::Value, "dev", &[("A", "1")]);
        assert_eq!(base, tag(Covers::Value, "dev", &[("A", "1")]));
        for other in [
            tag(Covers::Value, "dev", &[("A", "2")]),
            tag(Covers::Value, "dev", &[("B", "1")]),
            tag(Covers::Value, "prod", &[("A", "1")]),
            tag(Covers::List, "dev", &[("A", "1")]),
            tag(Covers::Value, "dev", &[("A1", "")]),
            tag(Covers::Value, "dev", &[("A", "1"), ("B", "")]),
        ] {
            assert_ne!(base, other);
        }
        assert_ne!(base, EtagKey::from_secret(b"two").tag(Covers::Value, "dev", [("A", "1")]));
        assert_ne!(EtagKey::random().tag(Covers::List, "dev", []), EtagKey::random().tag(Covers::List, "dev", []));
    }

    #[test]
    fn tags_are_quoted_and_hide_the_value() {
        let tag = EtagKey::from_secret(b"k").tag(Covers::Value, "dev", [("A", "hunter2")]);
        assert!(tag.as_str().starts_with('"') && tag.as_str().ends_with('"') && tag.as_str().len() == 24);
        assert!(!tag.as_str().contains("hunter2"));
    }

    #[test]
    fn if_none_match_lists_wildcards_and_weak_tags() {
        let tag = EtagKey::from_secret(b"k").tag(Covers::List, "dev", []);
        let quoted = tag.as_str();
        assert!(tag.matched_by(quoted));
        assert!(tag.matched_by("*"));
        assert!(tag.matched_by(&format!("\"x\", W/{quoted}")));
        assert!(!tag.matched_by("\"x\""));
        assert!(!tag.matched_by(quoted.trim_matches('"')));
        assert!(!tag.matched_by(""));
    }
}

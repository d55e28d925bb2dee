//! Tokens verified recently (part of `token`, layer L1).
//!
//! A client sends the same token on every fetch. Its signature and claims
//! give the same answer for the same bytes under the same keys, so a token
//! that passed every check is remembered with its parsed claims, keyed by
//! the whole token text: the next request with exactly those bytes skips the
//! base64 decoding, the HMAC and the JSON parsing (measured in
//! docs/PERFORMANCE.md). What depends on the moment (`exp`, `nbf`, `iat`)
//! and the issuer and audience are checked again on every use; revocation and
//! usage limits are checked by the vault after validation, as before. Only
//! tokens that passed are kept, at most [`CAPACITY`] of them: a full memo is
//! emptied, so memory stays bounded whatever tokens callers present. A
//! bearer token is not kept in memory past its use: one found expired is
//! forgotten at once, and the agent's housekeeping forgets every expired one
//! every few seconds ([`Recent::forget_expired`]), and the memory of a
//! forgotten token is wiped ([`Remembered`]).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use vanta_shared::Claims;
use zeroize::Zeroizing;

/// Verified tokens and their claims. Holds bearer tokens, so it has no `Debug`.
#[derive(Default)]
pub(super) struct Recent {
    tokens: Mutex<HashMap<Remembered, Arc<Claims>>>,
}

/// A remembered token's text, overwritten with zeros when it is forgotten
/// (expiry, or a full memo emptied), so freed memory holds no bearer token.
/// Hashes and compares as the `str` it holds, so the memo is looked up by
/// the request's `&str`.
#[derive(PartialEq, Eq)]
struct Remembered(Zeroizing<Box<str>>);

/// Most tokens remembered (a sidecar serves the few processes of its pod).
pub(super) const CAPACITY: usize = 256;

// === impl Remembered ===

impl Borrow<str> for Remembered {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// As `str` hashes, which `Borrow<str>` requires.
impl Hash for Remembered {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let text: &str = &self.0;
        text.hash(state);
    }
}

// === impl Recent ===

impl Recent {
    /// The claims of `token`, if it passed every check before.
    pub(super) fn get(&self, token: &str) -> Option<Arc<Claims>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner).get(token).cloned()
    }

    /// Remembers `token`, which has just passed every check.
    pub(super) fn insert(&self, token: &str, claims: Arc<Claims>) {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens.len() >= CAPACITY {
            tokens.clear();
        }
        tokens.insert(Remembered(Zeroizing::new(token.into())), claims);
    }

    /// Forgets `token` (it was found expired).
    pub(super) fn forget(&self, token: &str) {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner).remove(token);
    }

    /// Forgets every token whose `exp` is at or before `expired_at` (Unix
    /// seconds); returns how many went.
    pub(super) fn forget_expired(&self, expired_at: u64) -> usize {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        let before = tokens.len();
        tokens.retain(|_, claims| claims.exp > expired_at);
        before - tokens.len()
    }

    /// How many tokens are remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_token_is_found_by_its_text_and_wiped_when_dropped() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
        let remembered = Remembered(Zeroizing::new("header.payload.signature".into()));
        wiped_on_drop(&remembered.0);
        let mut tokens = HashMap::new();
        tokens.insert(remembered, ());
        assert!(tokens.contains_key("header.payload.signature"));
        assert!(!tokens.contains_key("header.payload.signaturE"));
    }
}

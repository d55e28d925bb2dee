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
//! every few seconds ([`Recent::forget_expired`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use vanta_shared::Claims;

/// Verified tokens and their claims. Holds bearer tokens, so it has no `Debug`.
#[derive(Default)]
pub(super) struct Recent {
    tokens: Mutex<HashMap<Box<str>, Arc<Claims>>>,
}

/// Most tokens remembered (a sidecar serves the few processes of its pod).
pub(super) const CAPACITY: usize = 256;

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
        tokens.insert(token.into(), claims);
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

//! Validating tokens (TokenValidator): compact JWS in, [`VerifiedClaims`] out.
//!
//! The header is checked before the signature and the signature before the
//! claims are trusted. `alg` is pinned to HS256; header parameters that try to
//! bring their own key (`jku`, `jwk`, `x5u`, `x5c`) or demand extensions
//! (`crit`) are refused. Every failure has a precise [`InvalidToken`] reason
//! for the audit log; callers answer all of them with the same 401.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use vanta_shared::Claims;

use super::JwtKeys;

/// Checks tokens against the agent's keys, issuer and audience.
pub struct TokenValidator {
    keys: Arc<JwtKeys>,
    issuer: String,
    audience: String,
    leeway: Duration,
}

/// Claims of a token whose signature and dates have been checked. Only
/// [`TokenValidator::validate`] makes them.
#[derive(Debug, Clone)]
pub struct VerifiedClaims(Claims);

/// Why a token was refused. Shown in the audit record, never to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    /// Over [`MAX_TOKEN_BYTES`].
    #[error("token is too long")]
    TooLong,
    /// Not three base64url parts, or a part is not JSON.
    #[error("token is malformed")]
    Malformed,
    /// `alg` is not HS256.
    #[error("token algorithm is not HS256")]
    Algorithm,
    /// A header parameter we refuse (`jku`, `jwk`, `x5u`, `x5c`, `crit`, ...).
    #[error("token header has a forbidden parameter")]
    ForbiddenHeader,
    /// The `kid` names no key we have.
    #[error("token key id is unknown")]
    UnknownKey,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    Signature,
    /// A required claim is missing, duplicated or of the wrong type.
    #[error("token claims are missing or of the wrong type")]
    Claims,
    /// `exp` is in the past.
    #[error("token has expired")]
    Expired,
    /// `nbf` (or `iat`) is in the future.
    #[error("token is not yet valid")]
    NotYetValid,
    /// `iss` is not ours.
    #[error("token issuer is wrong")]
    Issuer,
    /// `aud` does not name us.
    #[error("token audience is wrong")]
    Audience,
}

/// Longest token accepted, in bytes; ours are well under 1 KiB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Header parameters that would let a token choose its own key or semantics.
const FORBIDDEN_HEADERS: [&str; 7] = ["jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit"];

// === impl VerifiedClaims ===

impl VerifiedClaims {
    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.0
    }
}

// === impl TokenValidator ===

impl TokenValidator {
    /// A validator requiring `iss` = `issuer` and `aud` containing `audience`,
    /// tolerating `leeway` of clock skew on `exp`, `nbf` and `iat`.
    pub fn new(keys: Arc<JwtKeys>, issuer: String, audience: String, leeway: Duration) -> Self {
        Self { keys, issuer, audience, leeway }
    }

    /// Checks `token` at time `now`.
    ///
    /// # Errors
    /// The precise [`InvalidToken`] reason.
    pub fn validate(&self, token: &str, now: SystemTime) -> Result<VerifiedClaims, InvalidToken> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(InvalidToken::TooLong);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidToken::Malformed);
        };
        let header = decode_header(header_b64)?;
        let kid = check_header(&header)?;
        let key = self.keys.for_kid(kid).ok_or(InvalidToken::UnknownKey)?;
        let signature = decode_part(sig_b64)?;
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        if !key.verifies(signing_input.as_bytes(), &signature) {
            return Err(InvalidToken::Signature);
        }
        let claims: Claims = serde_json::from_slice(&decode_part(payload_b64)?).map_err(|_| InvalidToken::Claims)?;
        self.check_claims(&claims, now)?;
        Ok(VerifiedClaims(claims))
    }

    fn check_claims(&self, claims: &Claims, now: SystemTime) -> Result<(), InvalidToken> {
        let now = now.duration_since(UNIX_EPOCH).map_err(|_| InvalidToken::Expired)?.as_secs();
        let leeway = self.leeway.as_secs();
        if claims.exp.saturating_add(leeway) <= now {
            return Err(InvalidToken::Expired);
        }
        if claims.nbf > now.saturating_add(leeway) || claims.iat > now.saturating_add(leeway) {
            return Err(InvalidToken::NotYetValid);
        }
        if claims.iss != self.issuer {
            return Err(InvalidToken::Issuer);
        }
        if !claims.aud.contains(&self.audience) {
            return Err(InvalidToken::Audience);
        }
        Ok(())
    }
}

fn decode_part(part: &str) -> Result<Vec<u8>, InvalidToken> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| InvalidToken::Malformed)
}

fn decode_header(part: &str) -> Result<Map<String, Value>, InvalidToken> {
    serde_json::from_slice(&decode_part(part)?).map_err(|_| InvalidToken::Malformed)
}

/// Pins the algorithm, refuses key-bringing parameters, returns the `kid`.
fn check_header(header: &Map<String, Value>) -> Result<Option<&str>, InvalidToken> {
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(InvalidToken::Algorithm);
    }
    if FORBIDDEN_HEADERS.iter().any(|name| header.contains_key(*name)) {
        return Err(InvalidToken::ForbiddenHeader);
    }
    match header.get("kid") {
        None => Ok(None),
        Some(Value::String(kid)) => Ok(Some(kid)),
        Some(_) => Err(InvalidToken::Malformed),
    }
}

#[cfg(test)]
mod tests;

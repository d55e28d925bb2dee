//! Validating tokens (TokenValidator): compact JWS in, [`VerifiedClaims`] out.
//!
//! The header is checked before the signature and the signature before the
//! claims are trusted. `alg` is pinned to HS256; header parameters that try to
//! bring their own key (`jku`, `jwk`, `x5u`, `x5c`) or demand extensions
//! (`crit`) are refused. Every failure has a precise [`InvalidToken`] reason
//! for the audit log; callers answer all of them with the same 401.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use vanta_shared::Claims;

use self::recent::Recent;
use super::JwtKeys;

/// Checks tokens against the agent's keys, issuer and audience.
pub struct TokenValidator {
    keys: Arc<JwtKeys>,
    issuer: String,
    audience: String,
    leeway: Duration,
    recent: Recent,
}

/// Claims of a token whose signature and dates have been checked. Only
/// [`TokenValidator::validate`] makes them.
#[derive(Debug, Clone)]
pub struct VerifiedClaims(Arc<Claims>);

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
    /// The `kid` names no key we have, and the current key does not verify
    /// the signature either.
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

/// The JOSE header, parsed without copying: `alg` and `kid` stay slices of
/// the decoded header, other parameters are skipped. The parameters that
/// would let a token choose its own key or semantics (`jku`, `jwk`, `x5u`,
/// `x5c`, `x5t`, `x5t#S256`, `crit`) are only noted as present, whatever
/// their value (even `null`). A parameter given twice makes the header
/// malformed (RFC 7515 §4 allows refusing it).
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow, default)]
    alg: Option<&'a RawValue>,
    /// Kept as given even when `null` (Option alone would read `null` as
    /// absent): a `kid` that is not a string is refused.
    #[serde(borrow, default, deserialize_with = "given")]
    kid: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
    #[serde(default, deserialize_with = "present")]
    x5t: bool,
    #[serde(default, rename = "x5t#S256", deserialize_with = "present")]
    x5t_s256: bool,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

/// The one `alg` accepted, as JSON text.
const HS256: &str = "\"HS256\"";

/// Longest signature decoded; an HS256 signature has 32 bytes.
const MAX_SIGNATURE_BYTES: usize = 64;

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
        Self { keys, issuer, audience, leeway, recent: Recent::default() }
    }

    /// Checks `token` at time `now`. A token that passed before with these
    /// exact bytes skips the signature check and the parse (`validate/recent.rs`), not
    /// the checks of its dates, issuer and audience.
    ///
    /// # Errors
    /// The precise [`InvalidToken`] reason.
    pub fn validate(&self, token: &str, now: SystemTime) -> Result<VerifiedClaims, InvalidToken> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(InvalidToken::TooLong);
        }
        if let Some(claims) = self.recent.get(token) {
            let checked = self.check_claims(&claims, now);
            if checked == Err(InvalidToken::Expired) {
                self.recent.forget(token);
            }
            return checked.map(|()| VerifiedClaims(claims));
        }
        let claims = Arc::new(self.verify(token)?);
        self.check_claims(&claims, now)?;
        self.recent.insert(token, Arc::clone(&claims));
        Ok(VerifiedClaims(claims))
    }

    /// Forgets the remembered tokens that have expired by `now` (leeway
    /// included), so no bearer token stays in memory long past its life.
    /// Returns how many went.
    pub fn forget_expired(&self, now: SystemTime) -> usize {
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        self.recent.forget_expired(now.saturating_sub(self.leeway.as_secs()))
    }

    /// Checks the header and the signature; the claims, parsed, on success.
    fn verify(&self, token: &str) -> Result<Claims, InvalidToken> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidToken::Malformed);
        };
        let header = decode_part(header_b64)?;
        let kid = check_header(&header)?;
        let (key, named) = self.keys.for_kid(kid.as_deref());
        let mut signature = [0; MAX_SIGNATURE_BYTES];
        // Too long for HS256 cannot verify; bad base64 is malformed.
        let signature = match URL_SAFE_NO_PAD.decode_slice(sig_b64, &mut signature) {
            Ok(len) => &signature[..len],
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => return Err(InvalidToken::Signature),
            Err(base64::DecodeSliceError::DecodeError(_)) => return Err(InvalidToken::Malformed),
        };
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        if !key.verifies(signing_input.as_bytes(), signature) {
            return Err(if kid.is_some() && !named { InvalidToken::UnknownKey } else { InvalidToken::Signature });
        }
        serde_json::from_slice(&decode_part(payload_b64)?).map_err(|_| InvalidToken::Claims)
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

/// Pins the algorithm, refuses key-bringing parameters, returns the `kid`
/// (borrowed from `header` unless it has escapes).
fn check_header(header: &[u8]) -> Result<Option<Cow<'_, str>>, InvalidToken> {
    let header: Header<'_> = serde_json::from_slice(header).map_err(|_| InvalidToken::Malformed)?;
    // Compared as JSON text: an escaped spelling of HS256 is refused too.
    if header.alg.map(RawValue::get) != Some(HS256) {
        return Err(InvalidToken::Algorithm);
    }
    let forbidden = [header.jku, header.jwk, header.x5u, header.x5c, header.x5t, header.x5t_s256, header.crit];
    if forbidden.contains(&true) {
        return Err(InvalidToken::ForbiddenHeader);
    }
    match header.kid {
        None => Ok(None),
        Some(kid) => match serde_json::from_str::<&str>(kid.get()) {
            Ok(kid) => Ok(Some(Cow::Borrowed(kid))),
            Err(_) => {
                serde_json::from_str(kid.get()).map(|kid| Some(Cow::Owned(kid))).map_err(|_| InvalidToken::Malformed)
            }
        },
    }
}

/// The parameter's JSON text, whatever it is (even `null`).
fn given<'de, D: Deserializer<'de>>(value: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(value).map(Some)
}

/// Deserializes any value (even `null`) as "the parameter is present".
fn present<'de, D: Deserializer<'de>>(value: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(value).map(|_| true)
}

mod recent;

#[cfg(test)]
mod tests;

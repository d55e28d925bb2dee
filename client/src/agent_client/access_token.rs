//! Bearer tokens as the client holds them (client leaf layer, part of
//! `agent_client`): checked to fit a header, wiped on drop, never shown.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::header;
use vanta_shared::Claims;
use zeroize::Zeroizing;

/// A bearer token. Its text is wiped from memory on drop and never shown.
#[derive(Clone)]
pub(crate) struct AccessToken(Zeroizing<String>);

/// Why a string is not usable as a bearer token. Never contains the string.
#[derive(Debug, thiserror::Error)]
#[error("the token is empty or contains spaces or non-printable characters")]
pub(crate) struct BadToken;

// === impl AccessToken ===

impl AccessToken {
    /// Checks that `raw` can go into an `Authorization` header.
    ///
    /// # Errors
    /// [`BadToken`] if it is empty or has characters outside printable ASCII.
    pub(crate) fn new(raw: String) -> Result<Self, BadToken> {
        let raw = Zeroizing::new(raw);
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BadToken);
        }
        Ok(Self(raw))
    }

    /// The token's text, for `--pass-token` only.
    pub(crate) fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// The `exp` claim (Unix seconds) read from the JWT payload without
    /// checking the signature: for telling the user, never for deciding.
    pub(crate) fn expires_at(&self) -> Option<i64> {
        self.claim("exp")?.as_i64()
    }

    /// The `usage_limit` claim, read like [`Self::expires_at`]: for refusing
    /// early what the agent would refuse, never for allowing.
    pub(crate) fn usage_limit(&self) -> Option<u64> {
        self.claim("usage_limit")?.as_u64()
    }

    /// One claim of the unverified JWT payload.
    fn claim(&self, name: &str) -> Option<serde_json::Value> {
        let mut claims: serde_json::Value = serde_json::from_slice(&self.payload()?).ok()?;
        Some(claims.get_mut(name)?.take())
    }

    /// The VANTA claims read from the JWT payload without checking the
    /// signature: for explaining a refusal, never for deciding.
    pub(crate) fn claims(&self) -> Option<Claims> {
        serde_json::from_slice(&self.payload()?).ok()
    }

    /// The decoded JWT payload (JSON), wiped on drop.
    fn payload(&self) -> Option<Zeroizing<Vec<u8>>> {
        let payload = self.0.split('.').nth(1)?;
        URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok().map(Zeroizing::new)
    }

    /// `Bearer <token>`, marked sensitive so that hyper never logs it.
    pub(super) fn header_value(&self) -> header::HeaderValue {
        let bearer = Zeroizing::new(format!("Bearer {}", self.0.as_str()));
        // Checked in `new`: printable ASCII is always a valid header value.
        let mut value =
            header::HeaderValue::from_str(&bearer).unwrap_or_else(|_| header::HeaderValue::from_static("Bearer"));
        value.set_sensitive(true);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_must_fit_a_header() {
        assert!(AccessToken::new("eyJ.abc.def".to_owned()).is_ok());
        for bad in ["", "a b", "abc\n", "é", "a\0"] {
            assert!(AccessToken::new(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_expiry_is_read_from_the_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"ci","exp":1893553445}"#);
        let token = AccessToken::new(format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig")).expect("valid");
        assert_eq!(token.expires_at(), Some(1_893_553_445));
        for opaque in ["opaque", "a.!!!.c", "a.e30.c"] {
            assert_eq!(AccessToken::new(opaque.to_owned()).expect("valid").expires_at(), None, "{opaque}");
        }
    }
}

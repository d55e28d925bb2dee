//! Minting tokens (VaultTokenAgent): claims in, signed HS256 JWT out.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jws::JwsHeader;
use josekit::jwt::{self, JwtPayload};
use rand::RngCore;
use rand::rngs::OsRng;
use vanta_shared::claims::Audience;
use vanta_shared::{Claims, Scope};

use super::{JwtKeyError, JwtKeys};

/// Signs new tokens with the current key.
pub struct TokenIssuer {
    keys: Arc<JwtKeys>,
    issuer: String,
    audience: String,
}

/// What a token is minted for.
pub struct MintRequest {
    /// `sub`.
    pub subject: String,
    /// `scope`.
    pub scope: Scope,
    /// Lifetime from now.
    pub ttl: Duration,
    /// `usage_limit`, absent when `None`.
    pub usage_limit: Option<u64>,
}

/// A freshly signed token. The compact form is a credential, so no `Debug`.
pub struct IssuedToken {
    /// The compact JWS.
    pub compact: String,
    /// The claims it carries.
    pub claims: Claims,
}

/// Why a token could not be signed (never expected with a valid key).
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The system clock is before 1970.
    #[error("failed to read the system clock")]
    Clock,
    /// The claims did not serialize to a JSON object.
    #[error("failed to encode the token claims")]
    Encode,
    /// josekit could not encode or sign.
    #[error("failed to sign the token")]
    Sign(#[source] josekit::JoseError),
    /// josekit refused the signing key at its first use.
    #[error("failed to sign the token")]
    Key(#[source] JwtKeyError),
}

/// Bytes of randomness in a `jti` (128 bits, CSPRNG).
const JTI_BYTES: usize = 16;

// === impl TokenIssuer ===

impl TokenIssuer {
    /// An issuer writing `iss` = `issuer` and `aud` = `audience`.
    pub fn new(keys: Arc<JwtKeys>, issuer: String, audience: String) -> Self {
        Self { keys, issuer, audience }
    }

    /// Mints a token valid from `now` for `request.ttl`.
    ///
    /// # Errors
    /// [`IssueError`] if the clock is unusable or signing fails.
    pub fn issue(&self, request: MintRequest, now: SystemTime) -> Result<IssuedToken, IssueError> {
        let iat = now.duration_since(UNIX_EPOCH).map_err(|_| IssueError::Clock)?.as_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: Audience::One(self.audience.clone()),
            sub: request.subject,
            exp: iat.saturating_add(request.ttl.as_secs()),
            nbf: iat,
            iat,
            jti: new_jti(),
            scope: request.scope,
            usage_limit: request.usage_limit,
        };
        let compact = self.sign(&claims)?;
        Ok(IssuedToken { compact, claims })
    }

    fn sign(&self, claims: &Claims) -> Result<String, IssueError> {
        let key = self.keys.current();
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(key.kid());
        let Ok(serde_json::Value::Object(map)) = serde_json::to_value(claims) else {
            return Err(IssueError::Encode);
        };
        let payload = JwtPayload::from_map(map).map_err(IssueError::Sign)?;
        let signer = key.signer().map_err(IssueError::Key)?;
        jwt::encode_with_signer(&payload, &header, signer).map_err(IssueError::Sign)
    }
}

fn new_jti() -> String {
    let mut bytes = [0u8; JTI_BYTES];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use secrecy::SecretSlice;

    use super::*;
    use crate::token::JwtKey;

    pub(crate) fn issuer() -> TokenIssuer {
        let key = JwtKey::new(SecretSlice::from(vec![9u8; 32])).expect("key");
        TokenIssuer::new(Arc::new(JwtKeys::new(key, vec![])), "vanta-agent".into(), "vanta-vault".into())
    }

    fn request(limit: Option<u64>) -> MintRequest {
        MintRequest {
            subject: "ci".into(),
            scope: Scope::read_only("dev".parse().expect("env"), "DB_*".parse().expect("pattern")),
            ttl: Duration::from_secs(900),
            usage_limit: limit,
        }
    }

    #[test]
    fn claims_follow_the_contract() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let token = issuer().issue(request(Some(3)), now).expect("issue");
        let c = &token.claims;
        assert_eq!((c.iat, c.nbf, c.exp), (1_000_000, 1_000_000, 1_000_900));
        assert_eq!(c.usage_limit, Some(3));
        assert_eq!(token.compact.split('.').count(), 3);
    }

    #[test]
    fn jti_is_unique_and_long_enough() {
        let jtis: HashSet<String> = (0..1000).map(|_| new_jti()).collect();
        assert_eq!(jtis.len(), 1000);
        assert!(jtis.iter().all(|j| j.len() == 22));
    }
}

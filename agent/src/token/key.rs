//! HS256 keys: the current signing key and the previous ones still accepted.
//!
//! Each key has a `kid`, a short hash of the key that names it in token
//! headers without revealing it, so that tokens signed before a rotation keep
//! working until they expire.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use josekit::jws::{HS256, alg::hmac::HmacJwsSigner};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};

/// One HS256 key. Holds key material, so it has no `Debug`.
pub struct JwtKey {
    /// The key, for the signer; zeroized when the key is dropped.
    secret: SecretSlice<u8>,
    /// josekit's signer (an OpenSSL `PKey`), made at the first signature:
    /// OpenSSL's set-up touches about 1.9 MiB more of `libcrypto`, which an
    /// agent that only serves fetches never needs (W4 in docs/PERFORMANCE.md).
    signer: OnceLock<HmacJwsSigner>,
    /// HMAC-SHA256 with the key schedule computed once, cloned per check.
    /// Verification does not go through josekit: its HMAC verifier compares
    /// with `!=` (not constant time), and OpenSSL 3 sets up a new context
    /// under global locks for every call (see docs/PERFORMANCE.md).
    mac: Hmac<Sha256>,
    kid: String,
}

/// The keys the agent signs and verifies with.
pub struct JwtKeys {
    current: JwtKey,
    previous: Vec<JwtKey>,
}

/// Why key material was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwtKeyError {
    /// Shorter than [`JwtKey::MIN_LEN`] bytes.
    #[error("the JWT key is {len} bytes long; at least 32 bytes are required")]
    TooShort {
        /// The length found (never the key itself).
        len: usize,
    },
    /// josekit (OpenSSL) refused the key when it was first used to sign.
    #[error("failed to load the JWT key")]
    Load(#[source] josekit::JoseError),
}

// === impl JwtKey ===

impl JwtKey {
    /// Shortest accepted key, in bytes (HS256 wants at least its output size).
    pub const MIN_LEN: usize = 32;

    /// Loads a key from raw bytes.
    ///
    /// # Errors
    /// [`JwtKeyError::TooShort`] for keys under 32 bytes.
    pub fn new(secret: SecretSlice<u8>) -> Result<Self, JwtKeyError> {
        let bytes = secret.expose_secret();
        if bytes.len() < Self::MIN_LEN {
            return Err(JwtKeyError::TooShort { len: bytes.len() });
        }
        let mac = Hmac::<Sha256>::new_from_slice(bytes).map_err(|_| JwtKeyError::TooShort { len: bytes.len() })?;
        let kid = key_id(bytes);
        Ok(Self { secret, signer: OnceLock::new(), mac, kid })
    }

    /// The key id written into token headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// josekit's signer for this key, made at the first call.
    ///
    /// # Errors
    /// [`JwtKeyError::Load`] if josekit refuses the key.
    pub(crate) fn signer(&self) -> Result<&HmacJwsSigner, JwtKeyError> {
        if let Some(signer) = self.signer.get() {
            return Ok(signer);
        }
        let signer = HS256.signer_from_bytes(self.secret.expose_secret()).map_err(JwtKeyError::Load)?;
        // Two first signatures at once each make one; the first stored wins.
        Ok(self.signer.get_or_init(|| signer))
    }

    /// Whether `signature` is the HS256 MAC of `message` under this key,
    /// compared in constant time.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.mac.clone().chain_update(message).verify_slice(signature).is_ok()
    }
}

/// A short, public name for a key: the first 8 bytes of a domain-separated
/// SHA-256 of it. Reveals nothing useful about a 32-byte random key.
fn key_id(key: &[u8]) -> String {
    let digest = Sha256::new().chain_update(b"vanta-jwt-kid:").chain_update(key).finalize();
    URL_SAFE_NO_PAD.encode(&digest[..8])
}

// === impl JwtKeys ===

impl JwtKeys {
    /// The current key signs; previous keys are still accepted for validation.
    pub fn new(current: JwtKey, previous: Vec<JwtKey>) -> Self {
        Self { current, previous }
    }

    /// The key that signs new tokens.
    pub fn current(&self) -> &JwtKey {
        &self.current
    }

    /// The key a token with this `kid` is checked against, and whether the
    /// `kid` named it: the key it names, or else the current key. A token
    /// without `kid`, or with one we do not know (a token signed elsewhere
    /// with the agent's key under a name of its own), is checked against
    /// the current key: docs/API.md §7 keeps validation stateless.
    pub fn for_kid(&self, kid: Option<&str>) -> (&JwtKey, bool) {
        let named = kid.and_then(|kid| std::iter::once(&self.current).chain(&self.previous).find(|k| k.kid == kid));
        (named.unwrap_or(&self.current), named.is_some())
    }
}

#[cfg(test)]
mod tests {
    use josekit::jws::JwsSigner;

    use super::*;

    pub(crate) fn key(byte: u8) -> JwtKey {
        JwtKey::new(SecretSlice::from(vec![byte; 32])).expect("32-byte key")
    }

    #[test]
    fn short_keys_are_refused_without_echoing_them() {
        let err = JwtKey::new(SecretSlice::from(b"short-secret".to_vec())).err().expect("too short");
        let text = err.to_string();
        assert!(text.contains("12 bytes"), "{text}");
        assert!(!text.contains("short-secret"));
    }

    #[test]
    fn kid_is_stable_and_does_not_contain_the_key() {
        let (a, b) = (key(1), key(2));
        assert_eq!(a.kid(), key(1).kid());
        assert_ne!(a.kid(), b.kid());
        assert_eq!(a.kid().len(), 11);
    }

    #[test]
    fn lookup_by_kid_covers_previous_keys() {
        let keys = JwtKeys::new(key(1), vec![key(2)]);
        let named = |kid: Option<&str>| keys.for_kid(kid).0.kid().to_owned();
        let previous = key(2).kid().to_owned();
        assert_eq!(named(None), key(1).kid());
        assert_eq!(named(Some(&previous)), previous);
        assert_eq!(named(Some("unknown")), key(1).kid(), "an unknown kid is checked against the current key");
        assert!(keys.for_kid(Some(&previous)).1 && !keys.for_kid(Some("unknown")).1 && !keys.for_kid(None).1);
    }

    #[test]
    fn what_josekit_signs_the_verifier_accepts() {
        let k = key(3);
        for message in [&b""[..], b"a", b"header.payload", &[0u8; 1000]] {
            let sig = k.signer().expect("signer").sign(message).expect("sign");
            assert!(k.verifies(message, &sig));
        }
    }

    #[test]
    fn the_signer_is_made_at_the_first_signature_and_only_once() {
        let k = key(4);
        let sig = k.mac.clone().chain_update(b"m").finalize().into_bytes();
        assert!(k.verifies(b"m", &sig));
        assert!(k.signer.get().is_none(), "verifying needs no OpenSSL");
        let first: *const HmacJwsSigner = k.signer().expect("signer");
        let again: *const HmacJwsSigner = k.signer().expect("signer");
        assert!(std::ptr::eq(first, again), "made once, then kept");
    }

    #[test]
    fn verification_is_exact() {
        let k = key(7);
        let sig = k.signer().expect("signer").sign(b"msg").expect("sign");
        assert!(k.verifies(b"msg", &sig));
        assert!(!k.verifies(b"msg2", &sig));
        assert!(!k.verifies(b"msg", &sig[..31]));
    }
}

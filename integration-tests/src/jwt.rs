//! JWTs made and read by the tests themselves (harness).
//!
//! Signs with `hmac` + `sha2` directly, independent of the agent's JOSE
//! library, so that a token the agent accepts is proof of stateless
//! validation (docs/API.md §7), and so tests can forge every kind of bad token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The HS256 key every [`crate::agent::TestAgent`] is started with (40 bytes).
pub const TEST_JWT_KEY: &str = "vanta-integration-test-key-0123456789abc";

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_secs()
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `claims` with `alg` (`HS256`, `HS384`, `HS512` or `none`) and `key`.
///
/// # Panics
/// On an algorithm this helper does not know.
pub fn sign_alg(alg: &str, key: &[u8], claims: &Value) -> String {
    let header = json!({"alg": alg, "typ": "JWT"});
    let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let signature = match alg {
        "HS256" => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(signing_input.as_bytes());
            b64(&mac.finalize().into_bytes())
        }
        "HS384" => {
            let mut mac = Hmac::<Sha384>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(signing_input.as_bytes());
            b64(&mac.finalize().into_bytes())
        }
        "HS512" => {
            let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(signing_input.as_bytes());
            b64(&mac.finalize().into_bytes())
        }
        "none" => String::new(),
        other => panic!("sign_alg does not know {other}"),
    };
    format!("{signing_input}.{signature}")
}

/// Signs `claims` with HS256 and the test key, as the agent would.
pub fn sign(claims: &Value) -> String {
    sign_alg("HS256", TEST_JWT_KEY.as_bytes(), claims)
}

/// The HS256 MAC of `input` under `key`, base64url.
pub fn hs256(key: &[u8], input: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(input.as_bytes());
    b64(&mac.finalize().into_bytes())
}

/// `header_b64.payload_b64` plus its HS256 signature under `key`: the parts
/// are used exactly as given, so tests can sign deliberately odd encodings.
pub fn sign_parts(header_b64: &str, payload_b64: &str, key: &[u8]) -> String {
    let input = format!("{header_b64}.{payload_b64}");
    let signature = hs256(key, &input);
    format!("{input}.{signature}")
}

/// An HS256 token with exactly this header and payload JSON text (duplicate
/// keys and odd types survive), signed with `key`.
pub fn sign_json_text(header: &str, payload: &str, key: &[u8]) -> String {
    sign_parts(&b64(header.as_bytes()), &b64(payload.as_bytes()), key)
}

/// An HS256 token with `header` (whatever `alg` it claims), signed with `key`.
pub fn sign_with_header(header: &Value, claims: &Value, key: &[u8]) -> String {
    sign_json_text(&header.to_string(), &claims.to_string(), key)
}

/// The key id the agent gives `key`: base64url (no padding) of the first
/// 8 bytes of SHA-256(`"vanta-jwt-kid:"` ‖ key).
pub fn kid(key: &[u8]) -> String {
    let digest = Sha256::new().chain_update(b"vanta-jwt-kid:").chain_update(key).finalize();
    b64(&digest[..8])
}

/// Whether `token`'s HS256 signature is valid for `key`.
pub fn verify_hs256(token: &str, key: &[u8]) -> bool {
    let Some((signing_input, signature)) = token.rsplit_once('.') else { return false };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&signature).is_ok()
}

/// Decodes part `index` (0 header, 1 payload) of a JWT as JSON.
///
/// # Panics
/// If the token is not three base64url JSON parts.
pub fn decode_part(token: &str, index: usize) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let bytes = URL_SAFE_NO_PAD.decode(parts[index]).expect("JWT parts are base64url without padding");
    serde_json::from_slice(&bytes).expect("JWT header and payload are JSON")
}

/// A fresh `jti`, unique within this test process.
pub fn fresh_jti() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_nanos();
    format!("it-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Valid claims for `environment` and `key_pattern` with the default issuer
/// and audience, valid from a minute ago for ten minutes, issued now (a
/// limited token issued before the agent's usage store was created is
/// refused: docs/VAULT_ACCESS_SYSTEM_README.md, "Usage limits").
pub fn claims(environment: &str, key_pattern: &str) -> Value {
    let now = now();
    json!({
        "iss": "vanta-agent",
        "aud": "vanta-vault",
        "sub": "integration-test",
        "exp": now + 600,
        "nbf": now - 60,
        "iat": now,
        "jti": fresh_jti(),
        "scope": {"environment": environment, "key_pattern": key_pattern, "permissions": ["read"]},
    })
}

/// `claims` with `field` set to `value` (for crafting bad tokens).
pub fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

/// `claims` without `field` (for crafting bad tokens).
///
/// # Panics
/// If `claims` is not a JSON object.
pub fn without(mut claims: Value, field: &str) -> Value {
    claims.as_object_mut().expect("claims are an object").remove(field);
    claims
}

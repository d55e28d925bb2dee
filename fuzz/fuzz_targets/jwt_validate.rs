//! Fuzzes `TokenValidator::validate`, the parser of the `Authorization: Bearer`
//! token every read request carries.
//!
//! The first input byte picks a mode:
//! - 0: the rest is the token text, as is. Nothing may panic, and a token
//!   that is accepted must carry a correct HS256 MAC under our key.
//! - 1: the rest is `header JSON \n payload JSON`, which the harness signs
//!   with the validator's key, so that the header checks and the strict
//!   claim parser behind the signature check are reached. An accepted token
//!   must have `alg` HS256, no key-bringing header, our `kid` or none, and
//!   claims that satisfy every check (issuer, audience, dates with leeway).
//! - 2: a token minted by `TokenIssuer` from fuzzed fields must validate to
//!   exactly the claims it was minted with, and every one-byte change of it
//!   must be refused (no malleability, e.g. through non-canonical base64).
//! - 3: a minted token must be refused once it has expired (past the leeway)
//!   and before its `nbf` (beyond the leeway).
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretSlice;
use serde_json::{Map, Value};
use sha2::Sha256;
use vanta_agent::token::issue::MintRequest;
use vanta_agent::token::{InvalidToken, JwtKey, JwtKeys, TokenIssuer, TokenValidator};
use vanta_shared::{EnvName, KeyPattern, Scope};

const KEY: &[u8; 32] = b"vanta-fuzz-current-key-32-bytes!";
const PREVIOUS_KEY: &[u8; 32] = b"vanta-fuzz-previous-key-32bytes!";
const ISSUER: &str = "vanta-agent";
const AUDIENCE: &str = "vanta-vault";
const LEEWAY: u64 = 30;
/// The fixed "now" of every validation: tokens in the seed corpus are valid at it.
const NOW: u64 = 1_700_000_000;

struct Fixture {
    validator: TokenValidator,
    issuer: TokenIssuer,
    kid: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = |bytes: &[u8]| JwtKey::new(SecretSlice::from(bytes.to_vec())).expect("32-byte key");
        let current = key(KEY);
        let kid = current.kid().to_owned();
        let keys = Arc::new(JwtKeys::new(current, vec![key(PREVIOUS_KEY)]));
        Fixture {
            validator: TokenValidator::new(
                Arc::clone(&keys),
                ISSUER.to_owned(),
                AUDIENCE.to_owned(),
                Duration::from_secs(LEEWAY),
            ),
            issuer: TokenIssuer::new(keys, ISSUER.to_owned(), AUDIENCE.to_owned()),
            kid,
        }
    })
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn mac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn sign(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let signature = URL_SAFE_NO_PAD.encode(mac(KEY, input.as_bytes()));
    format!("{input}.{signature}")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => raw_token(rest),
        1 => signed_json(rest),
        2 => minted_round_trip(rest),
        _ => minted_dates(rest),
    }
});

/// Mode 0: arbitrary text as the token.
fn raw_token(rest: &[u8]) {
    let token = String::from_utf8_lossy(rest);
    if fixture().validator.validate(&token, at(NOW)).is_err() {
        return;
    }
    // Accepted: the MAC must be ours (current or previous key), over exactly
    // the first two parts.
    let (input, signature) = token.rsplit_once('.').expect("an accepted token has three parts");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("an accepted signature is base64url");
    assert!(
        mac(KEY, input.as_bytes()) == signature || mac(PREVIOUS_KEY, input.as_bytes()) == signature,
        "accepted a token without a valid MAC: {token:?}"
    );
}

/// Mode 1: fuzzed header and payload JSON, correctly signed.
fn signed_json(rest: &[u8]) {
    let (header, payload) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&br#"{"alg":"HS256","typ":"JWT"}"#[..], rest),
    };
    let token = sign(header, payload);
    let verdict = fixture().validator.validate(&token, at(NOW));
    // Determinism: the same token gets the same answer.
    assert_eq!(
        verdict.as_ref().map(|c| c.claims().clone()).map_err(Clone::clone),
        fixture().validator.validate(&token, at(NOW)).map(|c| c.claims().clone())
    );
    let Ok(verified) = verdict else {
        return;
    };
    let header: Map<String, Value> = serde_json::from_slice(header).expect("an accepted header is a JSON object");
    assert_eq!(header.get("alg"), Some(&Value::from("HS256")), "accepted a non-HS256 token: {token}");
    for forbidden in ["jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit"] {
        assert!(!header.contains_key(forbidden), "accepted a token with header {forbidden:?}: {token}");
    }
    if let Some(kid) = header.get("kid") {
        assert_eq!(kid.as_str(), Some(fixture().kid.as_str()), "accepted a kid naming another key: {token}");
    }
    let claims = verified.claims();
    assert_eq!(claims.iss, ISSUER);
    assert!(claims.aud.contains(AUDIENCE));
    assert!(claims.exp.saturating_add(LEEWAY) > NOW, "accepted an expired token: {token}");
    assert!(claims.nbf <= NOW + LEEWAY && claims.iat <= NOW + LEEWAY, "accepted a future token: {token}");
    // What was accepted is what the payload says (the claims are not read
    // from anywhere else).
    let payload: Value = serde_json::from_slice(payload).expect("an accepted payload is JSON");
    assert_eq!(payload.get("sub").and_then(Value::as_str), Some(claims.sub.as_str()));
    assert_eq!(payload.get("jti").and_then(Value::as_str), Some(claims.jti.as_str()));
}

/// Reads the fields of a mint request from the input: NUL-separated
/// subject, environment and key pattern, then TTL and usage-limit bytes.
fn mint_request(rest: &[u8]) -> Option<(MintRequest, &[u8])> {
    let mut parts = rest.splitn(4, |&b| b == 0);
    let subject = String::from_utf8_lossy(parts.next()?).into_owned();
    let environment: EnvName = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let key_pattern: KeyPattern = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let tail = parts.next().unwrap_or_default();
    let (ttl_minutes, limit, tail) = match tail {
        [t, l, tail @ ..] => (u64::from(*t % 60) + 1, (*l != 0).then_some(u64::from(*l)), tail),
        _ => (15, None, tail),
    };
    let request = MintRequest {
        subject,
        scope: Scope::read_only(environment, key_pattern),
        ttl: Duration::from_secs(ttl_minutes * 60),
        usage_limit: limit,
    };
    Some((request, tail))
}

/// Mode 2: minted tokens round-trip, and no one-byte change is accepted.
fn minted_round_trip(rest: &[u8]) {
    let Some((request, tail)) = mint_request(rest) else {
        return;
    };
    let f = fixture();
    let minted = f.issuer.issue(request, at(NOW)).expect("minting with a valid key cannot fail");
    let verified = f.validator.validate(&minted.compact, at(NOW + 1)).expect("a freshly minted token validates");
    assert_eq!(verified.claims(), &minted.claims, "claims changed on the way through the token");

    // Up to 8 (position, byte) changes taken from the tail of the input.
    for change in tail.chunks_exact(3).take(8) {
        let mut bytes = minted.compact.clone().into_bytes();
        let position = usize::from(u16::from_le_bytes([change[0], change[1]])) % bytes.len();
        bytes[position] = change[2];
        let Ok(changed) = String::from_utf8(bytes) else {
            continue;
        };
        if changed == minted.compact {
            continue;
        }
        assert!(
            f.validator.validate(&changed, at(NOW + 1)).is_err(),
            "accepted a changed token (byte {position} -> {:#04x}): {changed}",
            change[2]
        );
    }
}

/// Mode 3: minted tokens expire, and are not valid before their time.
fn minted_dates(rest: &[u8]) {
    let Some((request, _)) = mint_request(rest) else {
        return;
    };
    let f = fixture();
    let minted = f.issuer.issue(request, at(NOW)).expect("minting with a valid key cannot fail");
    let exp = minted.claims.exp;
    assert!(f.validator.validate(&minted.compact, at(exp + LEEWAY - 1)).is_ok(), "refused within the leeway");
    assert_eq!(f.validator.validate(&minted.compact, at(exp + LEEWAY)).err(), Some(InvalidToken::Expired));
    assert_eq!(f.validator.validate(&minted.compact, at(NOW - LEEWAY - 1)).err(), Some(InvalidToken::NotYetValid));
}

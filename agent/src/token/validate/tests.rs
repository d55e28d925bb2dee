use secrecy::SecretSlice;
use serde_json::{Value, json};

use super::*;
use crate::token::issue::MintRequest;
use crate::token::{JwtKey, TokenIssuer};

const NOW: u64 = 1_700_000_000;

fn key(byte: u8) -> JwtKey {
    JwtKey::new(SecretSlice::from(vec![byte; 32])).expect("key")
}

fn keys() -> Arc<JwtKeys> {
    Arc::new(JwtKeys::new(key(1), vec![key(2)]))
}

fn validator() -> TokenValidator {
    TokenValidator::new(keys(), "vanta-agent".into(), "vanta-vault".into(), Duration::from_secs(30))
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn claims() -> Value {
    json!({"iss": "vanta-agent", "aud": "vanta-vault", "sub": "t", "exp": NOW + 60, "nbf": NOW,
           "iat": NOW, "jti": "j", "scope": {"environment": "dev", "key_pattern": "*", "permissions": ["read"]}})
}

/// Signs raw header and payload JSON text with `signing_key`.
fn sign_raw(header: &str, payload: &str, signing_key: &JwtKey) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let sig = josekit::jws::JwsSigner::sign(signing_key.signer().expect("signer"), input.as_bytes()).expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn sign(payload: &Value) -> String {
    sign_raw(r#"{"alg":"HS256","typ":"JWT"}"#, &payload.to_string(), &key(1))
}

fn with(field: &str, value: Value) -> String {
    let mut c = claims();
    c[field] = value;
    sign(&c)
}

#[test]
fn accepts_its_own_and_foreign_tokens() {
    let issuer = TokenIssuer::new(keys(), "vanta-agent".into(), "vanta-vault".into());
    let scope = vanta_shared::Scope::read_only("dev".parse().expect("env"), "*".parse().expect("pattern"));
    let request = MintRequest { subject: "s".into(), scope, ttl: Duration::from_secs(60), usage_limit: Some(2) };
    let minted = issuer.issue(request, at(NOW)).expect("issue");
    let verified = validator().validate(&minted.compact, at(NOW + 1)).expect("own token");
    assert_eq!(verified.claims(), &minted.claims);
    // No kid: checked against the current key (stateless validation).
    assert!(validator().validate(&sign(&claims()), at(NOW)).is_ok());
    // A kid we do not know, on a token signed with the current key: checked
    // against the current key like a token without one.
    assert!(
        validator()
            .validate(&sign_raw(r#"{"alg":"HS256","kid":"mine-2024"}"#, &claims().to_string(), &key(1)), at(NOW))
            .is_ok()
    );
    // A previous key, named by its kid, still verifies.
    let old = sign_raw(&format!(r#"{{"alg":"HS256","kid":"{}"}}"#, key(2).kid()), &claims().to_string(), &key(2));
    assert!(validator().validate(&old, at(NOW)).is_ok());
    // A kid with a JSON escape is read like any other.
    let kid = key(2).kid().to_owned();
    let escaped = format!("\\u{:04x}{}", u32::from(kid.as_bytes()[0]), &kid[1..]);
    let header = format!(r#"{{"alg":"HS256","kid":"{escaped}"}}"#);
    assert!(validator().validate(&sign_raw(&header, &claims().to_string(), &key(2)), at(NOW)).is_ok());
}

#[test]
fn refuses_each_kind_of_bad_token_precisely() {
    let good = claims().to_string();
    let cases: Vec<(String, InvalidToken)> = vec![
        ("a.b".into(), InvalidToken::Malformed),
        ("a.b.c.d".into(), InvalidToken::Malformed),
        ("!!.??.**".into(), InvalidToken::Malformed),
        (sign_raw(r#"{"alg":"none"}"#, &good, &key(1)), InvalidToken::Algorithm),
        (sign_raw(r#"{"alg":"HS512"}"#, &good, &key(1)), InvalidToken::Algorithm),
        (sign_raw(r#"{"typ":"JWT"}"#, &good, &key(1)), InvalidToken::Algorithm),
        (sign_raw(r#"{"alg":"HS256","jku":"http://x"}"#, &good, &key(1)), InvalidToken::ForbiddenHeader),
        (sign_raw(r#"{"alg":"HS256","crit":["exp"]}"#, &good, &key(1)), InvalidToken::ForbiddenHeader),
        (sign_raw(r#"{"alg":"HS256","kid":"nope"}"#, &good, &key(3)), InvalidToken::UnknownKey),
        (sign_raw(r#"{"alg":"HS256","kid":"nope"}"#, &good, &key(2)), InvalidToken::UnknownKey),
        (sign_raw(r#"{"alg":"HS256"}"#, &good, &key(3)), InvalidToken::Signature),
        (sign_raw(r#"{"alg":"HS256","kid":7}"#, &good, &key(1)), InvalidToken::Malformed),
        (sign_raw(r#"{"alg":"HS256","kid":null}"#, &good, &key(1)), InvalidToken::Malformed),
        (sign_raw(r#"{"alg":"HS256","x5t#S256":null}"#, &good, &key(1)), InvalidToken::ForbiddenHeader),
        (sign_raw(r#"{"alg":"HS256","jwk":null}"#, &good, &key(1)), InvalidToken::ForbiddenHeader),
        (sign_raw(r#"{"alg":"HS256","alg":"HS256"}"#, &good, &key(1)), InvalidToken::Malformed),
        (sign_raw(r#"{"alg":7}"#, &good, &key(1)), InvalidToken::Algorithm),
        (format!("{}{}", sign_raw(r#"{"alg":"HS256"}"#, &good, &key(1)), "A".repeat(100)), InvalidToken::Signature),
        (with("exp", json!(NOW - 31)), InvalidToken::Expired),
        (with("nbf", json!(NOW + 31)), InvalidToken::NotYetValid),
        (with("iss", json!("someone-else")), InvalidToken::Issuer),
        (with("aud", json!("other")), InvalidToken::Audience),
        (with("exp", json!("soon")), InvalidToken::Claims),
        (with("scope", json!("dev")), InvalidToken::Claims),
        (sign_raw(r#"{"alg":"HS256"}"#, r#"{"iss":"vanta-agent","iss":"x"}"#, &key(1)), InvalidToken::Claims),
        ("x".repeat(MAX_TOKEN_BYTES + 1), InvalidToken::TooLong),
    ];
    for (token, want) in cases {
        assert_eq!(validator().validate(&token, at(NOW)).err(), Some(want.clone()), "{want:?}");
    }
}

#[test]
fn leeway_is_applied_both_ways() {
    let v = validator();
    assert!(v.validate(&with("exp", json!(NOW - 29)), at(NOW)).is_ok());
    assert!(v.validate(&with("nbf", json!(NOW + 29)), at(NOW)).is_ok());
    let strict = TokenValidator::new(keys(), "vanta-agent".into(), "vanta-vault".into(), Duration::ZERO);
    assert_eq!(strict.validate(&with("exp", json!(NOW)), at(NOW)).err(), Some(InvalidToken::Expired));
}

#[test]
fn a_tampered_payload_fails_the_signature() {
    let token = sign(&claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(claims().to_string().replace("\"*\"", "\"**\""));
    parts[1] = &forged;
    assert_eq!(validator().validate(&parts.join("."), at(NOW)).err(), Some(InvalidToken::Signature));
}

#[test]
fn a_remembered_token_still_has_its_dates_checked() {
    let v = validator();
    let token = sign(&claims());
    let first = v.validate(&token, at(NOW)).expect("valid");
    assert_eq!(v.recent.len(), 1, "remembered once it passed");
    let again = v.validate(&token, at(NOW + 1)).expect("valid again");
    assert_eq!(again.claims(), first.claims());
    assert_eq!(v.validate(&token, at(NOW + 60 + 30)).err(), Some(InvalidToken::Expired));
    assert_eq!(v.validate(&token, at(NOW - 31)).err(), Some(InvalidToken::NotYetValid));
}

#[test]
fn only_the_exact_bytes_of_a_remembered_token_skip_the_signature() {
    let v = validator();
    let token = sign(&claims());
    v.validate(&token, at(NOW)).expect("valid");
    let (input, sig) = token.rsplit_once('.').expect("three parts");
    let mut other = sig.as_bytes().to_vec();
    other[0] = if other[0] == b'A' { b'B' } else { b'A' };
    let forged = format!("{input}.{}", String::from_utf8(other).expect("ascii"));
    assert_eq!(v.validate(&forged, at(NOW)).err(), Some(InvalidToken::Signature));
    assert_eq!(v.validate(&format!("{token}."), at(NOW)).err(), Some(InvalidToken::Malformed));
}

#[test]
fn refused_tokens_are_not_remembered_and_the_memo_stays_bounded() {
    let v = validator();
    assert!(v.validate(&with("exp", json!(NOW - 31)), at(NOW)).is_err());
    assert_eq!(v.recent.len(), 0, "an expired token is not remembered");
    for n in 0..recent::CAPACITY + 10 {
        v.validate(&with("jti", json!(format!("j{n}"))), at(NOW)).expect("valid");
        assert!(v.recent.len() <= recent::CAPACITY);
    }
}

#[test]
fn an_expired_token_is_forgotten_when_used_and_by_the_sweep() {
    let v = validator();
    let token = sign(&claims());
    v.validate(&token, at(NOW)).expect("valid");
    assert_eq!(v.validate(&token, at(NOW + 60 + 30)).err(), Some(InvalidToken::Expired));
    assert_eq!(v.recent.len(), 0, "an expired token is forgotten when presented");
    let later = with("exp", json!(NOW + 600));
    v.validate(&token, at(NOW)).expect("valid again");
    v.validate(&later, at(NOW)).expect("valid");
    assert_eq!(v.forget_expired(at(NOW + 60 + 29)), 0, "within the leeway");
    assert_eq!(v.forget_expired(at(NOW + 60 + 30)), 1, "past exp and the leeway");
    assert_eq!(v.recent.len(), 1, "the longer-lived token stays");
    assert!(v.validate(&later, at(NOW + 61)).is_ok());
}

//! Token security under attack (operator guide, "Token model"): every forged,
//! altered or malformed token in one table, made by the test itself with
//! hmac + sha2. Each is refused with one 401 whose bytes are the same for all,
//! and the audit record names the precise reason.

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::http::Response;
use vanta_integration_tests::jwt::{self, TEST_JWT_KEY, b64};

use crate::common::{dev_agent, dev_value};
use vanta_integration_tests::jwt::{with, without};

/// One bad token: what it is, a word its audit reason must contain (`None`:
/// any precise reason), and the token.
type Case = (&'static str, Option<&'static str>, String);

const KEY: &[u8] = TEST_JWT_KEY.as_bytes();

fn good() -> Value {
    jwt::claims("dev", "*")
}

/// The standard header plus `extra`, signed with the agent's key.
fn with_header(extra: Value) -> String {
    let mut header = json!({"alg": "HS256", "typ": "JWT"});
    for (k, v) in extra.as_object().expect("an object") {
        header[k] = v.clone();
    }
    jwt::sign_with_header(&header, &good(), KEY)
}

/// The good claims under `{"kid": kid}`, signed with a key the agent does not hold.
fn other_key_with_kid(kid: &str) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    jwt::sign_with_header(&header, &good(), b"a-32-byte-key-the-agent-never-saw!")
}

/// `header.payload.` with an empty signature.
fn unsigned(header: Value) -> String {
    format!("{}.{}.", b64(header.to_string().as_bytes()), b64(good().to_string().as_bytes()))
}

/// A valid token's three parts.
fn parts(token: &str) -> [String; 3] {
    let v: Vec<&str> = token.split('.').collect();
    [v[0].to_owned(), v[1].to_owned(), v[2].to_owned()]
}

/// `json` base64url-encoded *with* `=` padding (spaces added until there is some).
fn padded(mut json: String) -> String {
    loop {
        let encoded = URL_SAFE.encode(json.as_bytes());
        if encoded.ends_with('=') {
            return encoded;
        }
        json.push(' ');
    }
}

/// A valid token whose signature, in base64url, uses `-` or `_`; returned
/// with the signature rewritten in the standard alphabet (`+`, `/`).
fn standard_alphabet_signature() -> String {
    let token = (0..1000).map(|_| jwt::sign(&good())).find(|t| parts(t)[2].contains(['-', '_'])).expect("soon");
    let [h, p, s] = parts(&token);
    format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/"))
}

fn encoding_cases() -> Vec<Case> {
    let valid = jwt::sign(&good());
    let [h, p, s] = parts(&valid);
    let header_json = json!({"alg": "HS256", "typ": "JWT"}).to_string();
    let big = with(good(), "pad", json!("x".repeat(9 * 1024)));
    let mac = URL_SAFE_NO_PAD.decode(&s).expect("base64url");
    vec![
        ("over 8 KiB", Some("long"), jwt::sign(&big)),
        ("'+' in the header", Some("malformed"), jwt::sign_parts(&format!("{}+{}", &h[..4], &h[4..]), &p, KEY)),
        ("'/' in the payload", Some("malformed"), jwt::sign_parts(&h, &format!("{}/{}", &p[..4], &p[4..]), KEY)),
        ("'*' in the signature", Some("malformed"), format!("{h}.{p}.{}*{}", &s[..4], &s[4..])),
        ("signature in the standard alphabet", None, standard_alphabet_signature()),
        ("'=' padding in the header", Some("malformed"), jwt::sign_parts(&padded(header_json), &p, KEY)),
        ("'=' padding in the payload", Some("malformed"), jwt::sign_parts(&h, &padded(good().to_string()), KEY)),
        ("'=' padding in the signature", Some("malformed"), format!("{h}.{p}.{}", URL_SAFE.encode(&mac))),
        ("two parts", Some("malformed"), format!("{h}.{p}")),
        ("four parts", Some("malformed"), format!("{valid}.{s}")),
        ("empty signature", None, format!("{h}.{p}.")),
        ("truncated signature", None, format!("{h}.{p}.{}", &s[..s.len() - 1])),
        ("payload not JSON", None, jwt::sign_parts(&h, &b64(b"not json"), KEY)),
        ("payload a JSON array", None, jwt::sign_parts(&h, &b64(b"[1,2]"), KEY)),
    ]
}

fn header_cases() -> Vec<Case> {
    let claims = good().to_string();
    let garbage = b64(&[0xAB; 64]);
    let es256 = b64(json!({"alg": "ES256", "typ": "JWT"}).to_string().as_bytes());
    vec![
        ("alg none", Some("algorithm"), jwt::sign_alg("none", KEY, &good())),
        ("alg None", Some("algorithm"), unsigned(json!({"alg": "None", "typ": "JWT"}))),
        ("alg NONE", Some("algorithm"), unsigned(json!({"alg": "NONE", "typ": "JWT"}))),
        ("alg none with an HMAC", Some("algorithm"), jwt::sign_with_header(&json!({"alg": "none"}), &good(), KEY)),
        ("alg hs256 (lower case)", Some("algorithm"), jwt::sign_with_header(&json!({"alg": "hs256"}), &good(), KEY)),
        ("no alg", Some("algorithm"), jwt::sign_with_header(&json!({"typ": "JWT"}), &good(), KEY)),
        ("HS384", Some("algorithm"), jwt::sign_alg("HS384", KEY, &good())),
        ("HS512", Some("algorithm"), jwt::sign_alg("HS512", KEY, &good())),
        ("RS256, HMAC signature", Some("algorithm"), jwt::sign_with_header(&json!({"alg": "RS256"}), &good(), KEY)),
        ("ES256, garbage signature", Some("algorithm"), format!("{es256}.{}.{garbage}", b64(claims.as_bytes()))),
        ("jku header", Some("header"), with_header(json!({"jku": "https://attacker.invalid/jwks.json"}))),
        ("jwk header", Some("header"), with_header(json!({"jwk": {"kty": "oct", "k": b64(KEY)}}))),
        ("x5u header", Some("header"), with_header(json!({"x5u": "https://attacker.invalid/cert.pem"}))),
        ("x5c header", Some("header"), with_header(json!({"x5c": ["MIIBszCCAVmgAwIBAgIUQ"]}))),
        ("x5t header", Some("header"), with_header(json!({"x5t": "dGh1bWJwcmludA"}))),
        ("crit header", Some("header"), with_header(json!({"crit": ["exp"]}))),
        ("unknown kid, another key", Some("key id"), other_key_with_kid("AAAAAAAAAAA")),
        ("kid of the wrong type", None, with_header(json!({"kid": 42}))),
    ]
}

fn claim_cases() -> Vec<Case> {
    let now = jwt::now();
    let header = json!({"alg": "HS256", "typ": "JWT"}).to_string();
    let good_text = good().to_string();
    let inner = &good_text[1..good_text.len() - 1];
    let dup_exp = format!("{{\"exp\":{},{inner}}}", now - 3600);
    let dup_sub = format!("{{{inner},\"sub\":\"someone-else\"}}");
    let mut no_permissions = good();
    no_permissions["scope"].as_object_mut().expect("scope").remove("permissions");
    vec![
        ("duplicate exp", Some("claims"), jwt::sign_json_text(&header, &dup_exp, KEY)),
        ("duplicate sub", Some("claims"), jwt::sign_json_text(&header, &dup_sub, KEY)),
        ("exp a string", Some("claims"), jwt::sign(&with(good(), "exp", json!((now + 600).to_string())))),
        ("nbf a boolean", Some("claims"), jwt::sign(&with(good(), "nbf", json!(true)))),
        ("scope a string", Some("claims"), jwt::sign(&with(good(), "scope", json!("dev")))),
        ("scope.permissions missing", Some("claims"), jwt::sign(&no_permissions)),
        ("iat in the future", Some("not yet valid"), jwt::sign(&with(good(), "iat", json!(now + 300)))),
        ("nbf in the future", Some("not yet valid"), jwt::sign(&with(good(), "nbf", json!(now + 300)))),
        ("exp 2 minutes ago", Some("expired"), jwt::sign(&with(good(), "exp", json!(now - 120)))),
        ("wrong iss", Some("issuer"), jwt::sign(&with(good(), "iss", json!("vanta-agent-evil")))),
        ("wrong aud", Some("audience"), jwt::sign(&with(good(), "aud", json!("other-service")))),
        ("aud list without ours", Some("audience"), jwt::sign(&with(good(), "aud", json!(["a", "vanta-vaulT"])))),
        ("no iss", Some("claims"), jwt::sign(&without(good(), "iss"))),
        ("no aud", Some("claims"), jwt::sign(&without(good(), "aud"))),
        ("no sub", Some("claims"), jwt::sign(&without(good(), "sub"))),
        ("no exp", Some("claims"), jwt::sign(&without(good(), "exp"))),
        ("no nbf", Some("claims"), jwt::sign(&without(good(), "nbf"))),
        ("no iat", Some("claims"), jwt::sign(&without(good(), "iat"))),
        ("no jti", Some("claims"), jwt::sign(&without(good(), "jti"))),
        ("no scope", Some("claims"), jwt::sign(&without(good(), "scope"))),
    ]
}

fn signature_cases() -> Vec<Case> {
    let narrow = jwt::sign(&jwt::claims("dev", "NOTHING"));
    let [h, p, s] = parts(&narrow);
    let [_, wide_payload, other_sig] = parts(&jwt::sign(&good()));
    let reordered = b64(r#"{"typ":"JWT","alg":"HS256"}"#.as_bytes());
    let other_key = b"another-key-that-is-forty-bytes-long-xyz";
    vec![
        ("another key", Some("signature"), jwt::sign_alg("HS256", other_key, &good())),
        ("tampered payload", Some("signature"), format!("{h}.{wide_payload}.{s}")),
        ("tampered header", Some("signature"), format!("{reordered}.{p}.{s}")),
        ("another token's signature", Some("signature"), format!("{h}.{p}.{other_sig}")),
    ]
}

fn all_cases() -> Vec<Case> {
    [header_cases(), encoding_cases(), claim_cases(), signature_cases()].concat()
}

fn bearer(agent: &TestAgent, path: &str, token: &str) -> Response {
    agent.request("GET", path, &[("Authorization", &format!("Bearer {token}"))], None)
}

#[test]
fn the_table_has_every_case_the_issue_lists() {
    let cases = all_cases();
    assert!(cases.len() >= 25, "{} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|(what, _, _)| *what).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
}

#[test]
fn every_bad_token_gets_the_same_401_bytes_and_a_precise_audit_reason() {
    let agent = dev_agent();
    let cases = all_cases();
    let reference = used_up_401(&agent);
    let before = agent.wait_audit_lines(3).len();
    for (i, (what, _, token)) in cases.iter().enumerate() {
        let response = bearer(&agent, &format!("/api/v1/vault/dev/CASE_{i:02}"), token);
        assert_eq!(response.status, 401, "{what}: {}", response.text());
        assert_eq!(response.body, reference.body, "{what}: body differs from a used-up token's 401");
        assert_eq!(response.header("www-authenticate"), reference.header("www-authenticate"), "{what}");
        assert_eq!(response.header("content-type"), reference.header("content-type"), "{what}");
        assert!(!response.text().contains(dev_value("DATABASE_URL")), "{what}: value leaked");
    }
    let records = agent.wait_audit_lines(before + cases.len());
    let mut reasons = Vec::new();
    for (i, (what, want, _)) in cases.iter().enumerate() {
        let key = format!("CASE_{i:02}");
        let record = records[before..]
            .iter()
            .find(|r| r["key"] == key.as_str())
            .unwrap_or_else(|| panic!("{what}: no audit record for key {key}"));
        assert_eq!((&record["outcome"], &record["status_code"]), (&json!("unauthorized"), &json!(401)), "{what}");
        assert_eq!((&record["jti"], &record["subject"]), (&Value::Null, &Value::Null), "{what}: {record}");
        let reason = record["error"].as_str().unwrap_or_else(|| panic!("{what}: no reason in {record}"));
        if let Some(word) = want {
            assert!(reason.to_lowercase().contains(word), "{what}: reason {reason:?} should say {word:?}");
        }
        assert!(!reference.text().contains(reason), "{what}: the client sees the precise reason {reason:?}");
        reasons.push(reason.to_owned());
    }
    reasons.sort_unstable();
    reasons.dedup();
    assert!(reasons.len() >= 8, "the audit log tells failures apart: {reasons:?}");
}

/// The 401 for a spent single-use token: the reference every other 401 must equal.
fn used_up_401(agent: &TestAgent) -> Response {
    let token = agent.mint(&json!({"subject": "s", "environment": "dev", "key_pattern": "*", "usage_limit": 1}));
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &token).status, 200);
    let response = agent.get_secret("dev", "DATABASE_URL", &token);
    assert_eq!(response.status, 401, "{}", response.text());
    response
}

/// The good claims with `exp`, `nbf` and `iat` as JSON numbers with a fraction.
fn fractional_dates() -> Value {
    let now = jwt::now() as f64 + 0.25;
    let claims = with(good(), "exp", json!(now + 600.0));
    with(with(claims, "nbf", json!(now - 1.0)), "iat", json!(now - 1.0))
}

#[test]
fn the_controls_built_the_same_way_are_accepted() {
    // Only the one defect makes each case bad: the same builders, without it, pass.
    let agent = dev_agent();
    let kid = jwt::kid(KEY);
    let [h, p, _] = parts(&jwt::sign(&good()));
    let controls = [
        ("plain", with_header(json!({}))),
        ("current kid", with_header(json!({"kid": kid}))),
        ("a kid of the signer's own, the agent's key", with_header(json!({"kid": "my-key-2024"}))),
        ("fractional dates (Python's time.time())", jwt::sign(&fractional_dates())),
        ("re-signed parts", jwt::sign_parts(&h, &p, KEY)),
        ("exp 10 s ago, inside the leeway", jwt::sign(&with(good(), "exp", json!(jwt::now() - 10)))),
        ("nbf 10 s ahead, inside the leeway", jwt::sign(&with(good(), "nbf", json!(jwt::now() + 10)))),
        ("aud list with ours", jwt::sign(&with(good(), "aud", json!(["a", "vanta-vault"])))),
        ("just under 8 KiB", jwt::sign(&with(good(), "pad", json!("x".repeat(5 * 1024))))),
    ];
    for (what, token) in controls {
        let response = bearer(&agent, "/api/v1/vault/dev/DATABASE_URL", &token);
        assert_eq!(response.status, 200, "control {what}: {}", response.text());
    }
}

//! Fuzzes the checker of `POST /api/v1/vault/tokens/generate` bodies,
//! `GenerateTokenRequest::from_json`, behind the agent's JSON parse.
//!
//! Nothing may panic; an accepted body meets every rule of the contract
//! (known fields only, subject 1–256 characters without control characters,
//! positive integers) and survives `to_json` → `from_json` unchanged; a
//! refusal names a field that the body has or that is required.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vanta_shared::api::GenerateTokenRequest;

const FIELDS: [&str; 5] = ["subject", "environment", "key_pattern", "ttl_minutes", "usage_limit"];

fuzz_target!(|data: &[u8]| {
    // The agent reads at most 64 KiB and refuses anything that is not JSON.
    if data.len() > 64 * 1024 {
        return;
    }
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match GenerateTokenRequest::from_json(&body) {
        Ok(request) => {
            let map = body.as_object().expect("an accepted body is an object");
            assert!(map.keys().all(|k| FIELDS.contains(&k.as_str())), "unknown field accepted: {body}");
            let chars = request.subject.chars().count();
            assert!((1..=256).contains(&chars), "subject of {chars} characters accepted");
            assert!(!request.subject.chars().any(char::is_control), "control character accepted: {body}");
            assert!(request.ttl_minutes.is_none_or(|t| t >= 1));
            assert!(request.usage_limit.is_none_or(|n| n >= 1));
            let again = GenerateTokenRequest::from_json(&request.to_json()).expect("to_json output is accepted");
            assert_eq!(again, request);
        }
        Err(err) => {
            assert!(!err.message.is_empty());
            if let Some(field) = &err.field {
                assert!(err.message.contains(field.as_str()), "message does not name {field}: {}", err.message);
            }
        }
    }
});

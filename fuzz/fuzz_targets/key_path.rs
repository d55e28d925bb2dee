//! Fuzzes the parsers of names taken from request paths and bodies:
//! `KeyPath`, `EnvName` and `KeyPattern` (`FromStr` and serde), and the
//! wildmatch behind `KeyPattern::matches`.
//!
//! Each parser is checked against the contract's rules written out here
//! independently (docs/API.md §2): it must accept exactly what they accept, and
//! what it accepts must print back as the input. A parsed `KeyPath`'s
//! segments joined by `/` are the input. `KeyPattern` matching is checked
//! against a plain glob matcher (`*` any run of characters including `/`,
//! `?` exactly one character, anything else itself).
//!
//! Input: the text to parse; when it holds a NUL, the part before it is
//! also used as a pattern and the part after it as a key to match.
#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use vanta_shared::{EnvName, KeyPath, KeyPattern};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    key_path(text);
    env_name(text);
    key_pattern(text);
    if let Some((pattern, key)) = text.split_once('\0') {
        matching(pattern, key);
    }
});

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// docs/API.md §2 and the operator guide: segments of `[A-Za-z0-9_.-]` joined by
/// `/`, none empty, none made only of dots, at most 512 bytes in all.
fn contract_key_path(s: &str) -> bool {
    (1..=512).contains(&s.len())
        && s.split('/').all(|seg| !seg.is_empty() && seg.bytes().all(is_key_byte) && seg.bytes().any(|b| b != b'.'))
}

/// 1–64 characters of `[A-Za-z0-9_-]`, not starting with `-`.
fn contract_env_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && !s.starts_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Characters of keys plus `*` and `?`, 1–512 bytes.
fn contract_key_pattern(s: &str) -> bool {
    (1..=512).contains(&s.len()) && s.bytes().all(|b| is_key_byte(b) || matches!(b, b'/' | b'*' | b'?'))
}

fn key_path(text: &str) {
    let parsed = KeyPath::from_str(text);
    assert_eq!(parsed.is_ok(), contract_key_path(text), "KeyPath {text:?}: {parsed:?}");
    let Ok(key) = parsed else {
        return;
    };
    assert_eq!(key.to_string(), text);
    assert_eq!(key.as_str(), text);
    let segments: Vec<&str> = key.segments().collect();
    assert_eq!(segments.join("/"), text);
    assert!(segments.iter().all(|s| KeyPath::is_valid_segment(s)), "{segments:?}");
    // A key is a literal pattern that matches itself and nothing else here.
    let literal = KeyPattern::from_str(text).expect("every key is a valid pattern");
    assert!(literal.matches(&key), "{text:?} does not match itself");
    assert!(KeyPattern::from_str("*").expect("*").matches(&key));
}

fn env_name(text: &str) {
    let parsed = EnvName::from_str(text);
    assert_eq!(parsed.is_ok(), contract_env_name(text), "EnvName {text:?}: {parsed:?}");
    let via_serde = serde_json::from_value::<EnvName>(serde_json::Value::from(text));
    assert_eq!(via_serde.ok(), parsed.clone().ok(), "EnvName serde and FromStr disagree on {text:?}");
    if let Ok(env) = parsed {
        assert_eq!(env.to_string(), text);
        assert_eq!(serde_json::to_value(&env).expect("serialize"), serde_json::Value::from(text));
    }
}

fn key_pattern(text: &str) {
    let parsed = KeyPattern::from_str(text);
    assert_eq!(parsed.is_ok(), contract_key_pattern(text), "KeyPattern {text:?}: {parsed:?}");
    let via_serde = serde_json::from_value::<KeyPattern>(serde_json::Value::from(text));
    assert_eq!(via_serde.ok(), parsed.clone().ok(), "KeyPattern serde and FromStr disagree on {text:?}");
    if let Ok(pattern) = parsed {
        assert_eq!(pattern.to_string(), text);
        assert_eq!(pattern.as_str(), text);
    }
}

/// The glob semantics of docs/API.md §2, by dynamic programming over characters.
fn glob(pattern: &[char], text: &[char]) -> bool {
    // m[j]: pattern[..i] matches text[..j], row by row.
    let mut m = vec![false; text.len() + 1];
    m[0] = true;
    for &p in pattern {
        let mut next = vec![false; text.len() + 1];
        if p == '*' {
            let mut any = false;
            for j in 0..=text.len() {
                any |= m[j];
                next[j] = any;
            }
        } else {
            for j in 1..=text.len() {
                next[j] = m[j - 1] && (p == '?' || p == text[j - 1]);
            }
        }
        m = next;
    }
    m[text.len()]
}

fn matching(pattern: &str, key: &str) {
    let Ok(pattern) = KeyPattern::from_str(pattern) else {
        return;
    };
    let p: Vec<char> = pattern.as_str().chars().collect();
    let k: Vec<char> = key.chars().collect();
    let want = glob(&p, &k);
    assert_eq!(pattern.matches_str(key), want, "pattern {:?} against {key:?}", pattern.as_str());
    if let Ok(path) = KeyPath::from_str(key) {
        assert_eq!(pattern.matches(&path), want);
    }
}

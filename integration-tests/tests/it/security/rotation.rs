//! Key rotation (operator guide, "Key ids and rotation"): tokens signed by a
//! previous key keep working when they name it by `kid`; the `kid` is
//! base64url(SHA-256("vanta-jwt-kid:" ‖ key)[..8]), computed here by the test.

use std::fs;

use serde_json::{Value, json};
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::jwt::{self, TEST_JWT_KEY};

use crate::common::{assert_error, dev_builder};

const PREVIOUS: &str = "previous-rotation-key-0123456789-abcdefgh";
const OLDER: &str = "older-rotation-key-9876543210-zyxwvutsrqpo";

fn signed(key: &str, kid: Option<&str>) -> String {
    let header = match kid {
        Some(kid) => json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
        None => json!({"alg": "HS256", "typ": "JWT"}),
    };
    jwt::sign_with_header(&header, &jwt::claims("dev", "*"), key.as_bytes())
}

fn status(agent: &TestAgent, token: &str) -> u16 {
    agent.get_secret("dev", "INT", token).status
}

/// The audit reason of the last record.
fn last_reason(agent: &TestAgent, n: usize) -> Value {
    agent.wait_audit_lines(n).last().expect("a record")["error"].clone()
}

#[test]
fn a_previous_key_is_honoured_only_under_its_own_kid() {
    let agent = dev_builder().env("VANTA_JWT_PREVIOUS_KEYS", PREVIOUS).start();
    let (current_kid, previous_kid) = (jwt::kid(TEST_JWT_KEY.as_bytes()), jwt::kid(PREVIOUS.as_bytes()));
    assert_ne!(current_kid, previous_kid);
    assert_eq!(status(&agent, &signed(PREVIOUS, Some(&previous_kid))), 200, "previous key with its kid");
    assert_eq!(status(&agent, &signed(TEST_JWT_KEY, Some(&current_kid))), 200, "current key with its kid");
    assert_eq!(status(&agent, &signed(TEST_JWT_KEY, None)), 200, "no kid means the current key");
    let refused = [
        ("previous key without kid", signed(PREVIOUS, None)),
        ("previous key under the current kid", signed(PREVIOUS, Some(&current_kid))),
        ("current key under the previous kid", signed(TEST_JWT_KEY, Some(&previous_kid))),
        ("an unknown key under the previous kid", signed(OLDER, Some(&previous_kid))),
    ];
    for (i, (what, token)) in refused.iter().enumerate() {
        assert_error(&agent.get_secret("dev", "INT", token), 401, "unauthorized");
        let reason = last_reason(&agent, 4 + i);
        assert!(reason.as_str().is_some_and(|r| r.contains("signature")), "{what}: audit reason {reason}");
    }
}

#[test]
fn minted_tokens_carry_the_current_keys_kid() {
    let agent = dev_builder().env("VANTA_JWT_PREVIOUS_KEYS", PREVIOUS).start();
    let token = agent.mint_for("dev", "*");
    let header = jwt::decode_part(&token, 0);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], jwt::kid(TEST_JWT_KEY.as_bytes()), "header: {header}");
    assert!(jwt::verify_hs256(&token, TEST_JWT_KEY.as_bytes()), "signed with the current key");
    assert!(!jwt::verify_hs256(&token, PREVIOUS.as_bytes()));
}

#[test]
fn several_previous_keys_comma_separated_or_one_per_line_in_a_file() {
    let by_env = dev_builder().env("VANTA_JWT_PREVIOUS_KEYS", format!("{PREVIOUS},{OLDER}")).start();
    let builder = dev_builder();
    let file = builder.paths().root.join("previous-keys");
    fs::write(&file, format!("{PREVIOUS}\n{OLDER}\n")).unwrap();
    let by_file = builder.env("VANTA_JWT_PREVIOUS_KEYS_FILE", &file).start();
    for agent in [&by_env, &by_file] {
        for key in [PREVIOUS, OLDER] {
            assert_eq!(status(agent, &signed(key, Some(&jwt::kid(key.as_bytes())))), 200, "{key}");
        }
    }
}

#[test]
fn an_unknown_kid_is_refused_once_the_previous_key_is_removed() {
    let token = signed(PREVIOUS, Some(&jwt::kid(PREVIOUS.as_bytes())));
    let with_previous = dev_builder().env("VANTA_JWT_PREVIOUS_KEYS", PREVIOUS).start();
    assert_eq!(status(&with_previous, &token), 200);
    let without = dev_builder().start();
    assert_error(&without.get_secret("dev", "INT", &token), 401, "unauthorized");
    let reason = last_reason(&without, 1);
    assert!(reason.as_str().is_some_and(|r| r.contains("key id")), "audit reason {reason}");
}

#[test]
fn a_short_previous_key_stops_start_up_without_printing_it() {
    let short = "short-previous-key-31-bytes-xyz";
    assert_eq!(short.len(), 31);
    for value in [short.to_owned(), format!("{PREVIOUS},{short}"), format!("{PREVIOUS}\n{short}")] {
        let (finished, _agent) = dev_builder().env("VANTA_JWT_PREVIOUS_KEYS", &value).run_to_exit();
        assert_eq!(finished.code(), Some(2), "{value:?}: {}", finished.stderr_text());
        let output = format!("{}{}", finished.stdout_text(), finished.stderr_text());
        assert!(output.contains("vanta-agent: error:"), "{value:?}: one clear line: {output}");
        for secret in [short, PREVIOUS, TEST_JWT_KEY] {
            assert!(!output.contains(secret), "a key is printed: {output}");
        }
    }
}

//! Key material and names that could mislead (operator guide, "Security
//! model"): a subject with line separators or bidirectional overrides is
//! refused (422) and never written raw to the audit log; a weak JWT key stops
//! start-up (exit 2) with how to make one; key material passed inline in the
//! environment is named in a start-up warning.

use serde_json::json;

use crate::common::{assert_cli_error_line, assert_error, dev_agent, dev_builder, ok_json};

#[test]
fn subjects_with_line_separators_or_bidi_overrides_are_refused() {
    let agent = dev_agent();
    for subject in ["ci\u{2028}{\"event\":\"forged\"}", "ci\u{2029}x", "report\u{202E}fdp.exe", "a\u{2066}b"] {
        let response = agent.generate(&json!({"subject": subject, "environment": "dev", "key_pattern": "*"}));
        assert_error(&response, 422, "validation_error");
        assert!(response.json()["message"].as_str().unwrap().contains("subject"), "{}", response.text());
    }
    let audit = std::fs::read_to_string(&agent.paths().audit).unwrap();
    for raw in ['\u{2028}', '\u{2029}', '\u{202E}', '\u{2066}'] {
        assert!(!audit.contains(raw), "U+{:04X} written raw to the audit log:\n{audit}", u32::from(raw));
    }
    let records = agent.wait_audit_lines(4);
    assert!(records.iter().all(|r| r["outcome"] == "validation_error" && r["status_code"] == 422), "{records:?}");
    assert_eq!(records[0]["subject"], "ci\\u{2028}{\"event\":\"forged\"}", "escaped, still readable");
    // Letters of any script stay allowed.
    let ok = agent.generate(&json!({"subject": "Zoë 東京 مرحبا", "environment": "dev", "key_pattern": "*"}));
    assert!(ok_json(&ok)["access_token"].is_string());
}

#[test]
fn a_weak_jwt_key_stops_start_up_with_how_to_make_one() {
    for weak in ["a".repeat(32), "abcabc".repeat(6)] {
        let (finished, _agent) = dev_builder().env("VANTA_JWT_SECRET_KEY", &weak).run_to_exit();
        assert_eq!(finished.code(), Some(2), "{}", finished.stderr_text());
        let line = assert_cli_error_line(&finished);
        assert!(line.contains("VANTA_JWT_SECRET_KEY") && line.contains("openssl rand -base64 48"), "{line}");
        assert!(!line.contains(&weak), "the key is never printed: {line}");
    }
}

#[test]
fn inline_key_material_is_named_in_a_start_up_warning() {
    let quiet = dev_agent();
    assert!(!quiet.stderr_text().contains("inline"), "{}", quiet.stderr_text());
    let builder = dev_builder();
    let identity = std::fs::read_to_string(&builder.paths().age_keys).unwrap();
    let agent = builder.env("SOPS_AGE_KEY", identity.trim()).start();
    let stderr = agent.stderr_text();
    let warning = stderr.lines().find(|l| l.contains("inline")).unwrap_or_else(|| panic!("no warning:\n{stderr}"));
    assert!(warning.contains("WARN") && warning.contains("SOPS_AGE_KEY") && warning.contains("_FILE"), "{warning}");
    assert!(!stderr.contains(agent.age_key().secret()), "the key itself is never logged");
}

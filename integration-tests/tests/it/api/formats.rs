//! Every file format sops writes: the same secrets as `.enc.yaml`,
//! `.enc.json`, `.enc.env` and `.enc.ini` (each encrypted by the real sops)
//! through fetch, list and run-with-secrets; and two files for one
//! environment refused as a configuration error.

use serde_json::json;
use vanta_integration_tests::agent::{AgentBuilder, TestAgent};
use vanta_integration_tests::cli::Cli;

use crate::common::{assert_error, ok_json, var_name};
use crate::ops::logs::{json_logs, warnings_for};
use crate::run::support::{assert_code, helper, json};

const YAML: &str = r#"database:
  url: "postgres://app:s3cr3t@db:5432/app?sslmode=require"
  password: "p@ss w0rd $HOME ü✓"
  port: 5432
api:
  token: tok-9f8e7d
note: "line1\nline2"
big: 1234567890123
nothing: null
list: [a-1, b-2]
"#;

const JSON: &str = r#"{
  "database": {
    "url": "postgres://app:s3cr3t@db:5432/app?sslmode=require",
    "password": "p@ss w0rd $HOME ü✓",
    "port": 5432
  },
  "api": {"token": "tok-9f8e7d"},
  "note": "line1\nline2",
  "big": 1234567890123,
  "nothing": null,
  "list": ["a-1", "b-2"]
}
"#;

// dotenv keys are flat; `\n` in a dotenv value is a newline for sops.
const DOTENV: &str = r#"DATABASE_URL=postgres://app:s3cr3t@db:5432/app?sslmode=require
DATABASE_PASSWORD=p@ss w0rd $HOME ü✓
DATABASE_PORT=5432
API_TOKEN=tok-9f8e7d
# a comment is not a key
NOTE=line1\nline2
"#;

// Keys before the first section would land in `DEFAULT/`.
const INI: &str = "[database]
url = postgres://app:s3cr3t@db:5432/app?sslmode=require
password = p@ss w0rd $HOME ü✓
port = 5432

[api]
token = tok-9f8e7d
";

/// Every leaf of a file and its value.
type Leaves = Vec<(&'static str, &'static str)>;

/// `(extension, plaintext, every leaf and its value)`.
fn formats() -> [(&'static str, &'static str, Leaves); 4] {
    let nested = vec![
        ("api/token", "tok-9f8e7d"),
        ("database/password", "p@ss w0rd $HOME ü✓"),
        ("database/port", "5432"),
        ("database/url", "postgres://app:s3cr3t@db:5432/app?sslmode=require"),
    ];
    let mut structured = nested.clone();
    structured.extend([("big", "1234567890123"), ("note", "line1\nline2")]);
    let flat = vec![
        ("API_TOKEN", "tok-9f8e7d"),
        ("DATABASE_PASSWORD", "p@ss w0rd $HOME ü✓"),
        ("DATABASE_PORT", "5432"),
        ("DATABASE_URL", "postgres://app:s3cr3t@db:5432/app?sslmode=require"),
        ("NOTE", "line1\nline2"),
    ];
    [("yaml", YAML, structured.clone()), ("json", JSON, structured), ("env", DOTENV, flat), ("ini", INI, nested)]
}

fn env_of(ext: &str) -> String {
    format!("fmt-{ext}")
}

fn agent_with_every_format() -> TestAgent {
    let mut builder: AgentBuilder = TestAgent::builder();
    for (ext, plain, _) in formats() {
        builder = builder.secrets_as(&env_of(ext), ext, plain);
    }
    builder.start()
}

#[test]
fn every_format_is_fetched_and_listed_alike() {
    let agent = agent_with_every_format();
    for (ext, _, leaves) in formats() {
        let env = env_of(ext);
        let token = agent.mint_for(&env, "*");
        for (key, value) in &leaves {
            assert_eq!(agent.secret_value(&env, key, &token), *value, "{ext}: {key}");
        }
        let mut keys: Vec<&str> = leaves.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        assert_eq!(ok_json(&agent.list_keys(&env, &token)), json!({"environment": env, "keys": keys}), "{ext}");
        // Lists, nulls and sections are not secrets; sops' metadata is not a key.
        for key in ["nothing", "list", "database", "sops", "sops/mac", "DEFAULT"] {
            assert_error(&agent.get_secret(&env, key, &token), 404, "not_found");
        }
    }
}

#[test]
fn every_format_runs_with_secrets_and_is_audited_alike() {
    let agent = agent_with_every_format();
    let cli = Cli::new(agent.socket());
    for (ext, _, leaves) in formats() {
        let env = env_of(ext);
        let mut args: Vec<String> =
            ["run-with-secrets", "--environment", &env, "--key-pattern", "*", "--", &helper("print-env")]
                .map(String::from)
                .to_vec();
        args.extend(leaves.iter().map(|(k, _)| var_name(k)));
        let finished = cli.run(&args);
        assert_code(&finished, 0);
        let printed = json(&finished.stdout);
        for (key, value) in &leaves {
            assert_eq!(printed[var_name(key)], *value, "{ext}: {key}");
        }
    }
    let fetched: Vec<_> = agent
        .audit_lines()
        .into_iter()
        .filter(|r| r["event"] == "secret_access" && r["status_code"] == 200)
        .map(|r| r["environment"].as_str().unwrap_or_default().to_owned())
        .collect();
    for (ext, _, leaves) in formats() {
        let count = fetched.iter().filter(|e| **e == env_of(ext)).count();
        assert_eq!(count, leaves.len(), "one audited fetch per key of {ext}");
    }
}

#[test]
fn a_changed_file_of_any_format_is_served_fresh() {
    let agent = agent_with_every_format();
    for (ext, plain, _) in formats() {
        let env = env_of(ext);
        let token = agent.mint_for(&env, "*");
        let key = if ext == "env" { "API_TOKEN" } else { "api/token" };
        assert_eq!(agent.secret_value(&env, key, &token), "tok-9f8e7d");
        let changed = plain.replace("tok-9f8e7d", "tok-rotated-2");
        vanta_integration_tests::fixtures::encrypt_as(
            agent.age_key().recipient(),
            ext,
            &changed,
            &agent.paths().vault,
            &env,
        );
        assert_eq!(agent.secret_value(&env, key, &token), "tok-rotated-2", "{ext}");
    }
}

#[test]
fn two_files_for_one_environment_are_refused_not_picked() {
    let agent = json_logs(TestAgent::builder().secrets("dev", YAML).secrets_as("dev", "json", JSON)).start();
    let token = agent.mint_for("dev", "*");
    let response = agent.get_secret("dev", "api/token", &token);
    assert_error(&response, 500, "decryption_failed");
    assert!(!response.text().contains("tok-9f8e7d"));
    assert_error(&agent.list_keys("dev", &token), 500, "decryption_failed");
    let detail = agent.wait_audit_lines(3).last().map(|r| r["error"].clone()).unwrap_or_default();
    assert!(
        detail.as_str().is_some_and(|d| d.starts_with("ambiguous_files") && d.contains("dev.enc.yaml, dev.enc.json")),
        "{detail}"
    );
    let ready = agent.get("/readyz", None);
    assert_eq!(ready.status, 503, "{}", ready.text());
    let checks = &ready.json()["checks"];
    assert!(
        checks["sops"]
            .as_str()
            .is_some_and(|c| c.contains("ambiguous_files") && c.contains("dev.enc.yaml, dev.enc.json")),
        "{checks}"
    );
    let warnings = warnings_for(&agent, "dev");
    assert_eq!(warnings.len(), 1, "one warning for two refused requests: {warnings:?}");
    assert_eq!(warnings[0]["cause"], "ambiguous_files");
}

#[test]
fn ini_keys_outside_a_section_are_default_keys_even_when_sops_prints_default_twice() {
    // sops prints this file's DEFAULT section twice: once for the keys before
    // the first section, once for the explicit [DEFAULT].
    let ini = "top = t1-top\n[DEFAULT]\nalso = a2-also\n[s]\nk = v3-k\n";
    let agent = TestAgent::builder().secrets_as("ini", "ini", ini).start();
    let token = agent.mint_for("ini", "*");
    let keys = ok_json(&agent.list_keys("ini", &token));
    assert_eq!(keys["keys"], json!(["DEFAULT/also", "DEFAULT/top", "s/k"]));
    assert_eq!(agent.secret_value("ini", "DEFAULT/top", &token), "t1-top");
    assert_eq!(agent.secret_value("ini", "DEFAULT/also", &token), "a2-also");
}

#[test]
fn yaml_merge_keys_are_merged_and_keys_after_a_first_document_are_refused() {
    let merged = "base: &base\n  user: u-merged-1\n  pass: p-base\nprod:\n  <<: *base\n  pass: p-prod-2\n";
    let agent =
        TestAgent::builder().secrets("merged", merged).secrets("multi", "a: doc-one-1\n---\nb: doc-two-2\n").start();
    let token = agent.mint_for("merged", "*");
    assert_eq!(agent.secret_value("merged", "prod/user", &token), "u-merged-1");
    assert_eq!(agent.secret_value("merged", "prod/pass", &token), "p-prod-2", "written keys win");
    let keys = ok_json(&agent.list_keys("merged", &token));
    assert_eq!(keys["keys"], json!(["base/pass", "base/user", "prod/pass", "prod/user"]));
    let response = agent.get_secret("multi", "a", &agent.mint_for("multi", "*"));
    assert_error(&response, 500, "decryption_failed");
    let records = agent.wait_audit_lines(6);
    let refused = records.iter().find(|r| r["environment"] == "multi" && r["event"] == "secret_access");
    let error = refused.map(|r| r["error"].clone()).unwrap_or_default();
    assert!(
        error.as_str().is_some_and(|e| e.starts_with("unexpected_output") && e.contains("more than one YAML document")),
        "{error}"
    );
}

/// sops' YAML writer (YAML 1.1) takes U+2028, U+2029 and U+0085 for line
/// breaks and writes them raw, with no newline after them: read as YAML 1.2,
/// the key after `note` ran into its value, so a token for `note*` read
/// `db_password`'s secret, and `db_password` itself was gone.
#[test]
fn yaml_values_with_line_separators_come_back_exact_and_never_carry_the_next_key() {
    let yaml = "note: \"line1\\nline2\\L\"\ndb_password: hunter2-ls-9f3\npara: \"p\\Pq\"\n\
                lines: \"lit\\n\\L\\nz\"\nnel: \"n\\Nel\"\nbase: &base\n  user: u-merged-ls\nprod:\n  <<: *base\n  pass: p-prod-ls\n";
    let leak = "note: \"line1\\nline2\\L\"\ndb_password: hunter2-ls-9f3\n";
    let agent = TestAgent::builder().secrets("ls", yaml).secrets("leak", leak).start();
    // The reviewer's case: read as YAML 1.2, `note` ran on into `db_password`.
    let note = agent.get_secret("leak", "note", &agent.mint_for("leak", "note*"));
    assert_eq!(ok_json(&note)["value"], "line1\nline2\u{2028}", "only note's own value");
    let narrow = agent.mint_for("ls", "note*");
    assert_eq!(agent.secret_value("ls", "note", &narrow), "line1\nline2\u{2028}");
    assert_eq!(ok_json(&agent.list_keys("ls", &narrow))["keys"], json!(["note"]));
    let token = agent.mint_for("ls", "*");
    let want = [
        ("db_password", "hunter2-ls-9f3"),
        ("para", "p\u{2029}q"),
        ("lines", "lit\n\u{2028}\nz"),
        ("nel", "n\u{85}el"),
        ("prod/user", "u-merged-ls"),
        ("prod/pass", "p-prod-ls"),
    ];
    for (key, value) in want {
        assert_eq!(agent.secret_value("ls", key, &token), value, "{key}");
    }
    let keys = ok_json(&agent.list_keys("ls", &token));
    let all = ["base/user", "db_password", "lines", "nel", "note", "para", "prod/pass", "prod/user"];
    assert_eq!(keys["keys"], json!(all));
}

/// sops' JSON output keeps only a file's first document: a file with keys
/// after it must be refused as on the YAML path, not served in part.
#[test]
fn a_yaml_file_with_line_separators_and_a_second_document_is_refused() {
    let agent = TestAgent::builder().secrets("multi", "a: \"x\\Ly\"\nb: one\n---\nc: two\n").start();
    let token = agent.mint_for("multi", "*");
    for key in ["a", "b", "c"] {
        assert_error(&agent.get_secret("multi", key, &token), 500, "decryption_failed");
    }
}

/// The second sops run (JSON) shares the first one's --sops-timeout-seconds:
/// the lease and the request deadline are checked against one timeout, so
/// two full runs answered 503 or 408 (reproduced) where one must answer.
/// Both runs are counted in `vanta_sops_runs_total`.
#[test]
fn the_second_run_of_a_file_with_line_separators_shares_the_sops_timeout() {
    let builder = TestAgent::builder().secrets("ls", "a: \"x\\Ly\"\n");
    let slow = vanta_integration_tests::staged::write_program(
        &builder.paths().root.join("slow-sops"),
        &format!("#!/bin/sh\nsleep 1.6\nexec '{}' \"$@\"\n", vanta_integration_tests::bins::sops().display()),
    );
    let agent = builder.arg("--sops-bin").arg(&slow).args(["--sops-timeout-seconds", "2"]).start();
    let token = agent.mint_for("ls", "*");
    assert_error(&agent.get_secret("ls", "a", &token), 504, "sops_timeout");
    let metrics = agent.get("/metrics", None).text();
    assert!(metrics.lines().any(|l| l == "vanta_sops_runs_total 2"), "both runs counted:\n{metrics}");
}

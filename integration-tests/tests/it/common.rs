//! Fixtures and assertions shared by the test modules.

use serde_json::Value;
use vanta_integration_tests::agent::{AgentBuilder, TestAgent};
use vanta_integration_tests::http::Response;
use vanta_integration_tests::process::Finished;

/// The `dev` environment: every kind of value the contract talks about.
pub(crate) const DEV_YAML: &str = r#"DATABASE_URL: "postgres://app:s3cr3t-db-pass@db:5432/app?sslmode=require"
DATABASE_USER: dbuser-7c1e
QUOTES: "she said \"hi-q7\" and 'bye'"
DOLLAR: "$HOME ${PATH} $(id) `id` cost-$5"
HASH: "value-h4 # not a comment"
NEWLINES: "line1-n9\nline2\n\nline4"
MULTILINE: |
  first line ml-5k
  second line
UNICODE: "héllo wörld ✓ 日本語 🎉 u-8z"
EMPTY: ""
INT: 42
FLOAT: 3.14
NEG: -7
BOOL_TRUE: true
BOOL_FALSE: false
NULL_KEY: null
LIST_KEY: [list-a, list-b]
version.major: "3"
API_KEYS:
  stripe: sk_test_stripe_51Hx
  github: ghp_github_token_9Q
  nested:
    deep: deep-value-2b
"#;

/// Every leaf of [`DEV_YAML`] and the value the agent must return for it.
pub(crate) const DEV_VALUES: &[(&str, &str)] = &[
    ("DATABASE_URL", "postgres://app:s3cr3t-db-pass@db:5432/app?sslmode=require"),
    ("DATABASE_USER", "dbuser-7c1e"),
    ("QUOTES", "she said \"hi-q7\" and 'bye'"),
    ("DOLLAR", "$HOME ${PATH} $(id) `id` cost-$5"),
    ("HASH", "value-h4 # not a comment"),
    ("NEWLINES", "line1-n9\nline2\n\nline4"),
    ("MULTILINE", "first line ml-5k\nsecond line\n"),
    ("UNICODE", "héllo wörld ✓ 日本語 🎉 u-8z"),
    ("EMPTY", ""),
    ("INT", "42"),
    ("FLOAT", "3.14"),
    ("NEG", "-7"),
    ("BOOL_TRUE", "true"),
    ("BOOL_FALSE", "false"),
    ("version.major", "3"),
    ("API_KEYS/stripe", "sk_test_stripe_51Hx"),
    ("API_KEYS/github", "ghp_github_token_9Q"),
    ("API_KEYS/nested/deep", "deep-value-2b"),
];

/// The value of `key` in [`DEV_VALUES`].
pub(crate) fn dev_value(key: &str) -> &'static str {
    DEV_VALUES.iter().find(|(k, _)| *k == key).map(|(_, v)| *v).expect("key is in DEV_VALUES")
}

/// The values distinctive enough to search for in logs (never short ones
/// like `42` that appear anywhere).
pub(crate) fn scannable_secrets() -> Vec<&'static str> {
    DEV_VALUES.iter().map(|(_, v)| *v).filter(|v| v.len() >= 8).collect()
}

/// A token signed by the test itself for `environment` and `key_pattern`.
pub(crate) fn self_signed(environment: &str, key_pattern: &str) -> String {
    vanta_integration_tests::jwt::sign(&vanta_integration_tests::jwt::claims(environment, key_pattern))
}

/// A builder with [`DEV_YAML`] as `dev`.
pub(crate) fn dev_builder() -> AgentBuilder {
    TestAgent::builder().secrets("dev", DEV_YAML)
}

/// An agent serving [`DEV_YAML`] as `dev`.
pub(crate) fn dev_agent() -> TestAgent {
    dev_builder().start()
}

/// Asserts an error response: status, JSON body `{"error": code, "message": …}`.
pub(crate) fn assert_error(response: &Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "expected HTTP {status} {code}, got {}: {}", response.status, response.text());
    let body = response.json();
    assert_eq!(body["error"], code, "error code in {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "error body has a message: {body}");
}

/// The JSON body of a 200 response.
pub(crate) fn ok_json(response: &Response) -> Value {
    assert_eq!(response.status, 200, "expected 200, got {}: {}", response.status, response.text());
    response.json()
}

/// docs/API.md §6: a CLI error is one clear line on stderr, never a panic or a
/// debug dump, and a non-zero exit.
pub(crate) fn assert_cli_error_line(finished: &Finished) -> String {
    assert_ne!(finished.code(), Some(0), "the command fails; stdout: {}", finished.stdout_text());
    let stderr = finished.stderr_text();
    let line = stderr.trim_end_matches('\n');
    assert!(!line.is_empty(), "an error is explained on stderr");
    assert!(!line.contains('\n'), "the error is a single line: {stderr:?}");
    for dump in ["panicked", "RUST_BACKTRACE", "Error {", "Os {", "kind:"] {
        assert!(!line.contains(dump), "no panic or debug dump ({dump}): {line}");
    }
    line.to_owned()
}

/// The environment variable name `vanta-cli` gives a key (docs/API.md §6).
pub(crate) fn var_name(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// Sends the agent at `socket` enough refused reads, each on a connection
/// of its own, that their audit records (~300 bytes each) fill an audit pipe
/// nobody reads; returns the connections, whose requests then wait.
pub(crate) fn fill_the_audit_pipe(socket: &std::path::Path) -> Vec<std::os::unix::net::UnixStream> {
    // Room for the connections beside the other tests' descriptors.
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, soft.max(hard.min(4096)), hard);
    }
    let request = b"GET /api/v1/vault/dev/KEY HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x.y.z\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..600 {
        let Ok(mut stream) = std::os::unix::net::UnixStream::connect(socket) else { break };
        let _ = std::io::Write::write_all(&mut stream, request);
        held.push(stream);
    }
    held
}

/// What the agent's connection caps need by default (1024 socket
/// connections and 64 to spare; no policy file, no TCP).
pub(crate) const DEFAULT_OPEN_FILES_NEEDED: u64 = 1088;

/// A hard open-files limit the test may give the agent with `prlimit` that
/// covers [`DEFAULT_OPEN_FILES_NEEDED`]: 4096, or the test's own hard limit
/// when lower and not root (only root raises a hard limit); `None` when
/// that is too low.
pub(crate) fn roomy_open_files_limit() -> Option<u64> {
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).ok()?;
    let limit = if nix::unistd::geteuid().is_root() { 4096 } else { hard.min(4096) };
    (limit >= DEFAULT_OPEN_FILES_NEEDED).then_some(limit)
}

//! Fixtures shared by the `run` modules, the black-box tests of
//! `vanta-cli run-with-secrets` as people use it in production: secrets,
//! argument lists, helper paths, and the checks every module makes.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::bins;
use vanta_integration_tests::cli::RunningCli;
use vanta_integration_tests::process::Finished;

/// The `app` environment: plain keys, a nested one, distinctive values.
pub(crate) const APP_YAML: &str = r#"DB_URL: "postgres://app:pw-9f3k@db/app"
DB_USER: app-user-2m
API_KEYS:
  stripe: sk_live_stripe_77Q
  github: ghp_github_55Z
MARK: marker-value-8c
"#;

/// Every leaf of [`APP_YAML`], its variable name and its value.
pub(crate) const APP_VALUES: &[(&str, &str, &str)] = &[
    ("DB_URL", "DB_URL", "postgres://app:pw-9f3k@db/app"),
    ("DB_USER", "DB_USER", "app-user-2m"),
    ("API_KEYS/stripe", "API_KEYS_stripe", "sk_live_stripe_77Q"),
    ("API_KEYS/github", "API_KEYS_github", "ghp_github_55Z"),
    ("MARK", "MARK", "marker-value-8c"),
];

/// How long a signalled run may take to end.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// An agent serving [`APP_YAML`] as `app`.
pub(crate) fn app_agent() -> TestAgent {
    TestAgent::builder().secrets("app", APP_YAML).start()
}

/// An agent serving `values` (key, value) as `app`, written as JSON, which
/// is YAML too and quotes any value exactly.
pub(crate) fn agent_with(values: &[(&str, &str)]) -> TestAgent {
    let map: serde_json::Map<String, Value> = values.iter().map(|(k, v)| ((*k).to_owned(), Value::from(*v))).collect();
    TestAgent::builder().secrets("app", &Value::Object(map).to_string()).start()
}

/// `run-with-secrets --environment app --key-pattern PATTERN [extra] -- CMD...`
pub(crate) fn run_args(pattern: &str, extra: &[&str], cmd: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["run-with-secrets", "--environment", "app", "--key-pattern", pattern].map(String::from).to_vec();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.push("--".to_owned());
    args.extend(cmd.iter().map(|s| (*s).to_owned()));
    args
}

/// The path of a helper binary, as a string for argument lists.
pub(crate) fn helper(name: &str) -> String {
    bins::helper(name).to_str().expect("helper paths are UTF-8").to_owned()
}

/// A path as a string for argument lists.
pub(crate) fn path_arg(path: &Path) -> String {
    path.to_str().expect("test paths are UTF-8").to_owned()
}

/// stdout as one JSON value.
pub(crate) fn json(stdout: &[u8]) -> Value {
    serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(stdout)))
}

/// Asserts exit code `code`, showing stderr if not.
pub(crate) fn assert_code(finished: &Finished, code: i32) {
    assert_eq!(finished.code(), Some(code), "exit status {:?}; stderr: {}", finished.status, finished.stderr_text());
}

/// docs/API.md §6: a failure before the command starts is exit 1, one line on
/// stderr, no panic or debug dump, and the command did not run (it would
/// have printed to stdout).
pub(crate) fn assert_refused(finished: &Finished) -> String {
    assert_refused_with(finished, 1)
}

/// As [`assert_refused`], for options that cannot be used together: a usage
/// error, exit 2 (operator guide, "Errors before the command starts").
pub(crate) fn assert_usage_error(finished: &Finished) -> String {
    assert_refused_with(finished, 2)
}

fn assert_refused_with(finished: &Finished, code: i32) -> String {
    assert_code(finished, code);
    let stderr = finished.stderr_text();
    let line = stderr.trim_end_matches('\n');
    assert!(line.starts_with("vanta-cli: error: "), "one error line: {stderr:?}");
    assert!(!line.contains('\n'), "the error is a single line: {stderr:?}");
    for dump in ["panicked", "RUST_BACKTRACE", "Error {", "Os {", "kind:"] {
        assert!(!line.contains(dump), "no panic or debug dump ({dump}): {line}");
    }
    assert!(finished.stdout.is_empty(), "the command did not run: {}", finished.stdout_text());
    line.to_owned()
}

/// Asserts that no value of [`APP_VALUES`] appears in `text`.
pub(crate) fn assert_no_values(text: &str, what: &str) {
    for (_, _, value) in APP_VALUES {
        assert!(!text.contains(value), "{what} shows a secret value: {text}");
    }
}

/// Reads stdout lines until one contains `want`; returns it.
pub(crate) fn wait_for_line(running: &RunningCli, want: &str) -> String {
    loop {
        let line = running.next_line(WAIT);
        if line.contains(want) {
            return line;
        }
    }
}

/// The entries of `dir`, by name.
pub(crate) fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

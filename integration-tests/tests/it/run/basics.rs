//! docs/API.md §6 `vanta-cli run-with-secrets`: what the child gets, and what
//! happens when something is wrong.

use std::path::Path;

use serde_json::{Value, json};
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::bins;
use vanta_integration_tests::cli::Cli;

use crate::common::{DEV_VALUES, assert_cli_error_line, dev_agent, scannable_secrets, var_name};
use crate::run::dotenv;

/// `run-with-secrets --environment dev --key-pattern PATTERN [extra] -- CMD...`
fn run_args<'a>(pattern: &'a str, extra: &[&'a str], cmd: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run-with-secrets", "--environment", "dev", "--key-pattern", pattern];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(cmd);
    args
}

fn helper(name: &str) -> String {
    bins::helper(name).to_str().expect("helper paths are UTF-8").to_owned()
}

fn json_stdout(stdout: &[u8]) -> Value {
    serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("child stdout is not JSON ({e}): {}", String::from_utf8_lossy(stdout)))
}

#[test]
fn env_mode_sets_one_variable_per_key() {
    let agent = dev_agent();
    let print_env = helper("print-env");
    let finished = Cli::new(agent.socket()).run(&run_args("*", &[], &[&print_env]));
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr_text());
    let env = json_stdout(&finished.stdout);
    for (key, value) in DEV_VALUES {
        assert_eq!(env[var_name(key)].as_str(), Some(*value), "{key} as {}", var_name(key));
    }
    let stderr = finished.stderr_text();
    assert!(stderr.contains("API_KEYS_stripe"), "stderr reports the injected names: {stderr}");
    for secret in scannable_secrets() {
        assert!(!stderr.contains(secret), "stderr shows a value: {stderr}");
    }
}

#[test]
fn keys_narrow_what_is_fetched() {
    let agent = dev_agent();
    let print_env = helper("print-env");
    let cmd = [print_env.as_str(), "API_KEYS_stripe", "API_KEYS_github", "DATABASE_URL"];
    let finished = Cli::new(agent.socket()).run(&run_args("API_KEYS/*", &["--key", "API_KEYS/stripe"], &cmd));
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr_text());
    let env = json_stdout(&finished.stdout);
    assert_eq!(env["API_KEYS_stripe"], "sk_test_stripe_51Hx");
    assert_eq!((&env["API_KEYS_github"], &env["DATABASE_URL"]), (&Value::Null, &Value::Null));
}

#[test]
fn a_given_token_is_used() {
    let agent = dev_agent();
    let token = agent.mint_for("dev", "DATABASE_*");
    let print_env = helper("print-env");
    let cmd = [print_env.as_str(), "DATABASE_URL", "DATABASE_USER"];
    let by_flag = Cli::new(agent.socket()).run(&run_args("DATABASE_*", &["--token", &token], &cmd));
    let by_env = Cli::new(agent.socket()).env("VANTA_TOKEN", &token).run(&run_args("DATABASE_*", &[], &cmd));
    for finished in [by_flag, by_env] {
        assert_eq!(finished.code(), Some(0), "{}", finished.stderr_text());
        assert_eq!(json_stdout(&finished.stdout)["DATABASE_USER"], "dbuser-7c1e");
    }
    let jtis: Vec<Value> = agent.wait_audit_lines(5).iter().map(|r| r["jti"].clone()).collect();
    let minted = &jtis[0];
    assert!(jtis[1..].iter().all(|j| j == minted), "only the given token was used: {jtis:?}");
}

#[test]
fn file_mode_writes_a_private_dotenv_file_that_is_gone_afterwards() {
    let agent = dev_agent();
    let report = helper("run-inspect");
    let finished = Cli::new(agent.socket()).run(&run_args("*", &["--inject-as", "file"], &[&report]));
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr_text());
    let report = json_stdout(&finished.stdout);
    assert_eq!(report["mode"], 0o600, "the file is 0600: {report}");
    assert_eq!(report["dir_mode"], 0o700, "its directory is private: {report}");
    assert_gone(&report);
    let vars = dotenv::parse(report["content"].as_str().expect("the file was readable"));
    for (key, value) in DEV_VALUES {
        assert_eq!(vars.get(&var_name(key)).map(String::as_str), Some(*value), "{key} in the .env file");
    }
}

fn assert_gone(report: &Value) {
    for field in ["path", "dir"] {
        let path = Path::new(report[field].as_str().expect("a path"));
        assert!(!path.exists(), "{} is removed after the command", path.display());
    }
}

#[test]
fn colliding_variable_names_fail_before_anything_runs() {
    let agent = TestAgent::builder().secrets("dev", "A-B: first\nA_B: second\nC: fine\n").start();
    let print_env = helper("print-env");
    let finished = Cli::new(agent.socket()).run(&run_args("*", &[], &[&print_env]));
    let line = assert_cli_error_line(&finished);
    assert_ne!(finished.code(), Some(127));
    assert!(line.contains("A_B"), "the error names the variable: {line}");
    assert!(finished.stdout.is_empty(), "the command did not run");
}

#[test]
fn a_secret_that_cannot_be_fetched_means_exit_1_and_no_command() {
    let agent = dev_agent();
    let print_env = helper("print-env");
    let cli = Cli::new(agent.socket());
    let missing = cli.run(&run_args("*", &["--key", "INT", "--key", "NOPE"], &[&print_env]));
    assert_cli_error_line(&missing);
    assert_eq!(missing.code(), Some(1));
    assert!(missing.stdout.is_empty(), "the command did not run");
    let token = agent.mint_for("dev", "DATABASE_*");
    let forbidden = cli.run(&run_args("*", &["--token", &token, "--key", "API_KEYS/stripe"], &[&print_env]));
    assert_eq!(forbidden.code(), Some(1), "{}", forbidden.stderr_text());
    assert!(forbidden.stdout.is_empty(), "the command did not run");
}

#[test]
fn no_agent_means_exit_1_one_line_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody.sock");
    let print_env = helper("print-env");
    let finished = Cli::new(&socket).run(&run_args("*", &[], &[&print_env]));
    let line = assert_cli_error_line(&finished);
    assert_eq!(finished.code(), Some(1));
    assert!(line.contains(socket.to_str().unwrap()), "the error names the socket: {line}");
    assert!(finished.stdout.is_empty(), "the command did not run");
}

#[test]
fn the_child_inherits_stdin_and_the_run_uses_subject_and_ttl() {
    let agent = dev_agent();
    let args = run_args("INT", &["--subject", "runner-7", "--ttl", "3"], &["cat"]);
    let finished = Cli::new(agent.socket()).run_with_stdin(&args, b"piped input\n");
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr_text());
    assert_eq!(finished.stdout_text(), "piped input\n");
    let records = agent.wait_audit_lines(3);
    let minted = records.iter().find(|r| r["event"] == "token_generate").expect("the CLI minted a token");
    assert_eq!((&minted["subject"], &minted["key_pattern"]), (&json!("runner-7"), &json!("INT")));
    let served = records.iter().find(|r| r["event"] == "secret_access").expect("the CLI fetched INT");
    assert_eq!(
        (&served["subject"], &served["key"], &served["jti"]),
        (&json!("runner-7"), &json!("INT"), &minted["jti"])
    );
}

//! `--require-request-header` (operator guide, "Security model"): against
//! SSRF, every route but `/healthz` answers 412 `precondition_failed` unless
//! the request carries `X-Vanta-Request: true`; `vanta-cli` always sends it.

use serde_json::json;
use vanta_integration_tests::agent::{GENERATE_PATH, TestAgent};
use vanta_integration_tests::cli::Cli;

use crate::common::{assert_error, dev_builder, dev_value, ok_json, self_signed};

/// Method, path, headers, body.
type Request<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Option<Vec<u8>>);

const HEADER: (&str, &str) = ("X-Vanta-Request", "true");

fn guarded() -> TestAgent {
    dev_builder().arg("--require-request-header").start()
}

fn mint_body() -> Vec<u8> {
    json!({"subject": "ssrf", "environment": "dev", "key_pattern": "*"}).to_string().into_bytes()
}

#[test]
fn requests_without_the_header_are_412() {
    let agent = guarded();
    let token = self_signed("dev", "*");
    let auth = format!("Bearer {token}");
    let json_type = ("Content-Type", "application/json");
    let secret = "/api/v1/vault/dev/DATABASE_URL";
    let cases: Vec<Request<'_>> = vec![
        ("POST", GENERATE_PATH, vec![json_type], Some(mint_body())),
        ("GET", secret, vec![("Authorization", &auth)], None),
        ("GET", "/api/v1/vault/dev", vec![("Authorization", &auth)], None),
        ("GET", secret, vec![("Authorization", &auth), ("X-Vanta-Request", "false")], None),
        ("GET", secret, vec![("Authorization", &auth), ("X-Vanta-Request", "")], None),
        ("GET", secret, vec![], None),
    ];
    for (method, path, headers, body) in cases {
        let response = agent.request(method, path, &headers, body.as_deref());
        assert_error(&response, 412, "precondition_failed");
        assert!(!response.text().contains(dev_value("DATABASE_URL")), "{method} {path} {headers:?}");
    }
    assert_eq!(ok_json(&agent.get("/healthz", None)), json!({"status": "ok"}), "probes still work");
}

#[test]
fn requests_with_the_header_work() {
    let agent = guarded();
    let minted =
        agent.request("POST", GENERATE_PATH, &[HEADER, ("Content-Type", "application/json")], Some(&mint_body()));
    let token = ok_json(&minted)["access_token"].as_str().expect("a token").to_owned();
    let auth = format!("Bearer {token}");
    let secret = agent.request("GET", "/api/v1/vault/dev/DATABASE_URL", &[HEADER, ("Authorization", &auth)], None);
    assert_eq!(ok_json(&secret)["value"], dev_value("DATABASE_URL"));
    let listed =
        agent.request("GET", "/api/v1/vault/dev", &[("x-vanta-request", "true"), ("Authorization", &auth)], None);
    assert!(ok_json(&listed)["keys"].as_array().is_some_and(|k| !k.is_empty()));
}

#[test]
fn the_environment_variable_turns_it_on() {
    // Any usual spelling of yes, as systemd units and Helm values write it.
    for yes in ["true", "1", "YES", "on"] {
        let agent = dev_builder().env("VANTA_REQUIRE_REQUEST_HEADER", yes).start();
        assert_error(&agent.get_secret("dev", "INT", &self_signed("dev", "*")), 412, "precondition_failed");
    }
    let agent = dev_builder().env("VANTA_REQUIRE_REQUEST_HEADER", "0").start();
    assert_eq!(agent.get_secret("dev", "INT", &self_signed("dev", "*")).status, 200, "0 is off");
}

#[test]
fn vanta_cli_works_against_a_guarded_agent() {
    let agent = guarded();
    let cli = Cli::new(agent.socket());
    let got = cli.run(&["get", "--environment", "dev", "DATABASE_URL"]);
    assert_eq!(got.code(), Some(0), "{}", got.stderr_text());
    assert_eq!(got.stdout_text().trim_end_matches('\n'), dev_value("DATABASE_URL"));
    let minted = cli.run(&["token", "generate", "--subject", "s", "--environment", "dev", "--key-pattern", "*"]);
    assert_eq!(minted.code(), Some(0), "{}", minted.stderr_text());
    let token = cli.run(&[
        "token",
        "generate",
        "--subject",
        "s",
        "--environment",
        "dev",
        "--key-pattern",
        "*",
        "--output",
        "token",
    ]);
    let token = token.stdout_text().trim().to_owned();
    let with_token = cli.run(&["get", "--environment", "dev", "INT", "--token", &token]);
    assert_eq!((with_token.code(), with_token.stdout_text().trim()), (Some(0), "42"), "{}", with_token.stderr_text());
    let exported = cli.run(&["run-with-secrets", "--environment", "dev", "--key-pattern", "INT", "--", "true"]);
    assert_eq!(exported.code(), Some(0), "{}", exported.stderr_text());
}

#[test]
fn off_by_default() {
    let agent = TestAgent::builder().start();
    let body = json!({"subject": "s", "environment": "dev", "key_pattern": "*"});
    assert_eq!(agent.generate(&body).status, 200, "no header needed without the flag (docs/API.md §7)");
}

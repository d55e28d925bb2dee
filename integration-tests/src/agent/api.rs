//! HTTP calls to a [`TestAgent`] and its audit log (harness).
//!
//! Thin conveniences over [`crate::http`]: they return the raw [`Response`]
//! so tests assert status, headers and bytes themselves; only [`TestAgent::mint`]
//! insists on success.

use std::fs;
use std::time::Duration;

use serde_json::Value;

use super::TestAgent;
use crate::http::{self, Response};
use crate::process;

/// `POST` here mints a token (docs/API.md §4).
pub const GENERATE_PATH: &str = "/api/v1/vault/tokens/generate";

// === impl TestAgent ===

impl TestAgent {
    /// Sends one request over the agent's socket.
    ///
    /// # Panics
    /// On an I/O error or an unparsable response.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Response {
        http::try_request(self.socket(), method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} over {}: {e}", self.socket().display()))
    }

    /// `GET path`, with `Authorization: Bearer <token>` if a token is given.
    pub fn get(&self, path: &str, token: Option<&str>) -> Response {
        match token {
            Some(token) => self.request("GET", path, &[("Authorization", &format!("Bearer {token}"))], None),
            None => self.request("GET", path, &[], None),
        }
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &Value) -> Response {
        let bytes = body.to_string();
        self.request("POST", path, &[("Content-Type", "application/json")], Some(bytes.as_bytes()))
    }

    /// `POST /api/v1/vault/tokens/generate` with `body`.
    pub fn generate(&self, body: &Value) -> Response {
        self.post_json(GENERATE_PATH, body)
    }

    /// Mints a token and returns the JWT.
    ///
    /// # Panics
    /// Unless the agent answers 200 with an `access_token`.
    pub fn mint(&self, body: &Value) -> String {
        let response = self.generate(body);
        assert_eq!(response.status, 200, "minting {body} failed: {}", response.text());
        response.json()["access_token"].as_str().expect("access_token is a string").to_owned()
    }

    /// Mints a token for `environment` and `key_pattern`.
    pub fn mint_for(&self, environment: &str, key_pattern: &str) -> String {
        self.mint(&serde_json::json!({
            "subject": "integration-test", "environment": environment, "key_pattern": key_pattern,
        }))
    }

    /// `GET /api/v1/vault/{env}/{key}` (both inserted as given, unescaped).
    pub fn get_secret(&self, env: &str, key: &str, token: &str) -> Response {
        self.get(&format!("/api/v1/vault/{env}/{key}"), Some(token))
    }

    /// The value of a secret that must be served.
    ///
    /// # Panics
    /// Unless the agent answers 200 with a string `value`.
    pub fn secret_value(&self, env: &str, key: &str, token: &str) -> String {
        let response = self.get_secret(env, key, token);
        assert_eq!(response.status, 200, "GET {env}/{key}: {}", response.text());
        response.json()["value"].as_str().expect("value is a string").to_owned()
    }

    /// `GET /api/v1/vault/{env}`.
    pub fn list_keys(&self, env: &str, token: &str) -> Response {
        self.get(&format!("/api/v1/vault/{env}"), Some(token))
    }

    /// The audit file's records so far, one JSON value per line.
    ///
    /// # Panics
    /// If a line is not JSON.
    pub fn audit_lines(&self) -> Vec<Value> {
        let text = fs::read_to_string(&self.paths.audit).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}")))
            .collect()
    }

    /// Waits (up to 5 s) until the audit file holds at least `n` records,
    /// then returns them all.
    pub fn wait_audit_lines(&self, n: usize) -> Vec<Value> {
        process::poll_until(Duration::from_secs(5), &format!("{n} audit records"), || {
            let lines = self.audit_lines();
            (lines.len() >= n).then_some(lines)
        })
    }
}

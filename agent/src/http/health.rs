//! Probes and metrics, no auth: `GET /healthz` (the agent answers),
//! `GET /readyz` (it can serve), `GET /metrics` (Prometheus text).

use bytes::Bytes;
use http_body_util::Full;
use hyper::StatusCode;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value, json};
use vanta_shared::api::Health;

use super::{Response, json_response};
use crate::sops::SecretSource;
use crate::usage::UsageStore;
use crate::vault::Vault;

/// 200 `{"status": "ok"}`.
pub fn healthz() -> Response {
    json_response(StatusCode::OK, &Health { status: "ok".to_owned() })
}

/// 200 `{"status": "ready", "checks": {...}}`, or 503 with the error body
/// fields and the failing checks; `warnings` when there is something to say
/// that does not make the agent unready. No check's text names a path: the
/// probe is unauthenticated, also over TCP.
pub async fn readyz<S: SecretSource, U: UsageStore>(vault: &Vault<S, U>) -> Response {
    let readiness = vault.readiness().await;
    let mut checks = Map::new();
    for (name, outcome) in &readiness.checks {
        let value = match outcome {
            Ok(()) => Value::from("ok"),
            Err(problem) => Value::from(problem.as_str()),
        };
        checks.insert((*name).to_owned(), value);
    }
    let mut body = if readiness.is_ready() {
        json!({"status": "ready", "checks": checks})
    } else {
        let failing: Vec<&str> = readiness.checks.iter().filter(|(_, o)| o.is_err()).map(|(n, _)| *n).collect();
        json!({"error": "not_ready", "message": format!("not ready: {}", failing.join(", ")),
               "status": "not_ready", "checks": checks})
    };
    if !readiness.warnings.is_empty() {
        let warnings: Map<String, Value> =
            readiness.warnings.iter().map(|(topic, text)| ((*topic).to_owned(), Value::from(text.as_str()))).collect();
        body["warnings"] = Value::Object(warnings);
    }
    let status = if readiness.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    json_response(status, &body)
}

/// The Prometheus text exposition.
pub fn metrics<S: SecretSource, U: UsageStore>(vault: &Vault<S, U>) -> Response {
    let mut response = hyper::Response::new(Full::new(Bytes::from(vault.metrics.render())));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

//! Probes and metrics, no auth: `GET /healthz` (the agent answers),
//! `GET /readyz` (it can serve), `GET /metrics` (Prometheus text).

use bytes::Bytes;
use http_body_util::Full;
use hyper::StatusCode;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value};
use vanta_shared::ErrorCode;
use vanta_shared::api::Health;

use super::error::{ApiError, answer};
use super::{Response, json_response};
use crate::metrics::Metrics;
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
    let mut extra = Map::new();
    if !readiness.warnings.is_empty() {
        let warnings: Map<String, Value> =
            readiness.warnings.iter().map(|(topic, text)| ((*topic).to_owned(), Value::from(text.as_str()))).collect();
        extra.insert("warnings".to_owned(), Value::Object(warnings));
    }
    if readiness.is_ready() {
        extra.insert("status".to_owned(), Value::from("ready"));
        extra.insert("checks".to_owned(), Value::Object(checks));
        return json_response(StatusCode::OK, &extra);
    }
    let failing: Vec<&str> = readiness.checks.iter().filter(|(_, o)| o.is_err()).map(|(n, _)| *n).collect();
    extra.insert("status".to_owned(), Value::from("not_ready"));
    extra.insert("checks".to_owned(), Value::Object(checks));
    let (_, message) = answer(ErrorCode::NotReady);
    ApiError::with_message(ErrorCode::NotReady, format!("{message}: {}", failing.join(", "))).into_response_with(extra)
}

/// The Prometheus text exposition.
pub fn metrics(metrics: &Metrics) -> Response {
    let mut response = hyper::Response::new(Full::new(Bytes::from(metrics.render())));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

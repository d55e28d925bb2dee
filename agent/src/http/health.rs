//! `GET /healthz`: the agent answers, no auth.

use hyper::StatusCode;
use vanta_shared::api::Health;

use super::{Response, json_response};

/// 200 `{"status": "ok"}`.
pub fn healthz() -> Response {
    json_response(StatusCode::OK, &Health { status: "ok".to_owned() })
}

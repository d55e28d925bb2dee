//! The HTTP API (layer L3): the only module that knows `Request` and `Response`.
//!
//! [`router`] dispatches; one file per route family turns requests into use
//! case calls ([`tokens`], [`secrets`], [`health`]); [`body`] and [`bearer`]
//! read what requests carry; [`error`] is the one table from error code to
//! status and public message. Same routes on every listener; the limits a
//! request must keep are in [`Limits`] and the constants here.

pub mod bearer;
pub mod body;
pub mod error;
pub mod health;
pub mod router;
pub mod secrets;
pub mod tokens;

use bytes::Bytes;
use http_body_util::Full;

pub use router::Router;

/// Largest total of header names and values accepted (a token is at most 8 KiB).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How long a request may take, set by the operator (docs: operator guide,
/// "Slow clients").
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Demand `X-Vanta-Request: true` on every route but the probes (412).
    pub require_request_header: bool,
    /// Deadline for receiving a whole body (408 after it).
    pub body_timeout: std::time::Duration,
    /// Deadline for answering once the head is in (408 after it).
    pub request_timeout: std::time::Duration,
}

/// Every response the agent sends.
pub type Response = hyper::Response<Full<Bytes>>;

/// Builds a JSON response. Every body is small and built in memory.
fn json_response(status: hyper::StatusCode, body: &impl serde::Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = hyper::Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    // Tokens and secrets must not be kept by any cache in between.
    headers.insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    response
}

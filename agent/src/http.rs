//! The HTTP API (layer L3): the only module that knows `Request` and `Response`.
//!
//! [`router`] dispatches; one file per route family turns requests into use
//! case calls ([`tokens`], [`secrets`], [`health`]); [`body`] and [`bearer`]
//! read what requests carry; [`error`] is the one table from error code to
//! status and public message. Same routes on every listener.

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

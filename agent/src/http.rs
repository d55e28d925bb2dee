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

/// The body sent when a response cannot be encoded: never an empty `{}`
/// with the intended status.
const UNENCODABLE: &[u8] = br#"{"error":"internal","message":"internal error"}"#;

/// Builds a JSON response. Every body is small and built in memory; one that
/// cannot be encoded becomes a 500 `internal`.
fn json_response(status: hyper::StatusCode, body: &impl serde::Serialize) -> Response {
    let (status, bytes) = match serde_json::to_vec(body) {
        Ok(bytes) => (status, Bytes::from(bytes)),
        Err(err) => {
            tracing::error!(error = %err, "failed to encode a response");
            (hyper::StatusCode::INTERNAL_SERVER_ERROR, Bytes::from_static(UNENCODABLE))
        }
    };
    let mut response = hyper::Response::new(Full::new(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    // Tokens and secrets must not be kept by any cache in between.
    headers.insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Unencodable;

    impl serde::Serialize for Unencodable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("no"))
        }
    }

    #[test]
    fn a_body_that_cannot_be_encoded_is_a_500_not_an_empty_success() {
        let response = json_response(hyper::StatusCode::OK, &Unencodable);
        assert_eq!(response.status(), hyper::StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = serde_json::from_slice(UNENCODABLE).expect("valid JSON");
        let (status, message) = error::answer(vanta_shared::ErrorCode::Internal);
        assert_eq!((body["error"].as_str(), body["message"].as_str()), (Some("internal"), Some(message.as_ref())));
        assert_eq!(status, response.status(), "the table's status and message");
    }
}

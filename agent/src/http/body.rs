//! Reading a request body: within the size limit, within the body deadline,
//! then parsed as a token or revoke request.

use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Incoming};
use serde_json::Value;
use vanta_shared::ErrorCode;
use vanta_shared::api::FieldError;
use vanta_shared::defaults::MAX_BODY_BYTES;

use super::error::ApiError;

/// A request body that was read, whether or not its fields are valid.
pub struct JsonBody<T> {
    /// The JSON as sent: the audit record echoes its names even when refused.
    pub raw: Value,
    /// The checked request, or why its fields are wrong (422).
    pub parsed: Result<T, ApiError>,
}

/// Reads at most 64 KiB within `deadline` and checks it with `parse`
/// (`GenerateTokenRequest::from_json`, `RevokeTokenRequest::from_json`).
///
/// # Errors
/// 413 over the limit (at once when the declared length is), 408 past the
/// deadline, 400 if the bytes are not JSON or the connection fails mid-body.
pub async fn read_request<T>(
    body: Incoming,
    deadline: Duration,
    parse: impl FnOnce(&Value) -> Result<T, FieldError>,
) -> Result<JsonBody<T>, ApiError> {
    let raw = read_json(body, deadline).await?;
    let parsed = parse(&raw).map_err(|err| ApiError::with_message(ErrorCode::ValidationError, err.to_string()));
    Ok(JsonBody { raw, parsed })
}

async fn read_json(body: Incoming, deadline: Duration) -> Result<Value, ApiError> {
    // `Limited` counts only bytes that arrived: a body declared too long but
    // sent slowly (or never) would hold the connection until the deadline.
    if declared_too_long(&body) {
        return Err(ApiError::of(ErrorCode::PayloadTooLarge));
    }
    let collected = match tokio::time::timeout(deadline, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Err(_) => return Err(ApiError::of(ErrorCode::RequestTimeout)),
        Ok(Err(err)) if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return Err(ApiError::of(ErrorCode::PayloadTooLarge));
        }
        Ok(Err(_)) => return Err(not_json()),
        Ok(Ok(collected)) => collected,
    };
    serde_json::from_slice(&collected.to_bytes()).map_err(|_| not_json())
}

/// Whether the body's declared length (`Content-Length`) is over the limit.
fn declared_too_long(body: &impl Body) -> bool {
    usize::try_from(body.size_hint().lower()).map_or(true, |declared| declared > MAX_BODY_BYTES)
}

fn not_json() -> ApiError {
    ApiError::with_message(ErrorCode::BadRequest, "request body is not valid JSON")
}

//! The one table from error code to HTTP status and public message
//! ([`answer`]); every error response of the agent is built here.
//!
//! Every token failure answers the same 401 body and every scope failure the
//! same 403 body, whatever the precise reason (that goes to the audit log):
//! a caller learns nothing from the difference.

use std::borrow::Cow;

use hyper::StatusCode;
use hyper::header::{CONNECTION, HeaderValue, WWW_AUTHENTICATE};
use serde_json::{Map, Value};
use vanta_shared::ErrorCode;
use vanta_shared::defaults::MAX_BODY_BYTES;

use super::{MAX_HEADER_BYTES, Response, json_response};
use crate::vault;

/// An error about to be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: ErrorCode,
    message: Cow<'static, str>,
}

// === impl ApiError ===

impl ApiError {
    /// An error with the fixed public message of its code.
    pub fn of(code: ErrorCode) -> Self {
        Self { code, message: answer(code).1 }
    }

    /// An error whose message says what was wrong with the request itself.
    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: Cow::Owned(message.into()) }
    }

    /// 422: the body gives `field` more than once. JSON leaves the meaning
    /// open and serde_json would keep the last, so two readers could act on
    /// different values.
    pub fn repeated_field(field: &str) -> Self {
        let message = Cow::Owned(format!("field '{field}' is given more than once"));
        Self { code: ErrorCode::ValidationError, message }
    }

    /// 422: `field` holds a number past the range of a 64-bit float, which
    /// serde_json cannot read; it is a bad value of the field, not bad JSON.
    pub fn number_out_of_range(field: &str) -> Self {
        let message = Cow::Owned(format!("field '{field}' holds a number out of range"));
        Self { code: ErrorCode::ValidationError, message }
    }

    /// The code answered.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message answered (never a secret).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The response: status from the table, JSON body, and the
    /// `WWW-Authenticate` challenge on 401.
    pub fn into_response(self) -> Response {
        self.into_response_with(Map::new())
    }

    /// As [`Self::into_response`], with more fields in the body (`/readyz`
    /// adds its checks).
    pub fn into_response_with(self, mut extra: Map<String, Value>) -> Response {
        let (status, _) = answer(self.code);
        extra.insert("error".to_owned(), Value::from(self.code.as_str()));
        extra.insert("message".to_owned(), Value::from(self.message.into_owned()));
        let mut response = json_response(status, &extra);
        // For the metrics' outcome label; never sent.
        response.extensions_mut().insert(self.code);
        let headers = response.headers_mut();
        match self.code {
            ErrorCode::Unauthorized => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // The rest of a late body may still arrive: end the connection.
            ErrorCode::RequestTimeout | ErrorCode::PayloadTooLarge => {
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

impl From<&vault::Error> for ApiError {
    fn from(err: &vault::Error) -> Self {
        match err.code() {
            // These describe the caller's own request, never a secret or a
            // token; a 404 comes only after the scope check, so it says
            // whether the environment or the key is missing (or is not a
            // value) about names the token may read anyway.
            code @ (ErrorCode::BadRequest | ErrorCode::ValidationError | ErrorCode::NotFound) => {
                Self::with_message(code, err.to_string())
            }
            code => Self::of(code),
        }
    }
}

/// The one table: the HTTP status and the fixed public message of each code.
/// Limits in messages are built from the constants that enforce them.
pub fn answer(code: ErrorCode) -> (StatusCode, Cow<'static, str>) {
    let fixed = |status, message: &'static str| (status, Cow::Borrowed(message));
    match code {
        ErrorCode::BadRequest => fixed(StatusCode::BAD_REQUEST, "the request is malformed"),
        ErrorCode::Unauthorized => fixed(StatusCode::UNAUTHORIZED, "a valid bearer token is required"),
        ErrorCode::Forbidden => fixed(StatusCode::FORBIDDEN, "the token does not allow this request"),
        ErrorCode::NotFound => fixed(StatusCode::NOT_FOUND, "not found"),
        ErrorCode::MethodNotAllowed => fixed(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this route"),
        ErrorCode::RequestTimeout => fixed(StatusCode::REQUEST_TIMEOUT, "the request was not received in time"),
        ErrorCode::PreconditionFailed => {
            fixed(StatusCode::PRECONDITION_FAILED, "this agent requires the header 'X-Vanta-Request: true'")
        }
        ErrorCode::PayloadTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            Cow::Owned(format!("request body is larger than {} KiB", MAX_BODY_BYTES / 1024)),
        ),
        ErrorCode::ValidationError => fixed(StatusCode::UNPROCESSABLE_ENTITY, "the request body is invalid"),
        ErrorCode::HeadersTooLarge => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Cow::Owned(format!("request headers are larger than {} KiB", MAX_HEADER_BYTES / 1024)),
        ),
        ErrorCode::DecryptionFailed => {
            fixed(StatusCode::INTERNAL_SERVER_ERROR, "the secrets file could not be decrypted")
        }
        ErrorCode::Internal => fixed(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        ErrorCode::NotReady => fixed(StatusCode::SERVICE_UNAVAILABLE, "not ready"),
        ErrorCode::AuditUnavailable => {
            fixed(StatusCode::SERVICE_UNAVAILABLE, "the audit log cannot be written; nothing is served until it can")
        }
        ErrorCode::UsageStoreUnavailable => fixed(
            StatusCode::SERVICE_UNAVAILABLE,
            "the usage store cannot be reached; tokens with a usage limit are not served until it can",
        ),
        ErrorCode::SopsTimeout => fixed(StatusCode::GATEWAY_TIMEOUT, "decryption did not finish in time"),
    }
}

/// The status of `code`, from [`answer`]: what the audit records name.
pub fn status_of(code: ErrorCode) -> u16 {
    answer(code).0.as_u16()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_messages_name_the_enforced_limits() {
        assert_eq!(answer(ErrorCode::PayloadTooLarge).1, "request body is larger than 64 KiB");
        assert_eq!(answer(ErrorCode::HeadersTooLarge).1, "request headers are larger than 16 KiB");
    }

    #[test]
    fn statuses() {
        let table = [
            (ErrorCode::BadRequest, 400),
            (ErrorCode::Unauthorized, 401),
            (ErrorCode::Forbidden, 403),
            (ErrorCode::NotFound, 404),
            (ErrorCode::MethodNotAllowed, 405),
            (ErrorCode::RequestTimeout, 408),
            (ErrorCode::PreconditionFailed, 412),
            (ErrorCode::PayloadTooLarge, 413),
            (ErrorCode::ValidationError, 422),
            (ErrorCode::HeadersTooLarge, 431),
            (ErrorCode::DecryptionFailed, 500),
            (ErrorCode::Internal, 500),
            (ErrorCode::NotReady, 503),
            (ErrorCode::AuditUnavailable, 503),
            (ErrorCode::UsageStoreUnavailable, 503),
            (ErrorCode::SopsTimeout, 504),
        ];
        for (code, status) in table {
            assert_eq!(status_of(code), status, "{code}");
        }
    }
}

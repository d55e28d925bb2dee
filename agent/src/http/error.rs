//! The one table from error code to HTTP status and public message.
//!
//! Every token failure answers the same 401 body and every scope failure the
//! same 403 body, whatever the precise reason (that goes to the audit log):
//! a caller learns nothing from the difference.

use hyper::StatusCode;
use hyper::header::{HeaderValue, WWW_AUTHENTICATE};
use vanta_shared::ErrorCode;
use vanta_shared::api::ErrorBody;

use super::{Response, json_response};
use crate::vault;

/// An error about to be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
}

// === impl ApiError ===

impl ApiError {
    /// An error with the fixed public message of its code.
    pub fn of(code: ErrorCode) -> Self {
        Self { code, message: public_message(code).to_owned() }
    }

    /// An error whose message says what was wrong with the request itself.
    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// The response: status from the code, JSON body, and the
    /// `WWW-Authenticate` challenge on 401.
    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = json_response(status, &ErrorBody { error: self.code, message: self.message });
        // For the metrics' outcome label; never sent.
        response.extensions_mut().insert(self.code);
        if self.code == ErrorCode::Unauthorized {
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<&vault::Error> for ApiError {
    fn from(err: &vault::Error) -> Self {
        match err.code() {
            // These describe the caller's own request, never a secret or a token.
            code @ (ErrorCode::BadRequest | ErrorCode::ValidationError | ErrorCode::PayloadTooLarge) => {
                Self::with_message(code, err.to_string())
            }
            code => Self::of(code),
        }
    }
}

/// The fixed public message of each code.
fn public_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::BadRequest => "the request is malformed",
        ErrorCode::Unauthorized => "a valid bearer token is required",
        ErrorCode::Forbidden => "the token does not allow this request",
        ErrorCode::NotFound => "not found",
        ErrorCode::MethodNotAllowed => "method not allowed on this route",
        ErrorCode::PreconditionFailed => "this agent requires the header 'X-Vanta-Request: true'",
        ErrorCode::PayloadTooLarge => "request body is larger than 64 KiB",
        ErrorCode::ValidationError => "the request body is invalid",
        ErrorCode::HeadersTooLarge => "request headers are larger than 16 KiB",
        ErrorCode::DecryptionFailed => "the secrets file could not be decrypted",
        ErrorCode::Internal => "internal error",
        ErrorCode::AuditUnavailable => "the audit log cannot be written; nothing is served until it can",
        ErrorCode::UsageStoreUnavailable => {
            "the usage store cannot be reached; tokens with a usage limit are not served until it can"
        }
        ErrorCode::SopsTimeout => "decryption did not finish in time",
    }
}

//! The machine-readable `error` codes of the agent's error bodies (layer L0).

use std::fmt;

use serde::{Deserialize, Serialize};

/// One code per kind of failure (docs/openapi.yaml). The agent's HTTP layer maps
/// each to exactly one HTTP status (the numbers below say which); the client
/// turns them into one-line messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: malformed request, bad environment or key syntax.
    BadRequest,
    /// 401: missing, invalid, expired or used-up token.
    Unauthorized,
    /// 403: the request is outside the token's scope.
    Forbidden,
    /// 404: no such environment file, key, or the key is not a leaf.
    NotFound,
    /// 405: the route exists but not for this method.
    MethodNotAllowed,
    /// 408: the request (its body, or the whole exchange) took too long.
    RequestTimeout,
    /// 412: a required request header is missing (`--require-request-header`).
    PreconditionFailed,
    /// 413: the request body is over the limit.
    PayloadTooLarge,
    /// 431: the request's headers are over the limit.
    HeadersTooLarge,
    /// 422: a well-formed body whose fields are wrong.
    ValidationError,
    /// 500: sops could not decrypt the file.
    DecryptionFailed,
    /// 500: anything else that went wrong inside the agent.
    Internal,
    /// 503: a readiness check failed (`/readyz`).
    NotReady,
    /// 503: the audit record could not be written, so nothing was served.
    AuditUnavailable,
    /// 503: the usage store did not answer, so a token with a usage limit
    /// was not served (tokens without one still are).
    UsageStoreUnavailable,
    /// 504: sops did not finish in time.
    SopsTimeout,
}

// === impl ErrorCode ===

impl ErrorCode {
    /// The code as it appears in the `error` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequestTimeout => "request_timeout",
            Self::PreconditionFailed => "precondition_failed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::ValidationError => "validation_error",
            Self::HeadersTooLarge => "headers_too_large",
            Self::DecryptionFailed => "decryption_failed",
            Self::Internal => "internal",
            Self::NotReady => "not_ready",
            Self::AuditUnavailable => "audit_unavailable",
            Self::UsageStoreUnavailable => "usage_store_unavailable",
            Self::SopsTimeout => "sops_timeout",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_name_matches_as_str() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::Unauthorized,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::RequestTimeout,
            ErrorCode::PreconditionFailed,
            ErrorCode::PayloadTooLarge,
            ErrorCode::ValidationError,
            ErrorCode::HeadersTooLarge,
            ErrorCode::DecryptionFailed,
            ErrorCode::Internal,
            ErrorCode::NotReady,
            ErrorCode::AuditUnavailable,
            ErrorCode::UsageStoreUnavailable,
            ErrorCode::SopsTimeout,
        ] {
            let json = serde_json::to_value(code).expect("serialize");
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
        }
    }
}

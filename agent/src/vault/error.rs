//! Why a use case refused, and which [`ErrorCode`] that is.

use std::error::Error as _;

use vanta_shared::ErrorCode;
use vanta_shared::api::FieldError;
use vanta_shared::env_name::EnvNameError;
use vanta_shared::key_path::KeyPathError;

use crate::access::Denied;
use crate::attest::AttestError;
use crate::audit::AuditError;
use crate::policy::Refusal;
use crate::sops::{Missing, SopsError};
use crate::token::{InvalidToken, IssueError};
use crate::usage::UsageError;

/// A refused request. [`Error::code`] decides the answer; [`Error::detail`]
/// is the precise reason for the audit log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field of the request is wrong.
    #[error("{0}")]
    Validation(FieldError),
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    MissingToken,
    /// The token failed validation.
    #[error(transparent)]
    InvalidToken(InvalidToken),
    /// The token was revoked (answered like any invalid token).
    #[error("token revoked")]
    Revoked,
    /// Every use of a limited token is taken.
    #[error("token usage limit reached")]
    UsageExhausted,
    /// A limited token issued before the usage store existed: its earlier
    /// uses are unknown.
    #[error("limited token issued at {iat}, before the usage store was created at {born_at}")]
    IssuedBeforeStore {
        /// The token's `iat` (Unix seconds).
        iat: u64,
        /// The store's birth (Unix seconds).
        born_at: u64,
    },
    /// The environment in the path is not a valid name.
    #[error("invalid environment name: {0}")]
    BadEnvironment(EnvNameError),
    /// The key in the path is not a valid key path.
    #[error("invalid key: {0}")]
    BadKey(KeyPathError),
    /// Outside the token's scope.
    #[error(transparent)]
    Forbidden(Denied),
    /// The minting policy refuses this caller or this request.
    #[error(transparent)]
    Refused(Refusal),
    /// The local caller could not be attested (it exited, or its pid was
    /// reused), so no rule can be applied.
    #[error("caller not attested")]
    Unattested(#[source] AttestError),
    /// The environment has no secrets file.
    #[error("no such environment")]
    NoEnvironment,
    /// The environment has no leaf at that key (and what is there instead).
    #[error(transparent)]
    NoSuchKey(Missing),
    /// sops (or its file) failed.
    #[error(transparent)]
    Sops(SopsError),
    /// The audit record could not be written.
    #[error(transparent)]
    Audit(AuditError),
    /// The usage store failed.
    #[error(transparent)]
    Usage(UsageError),
    /// Signing failed.
    #[error(transparent)]
    Issue(IssueError),
}

// === impl Error ===

impl Error {
    /// A sops failure; a missing file is a missing environment.
    pub fn from_sops(err: SopsError) -> Self {
        match err {
            SopsError::NoFile => Self::NoEnvironment,
            other => Self::Sops(other),
        }
    }

    /// The machine-readable code answered for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadEnvironment(_) | Self::BadKey(_) => ErrorCode::BadRequest,
            Self::Validation(_) => ErrorCode::ValidationError,
            Self::MissingToken
            | Self::InvalidToken(_)
            | Self::Revoked
            | Self::UsageExhausted
            | Self::IssuedBeforeStore { .. } => ErrorCode::Unauthorized,
            Self::Forbidden(_) | Self::Refused(_) | Self::Unattested(_) => ErrorCode::Forbidden,
            Self::NoEnvironment | Self::NoSuchKey(_) | Self::Sops(SopsError::NoFile) => ErrorCode::NotFound,
            Self::Sops(SopsError::Timeout(_)) => ErrorCode::SopsTimeout,
            Self::Sops(SopsError::Decrypt { .. } | SopsError::Output(_) | SopsError::Ambiguous { .. }) => {
                ErrorCode::DecryptionFailed
            }
            Self::Audit(_) => ErrorCode::AuditUnavailable,
            // Fail closed, and say it is the store: a retry may succeed.
            Self::Usage(_) => ErrorCode::UsageStoreUnavailable,
            Self::Sops(SopsError::Spawn(_)) | Self::Issue(_) => ErrorCode::Internal,
        }
    }

    /// The precise reason, with its causes, on one line (for the audit log;
    /// never holds a secret: no error here carries one).
    pub fn detail(&self) -> String {
        let mut text = self.to_string();
        let mut source = self.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

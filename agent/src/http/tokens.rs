//! `POST /api/v1/vault/tokens/generate` and `POST /api/v1/vault/tokens/revoke`.
//!
//! Steps: the caller is screened from the head (a TCP caller without the
//! admin credential, or a local caller no rule lets mint or revoke, is
//! refused before any body is read), then the body is read within its size
//! and time limits and checked field by field; only a typed request reaches
//! the use case. Every refusal is audited.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use vanta_shared::api::{GenerateTokenRequest, RevokeTokenRequest};

use super::bearer::bearer_token;
use super::body::{self, JsonBody};
use super::error::ApiError;
use super::{Limits, Response, json_response};
use crate::audit::AuditEvent;
use crate::peer::Peer;
use crate::sops::SecretSource;
use crate::usage::UsageStore;
use crate::vault::{RefusedRequest, Vault};

/// Mints a token from the JSON body.
pub async fn generate<S: SecretSource, U: UsageStore>(
    vault: &Vault<S, U>,
    request: Request<Incoming>,
    peer: Peer,
    limits: &Limits,
) -> Response {
    let (parts, body) = request.into_parts();
    let credential = bearer_token(&parts.headers);
    if let Err(err) = vault.screen_minter(&peer, credential).await {
        return ApiError::from(&err).into_response();
    }
    let read = body::read_request(body, limits.body_timeout, GenerateTokenRequest::from_json).await;
    let request = match checked(vault, AuditEvent::TokenGenerate, &peer, credential, read).await {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    match vault.generate_token(&request, peer, credential).await {
        Ok(minted) => json_response(StatusCode::OK, &minted),
        Err(err) => ApiError::from(&err).into_response(),
    }
}

/// Revokes tokens; the body is read only for a caller who may revoke.
pub async fn revoke<S: SecretSource, U: UsageStore>(
    vault: &Vault<S, U>,
    request: Request<Incoming>,
    peer: Peer,
    limits: &Limits,
) -> Response {
    let (parts, body) = request.into_parts();
    let credential = bearer_token(&parts.headers);
    let revoker = match vault.screen_revoker(&peer, credential).await {
        Ok(revoker) => revoker,
        Err(err) => return ApiError::from(&err).into_response(),
    };
    let read = body::read_request(body, limits.body_timeout, RevokeTokenRequest::from_json).await;
    let request = match checked(vault, AuditEvent::TokenRevoke, &peer, credential, read).await {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    match vault.revoke_tokens(peer, revoker, &request).await {
        Ok(revoked) => json_response(StatusCode::OK, &revoked),
        Err(err) => ApiError::from(&err).into_response(),
    }
}

/// The typed request, or the audited refusal of a body that could not be
/// read or whose fields are wrong.
async fn checked<S: SecretSource, U: UsageStore, T>(
    vault: &Vault<S, U>,
    event: AuditEvent,
    peer: &Peer,
    credential: Option<&str>,
    read: Result<JsonBody<T>, ApiError>,
) -> Result<T, Response> {
    let (raw, parsed) = match read {
        Ok(read) => (Some(read.raw), read.parsed),
        Err(refused) => (None, Err(refused)),
    };
    match parsed {
        Ok(request) => Ok(request),
        Err(refused) => {
            let (code, detail) = (refused.code(), refused.message());
            let refused_request =
                RefusedRequest { event, peer: peer.clone(), credential, body: raw.as_ref(), code, detail };
            vault.refuse_request(refused_request).await;
            Err(refused.into_response())
        }
    }
}

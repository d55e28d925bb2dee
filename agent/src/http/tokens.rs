//! `POST /api/v1/vault/tokens/generate` and `POST /api/v1/vault/tokens/revoke`.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::bearer::bearer_token;
use super::error::ApiError;
use super::{Response, body, json_response};
use crate::peer::Peer;
use crate::sops::SecretSource;
use crate::usage::UsageStore;
use crate::vault::Vault;

/// Mints a token from the JSON body.
pub async fn generate<S: SecretSource, U: UsageStore>(
    vault: &Vault<S, U>,
    request: Request<Incoming>,
    peer: Peer,
) -> Response {
    let (parts, body) = request.into_parts();
    let parsed = body::read_json(body).await;
    match vault.generate_token(parsed, peer, bearer_token(&parts.headers)).await {
        Ok(minted) => json_response(StatusCode::OK, &minted),
        Err(err) => ApiError::from(&err).into_response(),
    }
}

/// Revokes tokens; the body is read only for a caller who may mint.
pub async fn revoke<S: SecretSource, U: UsageStore>(
    vault: &Vault<S, U>,
    request: Request<Incoming>,
    peer: Peer,
) -> Response {
    let (parts, body) = request.into_parts();
    match vault.revoke_tokens(peer, bearer_token(&parts.headers), body::read_json(body)).await {
        Ok(revoked) => json_response(StatusCode::OK, &revoked),
        Err(err) => ApiError::from(&err).into_response(),
    }
}

//! `POST /api/v1/vault/tokens/generate`.
//!
//! Steps: the caller is screened from the head (a TCP caller without the
//! admin credential is refused before any body is read), then the body is
//! read within its size and time limits and checked field by field; only a
//! typed request reaches the use case. Every refusal is audited.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::bearer::bearer_token;
use super::error::ApiError;
use super::{Limits, Response, body, json_response};
use crate::peer::Peer;
use crate::sops::SecretSource;
use crate::usage::UsageStore;
use crate::vault::{RefusedMint, Vault};

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
    let (raw, parsed) = match body::read_token_request(body, limits.body_timeout).await {
        Ok(read) => (Some(read.raw), read.parsed),
        Err(refused) => (None, Err(refused)),
    };
    let request = match parsed {
        Ok(request) => request,
        Err(refused) => {
            let (code, detail) = (refused.code(), refused.message());
            vault.refuse_mint(RefusedMint { peer, body: raw.as_ref(), code, detail }).await;
            return refused.into_response();
        }
    };
    match vault.generate_token(&request, peer, credential).await {
        Ok(minted) => json_response(StatusCode::OK, &minted),
        Err(err) => ApiError::from(&err).into_response(),
    }
}

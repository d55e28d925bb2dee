//! `GET /api/v1/vault/{environment}` and `GET /api/v1/vault/{environment}/{key}`.
//!
//! The path is not percent-decoded: `%` is not a valid character of names or
//! keys, so `%2F` tricks are refused as syntax errors (CONTRACT §2).

use hyper::{HeaderMap, StatusCode};
use vanta_shared::api::SecretValue;

use super::bearer::bearer_token;
use super::error::ApiError;
use super::{Response, json_response};
use crate::peer::Peer;
use crate::sops::SecretSource;
use crate::usage::UsageStore;
use crate::vault::{ReadRequest, Vault};

/// Serves one secret, or the key list when `key` is `None`.
pub async fn read<S: SecretSource, U: UsageStore>(
    vault: &Vault<S, U>,
    headers: &HeaderMap,
    environment: &str,
    key: Option<&str>,
    peer: Peer,
) -> Response {
    let request = ReadRequest { bearer: bearer_token(headers), environment, peer };
    match key {
        Some(key) => match vault.get_secret(request, key).await {
            // The value is copied into the response body here; the zeroizing
            // original is wiped when this arm ends.
            Ok(value) => json_response(StatusCode::OK, &SecretValue { value: value.to_string() }),
            Err(err) => ApiError::from(&err).into_response(),
        },
        None => match vault.list_keys(request).await {
            Ok(list) => json_response(StatusCode::OK, &list),
            Err(err) => ApiError::from(&err).into_response(),
        },
    }
}

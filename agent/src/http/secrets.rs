//! `GET /api/v1/vault/{environment}` and `GET /api/v1/vault/{environment}/{key}`.
//!
//! The path is not percent-decoded: `%` is not a valid character of names or
//! keys, so `%2F` tricks are refused as syntax errors (docs/openapi.yaml).
//! Both answer with an `ETag` and honour `If-None-Match` with a bodiless 304.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, ETAG, HeaderValue, IF_NONE_MATCH};
use hyper::{HeaderMap, StatusCode};
use vanta_shared::api::SecretValue;

use super::bearer::bearer_token;
use super::error::ApiError;
use super::{Response, json_response};
use crate::etag::ETag;
use crate::peer::Peer;
use crate::sops::SecretSource;
use crate::usage::UsageStore;
use crate::vault::{Read, ReadRequest, Vault};

/// Serves one secret, or the key list when `key` is `None`.
pub async fn read<S: SecretSource, U: UsageStore>(
    vault: &Vault<S, U>,
    headers: &HeaderMap,
    environment: &str,
    key: Option<&str>,
    peer: Peer,
) -> Response {
    // A header that is not text cannot name one of our tags: as if absent.
    let if_none_match = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    let request = ReadRequest { bearer: bearer_token(headers), environment, peer, if_none_match };
    match key {
        Some(key) => match vault.get_secret(request, key).await {
            // The value is copied into the response body here; the zeroizing
            // original is wiped when this arm ends.
            Ok(read) => answer(read, |value| SecretValue { value: value.to_string() }),
            Err(err) => ApiError::from(&err).into_response(),
        },
        None => match vault.list_keys(request).await {
            Ok(read) => answer(read, |list| list),
            Err(err) => ApiError::from(&err).into_response(),
        },
    }
}

/// 200 with the JSON body, or 304 without one; both carry the tag.
fn answer<T, B: serde::Serialize>(read: Read<T>, body: impl FnOnce(T) -> B) -> Response {
    let (mut response, etag) = match read {
        Read::Fresh { body: value, etag } => (json_response(StatusCode::OK, &body(value)), etag),
        Read::NotModified(etag) => (not_modified(), etag),
    };
    set_etag(&mut response, &etag);
    response
}

fn not_modified() -> Response {
    let mut response = hyper::Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn set_etag(response: &mut Response, etag: &ETag) {
    // Tags are quoted base64url: always a valid header value.
    if let Ok(value) = HeaderValue::from_str(etag.as_str()) {
        response.headers_mut().insert(ETAG, value);
    }
}

//! Dispatch by method and path.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request};
use std::time::Instant;
use vanta_shared::ErrorCode;

use vanta_shared::api::{
    HEALTHZ_PATH, METRICS_PATH, READYZ_PATH, REQUEST_HEADER, TOKENS_GENERATE_PATH, TOKENS_REVOKE_PATH, VAULT_PREFIX,
};

use super::error::ApiError;
use super::{Limits, MAX_HEADER_BYTES, Response, health, secrets, tokens};
use crate::metrics::Metrics;
use crate::peer::Peer;
use crate::sops::SecretSource;
use crate::usage::UsageStore;
use crate::vault::Vault;

/// Routes requests to the use cases and counts them. Cheap to clone (one
/// per connection).
pub struct Router<S, U> {
    vault: Arc<Vault<S, U>>,
    limits: Limits,
    metrics: Arc<Metrics>,
}

impl<S, U> Clone for Router<S, U> {
    fn clone(&self) -> Self {
        Self { vault: Arc::clone(&self.vault), limits: self.limits, metrics: Arc::clone(&self.metrics) }
    }
}

enum Route<'a> {
    Health,
    Ready,
    Metrics,
    Generate,
    Revoke,
    Read { environment: &'a str, key: Option<&'a str> },
    Unknown,
}

// === impl Router ===

impl<S: SecretSource, U: UsageStore> Router<S, U> {
    /// A router over `vault` that holds requests to `limits`, counts them in
    /// `metrics` and serves `metrics` on `/metrics`.
    pub fn new(vault: Arc<Vault<S, U>>, limits: Limits, metrics: Arc<Metrics>) -> Self {
        Self { vault, limits, metrics }
    }

    /// Answers one request from `peer`. Never fails: every error is a response.
    ///
    /// # Errors
    /// None; the `Result` is what hyper's `service_fn` wants.
    pub async fn handle(&self, request: Request<Incoming>, peer: Peer) -> Result<Response, Infallible> {
        let started = Instant::now();
        let path = request.uri().path().to_owned();
        let route = route(&path);
        let (name, mints) = (route.name(), matches!(route, Route::Generate));
        // The whole exchange after the head (body, decryption, audit) has one
        // deadline; hyper's header timeout covers the head.
        // Boxed: the use cases' state is large, and hyper moves the request's
        // future into its slot by value (docs/PERFORMANCE.md).
        let dispatch = Box::pin(self.dispatch(route, request, peer));
        let response = tokio::time::timeout(self.limits.request_timeout, dispatch)
            .await
            .unwrap_or_else(|_| ApiError::of(ErrorCode::RequestTimeout).into_response());
        let outcome = match response.status() {
            status if status.is_success() => "success",
            hyper::StatusCode::NOT_MODIFIED => "not_modified",
            _ => error_code_of(&response),
        };
        self.metrics.observe(name, outcome, started.elapsed().as_secs_f64());
        if response.status().is_success() && mints {
            self.metrics.tokens_minted.inc();
        }
        Ok(response)
    }

    async fn dispatch(&self, route: Route<'_>, request: Request<Incoming>, peer: Peer) -> Response {
        if headers_size(&request) > MAX_HEADER_BYTES {
            return ApiError::of(ErrorCode::HeadersTooLarge).into_response();
        }
        let is_probe = matches!(route, Route::Health | Route::Ready | Route::Metrics);
        if self.limits.require_request_header && !is_probe && !has_request_header(&request) {
            return ApiError::of(ErrorCode::PreconditionFailed).into_response();
        }
        let method = request.method().clone();
        match (route, method) {
            (Route::Health, Method::GET | Method::HEAD) => health::healthz(),
            (Route::Ready, Method::GET | Method::HEAD) => health::readyz(&self.vault).await,
            (Route::Metrics, Method::GET) => health::metrics(&self.metrics),
            (Route::Generate, Method::POST) => tokens::generate(&self.vault, request, peer, &self.limits).await,
            (Route::Revoke, Method::POST) => tokens::revoke(&self.vault, request, peer, &self.limits).await,
            (Route::Read { environment, key }, Method::GET) => {
                secrets::read(&self.vault, request.headers(), environment, key, peer).await
            }
            (Route::Unknown, _) => ApiError::with_message(ErrorCode::NotFound, "no such route").into_response(),
            (route, _) => method_not_allowed(route.allowed_methods()),
        }
    }
}

/// 405 with the `Allow` header RFC 9110 asks for.
fn method_not_allowed(allowed: &'static str) -> Response {
    let mut response = ApiError::of(ErrorCode::MethodNotAllowed).into_response();
    response.headers_mut().insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static(allowed));
    response
}

// === impl Route ===

impl Route<'_> {
    /// The methods the route answers, for `Allow`.
    fn allowed_methods(&self) -> &'static str {
        match self {
            Self::Health | Self::Ready => "GET, HEAD",
            Self::Metrics | Self::Read { .. } | Self::Unknown => "GET",
            Self::Generate | Self::Revoke => "POST",
        }
    }

    /// The `route` label of metrics: bounded, never a requested name.
    fn name(&self) -> &'static str {
        match self {
            Self::Health => "healthz",
            Self::Ready => "readyz",
            Self::Metrics => "metrics",
            Self::Generate => "token_generate",
            Self::Revoke => "token_revoke",
            Self::Read { key: Some(_), .. } => "secret",
            Self::Read { key: None, .. } => "key_list",
            Self::Unknown => "unknown",
        }
    }
}

/// The `outcome` label of an error response: its error code.
fn error_code_of(response: &Response) -> &'static str {
    response.extensions().get::<ErrorCode>().map_or("other", |code| code.as_str())
}

/// Bytes of all header names and values. hyper bounds what it buffers per
/// connection; this is the limit a client is told about.
fn headers_size(request: &Request<Incoming>) -> usize {
    request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum()
}

fn has_request_header(request: &Request<Incoming>) -> bool {
    request.headers().get(REQUEST_HEADER).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
}

fn route(path: &str) -> Route<'_> {
    match path {
        HEALTHZ_PATH => return Route::Health,
        READYZ_PATH => return Route::Ready,
        METRICS_PATH => return Route::Metrics,
        _ => {}
    }
    match path {
        TOKENS_GENERATE_PATH => return Route::Generate,
        TOKENS_REVOKE_PATH => return Route::Revoke,
        _ => {}
    }
    match path.strip_prefix(VAULT_PREFIX) {
        Some(rest) => match rest.split_once('/') {
            Some((environment, key)) => Route::Read { environment, key: Some(key) },
            None => Route::Read { environment: rest, key: None },
        },
        None => Route::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(matches!(route("/healthz"), Route::Health));
        assert!(matches!(route("/api/v1/vault/tokens/generate"), Route::Generate));
        assert!(matches!(route("/api/v1/vault/tokens/revoke"), Route::Revoke));
        assert!(matches!(route("/api/v1/vault/dev"), Route::Read { environment: "dev", key: None }));
        assert!(matches!(
            route("/api/v1/vault/dev/API_KEYS/stripe"),
            Route::Read { environment: "dev", key: Some("API_KEYS/stripe") }
        ));
        assert!(matches!(route("/api/v1/vault/dev/"), Route::Read { environment: "dev", key: Some("") }));
        assert!(matches!(route("/api/v1/vault/"), Route::Read { environment: "", key: None }));
        assert!(matches!(route("/api/v1/vault"), Route::Unknown));
        assert!(matches!(route("/"), Route::Unknown));
    }
}

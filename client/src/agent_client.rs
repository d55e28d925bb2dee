//! The agent's HTTP API, over its Unix socket or its TCP listener (client
//! leaf layer, below `commands`; uses `endpoint`, `vanta_shared` and
//! external crates).
//!
//! Owns the HTTP/1.1 connection pool (consecutive requests reuse one
//! keep-alive connection), the `X-Vanta-Request` header, the admin
//! credential of TCP minting, and turning answers into typed values or an
//! [`Error`] that names the agent (socket or URL) and what it said. It never
//! prints, and no token or secret value ever reaches an error.
//!
//! - `connector`: `hyperlocal` for the socket, `hyper-rustls` for TCP (TLS,
//!   or plain HTTP to loopback), the connect timeout, typed failures.
//! - `tls`: the rustls client settings, the trusted CAs, handshake failures
//!   in words.
//! - `error`: [`Error`], and how the agent's answers are quoted.
//! - `probe`: `/healthz` and `/readyz`.
//! - `access_token`: bearer tokens.
//! - `refusal`: why a 401 or 403 most likely happened, from the token's claims.

mod access_token;
mod connector;
mod error;
mod probe;
mod refusal;
mod tls;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, StatusCode, Uri, header};
use tracing::debug;
// Every request carries REQUEST_HEADER; an agent hardening option requires it.
use vanta_shared::api::{
    GenerateTokenRequest, GenerateTokenResponse, KeyList, REQUEST_HEADER, RevokeTokenRequest, RevokeTokenResponse,
    SecretValue, TOKENS_GENERATE_PATH, TOKENS_REVOKE_PATH, VAULT_PREFIX,
};
use vanta_shared::{EnvName, KeyPath};
use zeroize::{Zeroize, Zeroizing};

pub(crate) use access_token::{AccessToken, BadToken};
pub(crate) use connector::ConnectError;
use connector::Http;
pub(crate) use error::Error;
use error::refusal_detail;
pub(crate) use tls::TlsFailure;

use crate::endpoint::{Endpoint, Scheme};

/// Where the agent is, and what to trust and present over TCP.
pub(crate) struct Target {
    /// The socket or the URL.
    pub(crate) endpoint: Endpoint,
    /// CA certificates to trust for `https://` instead of the system's.
    pub(crate) ca_cert: Option<PathBuf>,
    /// The admin credential, sent when minting over TCP only.
    pub(crate) admin_token_file: Option<PathBuf>,
    /// Longest wait for a whole answer, connecting and its body included
    /// (`--agent-timeout-seconds`): without it a hung agent or a half-open
    /// TCP connection would block a command, or a `--watch` check, for ever.
    pub(crate) timeout: Duration,
}

/// A client of one agent.
pub(crate) struct AgentClient {
    endpoint: Endpoint,
    /// `scheme://authority` of every request URI.
    base: String,
    admin_token_file: Option<PathBuf>,
    timeout: Duration,
    http: Http,
}

/// A freshly minted token: the parsed answer and the body as received.
pub(crate) struct Minted {
    /// The parsed answer.
    pub(crate) response: GenerateTokenResponse,
    /// The body exactly as the agent sent it (for `--output json`).
    pub(crate) raw: Bytes,
}

/// What a conditional listing found.
pub(crate) enum Listing {
    /// The agent answered 304: nothing in scope changed since the tag.
    Unchanged,
    /// The keys, and the tag of this version if the agent sent one.
    Keys { keys: Vec<KeyPath>, etag: Option<String> },
}

/// Largest answer read; secrets can be large, but not unbounded.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

// === impl AgentClient ===

impl AgentClient {
    /// A client for `target`; connects lazily on the first request.
    ///
    /// # Errors
    /// [`Error::TlsSetup`] if an `https://` URL's CAs cannot be loaded.
    pub(crate) fn new(target: &Target) -> Result<Self, Error> {
        let (http, base) = match &target.endpoint {
            Endpoint::Socket(path) => (Http::unix(), socket_base(path)),
            Endpoint::Url(url) => {
                let tls = match url.scheme() {
                    Scheme::Http => None,
                    Scheme::Https => {
                        // The name is checked here; hyper-rustls takes it from the URI.
                        let setup =
                            tls::server_name(url.host()).and_then(|_| tls::client_config(target.ca_cert.as_deref()));
                        Some(setup.map_err(|source| Error::TlsSetup { agent: target.endpoint.to_string(), source })?)
                    }
                };
                (Http::tcp(tls), url.to_string())
            }
        };
        let admin_token_file = target.admin_token_file.clone();
        Ok(Self { endpoint: target.endpoint.clone(), base, admin_token_file, timeout: target.timeout, http })
    }

    /// The socket or URL, as errors name it.
    pub(crate) fn name(&self) -> String {
        self.endpoint.to_string()
    }

    /// `POST /api/v1/vault/tokens/generate`, with the admin credential over TCP.
    ///
    /// # Errors
    /// Any [`Error`]; `MintForbidden` for a 403 over TCP; `Malformed` if the
    /// answer is not a token response.
    pub(crate) async fn generate_token(&self, request: &GenerateTokenRequest) -> Result<Minted, Error> {
        let raw = self
            .post_as_minter("mint a token", TOKENS_GENERATE_PATH, Bytes::from(request.to_json().to_string()))
            .await?;
        let response = serde_json::from_slice(&raw).map_err(|_| self.malformed("a token"))?;
        Ok(Minted { response, raw })
    }

    /// `POST /api/v1/vault/tokens/revoke`, with the admin credential over TCP.
    ///
    /// # Errors
    /// Any [`Error`]; `MintForbidden` for a 403 over TCP; `Malformed` if the
    /// answer is not a revoke response.
    pub(crate) async fn revoke_tokens(&self, request: &RevokeTokenRequest) -> Result<RevokeTokenResponse, Error> {
        let body = Bytes::from(serde_json::to_vec(request).map_err(|_| self.malformed("a revoke request"))?);
        let raw = self.post_as_minter("revoke tokens", TOKENS_REVOKE_PATH, body).await?;
        serde_json::from_slice(&raw).map_err(|_| self.malformed("a revoke response"))
    }

    /// POSTs to a route for minters (the admin credential over TCP): the
    /// success body, or `MintForbidden` for a 403 over TCP (`PolicyRefused`
    /// on the socket).
    async fn post_as_minter(&self, action: &'static str, path: &str, body: Bytes) -> Result<Bytes, Error> {
        let admin = self.admin_credential()?;
        let (status, raw) = self.exchange(Method::POST, path, admin.as_ref(), body).await?;
        if status == StatusCode::FORBIDDEN {
            let detail = refusal_detail(status, &raw);
            let (agent, status) = (self.name(), status.as_u16());
            if !self.over_tcp() {
                return Err(Error::PolicyRefused { agent, action, status, detail });
            }
            let credential_sent = admin.is_some();
            return Err(Error::MintForbidden { agent, action, status, detail, credential_sent });
        }
        self.success(status, raw)
    }

    /// `GET /api/v1/vault/{env}/{key}`: the plaintext value.
    ///
    /// # Errors
    /// Any [`Error`]; `Malformed` if the answer is not `{"value": "..."}`.
    pub(crate) async fn get_secret(
        &self,
        token: &AccessToken,
        env: &EnvName,
        key: &KeyPath,
    ) -> Result<Zeroizing<String>, Error> {
        let path = format!("{VAULT_PREFIX}{env}/{key}");
        let body = self.send(Method::GET, &path, Some(token)).await.map_err(|e| explained(e, token, env, Some(key)))?;
        let mut raw = Vec::from(body);
        let parsed = serde_json::from_slice::<SecretValue>(&raw);
        raw.zeroize();
        let secret = parsed.map_err(|_| self.malformed("a secret value"))?;
        Ok(Zeroizing::new(secret.value))
    }

    /// `GET /api/v1/vault/{env}`, with `If-None-Match: etag` when given:
    /// [`Listing::Unchanged`] on a 304, else the keys the token may read
    /// (sorted) and the new tag.
    ///
    /// # Errors
    /// Any [`Error`]; `Malformed` if the answer is not a key list of valid keys.
    pub(crate) async fn list_keys_if_changed(
        &self,
        token: &AccessToken,
        env: &EnvName,
        etag: Option<&str>,
    ) -> Result<Listing, Error> {
        let path = format!("{VAULT_PREFIX}{env}");
        let mut request = self.request(Method::GET, &path, Some(token), Bytes::new())?;
        // A tag the agent sent is always a valid header value.
        if let Some(value) = etag.and_then(|tag| header::HeaderValue::from_str(tag).ok()) {
            request.headers_mut().insert(header::IF_NONE_MATCH, value);
        }
        let (status, headers, body) = self.round_trip(request).await?;
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Listing::Unchanged);
        }
        let body = self.success(status, body).map_err(|e| explained(e, token, env, None))?;
        let keys = self.key_list(&body)?;
        let etag = headers.get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Listing::Keys { keys, etag })
    }

    /// `GET /api/v1/vault/{env}`: the keys the token may read, sorted.
    ///
    /// # Errors
    /// Any [`Error`]; `Malformed` if the answer is not a key list of valid keys.
    pub(crate) async fn list_keys(&self, token: &AccessToken, env: &EnvName) -> Result<Vec<KeyPath>, Error> {
        match self.list_keys_if_changed(token, env, None).await? {
            Listing::Keys { keys, .. } => Ok(keys),
            // No tag was sent, so a 304 is an answer to another question.
            Listing::Unchanged => Err(self.malformed("a key list")),
        }
    }

    fn key_list(&self, body: &[u8]) -> Result<Vec<KeyPath>, Error> {
        let list: KeyList = serde_json::from_slice(body).map_err(|_| self.malformed("a key list"))?;
        list.keys.iter().map(|key| key.parse().map_err(|_| self.malformed("a list of valid keys"))).collect()
    }

    /// The admin credential, over TCP when a file is configured. The
    /// socket's file mode is the gate there: nothing is read or sent.
    fn admin_credential(&self) -> Result<Option<AccessToken>, Error> {
        let (true, Some(path)) = (self.over_tcp(), &self.admin_token_file) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::AdminTokenFile { path: path.clone(), source })
            .map(Zeroizing::new)?;
        let token = AccessToken::new(text.trim().to_owned());
        token.map(Some).map_err(|source| Error::AdminToken { path: path.clone(), source })
    }

    /// A request whose answer must be a success.
    async fn send(&self, method: Method, path: &str, token: Option<&AccessToken>) -> Result<Bytes, Error> {
        let (status, body) = self.exchange(method, path, token, Bytes::new()).await?;
        self.success(status, body)
    }

    /// One request; the status and the whole body, whatever the status.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        token: Option<&AccessToken>,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), Error> {
        let request = self.request(method, path, token, body)?;
        let (status, _, body) = self.round_trip(request).await?;
        Ok((status, body))
    }

    /// Sends `request`; the status, headers and whole body of the answer,
    /// within the target's timeout.
    async fn round_trip(&self, request: Request<Full<Bytes>>) -> Result<(StatusCode, header::HeaderMap, Bytes), Error> {
        let answered = tokio::time::timeout(self.timeout, self.exchange_once(request)).await;
        answered.unwrap_or_else(|_| Err(Error::TimedOut { agent: self.name(), limit: self.timeout }))
    }

    /// [`AgentClient::round_trip`] without a deadline.
    async fn exchange_once(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, header::HeaderMap, Bytes), Error> {
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        let response = self.http.request(request).await.map_err(|e| self.transport(e))?;
        let status = response.status();
        debug!(%method, path, status = status.as_u16(), "agent answered");
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|source| Error::ReadBody { agent: self.name(), source })?
            .to_bytes();
        Ok((status, parts.headers, body))
    }

    fn success(&self, status: StatusCode, body: Bytes) -> Result<Bytes, Error> {
        if status.is_success() {
            return Ok(body);
        }
        Err(Error::Refused { agent: self.name(), status: status.as_u16(), detail: refusal_detail(status, &body) })
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&AccessToken>,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, Error> {
        let mut builder = Request::builder()
            .method(method)
            .uri(self.uri(path)?)
            .header(header::ACCEPT, "application/json")
            .header(REQUEST_HEADER, "true");
        if !body.is_empty() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, token.header_value());
        }
        builder.body(Full::new(body)).map_err(|source| Error::Request { agent: self.name(), source })
    }

    fn uri(&self, path: &str) -> Result<Uri, Error> {
        format!("{}{path}", self.base)
            .parse::<Uri>()
            .map_err(|e| Error::Request { agent: self.name(), source: e.into() })
    }

    /// A connection failure with the connector's reason, or a broken exchange.
    fn transport(&self, source: hyper_util::client::legacy::Error) -> Error {
        let connect = Some(&source).filter(|e| e.is_connect()).and_then(|e| ConnectError::from_chain(e));
        match connect {
            Some(reason) => Error::Connect { agent: self.name(), over_tcp: self.over_tcp(), source: reason },
            None => Error::Transport { agent: self.name(), source: (&source).into() },
        }
    }

    fn over_tcp(&self) -> bool {
        matches!(self.endpoint, Endpoint::Url(_))
    }

    fn malformed(&self, expected: &'static str) -> Error {
        Error::Malformed { agent: self.name(), expected }
    }
}

/// `err`, with the likely reason of a 401 or 403 added from the claims of
/// the `token` that was sent for `env` (and `key`).
fn explained(err: Error, token: &AccessToken, env: &EnvName, key: Option<&KeyPath>) -> Error {
    let Error::Refused { agent, status, mut detail } = err else { return err };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Some(reason) = refusal::likely_reason(status, token.claims().as_ref(), env, key, now) {
        detail.push_str("; ");
        detail.push_str(&reason);
    }
    Error::Refused { agent, status, detail }
}

/// `unix://<hex of the socket path>:0`: how `hyperlocal`'s connector is
/// told the socket. Pooled connections are keyed by it.
fn socket_base(path: &Path) -> String {
    let hex: String = path.as_os_str().as_encoded_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("unix://{hex}:0")
}

// === impl Minted ===

impl Minted {
    /// The minted token.
    ///
    /// # Errors
    /// [`BadToken`] if the agent sent something that is not a token.
    pub(crate) fn token(&self) -> Result<AccessToken, BadToken> {
        AccessToken::new(self.response.access_token.clone())
    }
}

#[cfg(test)]
mod tests;

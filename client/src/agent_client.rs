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
//! - `connector`: dials the socket, plain TCP (loopback) or TLS.
//! - `tls`: the rustls client settings and the trusted CAs.
//! - `error`: [`Error`], and how the agent's answers are quoted.
//! - `probe`: `/healthz` and `/readyz`.
//! - `access_token`: bearer tokens.

mod access_token;
mod connector;
mod error;
mod probe;
mod tls;

use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, StatusCode, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio_rustls::TlsConnector;
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
use connector::{Connector, Route};
pub(crate) use error::Error;
use error::refusal_detail;

use crate::endpoint::{Endpoint, Scheme};

/// Where the agent is, and what to trust and present over TCP.
pub(crate) struct Target {
    /// The socket or the URL.
    pub(crate) endpoint: Endpoint,
    /// CA certificates to trust for `https://` instead of the system's.
    pub(crate) ca_cert: Option<PathBuf>,
    /// The admin credential, sent when minting over TCP only.
    pub(crate) admin_token_file: Option<PathBuf>,
}

/// A client of one agent.
pub(crate) struct AgentClient {
    endpoint: Endpoint,
    /// `scheme://authority` of every request URI.
    base: String,
    admin_token_file: Option<PathBuf>,
    http: Client<Connector, Full<Bytes>>,
}

/// A freshly minted token: the parsed answer and the body as received.
pub(crate) struct Minted {
    /// The parsed answer.
    pub(crate) response: GenerateTokenResponse,
    /// The body exactly as the agent sent it (for `--output json`).
    pub(crate) raw: Bytes,
}

/// Largest answer read; secrets can be large, but not unbounded.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// Authority of request URIs on the socket (the connector ignores it).
const SOCKET_BASE: &str = "http://localhost";

// === impl AgentClient ===

impl AgentClient {
    /// A client for `target`; connects lazily on the first request.
    ///
    /// # Errors
    /// [`Error::TlsSetup`] if an `https://` URL's CAs cannot be loaded.
    pub(crate) fn new(target: &Target) -> Result<Self, Error> {
        let (route, base) = match &target.endpoint {
            Endpoint::Socket(path) => (Route::Unix(path.clone()), SOCKET_BASE.to_owned()),
            Endpoint::Url(url) => {
                let tls = match url.scheme() {
                    Scheme::Http => None,
                    Scheme::Https => {
                        let setup = tls::client_config(target.ca_cert.as_deref())
                            .and_then(|config| Ok((TlsConnector::from(config), tls::server_name(url.host())?)));
                        Some(setup.map_err(|source| Error::TlsSetup { agent: target.endpoint.to_string(), source })?)
                    }
                };
                (Route::Tcp { host: url.host().to_owned(), port: url.port(), tls }, url.to_string())
            }
        };
        let http = Client::builder(TokioExecutor::new()).build(Connector::new(route));
        let admin_token_file = target.admin_token_file.clone();
        Ok(Self { endpoint: target.endpoint.clone(), base, admin_token_file, http })
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
    /// success body, or `MintForbidden` for a 403 over TCP.
    async fn post_as_minter(&self, action: &'static str, path: &str, body: Bytes) -> Result<Bytes, Error> {
        let admin = self.admin_credential()?;
        let (status, raw) = self.exchange(Method::POST, path, admin.as_ref(), body).await?;
        if status == StatusCode::FORBIDDEN && self.over_tcp() {
            let detail = refusal_detail(status, &raw);
            let credential_sent = admin.is_some();
            let (agent, status) = (self.name(), status.as_u16());
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
        let body = self.send(Method::GET, &path, Some(token)).await?;
        let mut raw = Vec::from(body);
        let parsed = serde_json::from_slice::<SecretValue>(&raw);
        raw.zeroize();
        let secret = parsed.map_err(|_| self.malformed("a secret value"))?;
        Ok(Zeroizing::new(secret.value))
    }

    /// `GET /api/v1/vault/{env}`: the keys the token may read, sorted.
    ///
    /// # Errors
    /// Any [`Error`]; `Malformed` if the answer is not a key list of valid keys.
    pub(crate) async fn list_keys(&self, token: &AccessToken, env: &EnvName) -> Result<Vec<KeyPath>, Error> {
        let path = format!("{VAULT_PREFIX}{env}");
        let body = self.send(Method::GET, &path, Some(token)).await?;
        let list: KeyList = serde_json::from_slice(&body).map_err(|_| self.malformed("a key list"))?;
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
        let request = self.request(method.clone(), path, token, body)?;
        let response = self.http.request(request).await.map_err(|e| self.transport(e))?;
        let status = response.status();
        debug!(%method, path, status = status.as_u16(), "agent answered");
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|source| Error::ReadBody { agent: self.name(), source })?
            .to_bytes();
        Ok((status, body))
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
        let chain = std::iter::successors(Some(&source as &(dyn std::error::Error + 'static)), |e| e.source());
        let connect = chain.filter(|_| source.is_connect()).find_map(|e| e.downcast_ref::<ConnectError>()).cloned();
        match connect {
            Some(reason) => Error::Connect { agent: self.name(), over_tcp: self.over_tcp(), source: reason },
            None => Error::Transport { agent: self.name(), source },
        }
    }

    fn over_tcp(&self) -> bool {
        matches!(self.endpoint, Endpoint::Url(_))
    }

    fn malformed(&self, expected: &'static str) -> Error {
        Error::Malformed { agent: self.name(), expected }
    }
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

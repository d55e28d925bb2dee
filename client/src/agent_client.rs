//! The agent's HTTP API, spoken over its Unix socket (client leaf layer,
//! below `commands`; uses only `vanta_shared` and external crates).
//!
//! Owns the HTTP/1.1 connection pool (consecutive requests reuse one
//! keep-alive connection), the `X-Vanta-Request` header, and turning answers
//! into typed values or an [`Error`] that names the socket and what the agent
//! said. It never prints, and no token or secret value ever reaches an error.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, StatusCode, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use hyperlocal::UnixConnector;
use serde::Deserialize;
use tracing::debug;
mod access_token;

pub(crate) use access_token::{AccessToken, BadToken};
// Every request carries REQUEST_HEADER; an agent hardening option requires it.
use vanta_shared::api::{
    ErrorBody, GenerateTokenRequest, GenerateTokenResponse, KeyList, REQUEST_HEADER, SecretValue, TOKENS_GENERATE_PATH,
    VAULT_PREFIX,
};
use vanta_shared::{EnvName, KeyPath};
use zeroize::{Zeroize, Zeroizing};

/// A client of one agent socket.
pub(crate) struct AgentClient {
    socket: PathBuf,
    http: Client<UnixConnector, Full<Bytes>>,
}

/// A freshly minted token: the parsed answer and the body as received.
pub(crate) struct Minted {
    /// The parsed answer.
    pub(crate) response: GenerateTokenResponse,
    /// The body exactly as the agent sent it (for `--output json`).
    pub(crate) raw: Bytes,
}

/// Why a request to the agent failed. Every variant names the socket.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Nothing accepted the connection.
    #[error("cannot connect to the agent at {socket}")]
    Connect {
        socket: String,
        #[source]
        source: io::Error,
    },
    /// The connection broke or the answer was not HTTP.
    #[error("failed to talk to the agent at {socket}")]
    Transport {
        socket: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// The answer's body could not be read (or was too large).
    #[error("failed to read the answer of the agent at {socket}")]
    ReadBody {
        socket: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The agent answered with an error status.
    #[error("the agent at {socket} refused the request: {status} {detail}")]
    Refused {
        socket: String,
        status: u16,
        /// `<code>: <message>` from the error body, or the status reason.
        detail: String,
    },
    /// A success answer whose body is not what the API promises.
    #[error("the agent at {socket} sent an answer that is not {expected}")]
    Malformed { socket: String, expected: &'static str },
    /// The socket path cannot be put into a request URI.
    #[error("the socket path {socket} is not valid UTF-8")]
    SocketPath { socket: String },
    /// The request could not be assembled.
    #[error("failed to build a request for the agent at {socket}")]
    Request {
        socket: String,
        #[source]
        source: hyper::http::Error,
    },
}

/// An error body with any `error` string, for codes this client does not know.
#[derive(Deserialize)]
struct LooseErrorBody {
    error: String,
    message: String,
}

/// Largest answer read; secrets can be large, but not unbounded.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// Longest agent message quoted in an error line.
const MAX_DETAIL_CHARS: usize = 300;

// === impl AgentClient ===

impl AgentClient {
    /// A client for the agent at `socket`; connects lazily on first request.
    pub(crate) fn new(socket: &Path) -> Self {
        let http = Client::builder(TokioExecutor::new()).build(UnixConnector);
        Self { socket: socket.to_path_buf(), http }
    }

    /// `POST /api/v1/vault/tokens/generate`.
    ///
    /// # Errors
    /// Any [`Error`]; `Malformed` if the answer is not a token response.
    pub(crate) async fn generate_token(&self, request: &GenerateTokenRequest) -> Result<Minted, Error> {
        let body = Bytes::from(request.to_json().to_string());
        let raw = self.send(Method::POST, TOKENS_GENERATE_PATH, None, body).await?;
        let response = serde_json::from_slice(&raw).map_err(|_| self.malformed("a token"))?;
        Ok(Minted { response, raw })
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
        let body = self.send(Method::GET, &path, Some(token), Bytes::new()).await?;
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
        let body = self.send(Method::GET, &path, Some(token), Bytes::new()).await?;
        let list: KeyList = serde_json::from_slice(&body).map_err(|_| self.malformed("a key list"))?;
        list.keys.iter().map(|key| key.parse().map_err(|_| self.malformed("a list of valid keys"))).collect()
    }

    async fn send(&self, method: Method, path: &str, token: Option<&AccessToken>, body: Bytes) -> Result<Bytes, Error> {
        let request = self.request(method.clone(), path, token, body)?;
        let response = self.http.request(request).await.map_err(|e| self.transport(e))?;
        let status = response.status();
        debug!(%method, path, status = status.as_u16(), "agent answered");
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|source| Error::ReadBody { socket: self.name(), source })?
            .to_bytes();
        if status.is_success() {
            Ok(body)
        } else {
            Err(Error::Refused { socket: self.name(), status: status.as_u16(), detail: refusal_detail(status, &body) })
        }
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
        builder.body(Full::new(body)).map_err(|source| Error::Request { socket: self.name(), source })
    }

    /// `unix://<hex of the socket path>:0<path>`, the form `UnixConnector` reads.
    fn uri(&self, path: &str) -> Result<Uri, Error> {
        let socket = self.socket.to_str().ok_or_else(|| Error::SocketPath { socket: self.name() })?;
        let host: String = socket.bytes().map(|b| format!("{b:02x}")).collect();
        format!("unix://{host}:0{path}")
            .parse::<Uri>()
            .map_err(|e| Error::Request { socket: self.name(), source: e.into() })
    }

    fn transport(&self, source: hyper_util::client::legacy::Error) -> Error {
        let refused = find_io_error(&source).filter(|_| source.is_connect()).map(|io| match io.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(io.kind(), io.to_string()),
        });
        match refused {
            Some(io) => Error::Connect { socket: self.name(), source: io },
            None => Error::Transport { socket: self.name(), source },
        }
    }

    fn malformed(&self, expected: &'static str) -> Error {
        Error::Malformed { socket: self.name(), expected }
    }

    fn name(&self) -> String {
        self.socket.display().to_string()
    }
}

fn find_io_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a io::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io);
        }
        current = e.source();
    }
    None
}

/// `<code>: <message>` from a JSON error body, else the status reason.
/// Only the documented body shape is quoted: a raw body could hold anything.
fn refusal_detail(status: StatusCode, body: &[u8]) -> String {
    let detail = if let Ok(known) = serde_json::from_slice::<ErrorBody>(body) {
        format!("{}: {}", known.error, known.message)
    } else if let Ok(loose) = serde_json::from_slice::<LooseErrorBody>(body) {
        format!("{}: {}", loose.error, loose.message)
    } else {
        status.canonical_reason().unwrap_or("(no reason given)").to_owned()
    };
    one_line(&detail, MAX_DETAIL_CHARS)
}

/// `text` with control characters as spaces, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let mut line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect();
    if text.chars().count() > max {
        line.push('…');
    }
    line
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
mod tests {
    use super::*;

    #[test]
    fn refusals_quote_code_and_message_on_one_line() {
        let cases: [(u16, &[u8], &str); 4] = [
            (403, br#"{"error":"forbidden","message":"key outside scope"}"#, "forbidden: key outside scope"),
            (418, br#"{"error":"teapot","message":"short\nand stout"}"#, "teapot: short and stout"),
            (502, b"<html>secret?</html>", "Bad Gateway"),
            (599, b"", "(no reason given)"),
        ];
        for (status, body, want) in cases {
            let status = StatusCode::from_u16(status).expect("valid status");
            assert_eq!(refusal_detail(status, body), want);
        }
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(1000);
        let line = one_line(&long, 10);
        assert_eq!(line, format!("{}…", "x".repeat(10)));
    }

    #[test]
    fn uri_hex_encodes_the_socket() {
        let client = AgentClient::new(Path::new("/a.sock"));
        let uri = client.uri("/healthz").expect("valid uri");
        assert_eq!(uri.to_string(), "unix://2f612e736f636b:0/healthz");
    }

    #[test]
    fn errors_name_the_socket_but_not_the_token() {
        let err = Error::Refused { socket: "/x.sock".to_owned(), status: 403, detail: "forbidden: no".to_owned() };
        assert_eq!(err.to_string(), "the agent at /x.sock refused the request: 403 forbidden: no");
    }
}

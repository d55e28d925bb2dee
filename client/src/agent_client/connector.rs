//! Connections to the agent for hyper-util's pooled client (client leaf
//! layer, part of `agent_client`): `hyperlocal`'s connector for the Unix
//! socket, `hyper-rustls` over hyper-util's `HttpConnector` for TCP (TLS, or
//! plain HTTP to loopback), behind the one small enum [`Http`].
//!
//! Three rules sit on top of the crates' connectors:
//! - plain TCP is refused to any resolved address that is not loopback (the
//!   URL check already allows only loopback hosts; [`AgentResolver`] catches
//!   a `localhost` that resolves elsewhere);
//! - a TCP connection, TLS handshake included, must be up within
//!   [`CONNECT_TIMEOUT`] ([`Deadline`]);
//! - a failure is typed as a [`ConnectError`], found by walking the error's
//!   source chain ([`ConnectError::from_chain`]), so the CLI can hint at the fix.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::TokioExecutor;
use hyperlocal::UnixConnector;
use rustls::ClientConfig;

use super::tls::TlsFailure;

/// A pooled HTTP/1.1 client of the agent, over its socket or over TCP.
pub(super) enum Http {
    /// The agent's Unix socket (`hyperlocal`); request URIs carry the path.
    Unix(Client<UnixConnector, Full<Bytes>>),
    /// The agent's TCP listener: TLS when `https://`, else plain HTTP.
    Tcp(Client<Deadline<HttpsConnector<HttpConnector<AgentResolver>>>, Full<Bytes>>),
}

/// Resolves host names with the system's resolver; for plain HTTP, keeps
/// loopback addresses only.
#[derive(Clone)]
pub(super) struct AgentResolver {
    gai: GaiResolver,
    loopback_only: bool,
}

/// A connector whose connections must be up within a time limit.
#[derive(Clone)]
pub(super) struct Deadline<C> {
    inner: C,
    limit: Duration,
}

/// Why no connection could be made. Cloneable, so that it can be taken out
/// of hyper's error.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// Connecting failed (no such socket, refused, unreachable, ...).
    #[error(transparent)]
    Io(Arc<io::Error>),
    /// The host name could not be resolved.
    #[error("failed to resolve {host}")]
    Resolve {
        host: String,
        #[source]
        source: Arc<io::Error>,
    },
    /// The host name resolved to nothing.
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    /// Plain HTTP to an address that is not loopback.
    #[error("refusing plain HTTP to {addr}, which is not a loopback address")]
    NotLoopback { addr: IpAddr },
    /// The TLS handshake failed (untrusted certificate, wrong name, not TLS).
    #[error("TLS handshake failed: {0}")]
    Tls(TlsFailure),
    /// Connecting took too long.
    #[error("no connection within {} s", .0.as_secs())]
    TimedOut(Duration),
}

type BoxError = Box<dyn StdError + Send + Sync>;

/// Longest wait for a TCP connection and its TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

// === impl Http ===

impl Http {
    /// A client of the agent's socket.
    pub(super) fn unix() -> Self {
        Self::Unix(Client::builder(TokioExecutor::new()).build(UnixConnector))
    }

    /// A client of a TCP listener: TLS with `tls`, plain HTTP (loopback
    /// addresses only) without.
    pub(super) fn tcp(tls: Option<ClientConfig>) -> Self {
        let plain = tls.is_none();
        let mut http =
            HttpConnector::new_with_resolver(AgentResolver { gai: GaiResolver::new(), loopback_only: plain });
        // Requests are small and answered at once: do not delay them.
        http.set_nodelay(true);
        http.enforce_http(false);
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let https = match tls {
            Some(config) => builder.with_tls_config(config).https_only().enable_http1().wrap_connector(http),
            // No TLS settings are used for http:// URIs; hyper-rustls needs some.
            None => builder.with_tls_config(empty_tls_config()).https_or_http().enable_http1().wrap_connector(http),
        };
        let connector = Deadline { inner: https, limit: CONNECT_TIMEOUT };
        Self::Tcp(Client::builder(TokioExecutor::new()).build(connector))
    }

    /// Sends `request` on a pooled connection, connecting when needed.
    pub(super) fn request(&self, request: Request<Full<Bytes>>) -> ResponseFuture {
        match self {
            Self::Unix(client) => client.request(request),
            Self::Tcp(client) => client.request(request),
        }
    }
}

/// TLS settings that trust nothing, for a plain-HTTP connector that never
/// makes a TLS connection.
fn empty_tls_config() -> ClientConfig {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth())
        .expect("ring supports the default protocol versions")
}

// === impl AgentResolver ===

impl tower_service::Service<Name> for AgentResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let (mut gai, loopback_only) = (self.gai.clone(), self.loopback_only);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved =
                gai.call(name).await.map_err(|e| ConnectError::Resolve { host: host.clone(), source: Arc::new(e) })?;
            allowed_addresses(&host, resolved.collect(), loopback_only).map(Vec::into_iter)
        })
    }
}

/// The addresses that may be dialled: all, or the loopback ones only.
fn allowed_addresses(host: &str, addrs: Vec<SocketAddr>, loopback_only: bool) -> Result<Vec<SocketAddr>, ConnectError> {
    let first = addrs.first().copied();
    let allowed: Vec<SocketAddr> = addrs.into_iter().filter(|a| !loopback_only || a.ip().is_loopback()).collect();
    match (allowed.is_empty(), first) {
        (false, _) => Ok(allowed),
        (true, Some(refused)) => Err(ConnectError::NotLoopback { addr: refused.ip() }),
        (true, None) => Err(ConnectError::NoAddress { host: host.to_owned() }),
    }
}

// === impl Deadline ===

impl<C> tower_service::Service<Uri> for Deadline<C>
where
    C: tower_service::Service<Uri> + Clone + Send + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let (connecting, limit) = (self.inner.call(uri), self.limit);
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(Box::new(ConnectError::TimedOut(limit)) as BoxError),
            }
        })
    }
}

// === impl ConnectError ===

impl ConnectError {
    /// The first cause in `err`'s source chain that says why connecting
    /// failed: one of ours, a TLS error, or an I/O error.
    pub(super) fn from_chain(err: &(dyn StdError + 'static)) -> Option<Self> {
        std::iter::successors(Some(err), |&e| e.source()).find_map(Self::from_cause)
    }

    fn from_cause(cause: &(dyn StdError + 'static)) -> Option<Self> {
        if let Some(ours) = cause.downcast_ref::<Self>() {
            return Some(ours.clone());
        }
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(Self::Tls(TlsFailure::from(tls)));
        }
        let io = cause.downcast_ref::<io::Error>()?;
        // tokio-rustls and hyper-rustls wrap their errors in an io::Error,
        // whose `source()` skips the wrapped error itself.
        if let Some(inner) = io.get_ref().and_then(|inner| Self::from_cause(inner)) {
            return Some(inner);
        }
        let copy = match io.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(io.kind(), io.to_string()),
        };
        Some(Self::Io(Arc::new(copy)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tcp_is_never_sent_off_loopback() {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("address");
        let mixed = vec![addr("192.0.2.10:0"), addr("127.0.0.1:0")];
        assert_eq!(allowed_addresses("h", mixed.clone(), true).expect("loopback kept"), vec![addr("127.0.0.1:0")]);
        assert_eq!(allowed_addresses("h", mixed.clone(), false).expect("all kept"), mixed);
        // A documentation address (RFC 5737): refused before any packet is sent.
        let err = allowed_addresses("h", vec![addr("192.0.2.10:0")], true).expect_err("refused");
        assert_eq!(err.to_string(), "refusing plain HTTP to 192.0.2.10, which is not a loopback address");
        let none = allowed_addresses("h", Vec::new(), false).expect_err("nothing");
        assert_eq!(none.to_string(), "h resolves to no address");
    }

    #[tokio::test]
    async fn connection_failures_keep_their_os_error() {
        let dir = tempfile::tempdir().expect("dir");
        let http = Http::unix();
        let uri = super::super::socket_base(&dir.path().join("nobody.sock")) + "/healthz";
        let request = Request::get(uri).body(Full::new(Bytes::new())).expect("request");
        let err = http.request(request).await.expect_err("connected to nothing");
        let Some(ConnectError::Io(io)) = ConnectError::from_chain(&err) else { panic!("not an I/O error: {err:?}") };
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn a_tls_error_wrapped_in_io_is_found() {
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        let boxed: BoxError = Box::new(wrapped);
        assert!(matches!(ConnectError::from_chain(boxed.as_ref()), Some(ConnectError::Tls(_))));
        let ours: BoxError = Box::new(ConnectError::TimedOut(Duration::from_secs(3)));
        assert_eq!(
            ConnectError::from_chain(ours.as_ref()).map(|e| e.to_string()).as_deref(),
            Some("no connection within 3 s")
        );
    }
}

//! Connections to the agent for hyper-util's pooled client (client leaf
//! layer, part of `agent_client`): its Unix socket, plain TCP (loopback
//! only) or TLS over TCP, behind one `tower_service::Service<Uri>`.
//!
//! The connector ignores the request's URI and always dials the agent it was
//! made for, so a request can never be sent elsewhere. Plain TCP is refused
//! to any resolved address that is not loopback (the URL check already
//! allows only loopback hosts; this catches a `localhost` that resolves
//! elsewhere). A TCP connection, TLS handshake included, must be up within
//! [`CONNECT_TIMEOUT`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Opens connections to one agent, whatever URI a request names.
#[derive(Clone)]
pub(super) struct Connector {
    route: Arc<Route>,
}

/// How to reach the agent.
pub(super) enum Route {
    /// Its Unix socket.
    Unix(PathBuf),
    /// Its TCP listener; with TLS unless `tls` is `None` (loopback only).
    Tcp { host: String, port: u16, tls: Option<(TlsConnector, ServerName<'static>)> },
}

/// A connection to the agent, of whichever kind.
pub(super) enum AgentStream {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
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
    NotLoopback { addr: SocketAddr },
    /// The TLS handshake failed (untrusted certificate, wrong name, not TLS).
    #[error("TLS handshake failed")]
    Tls(#[source] Arc<io::Error>),
    /// Connecting took too long.
    #[error("no connection within {} s", .0.as_secs())]
    TimedOut(Duration),
}

/// Longest wait for a TCP connection and its TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

// === impl Connector ===

impl Connector {
    /// A connector that always dials `route`.
    pub(super) fn new(route: Route) -> Self {
        Self { route: Arc::new(route) }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<AgentStream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let route = Arc::clone(&self.route);
        Box::pin(async move { route.connect().await.map(TokioIo::new) })
    }
}

// === impl Route ===

impl Route {
    async fn connect(&self) -> Result<AgentStream, ConnectError> {
        match self {
            Self::Unix(path) => UnixStream::connect(path).await.map(AgentStream::Unix).map_err(io_error),
            Self::Tcp { host, port, tls } => tokio::time::timeout(CONNECT_TIMEOUT, async {
                let tcp = tcp_connect(host, *port, tls.is_none()).await?;
                match tls {
                    None => Ok(AgentStream::Tcp(tcp)),
                    Some((connector, name)) => {
                        let stream = connector.connect(name.clone(), tcp).await;
                        stream.map(|s| AgentStream::Tls(Box::new(s))).map_err(|e| ConnectError::Tls(Arc::new(e)))
                    }
                }
            })
            .await
            .unwrap_or(Err(ConnectError::TimedOut(CONNECT_TIMEOUT))),
        }
    }
}

/// The first address of `host` that accepts; only loopback ones if
/// `loopback_only`.
async fn tcp_connect(host: &str, port: u16, loopback_only: bool) -> Result<TcpStream, ConnectError> {
    let resolved = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| ConnectError::Resolve { host: host.to_owned(), source: Arc::new(e) })?;
    let mut last = ConnectError::NoAddress { host: host.to_owned() };
    for addr in resolved {
        if loopback_only && !addr.ip().is_loopback() {
            last = ConnectError::NotLoopback { addr };
            continue;
        }
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Requests are small and answered at once: do not delay them.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(err) => last = io_error(err),
        }
    }
    Err(last)
}

fn io_error(err: io::Error) -> ConnectError {
    ConnectError::Io(Arc::new(err))
}

// === impl AgentStream ===

/// Runs `$body` with `$s` bound to the inner stream, whichever it is.
macro_rules! each {
    ($self:expr, $s:ident => $body:expr) => {
        match $self.get_mut() {
            AgentStream::Unix($s) => $body,
            AgentStream::Tcp($s) => $body,
            AgentStream::Tls($s) => $body,
        }
    };
}

impl AsyncRead for AgentStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for AgentStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

impl Connection for AgentStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_tcp_is_never_sent_off_loopback() {
        // A documentation address (RFC 5737): refused before any packet is sent.
        let err = tcp_connect("192.0.2.10", 8080, true).await.expect_err("refused");
        assert_eq!(err.to_string(), "refusing plain HTTP to 192.0.2.10:8080, which is not a loopback address");
    }

    #[tokio::test]
    async fn connection_failures_keep_their_os_error() {
        let dir = tempfile::tempdir().expect("dir");
        let route = Route::Unix(dir.path().join("nobody.sock"));
        let Err(ConnectError::Io(err)) = route.connect().await else { panic!("connected to nothing") };
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}

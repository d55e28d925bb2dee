//! The connections being served: each in its own task, owned by one
//! `JoinSet`, watched for graceful shutdown.

use std::time::Duration;

use hyper::server::conn::http1::Builder;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;

use crate::http::Router;
use crate::peer::Peer;
use crate::sops::SecretSource;
use crate::transport::{Accepted, Conn};
use crate::usage::UsageStore;

/// Every open connection, and how to serve a new one.
pub(super) struct Connections {
    tasks: JoinSet<()>,
    graceful: GracefulShutdown,
    http: Builder,
}

/// Slow clients get this long to send their headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// And this long to finish a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Read buffer cap per connection while a request head arrives: bounds the
/// memory a slow client can hold (the router answers 431 over 16 KiB of
/// headers).
const MAX_HEAD_BYTES: usize = 2 * crate::http::MAX_HEADER_BYTES;
/// Most headers in one request.
const MAX_HEADERS: usize = 64;
/// A client that takes no byte of its answers for this long is cut off: its
/// place under the connection cap goes to the next client (a client that
/// sends requests and never reads would otherwise hold it for ever).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

// === impl Connections ===

impl Connections {
    /// No connections yet.
    pub(super) fn new() -> Self {
        let mut http = Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_HEAD_BYTES)
            .max_headers(MAX_HEADERS);
        Self { tasks: JoinSet::new(), graceful: GracefulShutdown::new(), http }
    }

    /// Serves HTTP/1.1 on an accepted connection in a new task (a TLS
    /// handshake first, in that task, when the connection needs one); its
    /// place under the listener's cap is held until the task ends.
    pub(super) fn serve<S, U>(&mut self, accepted: Accepted, router: Router<S, U>)
    where
        S: SecretSource,
        U: UsageStore,
    {
        let Accepted { conn, peer, slot } = accepted;
        let (watcher, http) = (self.graceful.watcher(), self.http.clone());
        self.tasks.spawn(async move {
            let _slot = slot;
            match conn {
                Conn::Unix(stream) => serve_http(&http, watcher, stream, peer, router).await,
                Conn::Tcp(stream) => serve_http(&http, watcher, stream, peer, router).await,
                Conn::Tls(stream, acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => serve_http(&http, watcher, tls, peer, router).await,
                        Ok(Err(err)) => tracing::debug!(error = %err, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }

    /// Waits for one finished connection task (never resolves when none run).
    pub(super) async fn reap_one(&mut self) {
        if self.tasks.join_next().await.is_none() {
            std::future::pending::<()>().await;
        }
    }

    /// Asks every connection to finish its request and close, waiting up to
    /// `deadline`; connections still open then are cut.
    pub(super) async fn drain(mut self, deadline: Duration) {
        let graceful = self.graceful;
        let tasks = &mut self.tasks;
        let drained = tokio::time::timeout(deadline, async {
            graceful.shutdown().await;
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("in-flight requests did not finish in time; closing them");
            self.tasks.shutdown().await;
        }
    }
}

/// Serves one connection until it closes or the graceful shutdown ends it.
async fn serve_http<IO, S, U>(http: &Builder, watcher: Watcher, io: IO, peer: Peer, router: Router<S, U>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: SecretSource,
    U: UsageStore,
{
    // The timer is set only while a write waits for the client, so an
    // answer that goes out at once costs nothing extra.
    let mut io = tokio_io_timeout::TimeoutStream::new(io);
    io.set_write_timeout(Some(WRITE_TIMEOUT));
    let conn = http.serve_connection(TokioIo::new(Box::pin(io)), service(router, peer));
    if let Err(err) = watcher.watch(conn).await {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}

fn service<S: SecretSource, U: UsageStore>(
    router: Router<S, U>,
    peer: Peer,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = crate::http::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<crate::http::Response, std::convert::Infallible>> + Send,
> + Send {
    service_fn(move |req| {
        let (router, peer) = (router.clone(), peer.clone());
        async move { router.handle(req, peer).await }
    })
}

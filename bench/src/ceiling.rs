//! The ceiling: a bare hyper HTTP/1.1 server on a Unix socket that answers
//! every request with one fixed small JSON body.
//!
//! It copies the agent's serving structure (one task per accepted connection,
//! an `http1::Builder` with the same timer and limits, `service_fn`, the
//! same response headers, a multi-threaded runtime) and does no work per
//! request, so its throughput is what hyper and the socket allow on this
//! machine: the most the agent could reach.

use std::convert::Infallible;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::UnixListener;
use tokio::task::JoinSet;

/// The answer: the shape and size of the agent's `{"value": ...}`.
pub const BODY: &str = r#"{"value":"bench-secret-value-0123456789"}"#;

/// As in the agent (`app/connections.rs`).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// As in the agent.
const MAX_HEAD_BYTES: usize = 32 * 1024;
/// As in the agent.
const MAX_HEADERS: usize = 64;

/// Binds `path` (replacing a leftover file) and serves until `shutdown`
/// resolves, then removes the socket file.
///
/// # Errors
/// If the socket cannot be bound.
pub async fn serve(path: &Path, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let http = http.clone();
                    tasks.spawn(async move {
                        let _ = http.serve_connection(TokioIo::new(stream), service_fn(answer)).await;
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
        }
    }
    let _ = std::fs::remove_file(path);
    tasks.shutdown().await;
    Ok(())
}

async fn answer(_request: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

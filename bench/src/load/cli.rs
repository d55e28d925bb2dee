//! The `vanta-load` command line, turned into a [`LoadConfig`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Uri};

use super::{LoadConfig, RequestTemplate, Stop};

/// Load a server on a Unix socket with keep-alive HTTP/1.1 and print a JSON report.
///
/// Example: `vanta-load --socket /run/vanta/agent.sock --path /api/v1/vault/dev/K1
/// -H "authorization: Bearer $TOKEN" --connections 32 --duration-secs 5 --warmup-secs 1`
#[derive(Debug, clap::Parser)]
#[command(name = "vanta-load", version)]
pub struct LoadArgs {
    /// The server's Unix socket.
    #[arg(long)]
    pub socket: PathBuf,
    /// Request path (and query).
    #[arg(long, default_value = "/healthz")]
    pub path: String,
    /// Request method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Extra header `name: value`; repeat for more.
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// Request body (sent with `Content-Type: application/json` unless a header says otherwise).
    #[arg(long, default_value = "")]
    pub body: String,
    /// Concurrent keep-alive connections, one task each.
    #[arg(short = 'c', long, default_value_t = 1)]
    pub connections: usize,
    /// Measure for this long (after the warm-up).
    #[arg(long, default_value_t = 5.0, conflicts_with = "requests")]
    pub duration_secs: f64,
    /// Not measured, before the measured window.
    #[arg(long, default_value_t = 0.0, conflicts_with = "requests")]
    pub warmup_secs: f64,
    /// Send exactly this many requests in all instead of running for a duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Cut the run after this long whatever else is asked.
    #[arg(long, default_value_t = 120.0)]
    pub deadline_secs: f64,
    /// Runtime worker threads of the load client (1 = a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Echoed in the report, to tell runs apart.
    #[arg(long)]
    pub label: Option<String>,
    /// The status that counts as a good answer (default: any 2xx), e.g. 401 to time the refusal path.
    #[arg(long)]
    pub expect_status: Option<u16>,
    /// Exit 1 (after printing the report) on any other answer or a transport error.
    #[arg(long)]
    pub check: bool,
}

// === impl LoadArgs ===

impl LoadArgs {
    /// Checks the arguments and builds the run's configuration.
    ///
    /// # Errors
    /// A bad method, path, header or duration, naming the flag.
    pub fn config(&self) -> anyhow::Result<LoadConfig> {
        let method = Method::from_bytes(self.method.as_bytes()).context("invalid --method")?;
        let uri: Uri = self.path.parse().context("invalid --path")?;
        let mut headers = HeaderMap::new();
        for raw in &self.headers {
            let (name, value) = raw.split_once(':').with_context(|| format!("--header {raw:?} has no ':'"))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).context("invalid --header name")?;
            let value = HeaderValue::from_str(value.trim()).context("invalid --header value")?;
            headers.append(name, value);
        }
        let stop = match self.requests {
            Some(count) => Stop::Requests(count),
            None => Stop::After(seconds(self.duration_secs, "--duration-secs")?),
        };
        Ok(LoadConfig {
            socket: self.socket.clone(),
            request: RequestTemplate::new(method, uri, headers, Bytes::from(self.body.clone())),
            connections: self.connections.max(1),
            stop,
            warmup: seconds(self.warmup_secs, "--warmup-secs")?,
            deadline: seconds(self.deadline_secs, "--deadline-secs")?,
            expect: self.expect_status,
        })
    }
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).with_context(|| format!("{flag} must be a non-negative number of seconds"))
}

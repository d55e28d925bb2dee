//! The load generator: N keep-alive HTTP/1.1 connections over a Unix socket,
//! one task per connection, each sending its requests back to back.
//!
//! A run stops after a duration (with an optional warm-up that is not
//! measured) or after a number of requests, and never outlives its hard
//! deadline. Every request is accounted for: answers with the expected status
//! (any 2xx unless told) make the throughput and the latencies; other answers
//! and transport errors are counted separately and reported, so a run that
//! measured error pages shows it.

mod cli;
mod worker;

pub use cli::LoadArgs;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderValue};
use hyper::{Method, Request, Uri};
use serde::{Deserialize, Serialize};

use crate::latency::Summary;

/// What to send on every request.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    /// The method.
    pub method: Method,
    /// Path and query, e.g. `/api/v1/vault/dev/K1`.
    pub uri: Uri,
    /// Extra headers (`Authorization`, ...); `Host` and, with a body,
    /// `Content-Type: application/json` are added when missing.
    pub headers: HeaderMap,
    /// The body (empty for none).
    pub body: Bytes,
}

/// When a run ends.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// After this long, counted from the end of the warm-up.
    After(Duration),
    /// After this many requests in all (no warm-up).
    Requests(u64),
}

/// One load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server's Unix socket.
    pub socket: PathBuf,
    /// What every request looks like.
    pub request: RequestTemplate,
    /// How many connections (and tasks) run at once.
    pub connections: usize,
    /// When to stop.
    pub stop: Stop,
    /// Not measured, before the measured window (only with [`Stop::After`]).
    pub warmup: Duration,
    /// The run is cut after this long whatever `stop` says.
    pub deadline: Duration,
    /// The status that counts as a good answer; `None` means any 2xx.
    pub expect: Option<u16>,
}

/// What a run measured; `vanta-load` prints it as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadReport {
    /// Connections used.
    pub connections: usize,
    /// Good answers (any 2xx, or the expected status) in the measured window.
    pub ok: u64,
    /// Other answers, warm-up included (they should be 0).
    pub unexpected: u64,
    /// Requests that got no answer (connection refused, reset, ...), warm-up included.
    pub errors: u64,
    /// Count per HTTP status, measured window and warm-up together.
    pub statuses: BTreeMap<u16, u64>,
    /// The first transport error, to make a failing run readable.
    pub first_error: Option<String>,
    /// False when the hard deadline cut a run that was to count requests.
    pub complete: bool,
    /// Seconds from the end of the warm-up to the last answer.
    pub elapsed_s: f64,
    /// Good answers per second over the measured window.
    pub rps: f64,
    /// Latency of the good answers in the measured window.
    pub latency: Option<Summary>,
}

/// Shared by all connection tasks: what to send and when to stop.
struct Plan {
    socket: PathBuf,
    request: RequestTemplate,
    measure_from: Instant,
    stop_at: Instant,
    remaining: Option<AtomicU64>,
    expect: Option<u16>,
}

/// What one connection task saw.
#[derive(Default)]
struct Tally {
    samples: Vec<u64>,
    ok: u64,
    unexpected: u64,
    errors: u64,
    statuses: BTreeMap<u16, u64>,
    first_error: Option<String>,
}

/// Pause after a failed connect, so that a dead server is not spun on.
const RECONNECT_PAUSE: Duration = Duration::from_millis(5);

// === impl RequestTemplate ===

impl RequestTemplate {
    /// A template; adds `Host: localhost` and, when `body` is not empty, a JSON content type.
    pub fn new(method: Method, uri: Uri, mut headers: HeaderMap, body: Bytes) -> Self {
        headers.entry(HOST).or_insert(HeaderValue::from_static("localhost"));
        if !body.is_empty() {
            headers.entry(CONTENT_TYPE).or_insert(HeaderValue::from_static("application/json"));
        }
        Self { method, uri, headers, body }
    }

    fn build(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

// === impl Plan ===

impl Plan {
    /// Takes the right to send one more request.
    fn next(&self) -> bool {
        if Instant::now() >= self.stop_at {
            return false;
        }
        match &self.remaining {
            None => true,
            Some(left) => left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok(),
        }
    }

    fn good(&self, status: u16) -> bool {
        match self.expect {
            Some(expected) => status == expected,
            None => (200..300).contains(&status),
        }
    }

    fn finished(&self) -> bool {
        Instant::now() >= self.stop_at || self.remaining.as_ref().is_some_and(|left| left.load(Ordering::Relaxed) == 0)
    }
}

// === impl Tally ===

impl Tally {
    fn answer(&mut self, status: u16, good: bool, took: Duration, measured: bool) {
        *self.statuses.entry(status).or_default() += 1;
        if !good {
            self.unexpected += 1;
        } else if measured {
            self.ok += 1;
            self.samples.push(crate::latency::nanos(took));
        }
    }

    fn error(&mut self, err: &dyn std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(err.to_string());
        }
    }

    fn merge(&mut self, other: Self) {
        self.samples.extend(other.samples);
        self.ok += other.ok;
        self.unexpected += other.unexpected;
        self.errors += other.errors;
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.first_error = self.first_error.take().or(other.first_error);
    }
}

/// Runs the load described by `config` and measures it.
///
/// # Errors
/// If a connection task panicked; server errors are counted, not returned.
pub async fn run(config: LoadConfig) -> anyhow::Result<LoadReport> {
    let start = Instant::now();
    let (measure_from, stop_at, remaining) = match config.stop {
        Stop::After(duration) => (start + config.warmup, start + config.warmup + duration, None),
        Stop::Requests(count) => (start, start + config.deadline, Some(AtomicU64::new(count))),
    };
    let stop_at = stop_at.min(start + config.deadline);
    let plan = Arc::new(Plan {
        socket: config.socket,
        request: config.request,
        measure_from,
        stop_at,
        remaining,
        expect: config.expect,
    });
    let tasks: Vec<_> = (0..config.connections.max(1)).map(|_| tokio::spawn(worker::run(Arc::clone(&plan)))).collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await?);
    }
    let elapsed = Instant::now().saturating_duration_since(measure_from).as_secs_f64();
    let complete = plan.remaining.as_ref().is_none_or(|left| left.load(Ordering::Relaxed) == 0);
    Ok(LoadReport {
        connections: config.connections,
        ok: tally.ok,
        unexpected: tally.unexpected,
        errors: tally.errors,
        statuses: tally.statuses,
        first_error: tally.first_error,
        complete,
        elapsed_s: elapsed,
        rps: if elapsed > 0.0 { tally.ok as f64 / elapsed } else { 0.0 },
        latency: Summary::of(&mut tally.samples),
    })
}

#[cfg(test)]
mod tests;

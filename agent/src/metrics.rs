//! Prometheus metrics (layer L1): the registry, the request metrics, and the
//! text exposition. Other leaves keep their own `prometheus_client` counters
//! (a `Counter` is a shared atomic); `app` registers clones of them here, so
//! no leaf depends on another.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label set of request counts: `route` and `outcome`. Both values are
/// static (route names and error codes), so counting a request allocates
/// nothing.
pub type Labels = [(&'static str, &'static str); 2];

/// Label set of request latencies: `route`.
pub type RouteLabel = [(&'static str, &'static str); 1];

/// Every metric the agent exports.
pub struct Metrics {
    registry: Registry,
    /// Requests by route and outcome (`success` or the error code).
    pub requests: Family<Labels, Counter>,
    /// Request latency in seconds, by route.
    pub latency: Family<RouteLabel, Histogram>,
    /// Tokens minted.
    pub tokens_minted: Counter<u64, AtomicU64>,
}

// === impl Metrics ===

impl Metrics {
    /// Registers every metric under the `vanta_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("vanta");
        let requests = Family::<Labels, Counter>::default();
        // 50 µs .. ~3.3 s: cached fetches sit at the bottom, sops runs near the top.
        let latency = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.00005, 3.0, 11))
        });
        let tokens_minted = Counter::default();
        registry.register("http_requests", "HTTP requests by route and outcome", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        registry.register("tokens_minted", "tokens minted", tokens_minted.clone());
        Self { registry, requests, latency, tokens_minted }
    }

    /// Registers a counter kept by another part (`name` gets `vanta_` and `_total`).
    pub fn register_counter(&mut self, name: &str, help: &str, counter: Counter) {
        self.registry.register(name, help, counter);
    }

    /// Registers a histogram kept by another part (`name` gets `vanta_`).
    pub fn register_histogram(&mut self, name: &str, help: &str, histogram: Histogram) {
        self.registry.register(name, help, histogram);
    }

    /// Counts one answered request.
    pub fn observe(&self, route: &'static str, outcome: &'static str, seconds: f64) {
        self.requests.get_or_create(&[("route", route), ("outcome", outcome)]).inc();
        self.latency.get_or_create(&[("route", route)]).observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let m = Metrics::new();
        m.observe("secret", "success", 0.0001);
        m.observe("secret", "not_found", 0.0002);
        let mut m = m;
        let runs = Counter::default();
        m.register_counter("sops_runs", "sops runs", runs.clone());
        runs.inc();
        m.tokens_minted.inc();
        let text = m.render();
        for needle in [
            "vanta_http_requests_total{route=\"secret\",outcome=\"success\"} 1",
            "vanta_http_requests_total{route=\"secret\",outcome=\"not_found\"} 1",
            "vanta_http_request_duration_seconds_count{route=\"secret\"} 2",
            "vanta_sops_runs_total 1",
            "vanta_tokens_minted_total 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}

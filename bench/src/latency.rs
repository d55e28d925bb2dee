//! Latency samples and their summary (plain data, no I/O).
//!
//! Samples are kept whole (nanoseconds in a `Vec`, sorted once at the end)
//! rather than in a histogram: a 5-second run at 50,000 requests/s is 2 MB,
//! and exact percentiles need no extra crate.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Percentiles of one run, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Slowest request.
    pub max_us: f64,
    /// Arithmetic mean.
    pub mean_us: f64,
}

// === impl Summary ===

impl Summary {
    /// Summarises `samples` (nanoseconds); sorts them in place. `None` when empty.
    pub fn of(samples: &mut [u64]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let sum: u128 = samples.iter().map(|&ns| u128::from(ns)).sum();
        let count = u128::try_from(samples.len()).expect("a slice length fits in u128");
        Some(Self {
            p50_us: micros(percentile(samples, 50.0)),
            p90_us: micros(percentile(samples, 90.0)),
            p99_us: micros(percentile(samples, 99.0)),
            max_us: micros(samples[samples.len() - 1]),
            mean_us: (sum / count) as f64 / 1_000.0,
        })
    }
}

/// Nearest-rank percentile of sorted, non-empty `sorted`.
pub fn percentile(sorted: &[u64], pct: f64) -> u64 {
    let rank = (pct / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `values` (mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] })
}

/// A duration as nanoseconds, saturating (a request never takes 584 years).
pub fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn micros(ns: u64) -> f64 {
    ns as f64 / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<u64> = (1..=100).map(|n| n * 1_000).collect();
        samples.reverse();
        let summary = Summary::of(&mut samples).expect("non-empty");
        assert_eq!(summary.p50_us, 50.0);
        assert_eq!(summary.p90_us, 90.0);
        assert_eq!(summary.p99_us, 99.0);
        assert_eq!(summary.max_us, 100.0);
        assert_eq!(summary.mean_us, 50.5);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert!(Summary::of(&mut []).is_none());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 1.0]), Some(1.0));
        assert_eq!(median(&[]), None);
    }
}

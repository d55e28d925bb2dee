//! The targets, checked against the medians: one row each.
//!
//! They are goals of the benchmark, not test assertions: a miss is reported
//! (and explained in the hand-written analysis), never an error.

use super::format::{mib, rps, us};
use super::results::Results;
use crate::latency::median;

/// One target and how the run did.
#[derive(Debug, Clone)]
pub struct Check {
    /// Workload.
    pub workload: &'static str,
    /// The target, as the issue states it.
    pub target: &'static str,
    /// The measured median, formatted.
    pub measured: String,
    /// `Some(true)` met, `Some(false)` missed, `None` not measured.
    pub met: Option<bool>,
}

/// Every target, in the order.
pub fn checks(r: &Results) -> Vec<Check> {
    let cached32 = r.w1("cached", 32);
    let cached1 = r.w1("cached", 1);
    let ratio = r.paired_ratio("cached", "ceiling", 32);
    let w2 = r.w2.get(&32).and_then(super::results::Agg::of);
    let cli = r.w3.get("cli").and_then(|t| median(t));
    let sops = r.w3.get("sops").and_then(|t| median(t));
    let w3 = cli.zip(sops);
    vec![
        check("W1", "cached, c=32: ≥ 20,000 requests/s", cached32.map(|a| (rps(a.rps), a.rps >= 20_000.0))),
        check(
            "W1",
            "cached, c=32: ≥ 60% of the ceiling's requests/s",
            ratio.map(|x| (format!("{:.0}%", x * 100.0), x >= 0.60)),
        ),
        check("W1", "cached, c=32: p99 < 2 ms", cached32.map(|a| (us(a.p99), a.p99 < 2_000.0))),
        check("W1", "cached, c=1: p50 < 150 µs", cached1.map(|a| (us(a.p50), a.p50 < 150.0))),
        check("W2", "≥ 10,000 tokens/s (c=32)", w2.map(|a| (rps(a.rps), a.rps >= 10_000.0))),
        check(
            "W3",
            "run-with-secrets faster than sops exec-env",
            w3.map(|(c, s)| (format!("{} vs {}", us(c * 1e6), us(s * 1e6)), c < s)),
        ),
        check("W4", "idle RSS < 10 MiB", r.w4.as_ref().map(|m| (mib(m.idle_kib), m.idle_kib < 10 * 1024))),
        check(
            "W4",
            "RSS after 100,000 requests < 20 MiB",
            r.w4.as_ref().map(|m| (mib(m.after_kib), m.after_kib < 20 * 1024)),
        ),
        check("W5", "start-up to /healthz < 50 ms", r.w5.as_ref().map(|s| (us(s.median_us), s.median_us < 50_000.0))),
        check(
            "W6",
            "limited token, SQLite, c=32: ≥ 0.5× the unlimited token's requests/s",
            r.w6_ratio("limited-sqlite", "unlimited-sqlite", 32).map(|x| (format!("{x:.2}×"), x >= 0.5)),
        ),
        check(
            "W6",
            "limited token, SQLite, c=1: p50 < 0.5 ms",
            r.w6("limited-sqlite", 1).map(|a| (us(a.p50), a.p50 < 500.0)),
        ),
        check(
            "W6",
            "limited token, Redis, c=32: ≥ 10,000 requests/s",
            r.w6("limited-redis", 32).map(|a| (rps(a.rps), a.rps >= 10_000.0)),
        ),
        check(
            "W6",
            "revocation propagation, Redis: p99 < 100 ms",
            r.w6_revoke.as_ref().map(|p| (us(p.delay.p99_us), p.delay.p99_us < 100_000.0)),
        ),
        check(
            "W8",
            "run-with-secrets --mask relays ≥ 200 MiB/s",
            r.w8_throughput("masked").map(|(mibs, _, _)| (format!("{mibs:.0} MiB/s"), mibs >= 200.0)),
        ),
    ]
}

fn check(workload: &'static str, target: &'static str, outcome: Option<(String, bool)>) -> Check {
    match outcome {
        Some((measured, met)) => Check { workload, target, measured, met: Some(met) },
        None => Check { workload, target, measured: "not measured".to_owned(), met: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::Summary;
    use crate::load::LoadReport;
    use crate::report::Runs;

    fn runs(rps: &[f64], p50_us: f64, p99_us: f64) -> Runs {
        let report = |rps| LoadReport {
            rps,
            latency: Some(Summary { p50_us, p99_us, ..Summary::default() }),
            ..LoadReport::default()
        };
        rps.iter().enumerate().map(|(i, &r)| (u32::try_from(i).expect("few runs") + 1, report(r))).collect()
    }

    #[test]
    fn verdicts_follow_the_medians_and_paired_ratios() {
        let mut results = Results::default();
        results.w1.insert(("ceiling".to_owned(), 32), runs(&[40_000.0, 30_000.0, 50_000.0], 300.0, 900.0));
        results.w1.insert(("cached".to_owned(), 32), runs(&[26_000.0, 18_000.0, 25_000.0], 500.0, 2_500.0));
        results.w1.insert(("cached".to_owned(), 1), runs(&[9_000.0], 100.0, 300.0));
        let checks = checks(&results);
        let met: Vec<Option<bool>> = checks.iter().map(|c| c.met).collect();
        // 25,000/s median; ratios 0.65, 0.60, 0.50 -> median 60%; p99 2.5 ms; p50 100 µs; the rest unmeasured.
        assert_eq!(met[..4], [Some(true), Some(true), Some(false), Some(true)]);
        assert!(met[4..].iter().all(Option::is_none));
        assert_eq!(checks[1].measured, "60%");
    }

    #[test]
    fn mask_throughput_is_the_size_over_the_median_time() {
        let mut results = Results::default();
        results.machine.insert("w8_mib".to_owned(), "100".to_owned());
        results.w8.insert("masked".to_owned(), vec![0.4, 0.8, 0.25]);
        assert_eq!(results.w8_throughput("masked"), Some((250.0, 125.0, 400.0)));
        let w8 = checks(&results).pop().expect("the W8 row is last");
        assert_eq!((w8.measured.as_str(), w8.met), ("250 MiB/s", Some(true)));
        results.w8.insert("masked".to_owned(), vec![0.6]);
        assert_eq!(checks(&results).pop().and_then(|c| c.met), Some(false));
    }
}

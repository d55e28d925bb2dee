//! Reading the results directory that `scripts/bench.sh` fills, and the
//! medians over its runs.
//!
//! Layout: `machine.txt` (`key=value` lines), `w1/<server>-c<N>/run-<round>.json`
//! and `w2/c<N>/run-<round>.json` (`vanta-load` reports), `w3/{cli,sops}.json`
//! (hyperfine's `--export-json`, or the same shape from the script's loop),
//! `w4.json`, `w4-load.json`, `w5.json` (`startup-time`),
//! `w6/<token>-<store>-c<N>/run-<round>.json` (`unlimited` or `limited`
//! tokens, per usage store backend), `w6-revoke.json` (`revoke-propagation`),
//! `w7.json` and `w7-load.json` (the 304 polls of `--watch`),
//! `w8/{plain,masked}.json` (the script's loop, hyperfine's shape). A missing workload
//! is reported as missing, not as an error.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::latency::median;
use crate::load::LoadReport;
use crate::startup::StartupReport;

/// The runs of one workload configuration, keyed by round.
pub type Runs = BTreeMap<u32, LoadReport>;

/// Runs by (configuration name, connections).
pub(super) type ByConnections = BTreeMap<(String, u32), Runs>;

/// Everything one `make bench` measured.
#[derive(Debug, Default)]
pub struct Results {
    /// `machine.txt`: machine, tools, suite parameters.
    pub machine: BTreeMap<String, String>,
    /// W1 by (server, connections): `ceiling`, `cached`, `nocache`.
    pub w1: ByConnections,
    /// W2 by connections.
    pub w2: BTreeMap<u32, Runs>,
    /// W3 wall times in seconds: `cli`, `sops`.
    pub w3: BTreeMap<String, Vec<f64>>,
    /// W4 memory and sizes.
    pub w4: Option<Memory>,
    /// The 100,000-request run of W4.
    pub w4_load: Option<LoadReport>,
    /// W5 start-ups.
    pub w5: Option<StartupReport>,
    /// W6 by (`<token>-<store>`, connections), e.g. `limited-sqlite`.
    pub w6: ByConnections,
    /// W6 revocation propagation between two agents on one Redis.
    pub w6_revoke: Option<crate::propagation::PropagationReport>,
    /// W7: the agent's CPU for a run of `--watch` polls.
    pub w7: Option<WatchPolls>,
    /// The polls of W7, as the load client saw them.
    pub w7_load: Option<LoadReport>,
    /// W8 wall times in seconds of relaying `w8_mib` MiB: `plain`, `masked`.
    pub w8: BTreeMap<String, Vec<f64>>,
}

/// `w7.json`: the agent's CPU time over a run of 304 polls.
#[derive(Debug, Clone, Deserialize)]
pub struct WatchPolls {
    /// Polls answered 304.
    pub polls: u64,
    /// The agent's user + system CPU over the run, in clock ticks.
    pub agent_cpu_ticks: u64,
    /// Clock ticks per second (`getconf CLK_TCK`).
    pub clk_tck: u64,
    /// The `--watch-interval` the fleet figure assumes, seconds.
    pub interval_secs: u64,
}

/// `w4.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Memory {
    /// VmRSS after start-up and a second of rest, KiB.
    pub idle_kib: u64,
    /// Its anonymous part (heap, stacks; the rest is mapped files), KiB.
    pub idle_anon_kib: u64,
    /// VmRSS after the 100,000 requests, KiB.
    pub after_kib: u64,
    /// Its anonymous part, KiB.
    pub after_anon_kib: u64,
    /// VmHWM (peak RSS) at that point, KiB.
    pub peak_kib: u64,
    /// Lines in that agent's audit log (one per request, plus none else).
    pub audit_lines: u64,
    /// Size of `vanta-agent`, bytes.
    pub agent_bytes: u64,
    /// Size of `vanta-cli`, bytes.
    pub cli_bytes: u64,
    /// The shared libraries the agent maps.
    pub shared_libs: String,
}

// === impl WatchPolls ===

impl WatchPolls {
    /// The agent's CPU per poll, µs.
    pub fn cpu_us_per_poll(&self) -> f64 {
        self.agent_cpu_ticks as f64 * 1e6 / self.clk_tck.max(1) as f64 / self.polls.max(1) as f64
    }

    /// How many watchers, one poll each per interval, fit in `share` of
    /// one core.
    pub fn watchers_within(&self, share: f64) -> f64 {
        share * self.interval_secs as f64 * 1e6 / self.cpu_us_per_poll()
    }
}

/// Medians over the runs of one configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Agg {
    /// Runs aggregated.
    pub runs: usize,
    /// Median requests/s.
    pub rps: f64,
    /// Slowest run's requests/s.
    pub rps_min: f64,
    /// Fastest run's requests/s.
    pub rps_max: f64,
    /// Median of the runs' p50 (µs).
    pub p50: f64,
    /// Median of the runs' p90 (µs).
    pub p90: f64,
    /// Median of the runs' p99 (µs).
    pub p99: f64,
    /// Median of the runs' max (µs).
    pub max: f64,
    /// Unexpected (non-2xx) answers over all runs.
    pub unexpected: u64,
    /// Transport errors over all runs.
    pub errors: u64,
}

#[derive(Deserialize)]
struct Hyperfine {
    results: Vec<HyperfineResult>,
}

#[derive(Deserialize)]
struct HyperfineResult {
    times: Vec<f64>,
}

// === impl Results ===

impl Results {
    /// Reads `dir`.
    ///
    /// # Errors
    /// A file that exists but cannot be read or parsed.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let mut results = Self { machine: read_machine(&dir.join("machine.txt"))?, ..Self::default() };
        results.w1 = read_by_connections(&dir.join("w1"))?;
        results.w6 = read_by_connections(&dir.join("w6"))?;
        for (name, runs) in read_run_dirs(&dir.join("w2"))? {
            let c = name.trim_start_matches('c').parse().with_context(|| format!("w2/{name}: bad name"))?;
            results.w2.insert(c, runs);
        }
        results.w3 = read_times(&dir.join("w3"), &["cli", "sops"])?;
        results.w4 = read_json(&dir.join("w4.json"))?;
        results.w4_load = read_json(&dir.join("w4-load.json"))?;
        results.w5 = read_json(&dir.join("w5.json"))?;
        results.w6_revoke = read_json(&dir.join("w6-revoke.json"))?;
        results.w7 = read_json(&dir.join("w7.json"))?;
        results.w7_load = read_json(&dir.join("w7-load.json"))?;
        results.w8 = read_times(&dir.join("w8"), &["plain", "masked"])?;
        Ok(results)
    }

    /// A `machine.txt` value, or `?`.
    pub fn machine(&self, key: &str) -> &str {
        self.machine.get(key).map_or("?", String::as_str)
    }

    /// W1 medians for `server` at `c` connections.
    pub fn w1(&self, server: &str, c: u32) -> Option<Agg> {
        self.w1.get(&(server.to_owned(), c)).and_then(Agg::of)
    }

    /// W8: MiB/s of the median run of `mode` (`plain`, `masked`), with the
    /// slowest and fastest run's.
    pub fn w8_throughput(&self, mode: &str) -> Option<(f64, f64, f64)> {
        let mib: f64 = self.machine.get("w8_mib")?.parse().ok()?;
        let times = self.w8.get(mode)?;
        let (fastest, slowest) = times.iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        Some((mib / median(times)?, mib / slowest, mib / fastest))
    }

    /// Median over rounds of `a`'s requests/s divided by `b`'s in the same
    /// round (the runs were interleaved, so a noisy round hits both).
    pub fn paired_ratio(&self, a: &str, b: &str, c: u32) -> Option<f64> {
        paired_ratio(&self.w1, a, b, c)
    }

    /// W6 medians for `config` (`<token>-<store>`) at `c` connections.
    pub fn w6(&self, config: &str, c: u32) -> Option<Agg> {
        self.w6.get(&(config.to_owned(), c)).and_then(Agg::of)
    }

    /// [`Self::paired_ratio`] for W6 configurations.
    pub fn w6_ratio(&self, a: &str, b: &str, c: u32) -> Option<f64> {
        paired_ratio(&self.w6, a, b, c)
    }
}

fn paired_ratio(runs: &ByConnections, a: &str, b: &str, c: u32) -> Option<f64> {
    let (a, b) = (runs.get(&(a.to_owned(), c))?, runs.get(&(b.to_owned(), c))?);
    let ratios: Vec<f64> = a.iter().filter_map(|(round, ra)| b.get(round).map(|rb| ra.rps / rb.rps)).collect();
    median(&ratios)
}

/// `<dir>/<name>-c<N>/run-<round>.json`, keyed by (name, N).
fn read_by_connections(dir: &Path) -> anyhow::Result<ByConnections> {
    let mut found = ByConnections::new();
    for (name, runs) in read_run_dirs(dir)? {
        let Some((config, c)) = name.rsplit_once("-c") else { continue };
        let c = c.parse().with_context(|| format!("{}/{name}: bad connection count", dir.display()))?;
        found.insert((config.to_owned(), c), runs);
    }
    Ok(found)
}

// === impl Agg ===

impl Agg {
    /// Medians over `runs`; `None` when there are none.
    pub fn of(runs: &Runs) -> Option<Self> {
        let all: Vec<&LoadReport> = runs.values().collect();
        let pick = |f: fn(&LoadReport) -> Option<f64>| median(&all.iter().filter_map(|r| f(r)).collect::<Vec<_>>());
        let rps: Vec<f64> = all.iter().map(|r| r.rps).collect();
        Some(Self {
            runs: all.len(),
            rps: median(&rps)?,
            rps_min: rps.iter().copied().fold(f64::INFINITY, f64::min),
            rps_max: rps.iter().copied().fold(0.0, f64::max),
            p50: pick(|r| r.latency.map(|l| l.p50_us)).unwrap_or(f64::NAN),
            p90: pick(|r| r.latency.map(|l| l.p90_us)).unwrap_or(f64::NAN),
            p99: pick(|r| r.latency.map(|l| l.p99_us)).unwrap_or(f64::NAN),
            max: pick(|r| r.latency.map(|l| l.max_us)).unwrap_or(f64::NAN),
            unexpected: all.iter().map(|r| r.unexpected).sum(),
            errors: all.iter().map(|r| r.errors).sum(),
        })
    }
}

fn read_machine(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(err) => return Err(err).with_context(|| format!("failed to read {}", path.display())),
    };
    Ok(text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
}

/// Each subdirectory of `dir` with its `run-<round>.json` files.
fn read_run_dirs(dir: &Path) -> anyhow::Result<Vec<(String, Runs)>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("failed to list {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut runs = Runs::new();
        for run in std::fs::read_dir(entry.path()).with_context(|| format!("failed to list {name}"))? {
            let path = run.with_context(|| format!("failed to list {name}"))?.path();
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let Some(Ok(round)) = stem.strip_prefix("run-").map(str::parse) else { continue };
            if let Some(report) = read_json(&path)? {
                runs.insert(round, report);
            }
        }
        found.push((name, runs));
    }
    Ok(found)
}

/// `<name>.json` of `dir` for each of `names` that exists: the times of
/// its runs, in seconds.
fn read_times(dir: &Path, names: &[&str]) -> anyhow::Result<BTreeMap<String, Vec<f64>>> {
    let mut times = BTreeMap::new();
    for name in names {
        if let Some(h) = read_json::<Hyperfine>(&dir.join(format!("{name}.json")))? {
            times.insert((*name).to_owned(), h.results.into_iter().flat_map(|r| r.times).collect());
        }
    }
    Ok(times)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map(Some).with_context(|| format!("failed to parse {}", path.display()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("failed to read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_poll_cost_and_fleet_size() {
        // 20,000 polls in 1.5 s of agent CPU: 75 µs each; at 5 s a watcher
        // costs 15 µs/s, so 5 % of a core (50,000 µs/s) carries 3,333.
        let w = WatchPolls { polls: 20_000, agent_cpu_ticks: 150, clk_tck: 100, interval_secs: 5 };
        assert!((w.cpu_us_per_poll() - 75.0).abs() < 1e-9);
        assert_eq!(w.watchers_within(0.05).floor(), 3333.0);
    }
}

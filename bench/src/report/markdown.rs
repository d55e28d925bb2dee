//! `docs/PERFORMANCE.md`: the measured results as Markdown tables.

use super::Doc;
use super::format::{mib, rps, thousands, us, verdict};
use super::results::{Agg, Results};
use super::targets::checks;
use crate::latency::median;

/// The paragraph on how noisy the machine is.
const NOISE: &str = "**Noise.** The machine is a shared 2-core VM. The load client runs on the same two cores as the
server (about 9–10 µs of CPU per request), so absolute requests/s are lower than on a dedicated box, and other
processes move them by tens of percent between runs (see the min–max columns and the load average above). At
concurrency 1 latency is mostly thread wake-ups, which in a VM cost more when the machine is idle than when it is
busy (the ceiling's own p50 is ~20 µs on a busy machine, ~65 µs on an idle one). The ceiling runs interleaved
with the agent under the same conditions, which is why the ratios are the steadier figure.";

const SERVERS: [(&str, &str); 3] = [
    ("ceiling", "ceiling (bare hyper, fixed JSON)"),
    ("cached", "agent, cache on (default)"),
    ("nocache", "agent, `--cache-ttl-seconds 0`"),
];

/// Writes the whole results part of the document.
pub(super) fn results(doc: &mut Doc, r: &Results) {
    targets(doc, r);
    machine(doc, r);
    method(doc, r);
    w1(doc, r);
    w2(doc, r);
    w3(doc, r);
    w4(doc, r);
    w5(doc, r);
    w6(doc, r);
    w6_revoke(doc, r);
    w7(doc, r);
    w8(doc, r);
}

fn targets(doc: &mut Doc, r: &Results) {
    doc.line("## Targets");
    doc.line("");
    doc.line("Goals of the issue for the 2-core development machine (medians of the runs below).");
    doc.line("");
    doc.line("| workload | target | measured | |");
    doc.line("|---|---|---|---|");
    for c in checks(r) {
        doc.line(format!("| {} | {} | {} | {} |", c.workload, c.target, c.measured, verdict(c.met)));
    }
    doc.line("");
}

fn machine(doc: &mut Doc, r: &Results) {
    doc.line("## Machine");
    doc.line("");
    for (label, key) in [
        ("date (UTC)", "date"),
        ("CPUs (`nproc`)", "nproc"),
        ("CPU", "cpu"),
        ("memory", "memory"),
        ("kernel", "kernel"),
        ("load average (1, 5, 15 min) before the build", "loadavg_start"),
        ("load average (1, 5, 15 min) at the end", "loadavg"),
        ("rustc", "rustc"),
        ("sops", "sops"),
        ("hyperfine", "hyperfine"),
        ("source", "commit"),
        ("release build in this run (0 when already built)", "build_secs"),
        ("suite time (build included)", "suite_secs"),
    ] {
        let unit = if key.ends_with("_secs") { " s" } else { "" };
        doc.line(format!("- {label}: {}{unit}", r.machine(key)));
    }
    doc.line("");
}

fn method(doc: &mut Doc, r: &Results) {
    let (runs, nocache, secs, warmup) =
        (r.machine("runs"), r.machine("nocache_runs"), r.machine("secs"), r.machine("warmup"));
    doc.line("## Method");
    doc.line("");
    doc.line("`make bench` runs `scripts/bench.sh`: it builds the release binaries (LTO, one codegen unit, stripped),");
    doc.line("creates a throw-away age key and a sops file `dev.enc.yaml` with 5 keys `K1`..`K5`, and starts, side by");
    doc.line(
        "side, an agent with the default cache (TTL 60 s), an agent with `--cache-ttl-seconds 0` (one sops run per",
    );
    doc.line(
        "request, the PRD's literal design) and `ceiling-server` (a bare hyper HTTP/1.1 server on a Unix socket with",
    );
    doc.line(
        "the agent's per-connection structure, answering a fixed JSON body of the same size: the most hyper and the",
    );
    doc.line("socket allow here). Audit logs go to files. The first fetch of each agent (a sops run) is not measured.");
    doc.line("");
    doc.line(format!("- Load: `vanta-load` (this workspace, `bench/`): N keep-alive HTTP/1.1 connections, one task each, requests back to back, a single-threaded client runtime. Each run measures {secs} s after a {warmup} s warm-up; requests/s counts 2xx answers only, and a run with any non-2xx answer or transport error aborts the suite (`--check`)."));
    doc.line(format!("- W1 and W2: {runs} rounds ({nocache} for the cache-off agent). Within a round the servers run one after the other (order alternating between rounds), so a noisy moment hits neighbours alike; ratios are the median of the per-round ratios. Tables show the median over rounds of each run's figure, with the slowest and fastest run's requests/s."));
    doc.line(format!("- W3: `hyperfine -N` ({} runs after 3 warm-ups; a plain timing loop when hyperfine is missing) of `vanta-cli run-with-secrets --environment dev --key-pattern 'K*' -- true` (mint a token, list, fetch 5 keys, exec) against `sops exec-env dev.enc.yaml true`, both injecting the same 5 keys.", r.machine("w3_runs")));
    doc.line("- W4: a fresh agent; `VmRSS` from `/proc/PID/status` one second after `/healthz` answers, then after 100,000 cached `GET`s on 32 connections (`VmHWM` is the peak).");
    doc.line("- W7: a fresh agent; `vanta-load` sends conditional `GET /api/v1/vault/dev` (`If-None-Match` with the current tag, an unlimited token) on 8 connections, every answer checked to be 304; the agent's CPU is `utime + stime` from `/proc/PID/stat` before and after. Each poll is also an audit record. A watcher polls once per interval per token.");
    doc.line(format!("- W5: `startup-time` spawns the agent {} times and polls `GET /healthz` every 0.2 ms from just before the spawn until the first 200.", r.machine("w5_runs")));
    doc.line("- W6: one agent per usage store (SQLite at `--state-path`; Redis 7 on a private Unix socket, `appendonly yes`, `appendfsync everysec`), each fetching the cached secret with an unlimited token and with a `usage_limit: 1000000000` token (every request a use of a cached value, the agent's defaults: a token in heavy use takes its uses from the store several at a time, up to `--usage-hold-max` 64 — on SQLite a statement whose commit waits for a shared fsync of the log, on Redis one Lua script — and serves the others from memory, see the operator guide's \"Held uses\"), interleaved as in W1; the ratio is limited / unlimited on the same agent.");
    doc.line(format!("- W8: `vanta-cli run-with-secrets -q --environment dev --key-pattern 'K*' [--mask | --no-mask] -- lines-out --mib {mib} | cat > /dev/null`, {} rounds, the two modes alternating: `lines-out` (this workspace, `bench/`) writes {mib} MiB of ~100-byte log lines through a 64 KiB buffer, one in 1,000 with the value of `K1` in it; `cat` stands for a CI runner reading a pipe. Throughput is {mib} MiB over the wall time of the whole run (token, fetch and start-up included, ~10 ms).", r.machine("w8_runs"), mib = r.machine("w8_mib")));
    doc.line("");
    doc.line(NOISE);
    doc.line("");
}

fn w1(doc: &mut Doc, r: &Results) {
    doc.line("## W1: `GET /api/v1/vault/dev/K1`, cached");
    doc.line("");
    load_header(doc, "server");
    for c in [1, 32] {
        for (key, name) in SERVERS {
            if let Some(agg) = r.w1(key, c) {
                load_row(doc, &format!("{name}, c={c}"), &agg);
            }
        }
    }
    doc.line("");
    doc.line("Requests/s ratios (median of the per-round ratios):");
    doc.line("");
    doc.line("| ratio | c=1 | c=32 |");
    doc.line("|---|---|---|");
    for (a, b, label) in [
        ("cached", "ceiling", "agent cached / ceiling"),
        ("nocache", "ceiling", "agent cache off / ceiling"),
        ("cached", "nocache", "agent cached / agent cache off"),
    ] {
        let cell = |c| r.paired_ratio(a, b, c).map_or("–".to_owned(), ratio);
        doc.line(format!("| {label} | {} | {} |", cell(1), cell(32)));
    }
    doc.line("");
}

fn w6(doc: &mut Doc, r: &Results) {
    doc.line("## W6: `GET` with a `usage_limit` token beside an unlimited one, same agent");
    doc.line("");
    load_header(doc, "token, store");
    for c in [1, 32] {
        for ((config, conns), runs) in &r.w6 {
            if let (true, Some(agg)) = (*conns == c, Agg::of(runs)) {
                load_row(doc, &format!("{config}, c={c}"), &agg);
            }
        }
    }
    doc.line("");
    doc.line("Limited / unlimited requests/s (median of the per-round ratios):");
    doc.line("");
    doc.line("| store | c=1 | c=32 |");
    doc.line("|---|---|---|");
    let stores: std::collections::BTreeSet<&str> =
        r.w6.keys().filter_map(|(config, _)| config.strip_prefix("limited-")).collect();
    for store in stores {
        let (a, b) = (format!("limited-{store}"), format!("unlimited-{store}"));
        let cell = |c| r.w6_ratio(&a, &b, c).map_or("–".to_owned(), ratio);
        doc.line(format!("| {store} | {} | {} |", cell(1), cell(32)));
    }
    doc.line("");
}

fn w6_revoke(doc: &mut Doc, r: &Results) {
    doc.line("## W6: revocation propagation (revoke's 200 at agent A → first 401 at agent B, one Redis)");
    doc.line("");
    let Some(p) = &r.w6_revoke else { return doc.line("not measured (needs redis-server)\n") };
    doc.line("| revocations | p50 | p99 | max | goal p99 |");
    doc.line("|---|---|---|---|---|");
    let d = &p.delay;
    doc.line(format!("| {} | {} | {} | {} | < 100 ms |", p.runs, us(d.p50_us), us(d.p99_us), us(d.max_us)));
    doc.line("");
}

fn w2(doc: &mut Doc, r: &Results) {
    doc.line("## W2: `POST /api/v1/vault/tokens/generate`");
    doc.line("");
    load_header(doc, "connections");
    for (c, runs) in &r.w2 {
        if let Some(agg) = Agg::of(runs) {
            load_row(doc, &format!("c={c}"), &agg);
        }
    }
    doc.line("");
}

fn w3(doc: &mut Doc, r: &Results) {
    doc.line("## W3: 5 keys into `true`, end to end");
    doc.line("");
    doc.line("| command | runs | median | min | max |");
    doc.line("|---|---|---|---|---|");
    for (key, name) in [("cli", "`vanta-cli run-with-secrets` (agent cached)"), ("sops", "`sops exec-env`")] {
        let Some(times) = r.w3.get(key).filter(|t| !t.is_empty()) else { continue };
        let (min, max) = times.iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        let med = median(times).unwrap_or(f64::NAN);
        doc.line(format!("| {name} | {} | {} | {} | {} |", times.len(), us(med * 1e6), us(min * 1e6), us(max * 1e6)));
    }
    doc.line("");
}

fn w4(doc: &mut Doc, r: &Results) {
    doc.line("## W4: memory and binary sizes");
    doc.line("");
    let Some(m) = &r.w4 else { return doc.line("not measured\n") };
    doc.line("| measure | value |");
    doc.line("|---|---|");
    let split =
        |all: u64, anon: u64| format!("{} ({} anonymous, {} mapped files)", mib(all), mib(anon), mib(all - anon));
    doc.line(format!("| agent RSS, idle after start-up | {} |", split(m.idle_kib, m.idle_anon_kib)));
    doc.line(format!("| agent RSS after 100,000 requests | {} |", split(m.after_kib, m.after_anon_kib)));
    doc.line(format!("| agent peak RSS (VmHWM) | {} |", mib(m.peak_kib)));
    if let Some(load) = &r.w4_load {
        let p99 = load.latency.map_or(f64::NAN, |l| l.p99_us);
        doc.line(format!(
            "| the 100,000 requests: 2xx, requests/s, p99 | {}, {}, {} |",
            thousands(load.ok),
            rps(load.rps),
            us(p99)
        ));
    }
    doc.line(format!("| audit records written by that agent | {} |", thousands(m.audit_lines)));
    doc.line(format!("| `vanta-agent` binary | {} ({} bytes) |", mib(m.agent_bytes / 1024), thousands(m.agent_bytes)));
    doc.line(format!("| `vanta-cli` binary | {} ({} bytes) |", mib(m.cli_bytes / 1024), thousands(m.cli_bytes)));
    doc.line(format!("| shared libraries mapped by the agent | {} |", m.shared_libs));
    doc.line("");
}

fn w5(doc: &mut Doc, r: &Results) {
    doc.line("## W5: start-up until `/healthz` answers");
    doc.line("");
    let Some(s) = &r.w5 else { return doc.line("not measured\n") };
    doc.line("| starts | median | min | max |");
    doc.line("|---|---|---|---|");
    doc.line(format!("| {} | {} | {} | {} |", s.runs_us.len(), us(s.median_us), us(s.min_us), us(s.max_us)));
    doc.line("");
}

fn w7(doc: &mut Doc, r: &Results) {
    doc.line("## W7: `run-with-secrets --watch` polls (key listing answered 304)");
    doc.line("");
    let Some(w) = &r.w7 else { return doc.line("not measured\n") };
    doc.line("| measure | value |");
    doc.line("|---|---|");
    doc.line(format!("| polls answered 304 | {} |", thousands(w.polls)));
    doc.line(format!("| agent CPU (user + system) per poll | {} |", us(w.cpu_us_per_poll())));
    doc.line(format!(
        "| watchers one agent carries in 5 % of a core, one poll per {} s | {} |",
        w.interval_secs,
        thousands(w.watchers_within(0.05).floor() as u64)
    ));
    if let Some(load) = &r.w7_load {
        let (p50, p99) = load.latency.map_or((f64::NAN, f64::NAN), |l| (l.p50_us, l.p99_us));
        doc.line(format!("| the polls: requests/s, p50, p99 | {}, {}, {} |", rps(load.rps), us(p50), us(p99)));
    }
    doc.line("");
}

fn w8(doc: &mut Doc, r: &Results) {
    doc.line(format!("## W8: `run-with-secrets --mask`, {} MiB of log lines", r.machine("w8_mib")));
    doc.line("");
    doc.line("| output | runs | median time | MiB/s (median) | min–max |");
    doc.line("|---|---|---|---|---|");
    for (key, name) in
        [("plain", "`--no-mask`: the command writes to the pipe"), ("masked", "`--mask`: relayed, masked")]
    {
        let (Some(times), Some((med, lo, hi))) = (r.w8.get(key), r.w8_throughput(key)) else { continue };
        let time = median(times).unwrap_or(f64::NAN);
        doc.line(format!("| {name} | {} | {} | {med:.0} | {lo:.0}–{hi:.0} |", times.len(), us(time * 1e6)));
    }
    doc.line("");
}

fn load_header(doc: &mut Doc, first: &str) {
    doc.line(format!("| {first} | runs | requests/s (median) | min–max | p50 | p90 | p99 | max | non-2xx / errors |"));
    doc.line("|---|---|---|---|---|---|---|---|---|");
}

fn load_row(doc: &mut Doc, name: &str, a: &Agg) {
    doc.line(format!(
        "| {name} | {} | {} | {}–{} | {} | {} | {} | {} | {} / {} |",
        a.runs,
        rps(a.rps),
        thousands(a.rps_min.round() as u64),
        thousands(a.rps_max.round() as u64),
        us(a.p50),
        us(a.p90),
        us(a.p99),
        us(a.max),
        a.unexpected,
        a.errors
    ));
}

fn ratio(x: f64) -> String {
    match x {
        x if x >= 10.0 => format!("{x:.0}×"),
        x if x >= 0.01 => format!("{x:.2}×"),
        x => format!("{x:.4}×"),
    }
}

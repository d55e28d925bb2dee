//! `bench-report`: writes `docs/PERFORMANCE.md` from a `scripts/bench.sh` results directory.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use vanta_bench::report;

/// Write the performance report (medians, targets met or missed) from a bench results directory.
///
/// Example: `bench-report --results /tmp/vanta-bench.X/results --notes bench/analysis.md --out docs/PERFORMANCE.md`
#[derive(clap::Parser)]
#[command(name = "bench-report", version)]
struct Args {
    /// The directory `scripts/bench.sh` filled.
    #[arg(long)]
    results: PathBuf,
    /// Hand-written analysis appended as it is.
    #[arg(long)]
    notes: Option<PathBuf>,
    /// Where to write the Markdown.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match report::write(&args.results, args.notes.as_deref(), &args.out) {
        Ok(results) => {
            for check in report::checks(&results) {
                let verdict = match check.met {
                    Some(true) => "met",
                    Some(false) => "MISSED",
                    None => "not measured",
                };
                eprintln!("{:<3} {:<52} {:<24} {verdict}", check.workload, check.target, check.measured);
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bench-report: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

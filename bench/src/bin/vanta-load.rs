//! `vanta-load`: keep-alive HTTP/1.1 load over a Unix socket; prints a JSON report.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use vanta_bench::load::{self, LoadArgs};

fn main() -> ExitCode {
    match run(LoadArgs::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vanta-load: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: LoadArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let runtime = match args.threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    };
    let report = runtime.context("failed to start the runtime")?.block_on(load::run(config))?;
    let mut json = serde_json::to_value(&report).context("failed to encode the report")?;
    json["label"] = args.label.clone().into();
    println!("{json}");
    if args.check && (report.unexpected > 0 || report.errors > 0 || !report.complete) {
        let first = report.first_error.map(|e| format!(" (first: {e})")).unwrap_or_default();
        let cut = if report.complete { "" } else { ", cut by the deadline" };
        anyhow::bail!(
            "{} unexpected answers {:?}, {} errors{first}{cut}",
            report.unexpected,
            report.statuses,
            report.errors
        );
    }
    Ok(())
}

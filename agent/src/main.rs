//! `vanta-agent` entry point: parse flags, check the configuration, start
//! logging from it, run, map the outcome to an exit code (2 for start-up
//! errors, 1 for runtime errors).

use std::process::ExitCode;

use clap::Parser;
use vanta_agent::app::{self, AppError};
use vanta_agent::config::{Args, LogFormat};
use vanta_agent::logging;

fn main() -> ExitCode {
    let outcome = app::configure(Args::parse()).and_then(|config| {
        logging::init(&config.log_filter, config.log_format == LogFormat::Json)
            .map_err(|err| AppError::Startup(anyhow::Error::new(err).context("invalid --log (VANTA_LOG)")))?;
        app::main(config)
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vanta-agent: error: {:#}", err.error());
            err.exit_code()
        }
    }
}

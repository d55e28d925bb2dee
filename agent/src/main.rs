//! `vanta-agent` entry point: parse flags, run a subcommand or check the
//! configuration, start logging from it and serve; map the outcome to an
//! exit code (2 for start-up errors, 1 for runtime errors; `doctor` picks
//! its own).

use std::process::ExitCode;

use clap::Parser;
use vanta_agent::app::{self, AppError};
use vanta_agent::config::{Args, Command, LogFormat};
use vanta_agent::{commands, doctor, logging};

fn main() -> ExitCode {
    let mut args = Args::parse();
    let outcome = match args.command.take() {
        // The doctor checks the configuration itself, one line per check.
        Some(Command::Doctor) => return doctor::main(args),
        Some(Command::Policy(policy)) => commands::policy(policy, args.policy_file.as_deref()),
        None => app::configure(args).and_then(|config| {
            logging::init(&config.log.filter, config.log.format == LogFormat::Json)
                .map_err(|err| AppError::Startup(anyhow::Error::new(err).context("invalid --log (VANTA_LOG)")))?;
            app::main(config)
        }),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vanta-agent: error: {:#}", err.error());
            err.exit_code()
        }
    }
}

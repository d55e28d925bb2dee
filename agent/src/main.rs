//! `vanta-agent` entry point: parse flags, start logging, run (or run a
//! subcommand), map the outcome to an exit code (2 for start-up errors, 1
//! for runtime errors).

use std::process::ExitCode;

use clap::Parser;
use vanta_agent::{app, commands, config::Args, logging};

fn main() -> ExitCode {
    let mut args = Args::parse();
    logging::init();
    let outcome = match args.command.take() {
        Some(command) => commands::run(command),
        None => app::main(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vanta-agent: error: {:#}", err.error());
            err.exit_code()
        }
    }
}

//! `vanta-agent` entry point: parse flags, start logging, run (or run a
//! subcommand), map the outcome to an exit code (2 for start-up errors, 1
//! for runtime errors; `doctor` picks its own).

use std::process::ExitCode;

use clap::Parser;
use vanta_agent::config::{Args, Command};
use vanta_agent::{app, commands, doctor, logging};

fn main() -> ExitCode {
    let mut args = Args::parse();
    let command = args.command.take();
    if let Some(Command::Doctor) = command {
        return doctor::main(args);
    }
    logging::init();
    let outcome = match command {
        Some(Command::Policy(policy)) => commands::policy(policy),
        _ => app::main(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vanta-agent: error: {:#}", err.error());
            err.exit_code()
        }
    }
}

//! `vanta-agent` entry point: parse flags, start logging, run, map the
//! outcome to an exit code (2 for start-up errors, 1 for runtime errors).

use std::process::ExitCode;

use clap::Parser;
use vanta_agent::config::{Args, Command};
use vanta_agent::{app, doctor, logging};

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Doctor) = args.command {
        return doctor::main(args);
    }
    logging::init();
    match app::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vanta-agent: error: {:#}", err.error());
            err.exit_code()
        }
    }
}

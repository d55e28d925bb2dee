//! The `vanta-cli` binary: parse, set up logging, run, exit (top layer).
//! Usage errors exit 2 (clap), failures 1, `run-with-secrets` its child's code.
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use vanta_cli::{cli::Cli, error};

fn main() -> ExitCode {
    // `run-with-secrets` starts its command through this binary (see `child`).
    let result = match vanta_cli::exec_child_if_asked() {
        Some(err) => Err(err),
        None => {
            let cli = Cli::try_parse_args(std::env::args_os()).unwrap_or_else(|err| err.exit());
            vanta_cli::init_logging();
            vanta_cli::run(cli)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "{}", error::error_line(err.as_ref()));
            ExitCode::from(error::exit_code(err.as_ref()))
        }
    }
}

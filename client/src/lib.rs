//! `vanta-cli`, the client of `vanta-agent`: mints scoped tokens, reads
//! secrets, runs commands with their secrets and probes the agent, over the
//! agent's Unix socket (docs/API.md §6) or its TCP listener (`--url`).
//!
//! # Layout
//! Layers, top to bottom; a module uses only modules below it.
//! - [`cli`]: clap types, every flag and environment variable.
//! - [`error`]: the one-line error report and the exit code, for `main`.
//! - `commands`: one function per subcommand (`run` in two steps: `fetch`,
//!   `handover`); with `main` the only printers.
//! - `agent_client`: the HTTP API over the socket, TCP or TLS (thiserror
//!   errors), and the bearer token.
//! - `inject`: variable names, the command's environment, the dotenv and
//!   JSON formats, the private directory, the named pipe.
//! - `child`: spawn the command, forward signals, reap orphans, map its exit
//!   status.
//! - `hardening`: not dumpable, no core file, before any command.
//! - `mask`: `run-with-secrets --mask`: replace injected values in the
//!   command's stdout and stderr while relaying them.
//! - `output`: summary and report text, the terminal newline policy.
//! - [`endpoint`] and `vanta_shared`: plain validated data; the agent's
//!   socket or URL; names, patterns, API bodies, defaults.
//!
//! The operator guide's "vanta-cli" section (`docs/VAULT_ACCESS_SYSTEM_README.md#vanta-cli`)
//! documents the behaviour of every subcommand for users.
#![forbid(unsafe_code)]

pub mod cli;
pub mod endpoint;
pub mod error;

mod agent_client;
mod child;
mod commands;
mod hardening;
mod inject;
mod mask;
mod output;

use std::io::IsTerminal;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

/// Variable that turns on diagnostics on stderr (a tracing filter).
const LOG_VAR: &str = "VANTA_LOG";

/// Runs the command line on a single-threaded runtime; returns the exit
/// code (0, or the child's for `run-with-secrets`).
///
/// # Errors
/// Anything that failed, for [`error::error_line`] and [`error::exit_code`].
pub fn run(cli: cli::Cli) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let result = runtime.block_on(commands::dispatch(cli));
    // Without waiting for blocking work left over: a masked relay's write to
    // a stdout nobody reads (given up after a signal) never returns, and
    // dropping the runtime would wait for it forever.
    runtime.shutdown_background();
    result
}

/// When this process is the trampoline through which `run-with-secrets`
/// starts its command (to give it a parent-death signal), executes the
/// command in its place and does not return; returns why if that failed.
/// `None` for every other invocation.
pub fn exec_child_if_asked() -> Option<anyhow::Error> {
    let mut argv = std::env::args_os().skip(1);
    if argv.next()? != child::TRAMPOLINE {
        return None;
    }
    let parent = argv.next().and_then(|pid| pid.to_str()?.parse().ok());
    let command: Vec<std::ffi::OsString> = argv.collect();
    Some(child::exec(parent, &command).into())
}

/// Logs to stderr with the `VANTA_LOG` filter (e.g. `debug`); the CLI is
/// silent when it is not set.
pub fn init_logging() {
    let Ok(filter) = std::env::var(LOG_VAR) else {
        return;
    };
    // An invalid directive is dropped rather than stopping the command.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::builder().parse_lossy(filter))
        .with_writer(std::io::stderr)
        // Colour only on a terminal, and never with NO_COLOR set (no-color.org);
        // clap's own messages follow the same rule.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()))
        .try_init();
}

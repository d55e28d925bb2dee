//! `run-with-secrets`, part two: hand the fetched secrets over as variables,
//! a private file or a named pipe, and build the command with its whole
//! environment (top layer, part of `commands::run`). Prints nothing; it
//! returns the report lines.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::fetch::Secret;
use super::grant::Grant;
use crate::child;
use crate::cli::{FileFormat, InjectAs, Misuse, OnChange, RunArgs};
use crate::commands::TokenSource;
use crate::inject::environment::{self, PRISTINE_KEEP};
use crate::inject::fifo::Fifo;
use crate::inject::private_dir::{self, PrivateDir};
use crate::inject::{dotenv, env_vars, json};
use crate::output::report::{self, Mode};

/// The command, ready to start, and what must live as long as it runs.
pub(super) struct Handover {
    pub(super) command: Command,
    /// The private directory (file and fifo modes); removed on drop.
    pub(super) dir: Option<PrivateDir>,
    /// The pipe to serve while the command runs (fifo mode).
    pub(super) fifo: Option<Fifo>,
    /// What to tell the user on stderr, one line each.
    pub(super) report: Vec<String>,
}

/// Variable that tells the command where the file or pipe is.
const SECRETS_FILE_VAR: &str = "VANTA_SECRETS_FILE";

/// Checks the options that only make sense together, and the directory of
/// the file or pipe, before anything is contacted: a failure after the
/// fetch would have spent token uses and left audited reads for nothing
/// (see also [`make_private_dir`]).
///
/// # Errors
/// A [`Misuse`] (exit 2): `--on-change signal:` without a file or with
/// `--mask`, `--file-format` with env mode, `--pass-token` without a given
/// token; or a secrets directory that is not one (exit 1).
pub(super) fn check_options(args: &RunArgs) -> anyhow::Result<()> {
    if args.inject_as != InjectAs::Env {
        private_dir::check_parent(args.secrets_dir.as_deref())?;
    }
    if let OnChange::Signal(signal) = args.on_change
        && args.inject_as != InjectAs::File
    {
        let why = match args.inject_as {
            InjectAs::Env => "an environment cannot change under a running process",
            _ => "a named pipe is read once",
        };
        return Err(Misuse::SignalNeedsFile { signal, why, inject_as: args.inject_as }.into());
    }
    if let OnChange::Signal(signal) = args.on_change
        && args.watch
        && args.mask
        && !args.no_mask
    {
        return Err(Misuse::SignalWithMask { signal }.into());
    }
    if args.inject_as == InjectAs::Env && args.file_format.is_some() {
        return Err(Misuse::FileFormatWithEnv.into());
    }
    if args.pass_token && args.token.is_none() && args.token_file.is_none() {
        return Err(Misuse::PassTokenWithoutToken.into());
    }
    Ok(())
}

/// The private directory of the file or pipe, made before the fetch and
/// kept for it: only making it proves that `--secrets-dir` can hold one
/// (a directory check does not: `/proc`, a read-only mount, no write
/// permission). `None` in env mode.
///
/// # Errors
/// A directory that cannot be made (exit 1).
pub(super) fn make_private_dir(args: &RunArgs) -> anyhow::Result<Option<PrivateDir>> {
    if args.inject_as == InjectAs::Env {
        return Ok(None);
    }
    Ok(Some(PrivateDir::create(args.secrets_dir.as_deref())?))
}

/// Hands `fetched` over the way `args` say and builds the command; the
/// file or pipe goes into `dir` if given (see [`make_private_dir`]), else into
/// a new private directory.
///
/// # Errors
/// A value an environment variable cannot hold, values a dotenv file
/// cannot hold, or a directory, file or pipe that cannot be made (nothing
/// is left behind then).
pub(super) fn prepare(
    args: &RunArgs,
    secrets: &[Secret],
    grants: &[Grant],
    dir: Option<PrivateDir>,
) -> anyhow::Result<Handover> {
    let program = args.command.first().context("no command given")?;
    let mut report = token_lines(grants);
    let (dir, fifo, file) = match args.inject_as {
        InjectAs::Env => {
            for secret in secrets {
                env_vars::check_value(&secret.key, &secret.value)?;
            }
            (None, None, None)
        }
        InjectAs::File | InjectAs::Fifo => {
            let (dir, fifo, path) = private_file(args, secrets, dir)?;
            (Some(dir), fifo, Some(path))
        }
    };
    let set: Vec<(&str, &OsStr)> = match &file {
        Some(path) => vec![(SECRETS_FILE_VAR, path.as_os_str())],
        None => secrets.iter().map(|s| (s.name.as_str(), OsStr::new(s.value.as_str()))).collect(),
    };
    let pass = if args.pass_token { grants.iter().find_map(|g| g.given()) } else { None };
    let options = environment::Options {
        pristine: args.pristine.then_some(args.keep_env.as_slice()),
        set,
        token: pass.map(|token| token.expose()),
    };
    let env = environment::build(std::env::vars_os(), &options);
    report.push(injected_line(args, secrets, file.as_deref()));
    report.extend(interpolation_line(args, secrets));
    report.extend(extra_lines(args, &env.overridden));
    let mut command = child::command(program, &args.command[1..]);
    command.env_clear().envs(env.vars);
    Ok(Handover { command, dir, fifo, report })
}

/// Removes the private directories of dead runs from `--secrets-dir` and
/// from the system temporary directory, whatever this run's mode; returns
/// the report lines. Done at every start, so that the secrets of a killed
/// run do not wait for the next run of the same mode to go.
pub(super) fn sweep(args: &RunArgs) -> Vec<String> {
    let mut parents = vec![std::env::temp_dir()];
    if let Some(dir) = &args.secrets_dir
        && *dir != parents[0]
    {
        parents.insert(0, dir.clone());
    }
    let swept = parents.iter().map(|parent| (private_dir::sweep_stale(Some(parent)), parent));
    swept.filter(|(count, _)| *count > 0).map(|(count, parent)| report::swept(count, parent)).collect()
}

/// Makes the file or pipe in `dir`, or in a new private directory.
fn private_file(
    args: &RunArgs,
    secrets: &[Secret],
    dir: Option<PrivateDir>,
) -> anyhow::Result<(PrivateDir, Option<Fifo>, PathBuf)> {
    let (content, name) = render(args, secrets)?;
    let dir = match dir {
        Some(dir) => dir,
        None => PrivateDir::create(args.secrets_dir.as_deref())?,
    };
    if args.inject_as == InjectAs::Fifo {
        let path = dir.make_fifo(name)?;
        return Ok((dir, Some(Fifo::new(path.clone(), content)), path));
    }
    let path = dir.write_file(name, content.as_bytes())?;
    Ok((dir, None, path))
}

/// Replaces the content of the secrets file in `dir` atomically
/// (`--on-change signal:`).
///
/// # Errors
/// Values the format cannot hold, or a file that cannot be written; the
/// old file is then left as it was.
pub(super) fn rewrite(args: &RunArgs, dir: &PrivateDir, secrets: &[Secret]) -> anyhow::Result<()> {
    let (content, name) = render(args, secrets)?;
    dir.replace_file(name, content.as_bytes())?;
    Ok(())
}

/// The file's content in its format, and the file's name.
fn render(args: &RunArgs, secrets: &[Secret]) -> anyhow::Result<(Zeroizing<String>, &'static str)> {
    let entries: Vec<(&str, &str)> = secrets.iter().map(|s| (s.name.as_str(), s.value.as_str())).collect();
    Ok(match args.file_format.unwrap_or(FileFormat::Dotenv) {
        FileFormat::Dotenv => (dotenv::render(&entries)?, "secrets.env"),
        FileFormat::Json => (json::render(&entries), "secrets.json"),
    })
}

fn token_lines(grants: &[Grant]) -> Vec<String> {
    let now = OffsetDateTime::now_utc();
    let lines = grants.iter().map(|grant| match (&grant.source, grant.given()) {
        (TokenSource::Minted { subject, scope, expires_in }, _) => {
            report::minted_token(subject, scope, *expires_in, now)
        }
        (TokenSource::Given, token) => report::given_token(token.and_then(|t| t.expires_at()), now),
    });
    lines.collect()
}

fn injected_line(args: &RunArgs, secrets: &[Secret], file: Option<&Path>) -> String {
    let format = args.file_format.unwrap_or(FileFormat::Dotenv).to_string();
    let mode = match (args.inject_as, file) {
        (InjectAs::Fifo, Some(path)) => Mode::Fifo { path, format: &format },
        (InjectAs::File, Some(path)) => Mode::File { path, format: &format },
        _ => Mode::Env,
    };
    let pairs: Vec<(&str, &str)> = secrets.iter().map(|s| (s.key.as_str(), s.name.as_str())).collect();
    report::injected(&args.environment, &mode, &pairs)
}

/// Whether a hand-over that failed with `err` may work at a later try. The
/// file system can change by itself (a full or vanished --secrets-dir); the
/// values cannot (a NUL byte for the environment, a mask that cannot be
/// built) until the secrets change again.
pub(super) fn may_work_later(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| cause.is::<private_dir::Error>() || cause.is::<std::io::Error>())
}

/// The line naming the variables whose values hold `${` in a dotenv file
/// or pipe: python-dotenv's default reader (`interpolate=True`) expands
/// `${NAME}` even in the single quotes they are written in.
pub(super) fn interpolation_line(args: &RunArgs, secrets: &[Secret]) -> Option<String> {
    let dotenv =
        args.inject_as != InjectAs::Env && args.file_format.unwrap_or(FileFormat::Dotenv) == FileFormat::Dotenv;
    let names: Vec<&str> = secrets.iter().filter(|s| s.value.contains("${")).map(|s| s.name.as_str()).collect();
    (dotenv && !names.is_empty()).then(|| report::interpolated(&names))
}

fn extra_lines(args: &RunArgs, overridden: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    if !overridden.is_empty() {
        lines.push(report::overridden(overridden));
    }
    if args.pristine {
        let kept: Vec<&str> = PRISTINE_KEEP.iter().copied().chain(args.keep_env.iter().map(String::as_str)).collect();
        lines.push(report::pristine(&kept));
    }
    if args.pass_token {
        lines.push(report::token_passed());
    }
    lines
}

//! `vanta-cli run-with-secrets`: fetch every secret, then run the command
//! with them as variables or in a private .env file (top layer, part of
//! `commands`).
//!
//! Steps, in order: install signal handlers (so that from here on the CLI
//! only ends through its own code and `Drop` runs); pick the keys and check
//! their names; get a token; fetch every value over one connection; only
//! when all succeeded, hand them over and start the command; wait for it
//! while passing signals on; exit with its code. A signal before the start
//! aborts without running anything.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, bail};
use tokio::process::Command;
use vanta_shared::KeyPath;
use vanta_shared::api::GenerateTokenRequest;
use zeroize::Zeroizing;

use crate::agent_client::{AccessToken, AgentClient};
use crate::child::{self, Signals};
use crate::cli::{InjectAs, RunArgs};
use crate::commands::{TokenSource, obtain_token};
use crate::inject::dotenv::{self, SecretsFile};
use crate::inject::env_vars;
use crate::output::{self, Injected};

/// One fetched secret and the variable name it goes by.
struct Secret {
    key: KeyPath,
    name: String,
    value: Zeroizing<String>,
}

/// Everything fetched, ready to hand over.
struct Fetched {
    secrets: Vec<Secret>,
    source: TokenSource,
}

/// Variable that holds the token; never passed on to the command.
const TOKEN_VAR: &str = "VANTA_TOKEN";
/// Variable that tells the command where the .env file is.
const SECRETS_FILE_VAR: &str = "VANTA_SECRETS_FILE";

/// Runs `run-with-secrets`; returns the command's exit code.
///
/// # Errors
/// Anything that keeps the command from running (exit 1, or 126/127/128+N
/// through [`child::Error`]); nothing is run after any such error.
pub(crate) async fn run(socket: &Path, args: RunArgs) -> anyhow::Result<u8> {
    let mut signals = Signals::install()?;
    let fetched = tokio::select! {
        fetched = fetch(socket, &args) => fetched?,
        signal = signals.recv() => return Err(child::Error::Interrupted { signal }.into()),
    };
    let program = args.command.first().context("no command given")?;
    let (command, file) = command(program, &args, &fetched.secrets)?;
    report(&args, &fetched, file.as_ref());
    let status = child::run(command, &program.to_string_lossy(), signals).await?;
    // `file` (if any) is dropped here, after the command ended: the
    // directory goes away whatever the exit code.
    drop(file);
    Ok(child::exit_code(status))
}

/// Picks the keys, gets a token and fetches every value. The client, and
/// with it the keep-alive connection, is gone when this returns.
async fn fetch(socket: &Path, args: &RunArgs) -> anyhow::Result<Fetched> {
    let explicit = explicit_keys(args)?;
    let client = AgentClient::new(socket);
    let mint = GenerateTokenRequest {
        subject: args.subject.clone(),
        environment: args.environment.clone(),
        key_pattern: args.key_pattern.clone(),
        ttl_minutes: Some(args.ttl),
        // With --key we know how many reads we need; listing is not a use.
        usage_limit: explicit.as_ref().map(|keys| keys.len() as u64),
    };
    let (token, source) = obtain_token(&client, socket, args.token.clone(), mint).await?;
    let keys = match explicit {
        Some(keys) => keys,
        None => matching_keys(&client, &token, args).await?,
    };
    let names = env_vars::var_names(&keys)?;
    let mut secrets = Vec::with_capacity(keys.len());
    for (key, name) in keys.into_iter().zip(names) {
        let value = client
            .get_secret(&token, &args.environment, &key)
            .await
            .with_context(|| format!("failed to fetch '{key}' from '{}'", args.environment))?;
        secrets.push(Secret { key, name, value });
    }
    Ok(Fetched { secrets, source })
}

/// The `--key` list without repeats, or `None` without `--key`. Every key
/// must match the pattern and names must not collide, checked before the
/// agent is asked anything.
fn explicit_keys(args: &RunArgs) -> anyhow::Result<Option<Vec<KeyPath>>> {
    if args.keys.is_empty() {
        return Ok(None);
    }
    let mut keys: Vec<KeyPath> = Vec::with_capacity(args.keys.len());
    for key in &args.keys {
        if !args.key_pattern.matches(key) {
            bail!("--key '{key}' does not match --key-pattern '{}'", args.key_pattern);
        }
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    env_vars::var_names(&keys)?;
    Ok(Some(keys))
}

/// Every key of the environment that the token may read and the pattern
/// matches (a given token may have a wider scope than `--key-pattern`).
async fn matching_keys(client: &AgentClient, token: &AccessToken, args: &RunArgs) -> anyhow::Result<Vec<KeyPath>> {
    let env = &args.environment;
    let listed = client.list_keys(token, env).await.with_context(|| format!("failed to list the keys of '{env}'"))?;
    let keys: Vec<KeyPath> = listed.into_iter().filter(|k| args.key_pattern.matches(k)).collect();
    if keys.is_empty() {
        bail!("no key of '{env}' matches '{}' for this token; nothing to inject", args.key_pattern);
    }
    Ok(keys)
}

/// The command with the secrets handed over, and the .env file to keep
/// alive while it runs (file mode only).
fn command(program: &OsString, args: &RunArgs, secrets: &[Secret]) -> anyhow::Result<(Command, Option<SecretsFile>)> {
    let mut command = Command::new(program);
    command.args(&args.command[1..]).env_remove(TOKEN_VAR);
    match args.inject_as {
        InjectAs::Env => {
            for secret in secrets {
                env_vars::check_value(&secret.key, &secret.value)?;
                command.env(&secret.name, secret.value.as_str());
            }
            Ok((command, None))
        }
        InjectAs::File => {
            let entries: Vec<(&str, &str)> = secrets.iter().map(|s| (s.name.as_str(), s.value.as_str())).collect();
            let file = dotenv::write(&entries)?;
            command.env(SECRETS_FILE_VAR, file.path());
            Ok((command, Some(file)))
        }
    }
}

/// Tells stderr where the token came from and what was injected; names only.
fn report(args: &RunArgs, fetched: &Fetched, file: Option<&SecretsFile>) {
    let token_line = match &fetched.source {
        TokenSource::Given => output::given_token_line(),
        TokenSource::Minted { report } => report.clone(),
    };
    let how = match file {
        Some(file) => Injected::File(file.path()),
        None => Injected::Env,
    };
    let names: Vec<String> = fetched.secrets.iter().map(|s| s.name.clone()).collect();
    let injected = output::injected_line(&args.environment, &how, &names);
    // Nothing sensible to do if stderr is gone; the command still runs.
    let _ = writeln!(io::stderr().lock(), "{token_line}\n{injected}");
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command as CliCommand};

    fn run_args(extra: &[&str]) -> RunArgs {
        let argv = ["vanta-cli", "run-with-secrets", "--environment", "dev", "--key-pattern", "API_*"];
        let cli = Cli::try_parse_from(argv.iter().chain(extra).chain(&["--", "true"])).expect("valid");
        match cli.command {
            CliCommand::RunWithSecrets(args) => args,
            _ => panic!("wrong subcommand"),
        }
    }

    #[test]
    fn explicit_keys_are_deduplicated_and_checked_early() {
        assert!(explicit_keys(&run_args(&[])).expect("ok").is_none());
        let keys = explicit_keys(&run_args(&["--key", "API_B", "--key", "API_A", "--key", "API_B"]))
            .expect("ok")
            .expect("some");
        assert_eq!(keys.iter().map(KeyPath::as_str).collect::<Vec<_>>(), ["API_B", "API_A"]);

        let outside = explicit_keys(&run_args(&["--key", "DB_URL"])).expect_err("outside");
        assert_eq!(outside.to_string(), "--key 'DB_URL' does not match --key-pattern 'API_*'");

        let collide = explicit_keys(&run_args(&["--key", "API_X/y", "--key", "API_X.y"])).expect_err("collide");
        assert!(collide.to_string().contains("would both become the variable API_X_y"), "{collide}");
    }
}

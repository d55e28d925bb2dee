//! One function per subcommand, and what they share: the token to use (top
//! layer: `cli` types in, exit code out; uses `agent_client`, `inject`,
//! `child` and `output`).
//!
//! Commands are the only place, with `main`, that prints; they attach
//! `anyhow` context naming what they were doing, and never exit.

pub(crate) mod completions;
pub(crate) mod get;
pub(crate) mod health;
pub(crate) mod list;
pub(crate) mod man;
pub(crate) mod run;
pub(crate) mod token;

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use vanta_shared::api::{GenerateTokenRequest, ScopeDetails};
use zeroize::Zeroizing;

use crate::agent_client::{AccessToken, AgentClient, Target};
use crate::cli::{Cli, Command, TokenCommand};
use crate::output::report;

/// The warning for a token on the command line.
const TOKEN_IN_ARGV: &str = "a token given with --token is visible to other local users (ps, /proc/PID/cmdline): \
                             pass it in VANTA_TOKEN or a file named by --token-file instead";

/// Where a token of `get` or `run-with-secrets` came from.
pub(crate) enum TokenSource {
    /// `--token`, `VANTA_TOKEN`, `--token-file` or `VANTA_TOKEN_FILE`.
    Given,
    /// Minted for this call.
    Minted { subject: String, scope: ScopeDetails, expires_in: u64 },
}

/// Runs the subcommand `cli` names.
///
/// # Errors
/// Whatever the subcommand reports; the caller turns it into one line.
pub(crate) async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    // Before any token or secret is in memory.
    crate::hardening::apply().context("failed to make this process non-dumpable")?;
    if cli.token_in_argv {
        let _ = writeln!(io::stderr(), "{}", report::warning(TOKEN_IN_ARGV));
    }
    let target = Target {
        endpoint: cli.agent.endpoint(),
        ca_cert: cli.agent.ca_cert,
        admin_token_file: cli.agent.admin_token_file,
        timeout: Duration::from_secs(cli.agent.agent_timeout_seconds),
    };
    match cli.command {
        Command::Token(TokenCommand::Generate(args)) => token::generate(&target, args).await,
        Command::Token(TokenCommand::Revoke(args)) => token::revoke(&target, args).await,
        Command::Get(args) => get::run(&target, args).await,
        Command::List(args) => list::run(&target, args).await,
        Command::RunWithSecrets(args) => run::run(&target, args).await,
        Command::Health(args) => health::run(&target, &args).await,
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => man::run(args),
    }
}

/// The token given on the command line, in `VANTA_TOKEN`, or in the file
/// named by `--token-file` / `VANTA_TOKEN_FILE` (trimmed), if any.
///
/// # Errors
/// Both given (clap refuses that on the command line, but not from the
/// environment and a flag together), or an unreadable file.
pub(crate) fn given_token(token: Option<String>, file: Option<&Path>) -> anyhow::Result<Option<String>> {
    match (token, file) {
        (Some(_), Some(_)) => {
            bail!("a token was given twice: use --token/VANTA_TOKEN or --token-file/VANTA_TOKEN_FILE, not both")
        }
        (Some(token), None) => Ok(Some(token)),
        (None, Some(path)) => {
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read the token file {}", path.display()))?,
            );
            Ok(Some(text.trim().to_owned()))
        }
        (None, None) => Ok(None),
    }
}

/// A given token, checked without showing it.
///
/// # Errors
/// If it cannot be a bearer token.
pub(crate) fn checked(raw: String) -> anyhow::Result<AccessToken> {
    AccessToken::new(raw).context("the given token (--token, VANTA_TOKEN or token file) is not usable")
}

/// The given token, checked, or else one minted with `mint`.
///
/// # Errors
/// A malformed given token (without showing it), or a failed mint.
pub(crate) async fn obtain_token(
    client: &AgentClient,
    given: Option<String>,
    mint: GenerateTokenRequest,
) -> anyhow::Result<(AccessToken, TokenSource)> {
    if let Some(raw) = given {
        return Ok((checked(raw)?, TokenSource::Given));
    }
    let minted = client
        .generate_token(&mint)
        .await
        .with_context(|| format!("failed to mint a token for '{}' in '{}'", mint.key_pattern, mint.environment))?;
    let token = minted.token().with_context(|| format!("the agent at {} sent an unusable token", client.name()))?;
    let response = minted.response;
    let source =
        TokenSource::Minted { subject: mint.subject, scope: response.scope_details, expires_in: response.expires_in };
    Ok((token, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "eyJ.a.b\n").expect("written");
        assert_eq!(given_token(None, Some(&path)).expect("read").as_deref(), Some("eyJ.a.b"));
        assert_eq!(given_token(Some("t".to_owned()), None).expect("given").as_deref(), Some("t"));
        assert!(given_token(None, None).expect("none").is_none());
        assert!(given_token(Some("t".to_owned()), Some(&path)).is_err());
        let missing = given_token(None, Some(&dir.path().join("nope"))).expect_err("missing");
        assert!(missing.to_string().starts_with("failed to read the token file "), "{missing}");
    }
}

//! One function per subcommand, and what they share: the agent client and
//! the token to use (top layer: `cli` types in, exit code out; uses
//! `agent_client`, `inject`, `child` and `output`).
//!
//! Commands are the only place, with `main`, that prints; they attach
//! `anyhow` context naming what they were doing, and never exit.

pub(crate) mod get;
pub(crate) mod run;
pub(crate) mod token;

use std::path::Path;

use anyhow::Context;
use vanta_shared::api::GenerateTokenRequest;

use crate::agent_client::{AccessToken, AgentClient};
use crate::cli::{Cli, Command, TokenCommand};

/// Where the token of a `get` or `run-with-secrets` came from.
pub(crate) enum TokenSource {
    /// `--token` or `VANTA_TOKEN`.
    Given,
    /// Minted for this call; the stderr line that says so.
    Minted { report: String },
}

/// Runs the subcommand `cli` names.
///
/// # Errors
/// Whatever the subcommand reports; the caller turns it into one line.
pub(crate) async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let socket = cli.socket.as_path();
    match cli.command {
        Command::Token(TokenCommand::Generate(args)) => token::generate(socket, args).await,
        Command::Get(args) => get::run(socket, args).await,
        Command::RunWithSecrets(args) => run::run(socket, args).await,
    }
}

/// The given token, checked, or else one minted with `mint`.
///
/// # Errors
/// A malformed given token (without showing it), or a failed mint.
pub(crate) async fn obtain_token(
    client: &AgentClient,
    socket: &Path,
    given: Option<String>,
    mint: GenerateTokenRequest,
) -> anyhow::Result<(AccessToken, TokenSource)> {
    if let Some(raw) = given {
        let token = AccessToken::new(raw).context("the token given by --token or VANTA_TOKEN is not usable")?;
        return Ok((token, TokenSource::Given));
    }
    let minted = client
        .generate_token(&mint)
        .await
        .with_context(|| format!("failed to mint a token for '{}' in '{}'", mint.key_pattern, mint.environment))?;
    let token = minted.token().with_context(|| format!("the agent at {} sent an unusable token", socket.display()))?;
    let report =
        crate::output::minted_token_line(&mint.subject, &minted.response.scope_details, minted.response.expires_in);
    Ok((token, TokenSource::Minted { report }))
}

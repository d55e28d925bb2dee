//! `vanta-cli get`: print one secret's value byte for byte (top layer, part
//! of `commands`).

use std::io::{self, IsTerminal, Write};

use anyhow::Context;
use vanta_shared::KeyPattern;
use vanta_shared::api::GenerateTokenRequest;

use crate::agent_client::{AgentClient, Target};
use crate::cli::GetArgs;
use crate::commands::{given_token, obtain_token};
use crate::output;

/// Lifetime of the token `get` mints for its one read.
const SELF_MINT_TTL_MINUTES: u32 = 1;

/// Fetches `args.key` and writes its value to stdout, with a newline only
/// when stdout is a terminal. Without a token, mints one for exactly this
/// key, valid for one minute and one use.
///
/// # Errors
/// A malformed given token, the agent's refusal, an unreachable agent, or a
/// failed write to stdout. None of them show the value or the token.
pub(crate) async fn run(target: &Target, args: GetArgs) -> anyhow::Result<u8> {
    let client = AgentClient::new(target)?;
    let exact: KeyPattern =
        args.key.as_str().parse().with_context(|| format!("cannot make a key pattern of '{}'", args.key))?;
    let mint = GenerateTokenRequest {
        subject: args.token.subject,
        environment: args.environment.clone(),
        key_pattern: exact,
        ttl_minutes: Some(SELF_MINT_TTL_MINUTES),
        usage_limit: Some(1),
    };
    let given = given_token(args.token.token, args.token.token_file.as_deref())?;
    let (token, _source) = obtain_token(&client, given, mint).await?;
    let value = client
        .get_secret(&token, &args.environment, &args.key)
        .await
        .with_context(|| format!("failed to fetch '{}' from '{}'", args.key, args.environment))?;
    let newline = output::terminal_newline(io::stdout().is_terminal());
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(value.as_bytes())
        .and_then(|()| stdout.write_all(newline.as_bytes()))
        .and_then(|()| stdout.flush())
        .context("failed to write the value to stdout")?;
    Ok(0)
}

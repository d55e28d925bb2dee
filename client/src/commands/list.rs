//! `vanta-cli list`: the keys of an environment that the token may read,
//! as text or JSON (top layer, part of `commands`).

use std::io::{self, Write};

use anyhow::Context;
use vanta_shared::KeyPattern;
use vanta_shared::api::{GenerateTokenRequest, KeyList};

use crate::agent_client::{AgentClient, Target};
use crate::cli::{ListArgs, ListFormat};
use crate::commands::{given_token, obtain_token};

/// Lifetime of the token `list` mints for its one listing.
const SELF_MINT_TTL_MINUTES: u32 = 1;
/// The pattern minted for when `--key-pattern` is not given.
const EVERY_KEY: &str = "*";

/// Lists `args.environment` and prints the keys `args.key_pattern`
/// matches. Without a token, mints one for that pattern, valid for one
/// minute (listing is not a use).
///
/// # Errors
/// A malformed given token, the agent's refusal, an unreachable agent, or a
/// failed write to stdout.
pub(crate) async fn run(target: &Target, args: ListArgs) -> anyhow::Result<u8> {
    let client = AgentClient::new(target)?;
    let pattern = match args.key_pattern {
        Some(pattern) => pattern,
        None => EVERY_KEY.parse::<KeyPattern>().expect("'*' is a valid key pattern"),
    };
    let mint = GenerateTokenRequest {
        subject: args.token.subject,
        environment: args.environment.clone(),
        key_pattern: pattern.clone(),
        ttl_minutes: Some(SELF_MINT_TTL_MINUTES),
        usage_limit: None,
    };
    let given = given_token(args.token.token, args.token.token_file.as_deref())?;
    let (token, _source) = obtain_token(&client, given, mint).await?;
    let keys = client
        .list_keys(&token, &args.environment)
        .await
        .with_context(|| format!("failed to list the keys of '{}'", args.environment))?;
    let keys: Vec<String> = keys.iter().filter(|key| pattern.matches(key)).map(ToString::to_string).collect();
    let text = match args.output {
        ListFormat::Text => keys.iter().map(|key| format!("{key}\n")).collect(),
        ListFormat::Json => {
            let list = KeyList { environment: args.environment.to_string(), keys };
            format!("{}\n", serde_json::to_string(&list).context("failed to write the key list as JSON")?)
        }
    };
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).context("failed to write the keys to stdout")?;
    Ok(0)
}

//! `vanta-cli token generate`: mint a token and print it as text, JSON or
//! the bare JWT (top layer, part of `commands`).

use std::io::{self, IsTerminal, Write};

use anyhow::Context;
use time::OffsetDateTime;
use vanta_shared::api::GenerateTokenRequest;

use crate::agent_client::{AgentClient, Target};
use crate::cli::{GenerateArgs, OutputFormat};
use crate::output;

/// Mints the token `args` describe and prints it in the chosen format.
///
/// # Errors
/// The agent's refusal or an unreachable agent; a failed write to stdout.
pub(crate) async fn generate(target: &Target, args: GenerateArgs) -> anyhow::Result<u8> {
    let request = GenerateTokenRequest {
        subject: args.subject,
        environment: args.environment,
        key_pattern: args.key_pattern,
        ttl_minutes: args.ttl,
        usage_limit: args.usage_limit,
    };
    let minted = AgentClient::new(target)?.generate_token(&request).await.with_context(|| {
        format!("failed to mint a token for '{}' in '{}'", request.key_pattern, request.environment)
    })?;
    let mut stdout = io::stdout().lock();
    let written = match args.output {
        OutputFormat::Text => {
            let summary = output::token_summary(&request.subject, &minted.response, OffsetDateTime::now_utc());
            stdout.write_all(summary.as_bytes())
        }
        // docs/API.md §6: the answer as is; a newline only to keep a terminal tidy.
        OutputFormat::Json => stdout
            .write_all(&minted.raw)
            .and_then(|()| stdout.write_all(output::terminal_newline(io::stdout().is_terminal()).as_bytes())),
        OutputFormat::Token => writeln!(stdout, "{}", minted.response.access_token),
    };
    written.and_then(|()| stdout.flush()).context("failed to write the token to stdout")?;
    Ok(0)
}

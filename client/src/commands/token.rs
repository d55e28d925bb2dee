//! `vanta-cli token generate`: mint a token and print it as text, JSON or
//! the bare JWT; `vanta-cli token revoke` (top layer, part of `commands`).

use std::io::{self, IsTerminal, Write};

use anyhow::Context;
use time::OffsetDateTime;
use vanta_shared::api::{GenerateTokenRequest, RevokeTokenRequest};

use crate::agent_client::{AgentClient, Target};
use crate::cli::{GenerateArgs, OutputFormat, RevokeArgs};
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

/// Revokes what `args` names and prints one line saying what and until when.
///
/// # Errors
/// The agent's refusal or an unreachable agent; a failed write to stdout.
pub(crate) async fn revoke(target: &Target, args: RevokeArgs) -> anyhow::Result<u8> {
    let request = match (args.jti, args.subject) {
        (Some(jti), _) => RevokeTokenRequest::Jti(jti),
        (None, Some(subject)) => RevokeTokenRequest::Subject(subject),
        (None, None) => anyhow::bail!("give --jti JTI or --subject NAME"),
    };
    let revoked = AgentClient::new(target)?.revoke_tokens(&request).await.context("failed to revoke")?;
    let what = match &revoked.revoked {
        RevokeTokenRequest::Jti(jti) => format!("token {jti}"),
        RevokeTokenRequest::Subject(subject) => format!("every token of '{subject}' issued up to now"),
    };
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "revoked {what} (kept until {})", revoked.kept_until)
        .and_then(|()| stdout.flush())
        .context("failed to write to stdout")?;
    Ok(0)
}

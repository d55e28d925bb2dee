//! `run-with-secrets`: the tokens it reads with, and how `--watch` keeps
//! them alive (top layer, part of `commands::run`).
//!
//! Either the given token (`--token`, `VANTA_TOKEN`, `--token-file`) or one
//! token minted per `--key-pattern`. With `--watch`, minted tokens have no
//! usage limit (every change is read again) and are minted anew, same scope,
//! at two thirds of their life; a token file is read again when its content
//! changes, so a platform can rotate it.

use std::time::Duration;

use vanta_shared::api::GenerateTokenRequest;
use vanta_shared::{KeyPath, KeyPattern};

use crate::agent_client::{AccessToken, AgentClient};
use crate::cli::RunArgs;
use crate::commands::{TokenSource, checked, given_token, obtain_token};

/// Time since the machine booted, suspended time included
/// (`CLOCK_BOOTTIME`): a token's life goes on while a laptop sleeps or a VM
/// is paused, so renewal must be measured on a clock that does too
/// (`Instant` stops). Zero if it cannot be read.
pub(super) fn since_boot() -> Duration {
    use nix::time::{ClockId, clock_gettime};
    clock_gettime(ClockId::CLOCK_BOOTTIME).map_or(Duration::ZERO, |now| {
        Duration::new(u64::try_from(now.tv_sec()).unwrap_or(0), u32::try_from(now.tv_nsec()).unwrap_or(0))
    })
}

/// A token and what it may be used for.
pub(super) struct Grant {
    /// The pattern it was minted for; `None` for a given token.
    pattern: Option<KeyPattern>,
    pub(super) token: AccessToken,
    pub(super) source: TokenSource,
    /// When it was obtained ([`since_boot`]): minted ones are renewed from here.
    obtained: Duration,
}

// === impl Grant ===

impl Grant {
    /// The token, if it was given (for `--pass-token`).
    pub(super) fn given(&self) -> Option<&AccessToken> {
        matches!(self.source, TokenSource::Given).then_some(&self.token)
    }

    /// Whether `key` is read with this grant's token.
    pub(super) fn covers(&self, key: &KeyPath, args: &RunArgs) -> bool {
        match &self.pattern {
            Some(pattern) => pattern.matches(key),
            None => args.key_patterns.iter().any(|p| p.matches(key)),
        }
    }

    /// Whether a minted token has lived two thirds of its life.
    pub(super) fn renewal_due(&self, now: Duration) -> bool {
        match &self.source {
            TokenSource::Minted { expires_in, .. } => {
                now >= self.obtained + Duration::from_secs(expires_in.saturating_mul(2) / 3)
            }
            TokenSource::Given => false,
        }
    }

    /// Mints this grant's token anew, same scope. The old one stays in use
    /// if that fails.
    ///
    /// # Errors
    /// The failed mint.
    pub(super) async fn renew(&mut self, client: &AgentClient, args: &RunArgs) -> anyhow::Result<()> {
        let Some(pattern) = &self.pattern else { return Ok(()) };
        let (token, source) = obtain_token(client, None, mint(args, pattern, None)).await?;
        (self.token, self.source, self.obtained) = (token, source, since_boot());
        Ok(())
    }

    /// Reads `--token-file` again; whether it held a new token, now in use.
    ///
    /// # Errors
    /// An unreadable file or an unusable token; the old one stays in use.
    pub(super) fn reread(&mut self, args: &RunArgs) -> anyhow::Result<bool> {
        let (TokenSource::Given, Some(path)) = (&self.source, args.token_file.as_deref()) else {
            return Ok(false);
        };
        // A path always gives a token or a read error: a missing file is
        // "failed to read the token file …", said by the caller.
        let Some(raw) = given_token(None, Some(path))? else { return Ok(false) };
        if raw == self.token.expose() {
            return Ok(false);
        }
        self.token = checked(raw)?;
        self.obtained = since_boot();
        Ok(true)
    }
}

/// The given token, or one minted per pattern that has work to do (with
/// `--key` and without `--watch`: as many uses as it has keys).
///
/// # Errors
/// An unreadable or unusable given token, a failed mint.
pub(super) async fn grants(
    client: &AgentClient,
    args: &RunArgs,
    explicit: Option<&[KeyPath]>,
) -> anyhow::Result<Vec<Grant>> {
    let now = since_boot();
    if let Some(given) = given_token(args.token.clone(), args.token_file.as_deref())? {
        let grant = Grant { pattern: None, token: checked(given)?, source: TokenSource::Given, obtained: now };
        return Ok(vec![grant]);
    }
    let mut grants = Vec::new();
    for (i, pattern) in args.key_patterns.iter().enumerate() {
        if args.key_patterns[..i].contains(pattern) {
            continue;
        }
        // A key is fetched with the token of the first pattern it matches.
        let first_match = |k: &&KeyPath| args.key_patterns.iter().position(|p| p.matches(k)) == Some(i);
        let uses = explicit.map(|keys| keys.iter().filter(first_match).count() as u64);
        if uses == Some(0) {
            continue;
        }
        // A watch reads every change again: its tokens are not limited.
        let limit = if args.watch { None } else { uses };
        let (token, source) = obtain_token(client, None, mint(args, pattern, limit)).await?;
        grants.push(Grant { pattern: Some(pattern.clone()), token, source, obtained: now });
    }
    Ok(grants)
}

fn mint(args: &RunArgs, pattern: &KeyPattern, usage_limit: Option<u64>) -> GenerateTokenRequest {
    GenerateTokenRequest {
        subject: args.subject.clone(),
        environment: args.environment.clone(),
        key_pattern: pattern.clone(),
        // None: the agent's default, which its maximum always allows.
        ttl_minutes: args.ttl,
        usage_limit,
    }
}

#[cfg(test)]
mod tests {
    use super::since_boot;

    /// Renewal is measured on the boot clock, which is read and moves (that
    /// it counts a suspend as the kernel documents cannot be shown here).
    #[test]
    fn the_boot_clock_is_read_and_moves() {
        let before = since_boot();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(before > std::time::Duration::ZERO && since_boot() >= before + std::time::Duration::from_millis(50));
    }
}

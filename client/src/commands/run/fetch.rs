//! `run-with-secrets`, part one: decide the keys and their names, get the
//! tokens, fetch every value (top layer, part of `commands::run`).
//!
//! Everything that can be checked without the agent is checked first
//! (patterns, renames, collisions, dangerous names of `--key`s). Then, over
//! one keep-alive connection: one token per `--key-pattern` (or the given
//! one), one listing per token, and only when every wanted key is listed,
//! one request per value. A key that is missing fails the run before any
//! value is fetched, and the error lists every such key.

use anyhow::{Context, bail};
use vanta_shared::api::GenerateTokenRequest;
use vanta_shared::{KeyPath, KeyPattern};
use zeroize::Zeroizing;

use crate::agent_client::{AccessToken, AgentClient, Target};
use crate::cli::{InjectAs, RunArgs};
use crate::commands::{TokenSource, checked, given_token, obtain_token};
use crate::inject::env_vars::{self, Naming};

/// One fetched secret and the variable name it goes by.
pub(super) struct Secret {
    pub(super) key: KeyPath,
    pub(super) name: String,
    pub(super) value: Zeroizing<String>,
}

/// A token and what it may be used for.
pub(super) struct Grant {
    /// The pattern it was minted for; `None` for a given token.
    pattern: Option<KeyPattern>,
    token: AccessToken,
    pub(super) source: TokenSource,
}

/// Everything fetched, ready to hand over.
pub(super) struct Fetched {
    pub(super) secrets: Vec<Secret>,
    pub(super) grants: Vec<Grant>,
}

// === impl Grant ===

impl Grant {
    /// The token, if it was given (for `--pass-token`).
    pub(super) fn given(&self) -> Option<&AccessToken> {
        matches!(self.source, TokenSource::Given).then_some(&self.token)
    }

    fn covers(&self, key: &KeyPath, args: &RunArgs) -> bool {
        match &self.pattern {
            Some(pattern) => pattern.matches(key),
            None => args.key_patterns.iter().any(|p| p.matches(key)),
        }
    }
}

/// Picks the keys, gets the tokens and fetches every value. The client,
/// and with it the connection, is gone when this returns.
///
/// # Errors
/// Anything that keeps a secret from being fetched; nothing is run then.
pub(super) async fn fetch(target: &Target, args: &RunArgs) -> anyhow::Result<Fetched> {
    let naming = naming(args);
    let explicit = explicit_keys(args, &naming)?;
    let client = AgentClient::new(target)?;
    let grants = grants(&client, args, explicit.as_deref()).await?;
    let listed = listed_keys(&client, &grants, args).await?;
    let keys = match explicit {
        Some(keys) => check_listed(&keys, &listed, args)?,
        None if listed.is_empty() => {
            bail!("no key of '{}' matches {} for this token; nothing to inject", args.environment, patterns(args))
        }
        None => listed,
    };
    let names = check_names(&naming, &keys.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), args)?;
    let mut secrets = Vec::with_capacity(keys.len());
    for (i, ((key, grant), name)) in keys.iter().zip(names).enumerate() {
        let value = client.get_secret(&grants[*grant].token, &args.environment, key).await.with_context(|| {
            let left: Vec<&str> = keys[i..].iter().map(|(k, _)| k.as_str()).collect();
            format!("failed to fetch '{key}' from '{}' (not fetched: {})", args.environment, left.join(", "))
        })?;
        secrets.push(Secret { key: key.clone(), name, value });
    }
    Ok(Fetched { secrets, grants })
}

fn naming(args: &RunArgs) -> Naming<'_> {
    let renames = args.keys.iter().filter_map(|spec| Some((&spec.key, spec.name.as_deref()?))).collect();
    Naming { prefix: args.prefix.as_ref().map(|p| p.as_str()), renames }
}

/// The `--key` list without repeats, or `None` without `--key`. Every key
/// must match a pattern and the names must be usable, checked before the
/// agent is asked anything.
fn explicit_keys(args: &RunArgs, naming: &Naming<'_>) -> anyhow::Result<Option<Vec<KeyPath>>> {
    if args.keys.is_empty() {
        return Ok(None);
    }
    let mut keys: Vec<KeyPath> = Vec::with_capacity(args.keys.len());
    for spec in &args.keys {
        if !args.key_patterns.iter().any(|p| p.matches(&spec.key)) {
            bail!("--key '{}' does not match {}", spec.key, patterns(args));
        }
        match keys.iter().position(|k| *k == spec.key) {
            Some(_) if args.keys.iter().filter(|s| s.key == spec.key).any(|s| s.name != spec.name) => {
                bail!("--key '{}' is given twice with different names", spec.key)
            }
            Some(_) => {}
            None => keys.push(spec.key.clone()),
        }
    }
    check_names(naming, &keys, args)?;
    Ok(Some(keys))
}

/// The names of `keys`: distinct, and (env mode) none dangerous unless allowed.
fn check_names(naming: &Naming<'_>, keys: &[KeyPath], args: &RunArgs) -> anyhow::Result<Vec<String>> {
    let names = naming.names(keys)?;
    if args.inject_as == InjectAs::Env {
        env_vars::check_dangerous(&names, &args.allowed_dangerous)?;
    }
    Ok(names)
}

/// The given token, or one minted per pattern that has work to do (with
/// `--key`: as many uses as it has keys).
async fn grants(client: &AgentClient, args: &RunArgs, explicit: Option<&[KeyPath]>) -> anyhow::Result<Vec<Grant>> {
    if let Some(given) = given_token(args.token.clone(), args.token_file.as_deref())? {
        return Ok(vec![Grant { pattern: None, token: checked(given)?, source: TokenSource::Given }]);
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
        let (token, source) = obtain_token(client, None, mint(args, pattern, uses)).await?;
        grants.push(Grant { pattern: Some(pattern.clone()), token, source });
    }
    Ok(grants)
}

fn mint(args: &RunArgs, pattern: &KeyPattern, usage_limit: Option<u64>) -> GenerateTokenRequest {
    GenerateTokenRequest {
        subject: args.subject.clone(),
        environment: args.environment.clone(),
        key_pattern: pattern.clone(),
        ttl_minutes: Some(args.ttl),
        usage_limit,
    }
}

/// Every key a grant may read and covers, with the index of the first
/// grant that does, in listing order (listing is not a use).
async fn listed_keys(client: &AgentClient, grants: &[Grant], args: &RunArgs) -> anyhow::Result<Vec<(KeyPath, usize)>> {
    let env = &args.environment;
    let mut listed: Vec<(KeyPath, usize)> = Vec::new();
    for (i, grant) in grants.iter().enumerate() {
        let keys =
            client.list_keys(&grant.token, env).await.with_context(|| format!("failed to list the keys of '{env}'"))?;
        for key in keys.into_iter().filter(|k| grant.covers(k, args)) {
            if !listed.iter().any(|(k, _)| *k == key) {
                listed.push((key, i));
            }
        }
    }
    Ok(listed)
}

/// `keys` with their grants if every one of them was listed; else an error
/// naming every one that was not.
fn check_listed(
    keys: &[KeyPath],
    listed: &[(KeyPath, usize)],
    args: &RunArgs,
) -> anyhow::Result<Vec<(KeyPath, usize)>> {
    let found: Vec<Option<usize>> =
        keys.iter().map(|k| listed.iter().find(|(l, _)| l == k).map(|(_, grant)| *grant)).collect();
    let missing: Vec<&str> =
        keys.iter().zip(&found).filter(|(_, grant)| grant.is_none()).map(|(k, _)| k.as_str()).collect();
    if !missing.is_empty() {
        bail!(
            "cannot fetch {} from '{}': not in the environment or not readable with the token; \
             nothing was fetched",
            missing.join(", "),
            args.environment
        );
    }
    Ok(keys.iter().zip(found).filter_map(|(k, grant)| Some((k.clone(), grant?))).collect())
}

/// `--key-pattern 'A'` or `any of --key-pattern 'A', 'B'`.
fn patterns(args: &RunArgs) -> String {
    let quoted: Vec<String> = args.key_patterns.iter().map(|p| format!("'{p}'")).collect();
    match quoted.as_slice() {
        [one] => format!("--key-pattern {one}"),
        many => format!("any of --key-pattern {}", many.join(", ")),
    }
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

    fn explicit(extra: &[&str]) -> anyhow::Result<Option<Vec<KeyPath>>> {
        let args = run_args(extra);
        explicit_keys(&args, &naming(&args))
    }

    #[test]
    fn explicit_keys_are_deduplicated_and_checked_early() {
        assert!(explicit(&[]).expect("ok").is_none());
        let keys = explicit(&["--key", "API_B", "--key", "API_A", "--key", "API_B"]).expect("ok").expect("some");
        assert_eq!(keys.iter().map(KeyPath::as_str).collect::<Vec<_>>(), ["API_B", "API_A"]);

        let outside = explicit(&["--key", "DB_URL"]).expect_err("outside");
        assert_eq!(outside.to_string(), "--key 'DB_URL' does not match --key-pattern 'API_*'");
        let outside = explicit(&["--key-pattern", "X", "--key", "DB_URL"]).expect_err("outside");
        assert_eq!(outside.to_string(), "--key 'DB_URL' does not match any of --key-pattern 'API_*', 'X'");

        let collide = explicit(&["--key", "API_X/y", "--key", "API_X.y"]).expect_err("collide");
        assert!(collide.to_string().contains("would both become the variable API_X_y"), "{collide}");
        let twice = explicit(&["--key", "API_A=ONE", "--key", "API_A=TWO"]).expect_err("twice");
        assert_eq!(twice.to_string(), "--key 'API_A' is given twice with different names");
    }

    #[test]
    fn dangerous_names_are_refused_in_env_mode_only() {
        let refused = explicit(&["--key", "API_A=PATH"]).expect_err("PATH");
        assert!(refused.to_string().starts_with("refusing to inject PATH: "), "{refused}");
        assert!(explicit(&["--key", "API_A=PATH", "--allow-dangerous-name", "PATH"]).is_ok());
        assert!(explicit(&["--key", "API_A=PATH", "--inject-as", "file"]).is_ok());
    }

    #[test]
    fn missing_keys_are_listed_together() {
        let args = run_args(&[]);
        let keys: Vec<KeyPath> = ["API_A", "API_B", "API_C"].iter().map(|k| k.parse().expect("key")).collect();
        let listed = vec![(keys[1].clone(), 0)];
        let err = check_listed(&keys, &listed, &args).expect_err("missing");
        assert!(err.to_string().starts_with("cannot fetch API_A, API_C from 'dev': "), "{err}");
    }
}

//! `run-with-secrets`, part one: decide the keys and their names, get the
//! tokens, fetch every value (top layer, part of `commands::run`).
//!
//! Everything that can be checked without the agent is checked first
//! (patterns, renames, collisions, dangerous names of `--key`s). Then, over
//! one keep-alive connection: one token per `--key-pattern` (or the given
//! one), one listing per token, and only when every wanted key is listed
//! and a limited token allows that many uses, one request per value. A key
//! that is missing fails the run before any value is fetched, and the error
//! lists every such key. With `--watch` the listings are asked again after
//! the values, with the tags they had: a set read while the file changed is
//! thrown away and read again, so no set mixes two versions.

use anyhow::{Context, bail};
use vanta_shared::KeyPath;
use zeroize::Zeroizing;

use super::grant::{self, Grant};
use crate::agent_client::{AgentClient, Listing};
use crate::cli::{InjectAs, Misuse, RunArgs};
use crate::inject::env_vars::{self, Naming};

/// One fetched secret and the variable name it goes by.
#[derive(PartialEq, Eq)]
pub(super) struct Secret {
    pub(super) key: KeyPath,
    pub(super) name: String,
    pub(super) value: Zeroizing<String>,
}

/// Everything fetched, ready to hand over.
pub(super) struct Fetched {
    pub(super) secrets: Vec<Secret>,
    pub(super) grants: Vec<Grant>,
    /// Each grant's listing tag, for `--watch`.
    pub(super) tags: Vec<Option<String>>,
}

/// How often a set is read again because the file changed while it was read.
const CONSISTENT_TRIES: usize = 3;

/// Picks the keys, gets the tokens and fetches every value.
///
/// # Errors
/// Anything that keeps a secret from being fetched; nothing is run then.
pub(super) async fn fetch(client: &AgentClient, args: &RunArgs) -> anyhow::Result<Fetched> {
    let explicit = explicit_keys(args, &naming(args))?;
    let grants = grant::grants(client, args, explicit.as_deref()).await?;
    if args.watch
        && let Some(limit) = grants.iter().find_map(|g| g.given()?.usage_limit())
    {
        return Err(Misuse::WatchWithLimitedToken { limit }.into());
    }
    let (secrets, tags) = values(client, &grants, args).await?;
    Ok(Fetched { secrets, grants, tags })
}

/// With `grants` in hand: lists the keys, checks them and fetches every
/// value; with `--watch`, a complete set of one version of the file.
///
/// # Errors
/// As [`fetch`]; also a file that kept changing while it was read.
pub(super) async fn values(
    client: &AgentClient,
    grants: &[Grant],
    args: &RunArgs,
) -> anyhow::Result<(Vec<Secret>, Vec<Option<String>>)> {
    let naming = naming(args);
    let explicit = explicit_keys(args, &naming)?;
    for _ in 0..CONSISTENT_TRIES {
        let (listed, tags) = listed_keys(client, grants, args).await?;
        let keys = match &explicit {
            Some(keys) => check_listed(keys, &listed, args)?,
            None if listed.is_empty() => {
                bail!("no key of '{}' matches {} for this token; nothing to inject", args.environment, patterns(args))
            }
            None => listed,
        };
        let names = check_names(&naming, &keys.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), args)?;
        check_uses(grants, &keys, args)?;
        let mut secrets = Vec::with_capacity(keys.len());
        for (i, ((key, grant), name)) in keys.iter().zip(names).enumerate() {
            let value = client.get_secret(&grants[*grant].token, &args.environment, key).await.with_context(|| {
                let left: Vec<&str> = keys[i..].iter().map(|(k, _)| k.as_str()).collect();
                format!("failed to fetch '{key}' from '{}' (not fetched: {})", args.environment, left.join(", "))
            })?;
            secrets.push(Secret { key: key.clone(), name, value });
        }
        if !args.watch || unchanged_since(client, grants, &tags, args).await? {
            return Ok((secrets, tags));
        }
    }
    bail!("the secrets of '{}' changed {CONSISTENT_TRIES} times while being read; will try again", args.environment)
}

/// Refuses, before any value is fetched, a limited given token that cannot
/// fetch every key (the agent would refuse the last ones). The CLI knows the
/// limit, not what earlier runs spent: the agent still decides.
fn check_uses(grants: &[Grant], keys: &[(KeyPath, usize)], args: &RunArgs) -> anyhow::Result<()> {
    for (i, grant) in grants.iter().enumerate() {
        let Some(limit) = grant.given().and_then(|token| token.usage_limit()) else { continue };
        let needed: Vec<&str> = keys.iter().filter(|(_, g)| *g == i).map(|(k, _)| k.as_str()).collect();
        if needed.len() as u64 > limit {
            bail!(
                "the given token allows {limit} uses and {} keys of '{}' match ({}); nothing was fetched: \
                 use a token with a higher usage limit, or name fewer keys with --key",
                needed.len(),
                args.environment,
                needed.join(", ")
            );
        }
    }
    Ok(())
}

/// Whether every grant's listing still has the tag it had (an agent that
/// sends no tags cannot tell: then yes).
async fn unchanged_since(
    client: &AgentClient,
    grants: &[Grant],
    tags: &[Option<String>],
    args: &RunArgs,
) -> anyhow::Result<bool> {
    for (grant, tag) in grants.iter().zip(tags) {
        let Some(tag) = tag else { continue };
        let listing = client.list_keys_if_changed(&grant.token, &args.environment, Some(tag)).await;
        if !matches!(listing.with_context(|| listing_context(args))?, Listing::Unchanged) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn listing_context(args: &RunArgs) -> String {
    format!("failed to list the keys of '{}'", args.environment)
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

/// Every key a grant may read and covers, with the index of the first
/// grant that does, in listing order (listing is not a use); and each
/// grant's listing tag.
async fn listed_keys(
    client: &AgentClient,
    grants: &[Grant],
    args: &RunArgs,
) -> anyhow::Result<(Vec<(KeyPath, usize)>, Vec<Option<String>>)> {
    let mut listed: Vec<(KeyPath, usize)> = Vec::new();
    let mut tags = Vec::with_capacity(grants.len());
    for (i, grant) in grants.iter().enumerate() {
        let listing = client.list_keys_if_changed(&grant.token, &args.environment, None).await;
        let Listing::Keys { keys, etag } = listing.with_context(|| listing_context(args))? else {
            bail!("{}: the agent answered 304 to a listing without a tag", listing_context(args));
        };
        tags.push(etag);
        for key in keys.into_iter().filter(|k| grant.covers(k, args)) {
            if !listed.iter().any(|(k, _)| *k == key) {
                listed.push((key, i));
            }
        }
    }
    Ok((listed, tags))
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

//! What each component takes, made from its part of the
//! [`Config`](crate::config::Config) (part of `app`, layer L4): one function
//! per component. Leaves never see `config` (leaves do not use each other),
//! so a part becomes its component's own settings here, in one place, for
//! `app` and `doctor` alike.

use std::sync::Arc;

use anyhow::Context;

use crate::audit::AuditSink;
use crate::config::{self, MintCeiling, RedisConfig};
use crate::http::Limits;
use crate::policy::FlagCeiling;
use crate::sops::{CachedSource, SopsCommand};
use crate::token::{JwtKey, JwtKeys, TokenIssuer, TokenValidator};
use crate::usage::RedisTarget;
use crate::vault::{TtlPolicy, UsageRules};

/// The sops runner (also what `doctor` runs, so it checks what serving uses).
pub(crate) fn sops_command(sops: &config::Sops) -> SopsCommand {
    SopsCommand::new(sops.bin.clone(), sops.files_dir.clone(), sops.timeout, sops.env.clone())
}

/// The sops runner behind the cache of decrypted files.
pub(super) fn secret_source(sops: &config::Sops) -> CachedSource {
    CachedSource::new(sops_command(sops), sops.cache_ttl)
}

/// How the usage store reaches the Redis that `--usage-store` names (also
/// what `doctor` checks).
pub(crate) fn redis_target(redis: &RedisConfig) -> RedisTarget {
    RedisTarget {
        url: redis.url.clone(),
        ca_cert: redis.ca_cert.clone(),
        password: redis.password.clone(),
        prefix: redis.prefix.clone(),
        timeout: redis.timeout,
    }
}

/// Where the audit writer appends.
pub(super) fn audit_sink(audit: &config::Audit) -> AuditSink {
    match &audit.path {
        None => AuditSink::Stdout,
        Some(path) => AuditSink::File { path: path.clone(), fsync: audit.fsync },
    }
}

/// What the router holds every request to.
pub(super) fn http_limits(http: &config::Http) -> Limits {
    Limits {
        require_request_header: http.require_request_header,
        body_timeout: http.body_timeout,
        request_timeout: http.request_timeout,
    }
}

/// The issuer and the validator, sharing one key ring so that a token we
/// mint is always one we accept.
///
/// # Errors
/// A key the token module refuses (the configuration checked its length).
pub(super) fn token_checks(tokens: &config::Tokens) -> anyhow::Result<(TokenIssuer, TokenValidator)> {
    let current = JwtKey::new(tokens.key.clone()).context("invalid VANTA_JWT_SECRET_KEY")?;
    let previous = tokens.previous_keys.iter().map(|k| JwtKey::new(k.clone())).collect::<Result<Vec<_>, _>>();
    let keys = Arc::new(JwtKeys::new(current, previous.context("invalid VANTA_JWT_PREVIOUS_KEYS")?));
    let (iss, aud) = (tokens.issuer.clone(), tokens.audience.clone());
    let issuer = TokenIssuer::new(Arc::clone(&keys), iss.clone(), aud.clone());
    Ok((issuer, TokenValidator::new(keys, iss, aud, tokens.clock_leeway)))
}

/// The lifetimes the use cases grant.
pub(super) fn ttl_policy(tokens: &config::Tokens) -> TtlPolicy {
    TtlPolicy { default_minutes: tokens.default_ttl_minutes, max_minutes: tokens.max_ttl_minutes }
}

/// The lease is the usage part's; the skew allowed on `iat` is the tokens'
/// clock leeway, so the store and the validator agree on what "before" is.
pub(super) fn usage_rules(usage: &config::Usage, tokens: &config::Tokens) -> UsageRules {
    UsageRules { lease: usage.lease, leeway: tokens.clock_leeway }
}

/// The ceiling of the one rule the `--mint-*` flags make.
pub(super) fn flag_ceiling(ceiling: &MintCeiling) -> FlagCeiling {
    FlagCeiling {
        environments: ceiling.environments.clone(),
        key_patterns: ceiling.key_patterns.clone(),
        max_usage_limit: ceiling.max_usage_limit,
        uids: ceiling.uids.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use secrecy::SecretSlice;

    use super::*;

    fn tokens() -> config::Tokens {
        config::Tokens {
            key: SecretSlice::from(b"0123456789abcdef0123456789abcdef-settings".to_vec()),
            previous_keys: Vec::new(),
            issuer: "iss".into(),
            audience: "aud".into(),
            clock_leeway: Duration::from_secs(7),
            default_ttl_minutes: 5,
            max_ttl_minutes: 9,
        }
    }

    #[test]
    fn each_part_becomes_its_components_settings() {
        let tokens = tokens();
        let ttl = ttl_policy(&tokens);
        assert_eq!((ttl.default_minutes, ttl.max_minutes), (5, 9));
        let usage = config::Usage {
            store: config::UsageStoreConfig::Sqlite(PathBuf::from("/s/u.db")),
            lease: Duration::from_secs(61),
            hold_max: 64,
        };
        let rules = usage_rules(&usage, &tokens);
        assert_eq!((rules.lease, rules.leeway), (Duration::from_secs(61), Duration::from_secs(7)));
        let http = config::Http {
            require_request_header: true,
            body_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
            worker_threads: None,
        };
        let limits = http_limits(&http);
        assert_eq!(
            (limits.require_request_header, limits.body_timeout, limits.request_timeout),
            (true, Duration::from_secs(2), Duration::from_secs(3))
        );
        assert_eq!(audit_sink(&config::Audit { path: None, fsync: true }), AuditSink::Stdout);
        let file = config::Audit { path: Some(PathBuf::from("/a.jsonl")), fsync: true };
        assert_eq!(audit_sink(&file), AuditSink::File { path: PathBuf::from("/a.jsonl"), fsync: true });
        let ceiling = MintCeiling { max_usage_limit: Some(4), uids: Some(vec![7]), ..MintCeiling::default() };
        let flags = flag_ceiling(&ceiling);
        assert_eq!((flags.max_usage_limit, flags.uids), (Some(4), Some(vec![7])));
        assert!(flags.environments.is_none() && flags.key_patterns.is_none());
        let sops = config::Sops {
            bin: PathBuf::from("/bin/sops"),
            files_dir: PathBuf::from("/secrets"),
            timeout: Duration::from_secs(1),
            env: Vec::new(),
            cache_ttl: Duration::ZERO,
        };
        let command = sops_command(&sops);
        assert_eq!((command.bin(), command.files_dir()), (Path::new("/bin/sops"), Path::new("/secrets")));
    }

    #[test]
    fn the_keys_of_the_tokens_part_are_refused_when_too_short() {
        let short = config::Tokens { key: SecretSlice::from(b"short".to_vec()), ..tokens() };
        let err = token_checks(&short).err().expect("a short key is refused");
        assert_eq!(format!("{err}"), "invalid VANTA_JWT_SECRET_KEY");
        assert!(token_checks(&tokens()).is_ok());
    }
}

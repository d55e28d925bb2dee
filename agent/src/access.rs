//! Authorization (layer L1): does a verified token's scope cover this read,
//! and may this caller mint this token?
//!
//! Pure functions over [`Scope`] and [`MintPolicy`]; no I/O, no knowledge of
//! how tokens are checked. The caller has already validated all names.

use secrecy::{ExposeSecret, SecretSlice};
use subtle::ConstantTimeEq;
use vanta_shared::{EnvName, KeyPath, KeyPattern, Scope};

use crate::peer::Peer;

/// The ceiling an operator puts on minting. `None` in a field means "no
/// limit of that kind"; the default policy allows everything (CONTRACT §7:
/// the socket's file mode is then the gate).
#[derive(Default)]
pub struct MintPolicy {
    /// Environments tokens may be minted for.
    pub environments: Option<Vec<EnvName>>,
    /// Patterns a requested pattern must provably fall inside.
    pub key_patterns: Option<Vec<KeyPattern>>,
    /// Largest `usage_limit`; when set, a request must name one.
    pub max_usage_limit: Option<u64>,
    /// Unix uids allowed to mint on the socket (TCP callers never match).
    pub uids: Option<Vec<u32>>,
    /// The credential TCP callers must present to mint; without one, no
    /// TCP caller may mint.
    pub tcp_admin_token: Option<SecretSlice<u8>>,
}

/// What is asked of [`MintPolicy::check`].
pub struct MintAsk<'a> {
    /// Who asks.
    pub peer: &'a Peer,
    /// For which environment.
    pub environment: &'a EnvName,
    /// For which keys.
    pub key_pattern: &'a KeyPattern,
    /// With which usage limit.
    pub usage_limit: Option<u64>,
    /// The bearer credential sent with the request, if any.
    pub credential: Option<&'a str>,
}

/// A request outside the token's scope. Its text goes to the audit log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The token is for another environment.
    #[error("token is scoped to another environment")]
    Environment,
    /// The key does not match the token's pattern.
    #[error("key is outside the token's key pattern")]
    Key,
    /// A TCP caller without the admin credential.
    #[error("minting over TCP requires the admin credential")]
    MintAdmin,
    /// The minting policy does not allow this caller.
    #[error("minting policy: caller uid is not allowed to mint")]
    MintCaller,
    /// The minting policy does not allow this environment.
    #[error("minting policy: environment is not allowed")]
    MintEnvironment,
    /// The requested pattern is not provably inside an allowed one.
    #[error("minting policy: key_pattern is not inside an allowed pattern")]
    MintPattern,
    /// No usage limit, or one over the ceiling.
    #[error("minting policy: usage_limit is missing or over the ceiling")]
    MintUsageLimit,
}

// === impl MintPolicy ===

impl MintPolicy {
    /// Checks a mint request against the ceiling.
    ///
    /// # Errors
    /// The first rule the request breaks.
    pub fn check(&self, ask: &MintAsk<'_>) -> Result<(), Denied> {
        self.check_caller(ask.peer, ask.credential)?;
        if self.environments.as_ref().is_some_and(|envs| !envs.contains(ask.environment)) {
            return Err(Denied::MintEnvironment);
        }
        if self.key_patterns.as_ref().is_some_and(|ps| !ps.iter().any(|p| pattern_covers(p, ask.key_pattern))) {
            return Err(Denied::MintPattern);
        }
        if self.max_usage_limit.is_some_and(|max| ask.usage_limit.is_none_or(|limit| limit > max)) {
            return Err(Denied::MintUsageLimit);
        }
        Ok(())
    }
}

// === impl MintPolicy (caller) ===

impl MintPolicy {
    /// Whether this caller may mint at all (over TCP: with the admin
    /// credential; on the socket: an allowed uid, if uids are set). Revoking
    /// is allowed to exactly these callers.
    ///
    /// # Errors
    /// The rule the caller breaks.
    pub fn check_caller(&self, peer: &Peer, credential: Option<&str>) -> Result<(), Denied> {
        if matches!(peer, Peer::Tcp(_)) && !self.admin_credential_matches(credential) {
            return Err(Denied::MintAdmin);
        }
        if let Some(uids) = &self.uids {
            let allowed = matches!(peer, Peer::Unix { uid, .. } if uids.contains(uid));
            if !allowed {
                return Err(Denied::MintCaller);
            }
        }
        Ok(())
    }
}

// === impl MintPolicy (admin credential) ===

impl MintPolicy {
    /// Constant-time comparison with the configured admin token.
    fn admin_credential_matches(&self, credential: Option<&str>) -> bool {
        match (&self.tcp_admin_token, credential) {
            (Some(token), Some(given)) => token.expose_secret().ct_eq(given.as_bytes()).into(),
            _ => false,
        }
    }
}

/// Whether every key `requested` can match is provably matched by `allowed`.
/// Proven cases: `allowed` is `*`; the two are equal; `requested` is a
/// literal key that `allowed` matches; `allowed` is a literal prefix followed
/// by one `*` and `requested` starts with that prefix. Anything else is
/// refused, even if it might be narrower: we grant only what we can prove.
pub fn pattern_covers(allowed: &KeyPattern, requested: &KeyPattern) -> bool {
    let (allowed_text, requested_text) = (allowed.as_str(), requested.as_str());
    let is_literal = |p: &str| !p.contains(['*', '?']);
    if allowed_text == "*" || allowed_text == requested_text {
        return true;
    }
    if is_literal(requested_text) {
        return allowed.matches_str(requested_text);
    }
    match allowed_text.strip_suffix('*') {
        Some(prefix) if is_literal(prefix) => requested_text.starts_with(prefix),
        _ => false,
    }
}

/// Checks that `scope` allows reading in `env` (listing keys).
///
/// # Errors
/// [`Denied::Environment`] otherwise.
pub fn check_env(scope: &Scope, env: &EnvName) -> Result<(), Denied> {
    if scope.allows_env(env) { Ok(()) } else { Err(Denied::Environment) }
}

/// Checks that `scope` allows reading `key` in `env`.
///
/// # Errors
/// Which part of the scope the request falls outside.
pub fn check_key(scope: &Scope, env: &EnvName, key: &KeyPath) -> Result<(), Denied> {
    check_env(scope, env)?;
    if scope.allows_key(env, key) { Ok(()) } else { Err(Denied::Key) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let scope = Scope::read_only("dev".parse().expect("env"), "API_KEYS/*".parse().expect("pattern"));
        let cases = [
            ("dev", "API_KEYS/stripe", Ok(())),
            ("dev", "API_KEYS/a/b", Ok(())),
            ("dev", "DATABASE_URL", Err(Denied::Key)),
            ("prod", "API_KEYS/stripe", Err(Denied::Environment)),
        ];
        for (env, key, want) in cases {
            let got = check_key(&scope, &env.parse().expect("env"), &key.parse().expect("key"));
            assert_eq!(got, want, "{env}/{key}");
        }
        assert_eq!(check_env(&scope, &"prod".parse().expect("env")), Err(Denied::Environment));
    }

    fn pattern(s: &str) -> KeyPattern {
        s.parse().expect("pattern")
    }

    #[test]
    fn pattern_containment_is_proven_or_refused() {
        let cases = [
            ("*", "anything/*", true),
            ("DB_*", "DB_*", true),
            ("DB_*", "DB_URL", true),
            ("DB_*", "DB_PROD_*", true),
            ("DB_*", "DB_?", true),
            ("API_KEYS/*", "API_KEYS/stripe", true),
            ("DB_*", "*", false),
            ("DB_*", "D*", false),
            ("DB_*", "API_URL", false),
            ("DB_URL", "DB_*", false),
            ("DB_?", "DB_1", true),
            ("DB_?", "DB_?", true),
            ("DB_?", "DB_*", false),
            ("*_URL", "DB_*", false),
            ("*_URL", "DB_URL", true),
        ];
        for (allowed, requested, want) in cases {
            assert_eq!(pattern_covers(&pattern(allowed), &pattern(requested)), want, "{allowed} ⊇ {requested}");
        }
    }

    #[test]
    fn mint_policy_table() {
        let dev: EnvName = "dev".parse().expect("env");
        let prod: EnvName = "prod".parse().expect("env");
        let policy = MintPolicy {
            environments: Some(vec![dev.clone()]),
            key_patterns: Some(vec![pattern("APP_*")]),
            max_usage_limit: Some(10),
            uids: Some(vec![1000]),
            tcp_admin_token: None,
        };
        let me = Peer::Unix { uid: 1000, gid: 1000, pid: Some(1) };
        let other = Peer::Unix { uid: 0, gid: 0, pid: Some(1) };
        let ok_pattern = pattern("APP_DB");
        let star = pattern("*");
        let ask = |peer, environment, key_pattern, usage_limit| MintAsk {
            peer,
            environment,
            key_pattern,
            usage_limit,
            credential: None,
        };
        assert_eq!(policy.check(&ask(&me, &dev, &ok_pattern, Some(5))), Ok(()));
        assert_eq!(policy.check(&ask(&other, &dev, &ok_pattern, Some(5))), Err(Denied::MintCaller));
        assert_eq!(policy.check(&ask(&Peer::Unknown, &dev, &ok_pattern, Some(5))), Err(Denied::MintCaller));
        assert_eq!(policy.check(&ask(&me, &prod, &ok_pattern, Some(5))), Err(Denied::MintEnvironment));
        assert_eq!(policy.check(&ask(&me, &dev, &star, Some(5))), Err(Denied::MintPattern));
        assert_eq!(policy.check(&ask(&me, &dev, &ok_pattern, None)), Err(Denied::MintUsageLimit));
        assert_eq!(policy.check(&ask(&me, &dev, &ok_pattern, Some(11))), Err(Denied::MintUsageLimit));
        assert_eq!(MintPolicy::default().check(&ask(&other, &prod, &star, None)), Ok(()));
    }

    #[test]
    fn tcp_minting_needs_the_admin_credential() {
        let dev: EnvName = "dev".parse().expect("env");
        let star = pattern("*");
        let tcp = Peer::Tcp([127, 0, 0, 1].into());
        let ask =
            |credential| MintAsk { peer: &tcp, environment: &dev, key_pattern: &star, usage_limit: None, credential };
        let open = MintPolicy::default();
        assert_eq!(open.check(&ask(Some("anything"))), Err(Denied::MintAdmin));
        let guarded =
            MintPolicy { tcp_admin_token: Some(SecretSlice::from(b"s3cret-admin".to_vec())), ..MintPolicy::default() };
        assert_eq!(guarded.check(&ask(None)), Err(Denied::MintAdmin));
        assert_eq!(guarded.check(&ask(Some("s3cret-admiN"))), Err(Denied::MintAdmin));
        assert_eq!(guarded.check(&ask(Some("s3cret-admin"))), Ok(()));
    }
}

//! Authorization: does a verified token's scope cover this request? (layer L1)
//!
//! Pure functions over [`Scope`]; no I/O, no knowledge of how the token was
//! checked. The caller has already validated the syntax of both names.

use vanta_shared::{EnvName, KeyPath, Scope};

/// A request outside the token's scope. Its text goes to the audit log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The token is for another environment.
    #[error("token is scoped to another environment")]
    Environment,
    /// The key does not match the token's pattern.
    #[error("key is outside the token's key pattern")]
    Key,
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
}

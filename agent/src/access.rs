//! Authorization (layer L1): does a verified token's scope cover this read,
//! and is a TCP caller the admin?
//!
//! Pure functions over [`Scope`]; no I/O, no knowledge of how tokens are
//! checked. The caller has already validated all names. Who may mint what is
//! the minting policy's business (`policy`).

use secrecy::{ExposeSecret, SecretSlice};
use subtle::ConstantTimeEq;
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

/// Whether `given` is the configured admin credential (constant time).
/// Without a configured credential nobody is the admin.
pub fn is_admin_credential(configured: Option<&SecretSlice<u8>>, given: Option<&str>) -> bool {
    match (configured, given) {
        (Some(token), Some(given)) => token.expose_secret().ct_eq(given.as_bytes()).into(),
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

    #[test]
    fn only_the_configured_admin_credential_is_the_admin() {
        let token = SecretSlice::from(b"s3cret-admin".to_vec());
        assert!(is_admin_credential(Some(&token), Some("s3cret-admin")));
        assert!(!is_admin_credential(Some(&token), Some("s3cret-admiN")));
        assert!(!is_admin_credential(Some(&token), None));
        assert!(!is_admin_credential(None, Some("anything")));
    }
}

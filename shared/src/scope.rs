//! What a token allows: one environment, a key pattern, permissions (layer L0).

use serde::{Deserialize, Serialize};

use crate::{EnvName, KeyPath, KeyPattern};

/// An operation a token may perform. Only reading exists today; the field is
/// a list so that the claim format need not change when more arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Read secret values and list key names.
    Read,
}

/// The `scope` claim of a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// The one environment the token is for.
    pub environment: EnvName,
    /// Which keys of that environment the token may read.
    pub key_pattern: KeyPattern,
    /// What the token may do with them.
    pub permissions: Vec<Permission>,
}

// === impl Scope ===

impl Scope {
    /// A read-only scope, as the agent mints them.
    pub fn read_only(environment: EnvName, key_pattern: KeyPattern) -> Self {
        Self { environment, key_pattern, permissions: vec![Permission::Read] }
    }

    /// Whether the scope allows reading in `env` at all.
    pub fn allows_env(&self, env: &EnvName) -> bool {
        self.permissions.contains(&Permission::Read) && self.environment == *env
    }

    /// Whether the scope allows reading `key` in `env`.
    pub fn allows_key(&self, env: &EnvName, key: &KeyPath) -> bool {
        self.allows_env(env) && self.key_pattern.matches(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(env: &str, pattern: &str) -> Scope {
        Scope::read_only(env.parse().expect("env"), pattern.parse().expect("pattern"))
    }

    #[test]
    fn allows_only_its_environment_and_pattern() {
        let s = scope("dev", "DATABASE_*");
        let dev = "dev".parse().expect("env");
        let prod = "prod".parse().expect("env");
        assert!(s.allows_key(&dev, &"DATABASE_URL".parse().expect("key")));
        assert!(!s.allows_key(&dev, &"API_KEY".parse().expect("key")));
        assert!(!s.allows_key(&prod, &"DATABASE_URL".parse().expect("key")));
        assert!(s.allows_env(&dev));
        assert!(!s.allows_env(&prod));
    }

    #[test]
    fn no_read_permission_allows_nothing() {
        let mut s = scope("dev", "*");
        s.permissions.clear();
        assert!(!s.allows_env(&"dev".parse().expect("env")));
    }

    #[test]
    fn serializes_as_the_contract_shows() {
        let json = serde_json::to_value(scope("dev", "API_KEYS/*")).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!({"environment": "dev", "key_pattern": "API_KEYS/*", "permissions": ["read"]})
        );
    }
}

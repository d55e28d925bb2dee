//! Which usage store to use (part of [`crate::config`], layer L1):
//! `--usage-store URL`, its password from the environment only, its key
//! prefix and deadline. A URL is never echoed in an error: it may hold a
//! credential.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use super::secrets::{read_secret_file, secret_var};
use super::{Args, ConfigError, invalid};

/// The usage store, checked. Holds a password: no `Debug`.
pub enum UsageStoreConfig {
    /// SQLite file on this host.
    Sqlite(PathBuf),
    /// A Redis (or Valkey) shared by a fleet.
    Redis(RedisConfig),
}

/// How to reach the Redis usage store.
pub struct RedisConfig {
    /// `redis://host:port/db`, `rediss://host:port/db` or
    /// `redis+unix:///path`, without credentials.
    pub url: String,
    /// PEM of a private CA for `rediss://` (`--usage-store-ca-cert`).
    pub ca_cert: Option<Vec<u8>>,
    /// From `VANTA_USAGE_STORE_PASSWORD` or `_FILE`.
    pub password: Option<SecretString>,
    /// Prefix of every key.
    pub prefix: String,
    /// Deadline of each operation.
    pub timeout: Duration,
}

const FLAG: &str = "--usage-store";
const PASSWORD_VAR: &str = "VANTA_USAGE_STORE_PASSWORD";
const PASSWORD_FILE_VAR: &str = "VANTA_USAGE_STORE_PASSWORD_FILE";
const FORMS: &str = "must be sqlite:PATH, redis://HOST:PORT/DB or redis+unix:///PATH";

/// Checks `--usage-store` and its companions.
///
/// # Errors
/// [`ConfigError`] naming the flag, never echoing the URL.
pub(super) fn usage_store(
    args: &Args,
    lookup: &impl Fn(&str) -> Option<OsString>,
) -> Result<UsageStoreConfig, ConfigError> {
    let Some(url) = args.usage_store.as_deref() else {
        return Ok(UsageStoreConfig::Sqlite(args.state_path.clone()));
    };
    if let Some(path) = url.strip_prefix("sqlite:") {
        if path.is_empty() {
            return Err(invalid(FLAG, "sqlite: needs a file path".into()));
        }
        return Ok(UsageStoreConfig::Sqlite(PathBuf::from(path)));
    }
    let tls = url.starts_with("rediss://");
    if args.usage_store_ca_cert.is_some() && !tls {
        return Err(invalid("--usage-store-ca-cert", "applies to a rediss:// usage store only".into()));
    }
    let rest = ["redis://", "rediss://", "redis+unix://"].iter().find_map(|scheme| url.strip_prefix(scheme));
    let Some(rest) = rest else { return Err(invalid(FLAG, FORMS.into())) };
    if rest.contains('@') || rest.contains("pass=") || rest.contains("user=") {
        let problem = format!("credentials in the URL are not allowed; set {PASSWORD_VAR} or {PASSWORD_FILE_VAR}");
        return Err(invalid(FLAG, problem));
    }
    if args.usage_store_prefix.is_empty() || args.usage_store_prefix.contains(['{', '}']) {
        return Err(invalid("--usage-store-prefix", "must be non-empty, without { or }".into()));
    }
    if args.usage_store_timeout_ms == 0 {
        return Err(invalid("--usage-store-timeout-ms", "must be at least 1".into()));
    }
    let ca_cert = match &args.usage_store_ca_cert {
        None => None,
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|err| invalid("--usage-store-ca-cert", format!("cannot read {}: {err}", path.display())))?,
        ),
    };
    Ok(UsageStoreConfig::Redis(RedisConfig {
        url: url.to_owned(),
        ca_cert,
        password: password(lookup)?,
        prefix: args.usage_store_prefix.clone(),
        timeout: Duration::from_millis(args.usage_store_timeout_ms),
    }))
}

fn password(lookup: &impl Fn(&str) -> Option<OsString>) -> Result<Option<SecretString>, ConfigError> {
    match (lookup(PASSWORD_VAR), lookup(PASSWORD_FILE_VAR)) {
        (Some(_), Some(_)) => Err(ConfigError::Conflict(PASSWORD_VAR, PASSWORD_FILE_VAR)),
        (None, None) => Ok(None),
        (Some(value), None) => secret_var(PASSWORD_VAR, value).map(Some),
        (None, Some(path)) => read_secret_file(PASSWORD_FILE_VAR, Path::new(&path)).map(Some),
    }
}

// === impl UsageStoreConfig ===

impl UsageStoreConfig {
    /// What to say in logs: the backend and where, never a credential.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite:{}", path.display()),
            Self::Redis(redis) => format!("redis (key prefix {})", redis.prefix),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(extra: &[&str], env: &[(&str, &str)]) -> Result<UsageStoreConfig, ConfigError> {
        let args = Args::parse_from([&["vanta-agent", "--state-path", "/s/usage.db"], extra].concat());
        let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v));
        usage_store(&args, &lookup)
    }

    fn problem(extra: &[&str]) -> String {
        parse(extra, &[]).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn each_form_of_the_url() {
        assert!(matches!(parse(&[], &[]), Ok(UsageStoreConfig::Sqlite(p)) if p == Path::new("/s/usage.db")));
        let sqlite = parse(&["--usage-store", "sqlite:/x/u.db"], &[]);
        assert!(matches!(sqlite, Ok(UsageStoreConfig::Sqlite(p)) if p == Path::new("/x/u.db")));
        let redis = parse(&["--usage-store", "redis://r:6379/2"], &[(PASSWORD_VAR, "pw")]).ok();
        let Some(UsageStoreConfig::Redis(redis)) = redis else { panic!("a redis store") };
        assert_eq!((redis.url.as_str(), redis.prefix.as_str()), ("redis://r:6379/2", "vanta"));
        assert!(redis.password.is_some());
        assert!(matches!(parse(&["--usage-store", "redis+unix:///run/r.sock"], &[]), Ok(UsageStoreConfig::Redis(_))));
    }

    #[test]
    fn refusals_name_the_flag_and_never_echo_the_url() {
        for (url, why) in [
            ("redis://:sekrit@r:6379/0", "credentials in the URL"),
            ("redis+unix:///r.sock?pass=sekrit", "credentials in the URL"),
            ("rediss://:sekrit@r:6380/0", "credentials in the URL"),
            ("mysql://sekrit", "must be sqlite:PATH"),
            ("sqlite:", "needs a file path"),
        ] {
            let text = problem(&["--usage-store", url]);
            assert!(text.starts_with("--usage-store (VANTA_USAGE_STORE): ") && text.contains(why), "{url}: {text}");
            assert!(!text.contains("sekrit"), "{text}");
        }
        let both = parse(&["--usage-store", "redis://r/0"], &[(PASSWORD_VAR, "a"), (PASSWORD_FILE_VAR, "/f")]);
        assert!(matches!(both, Err(ConfigError::Conflict(..))));
    }
}

//! Which usage store to use (part of [`crate::config`], layer L1):
//! `--usage-store URL`, its password from the environment only, its key
//! prefix and deadline; the Redis settings are refused with a SQLite store,
//! where they would be ignored. A URL is never echoed in an error: it may
//! hold a credential.

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
const DEFAULT_STATE_PATH: &str = "/var/lib/vanta/usage.db";
const DEFAULT_PREFIX: &str = "vanta";
const DEFAULT_TIMEOUT_MS: u64 = 2000;

/// Checks `--usage-store` and its companions.
///
/// # Errors
/// [`ConfigError`] naming the flag, never echoing the URL.
pub(super) fn usage_store(
    args: &Args,
    lookup: &impl Fn(&str) -> Option<OsString>,
) -> Result<UsageStoreConfig, ConfigError> {
    if let Some(path) = sqlite_path(args)? {
        refuse_redis_settings(args, lookup)?;
        return Ok(UsageStoreConfig::Sqlite(path));
    }
    let url = args.usage_store.as_deref().unwrap_or_default();
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
    let prefix = args.usage_store_prefix.clone().unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
    if prefix.is_empty() || prefix.contains(['{', '}']) {
        return Err(invalid("--usage-store-prefix", "must be non-empty, without { or }".into()));
    }
    let timeout_ms = args.usage_store_timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if timeout_ms == 0 {
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
        prefix,
        timeout: Duration::from_millis(timeout_ms),
    }))
}

/// The SQLite file, when the store is SQLite: `--state-path` (or its
/// default) without `--usage-store`, or `--usage-store sqlite:PATH`.
fn sqlite_path(args: &Args) -> Result<Option<PathBuf>, ConfigError> {
    match args.usage_store.as_deref().map(|url| url.strip_prefix("sqlite:")) {
        None => Ok(Some(args.state_path.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_PATH)))),
        Some(Some("")) => Err(invalid(FLAG, "sqlite: needs a file path".into())),
        Some(Some(path)) => Ok(Some(PathBuf::from(path))),
        Some(None) => Ok(None),
    }
}

/// The Redis store's settings, given with a SQLite store: refused, because
/// they would be ignored while the operator believes they apply (a prefix
/// keeping two fleets' counts apart, a password, a CA).
fn refuse_redis_settings(args: &Args, lookup: &impl Fn(&str) -> Option<OsString>) -> Result<(), ConfigError> {
    for (name, given) in [
        ("--usage-store-prefix", args.usage_store_prefix.is_some()),
        ("--usage-store-timeout-ms", args.usage_store_timeout_ms.is_some()),
        ("--usage-store-ca-cert", args.usage_store_ca_cert.is_some()),
        (PASSWORD_VAR, lookup(PASSWORD_VAR).is_some()),
        (PASSWORD_FILE_VAR, lookup(PASSWORD_FILE_VAR).is_some()),
    ] {
        if given {
            return Err(invalid(name, "applies to a Redis usage store only (--usage-store redis://…)".into()));
        }
    }
    Ok(())
}

/// Why `--state-path` is not read, when it was set and `--usage-store`
/// names the store. A warning, not an error: the image (Dockerfile), the
/// manifests in `k8s/` and scripts set `VANTA_STATE_PATH` for every store,
/// and a fleet's overlay adds `--usage-store` on top of them.
pub(super) fn unused_state_path(args: &Args) -> Option<&'static str> {
    (args.state_path.is_some() && args.usage_store.is_some())
        .then_some("--state-path (VANTA_STATE_PATH) is set but not read: --usage-store names the usage store")
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

    #[test]
    fn redis_settings_are_refused_with_a_sqlite_store_and_defaulted_with_redis() {
        for sqlite in [&[][..], &["--usage-store", "sqlite:/x/u.db"]] {
            for (extra, env, name) in [
                (&["--usage-store-prefix", "fleet-a"][..], &[][..], "--usage-store-prefix (VANTA_USAGE_STORE_PREFIX)"),
                (&["--usage-store-timeout-ms", "500"], &[], "--usage-store-timeout-ms (VANTA_USAGE_STORE_TIMEOUT_MS)"),
                (&["--usage-store-ca-cert", "/ca.pem"], &[], "--usage-store-ca-cert (VANTA_USAGE_STORE_CA_CERT)"),
                (&[], &[(PASSWORD_VAR, "pw")], PASSWORD_VAR),
                (&[], &[(PASSWORD_FILE_VAR, "/pw")], PASSWORD_FILE_VAR),
            ] {
                let err = parse(&[sqlite, extra].concat(), env).err().map(|e| e.to_string()).unwrap_or_default();
                let expected = format!("{name}: applies to a Redis usage store only (--usage-store redis://…)");
                assert_eq!(err, expected, "{sqlite:?} {extra:?}");
            }
        }
        let redis = parse(&["--usage-store", "redis://r:6379/0"], &[]).ok();
        let Some(UsageStoreConfig::Redis(redis)) = redis else { panic!("a redis store") };
        assert_eq!((redis.prefix.as_str(), redis.timeout), ("vanta", Duration::from_millis(2000)));
        let set = ["--usage-store", "redis://r:6379/0", "--usage-store-prefix", "a", "--usage-store-timeout-ms", "5"];
        let Ok(UsageStoreConfig::Redis(redis)) = parse(&set, &[]) else { panic!("a redis store") };
        assert_eq!((redis.prefix.as_str(), redis.timeout), ("a", Duration::from_millis(5)));
        let default = Args::parse_from(["vanta-agent"]);
        let lookup = |_: &str| None;
        assert!(
            matches!(usage_store(&default, &lookup), Ok(UsageStoreConfig::Sqlite(p)) if p == Path::new(DEFAULT_STATE_PATH))
        );
    }
}

//! Agent configuration: flags and environment variables in, a checked
//! [`Config`] out (layer L1). The only module that reads either.
//!
//! Two steps, as ripgrep does it: clap parses [`Args`] (raw), then
//! [`Config::from_args`] validates everything before anything binds or opens,
//! so a bad configuration stops start-up with one line and exit code 2.
//! Secrets come only from the environment or files, never from flags.

use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretSlice};
use vanta_shared::{EnvName, KeyPattern};

mod args;
mod secrets;
mod usage_store;

pub use args::{Args, Command, ExplainArgs, LogFormat, PolicyCommand};
use secrets::{checked_key, read_key, read_previous_keys, read_secret_file};
pub use usage_store::{RedisConfig, UsageStoreConfig};

/// The checked configuration. Holds the JWT keys, so it has no `Debug`.
pub struct Config {
    /// The Unix socket local callers reach us on; its peer credentials are
    /// what the audit and the minting policy know a caller by.
    pub socket: PathBuf,
    /// Mode of the socket file: the file system decides who may connect, so
    /// this is the first access check (default owner only).
    pub socket_mode: u32,
    /// Directory of `<environment>.yaml` SOPS files; the only place names
    /// from a request can lead to (docs/API.md §2).
    pub sops_files_path: PathBuf,
    /// The sops executable, resolved once at start-up so that a later change
    /// of `PATH` cannot swap the program that sees decrypted data.
    pub sops_bin: PathBuf,
    /// How long one sops run may take before it is killed and the request
    /// answered 504, so a hung key backend cannot hold requests forever.
    pub sops_timeout: Duration,
    /// How long decrypted files are cached, trading plaintext in memory for
    /// not running sops on every fetch (zero: not at all).
    pub cache_ttl: Duration,
    /// Environment handed to sops: only what its key backends need.
    pub sops_env: Vec<(OsString, OsString)>,
    /// `iss` written into and required of every token, so tokens of another
    /// issuer sharing the key are refused.
    pub issuer: String,
    /// `aud` written into and required of every token, for the same reason.
    pub audience: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, for callers whose clocks
    /// drift from ours.
    pub clock_leeway: Duration,
    /// The audit file, reopened on SIGHUP for log rotation; `None` writes
    /// the records to stdout (for a collector reading the container's log).
    pub audit_path: Option<PathBuf>,
    /// `fdatasync` the audit file after every batch of records, so a record
    /// survives a power loss before its secret is served (costs latency).
    pub audit_fsync: bool,
    /// The usage store: SQLite at `--state-path`, or `--usage-store`.
    pub usage_store: UsageStoreConfig,
    /// How long a fetch holds a use before it comes back unconfirmed.
    pub usage_lease: Duration,
    /// Token lifetime, in minutes, when a request does not ask for one.
    pub default_ttl_minutes: u32,
    /// Longest lifetime a request may ask for, in minutes, so a leaked
    /// token stops working within a bound the operator chose.
    pub max_ttl_minutes: u32,
    /// HS256 key that signs new tokens; validation is stateless, so this key
    /// is all that makes a token ours (docs/API.md §7).
    pub jwt_key: SecretSlice<u8>,
    /// Keys from before a rotation, still accepted for validation so tokens
    /// already handed out keep working until they expire; never used to sign.
    pub previous_jwt_keys: Vec<SecretSlice<u8>>,
    /// Environments any caller may mint for (`None`: any), the ceiling when
    /// no policy file is used.
    pub mint_environments: Option<Vec<EnvName>>,
    /// Key patterns a minted token's pattern must fall within (`None`: any).
    pub mint_key_patterns: Option<Vec<KeyPattern>>,
    /// Largest usage limit a token may carry; when set, a token without a
    /// limit is refused (`None`: no limit required).
    pub mint_max_usage_limit: Option<u64>,
    /// Caller uids (socket peer credentials) allowed to mint (`None`: any).
    pub mint_uids: Option<Vec<u32>>,
    /// The per-caller policy file, instead of the `--mint-*` ceiling (loaded
    /// and checked by `app` before anything binds).
    pub policy_file: Option<PathBuf>,
    /// Demand `X-Vanta-Request: true` on every request but the probes, so a browser or
    /// an SSRF-able proxy that cannot set headers cannot reach the API.
    pub require_request_header: bool,
    /// The optional TCP listener, for callers outside the pod or host that
    /// cannot reach the socket (`None`: socket only).
    pub tcp: Option<TcpConfig>,
    /// Most connections served at once on the socket, so a flood of idle
    /// connections cannot exhaust file descriptors or memory.
    pub max_connections: usize,
    /// Most connections served at once on TCP: its own cap, so that TCP
    /// clients can never take the socket's places.
    pub max_tcp_connections: usize,
    /// Deadline for receiving a whole request body (slow bodies hold a connection).
    pub body_timeout: Duration,
    /// Deadline for answering a request once its head is in; longer than
    /// the body and sops deadlines so that only a stuck request reaches it.
    pub request_timeout: Duration,
    /// Credential TCP callers must present to mint (from `VANTA_ADMIN_TOKEN_FILE`).
    pub admin_token: Option<SecretSlice<u8>>,
    /// Diagnostic log filter, checked to parse here so a typo stops start-up
    /// (exit 2) instead of silently logging nothing.
    pub log_filter: String,
    /// Diagnostic log format: text for a terminal, JSON for a collector.
    pub log_format: LogFormat,
    /// Names (never values) of variables handed to sops that carry key
    /// material inline: sops children can be read by processes of the same
    /// uid, so `app` warns about them at start-up.
    pub inline_key_vars: Vec<String>,
}

/// The TCP listener's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// Address and port to listen on.
    pub addr: SocketAddr,
    /// Certificate and key, reloaded on SIGHUP so a renewed certificate
    /// needs no restart; `None` for plain HTTP (loopback only).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A configuration that cannot work. The text never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required setting is missing.
    #[error("{0} is required")]
    Missing(&'static str),
    /// Two settings that exclude each other are both set.
    #[error("set only one of {0} and {1}")]
    Conflict(&'static str, &'static str),
    /// A setting has a value that cannot work; a flag is shown with its
    /// variable, so the operator can change whichever they set.
    #[error("{}: {problem}", with_variable(name))]
    Invalid {
        /// The flag or variable.
        name: &'static str,
        /// What is wrong (never the value of a secret).
        problem: String,
    },
    /// A key file could not be read.
    #[error("failed to read {name} from {path}")]
    KeyFile {
        /// The variable naming the file.
        name: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

const KEY_VAR: &str = "VANTA_JWT_SECRET_KEY";
const KEY_FILE_VAR: &str = "VANTA_JWT_SECRET_KEY_FILE";
const PREVIOUS_KEYS_VAR: &str = "VANTA_JWT_PREVIOUS_KEYS";
const PREVIOUS_KEYS_FILE_VAR: &str = "VANTA_JWT_PREVIOUS_KEYS_FILE";
const ADMIN_TOKEN_FILE_VAR: &str = "VANTA_ADMIN_TOKEN_FILE";
const MIN_KEY_BYTES: usize = 32;

/// Variables passed to sops by exact name (docs/API.md §7).
const SOPS_ENV_NAMES: [&str; 20] = [
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "TZ",
    "GNUPGHOME",
    "GPG_TTY",
    "XDG_CONFIG_HOME",
    "XDG_RUNTIME_DIR",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];
/// Prefixes of variables passed to sops: its own and its key backends'.
const SOPS_ENV_PREFIXES: [&str; 9] =
    ["SOPS_", "AWS_", "AZURE_", "GOOGLE_", "GCLOUD_", "CLOUDSDK_", "VAULT_", "IDENTITY_", "MSI_"];

// === impl Config ===

impl Config {
    /// Validates `args` against this process's environment.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn from_process(args: Args) -> Result<Self, ConfigError> {
        let env: Vec<_> = std::env::vars_os().collect();
        Self::from_args(args, &env)
    }

    /// Validates `args` against the process environment `env`.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn from_args(args: Args, env: &[(OsString, OsString)]) -> Result<Self, ConfigError> {
        let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        check_limits(&args)?;
        let jwt_key = read_key(&lookup)?;
        let usage_store = usage_store::usage_store(&args, &lookup)?;
        let previous_jwt_keys = read_previous_keys(&lookup)?;
        let sops_files_path =
            args.sops_files_path.ok_or(ConfigError::Missing("--sops-files-path (VANTA_SOPS_FILES_PATH)"))?;
        if !sops_files_path.is_dir() {
            return Err(invalid("--sops-files-path", format!("{} is not a directory", sops_files_path.display())));
        }
        let path_var = lookup("PATH");
        let sops_bin = resolve_executable(&args.sops_bin, path_var.as_deref()).ok_or_else(|| {
            invalid("--sops-bin", format!("{} is not an executable file or on PATH", args.sops_bin.display()))
        })?;
        check_ttls(args.default_ttl_minutes, args.max_ttl_minutes)?;
        if args.sops_timeout_seconds == 0 {
            return Err(invalid("--sops-timeout-seconds", "must be at least 1".into()));
        }
        let tcp = tcp_config(args.listen_tcp, args.tls_cert.clone(), args.tls_key.clone(), args.insecure_tcp)?;
        let admin_token = match lookup(ADMIN_TOKEN_FILE_VAR) {
            None => None,
            Some(path) => Some(checked_key(
                ADMIN_TOKEN_FILE_VAR,
                read_secret_file(ADMIN_TOKEN_FILE_VAR, Path::new(&path))?.expose_secret(),
            )?),
        };
        if args.usage_lease_seconds <= args.sops_timeout_seconds {
            return Err(invalid("--usage-lease-seconds", "must be longer than --sops-timeout-seconds".into()));
        }
        let mint_flag_set = args.mint_allowed_environments.is_some()
            || args.mint_allowed_key_patterns.is_some()
            || args.mint_max_usage_limit.is_some()
            || args.mint_allowed_uids.is_some();
        if args.policy_file.is_some() && mint_flag_set {
            return Err(ConfigError::Conflict("--policy-file", "the --mint-* flags"));
        }
        if args.max_connections == 0 {
            return Err(invalid("--max-connections", "must be at least 1".into()));
        }
        Ok(Self {
            max_connections: args.max_connections,
            max_tcp_connections: args.max_tcp_connections,
            body_timeout: Duration::from_secs(args.body_timeout_seconds),
            request_timeout: Duration::from_secs(args.request_timeout_seconds),
            tcp,
            admin_token,
            socket_mode: parse_mode(&args.socket_mode)?,
            socket: args.socket,
            sops_files_path,
            sops_bin,
            sops_timeout: Duration::from_secs(args.sops_timeout_seconds),
            log_filter: checked_log_filter(args.log)?,
            log_format: args.log_format,
            inline_key_vars: inline_key_vars(&sops_env(env)),
            sops_env: sops_env(env),
            cache_ttl: Duration::from_secs(args.cache_ttl_seconds),
            issuer: non_empty("--issuer", args.issuer)?,
            audience: non_empty("--audience", args.audience)?,
            clock_leeway: Duration::from_secs(args.clock_leeway_seconds),
            audit_path: audit_path(&args.audit_log)?,
            audit_fsync: args.audit_fsync,
            usage_store,
            usage_lease: Duration::from_secs(args.usage_lease_seconds),
            default_ttl_minutes: args.default_ttl_minutes,
            max_ttl_minutes: args.max_ttl_minutes,
            jwt_key,
            previous_jwt_keys,
            mint_environments: args.mint_allowed_environments,
            mint_key_patterns: args.mint_allowed_key_patterns,
            mint_max_usage_limit: args.mint_max_usage_limit,
            mint_uids: args.mint_allowed_uids,
            policy_file: args.policy_file,
            require_request_header: args.require_request_header,
        })
    }
}

/// `--flag (VANTA_FLAG)` for a flag that has a variable, else `name`.
fn with_variable(name: &str) -> String {
    let command = <Args as clap::CommandFactory>::command();
    let long = name.strip_prefix("--");
    let arg = command.get_arguments().find(|arg| long.is_some() && arg.get_long() == long);
    match arg.and_then(clap::Arg::get_env) {
        Some(var) => format!("{name} ({})", var.to_string_lossy()),
        None => name.to_owned(),
    }
}

fn invalid(name: &'static str, problem: String) -> ConfigError {
    ConfigError::Invalid { name, problem }
}

fn non_empty(name: &'static str, value: String) -> Result<String, ConfigError> {
    if value.is_empty() { Err(invalid(name, "must not be empty".into())) } else { Ok(value) }
}

fn tcp_config(
    addr: Option<SocketAddr>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    insecure: bool,
) -> Result<Option<TcpConfig>, ConfigError> {
    let Some(addr) = addr else {
        if cert.is_some() || key.is_some() || insecure {
            return Err(invalid("--listen-tcp", "--tls-cert, --tls-key and --insecure-tcp need --listen-tcp".into()));
        }
        return Ok(None);
    };
    match (cert, key, insecure) {
        (Some(_), _, true) | (_, Some(_), true) => Err(ConfigError::Conflict("--insecure-tcp", "--tls-cert/--tls-key")),
        (Some(cert), Some(key), false) => Ok(Some(TcpConfig { addr, tls: Some((cert, key)) })),
        (None, None, true) if addr.ip().is_loopback() => Ok(Some(TcpConfig { addr, tls: None })),
        (None, None, true) => {
            Err(invalid("--insecure-tcp", format!("plain HTTP is only allowed on loopback, not {addr}")))
        }
        _ => Err(invalid("--listen-tcp", "HTTPS needs both --tls-cert and --tls-key".into())),
    }
}

fn parse_mode(text: &str) -> Result<u32, ConfigError> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(invalid("--socket-mode", format!("'{text}' is not an octal file mode like 0660"))),
    }
}

fn check_ttls(default: u32, max: u32) -> Result<(), ConfigError> {
    if max == 0 {
        return Err(invalid("--max-ttl-minutes", "must be at least 1".into()));
    }
    if default == 0 || default > max {
        return Err(invalid("--default-ttl-minutes", format!("must be between 1 and --max-ttl-minutes ({max})")));
    }
    Ok(())
}

/// Connection caps and request deadlines: each at least 1, and the whole
/// request's deadline longer than the parts it contains.
fn check_limits(args: &Args) -> Result<(), ConfigError> {
    for (name, value) in [
        ("--max-connections", args.max_connections as u64),
        ("--max-tcp-connections", args.max_tcp_connections as u64),
        ("--body-timeout-seconds", args.body_timeout_seconds),
    ] {
        if value == 0 {
            return Err(invalid(name, "must be at least 1".into()));
        }
    }
    let floor = args.body_timeout_seconds.max(args.sops_timeout_seconds);
    if args.request_timeout_seconds <= floor {
        let problem = format!("must be longer than --body-timeout-seconds and --sops-timeout-seconds ({floor})");
        return Err(invalid("--request-timeout-seconds", problem));
    }
    Ok(())
}

fn audit_path(value: &str) -> Result<Option<PathBuf>, ConfigError> {
    match value {
        "" => Err(invalid("--audit-log", "must be a file path or '-'".into())),
        "-" => Ok(None),
        path => Ok(Some(PathBuf::from(path))),
    }
}

/// `bin` itself if it names a path, else the first match on `PATH`.
fn resolve_executable(bin: &Path, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
    };
    if bin.components().count() > 1 || bin.is_absolute() {
        return is_exec(bin).then(|| bin.to_owned());
    }
    std::env::split_paths(path_var?).map(|dir| dir.join(bin)).find(|p| is_exec(p))
}

/// The variables sops may see: never one of ours (they hold the JWT key).
fn sops_env(env: &[(OsString, OsString)]) -> Vec<(OsString, OsString)> {
    env.iter()
        .filter(|(name, _)| {
            let Some(name) = name.to_str() else { return false };
            !name.starts_with("VANTA_")
                && (SOPS_ENV_NAMES.contains(&name) || SOPS_ENV_PREFIXES.iter().any(|p| name.starts_with(p)))
        })
        .cloned()
        .collect()
}

/// The log filter, if `tracing` can parse it: a typo must not silently log
/// everything or nothing.
fn checked_log_filter(filter: String) -> Result<String, ConfigError> {
    match tracing_subscriber::EnvFilter::try_new(&filter) {
        Ok(_) => Ok(filter),
        Err(err) => Err(invalid("--log (VANTA_LOG)", format!("'{filter}' is not a log filter: {err}"))),
    }
}

/// The variables of `env` whose names say they hold a key, secret, token,
/// password or credentials inline (`SOPS_AGE_KEY`, `AWS_SECRET_ACCESS_KEY`,
/// `VAULT_TOKEN`, ...) rather than a path or a command that yields one.
fn inline_key_vars(env: &[(OsString, OsString)]) -> Vec<String> {
    const SECRET_ENDINGS: [&str; 5] = ["_KEY", "_SECRET", "_TOKEN", "_PASSWORD", "_CREDENTIALS"];
    env.iter()
        .filter_map(|(name, _)| name.to_str())
        .filter(|name| SECRET_ENDINGS.iter().any(|end| name.ends_with(end)))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests;

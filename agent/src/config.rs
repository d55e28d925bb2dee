//! Agent configuration: flags and environment variables in, a checked
//! [`Config`] out (layer L1). The only module that reads either.
//!
//! Two steps, as ripgrep does it: clap parses [`Args`] (raw), then
//! [`Config::from_args`] validates everything before anything binds or opens,
//! so a bad configuration stops start-up with one line and exit code 2.
//! Secrets come only from the environment or files, never from flags.
//!
//! The result is grouped into parts (`config/parts.rs`), one per component `app`
//! builds (`config.listen`, `config.http`, `config.tokens`, `config.mint`,
//! `config.sops`, `config.usage`, `config.audit`, `config.log`); every check
//! is made here, including those that span parts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretSlice};

mod args;
mod parts;
mod secrets;
mod sops;
mod usage_store;

pub use args::{Args, Command, ExplainArgs, LogFormat, PolicyCommand};
pub use parts::{Audit, Http, Listen, Log, Mint, MintCeiling, MintRules, SocketConfig, Sops, TcpConfig, Tokens, Usage};
use secrets::{checked_key, read_key, read_previous_keys, read_secret_file};
use sops::sops_part;
pub use usage_store::{RedisConfig, UsageStoreConfig};

/// The checked configuration, in one part per component that `app` builds:
/// `app` hands each component its part whole, and checks that span parts
/// (a lease longer than the sops timeout) are made here, once. Holds the
/// JWT keys, so it has no `Debug`.
pub struct Config {
    /// The socket and the optional TCP listener with their caps, bound
    /// together so that a listener that cannot bind stops start-up.
    pub listen: Listen,
    /// What every request is held to, so a slow client's hold is bounded.
    pub http: Http,
    /// What makes a token ours and how long it lives: the issuer, the
    /// validator and the lifetime rules must agree, so they share one part.
    pub tokens: Tokens,
    /// Who may mint what, kept apart from `tokens` because it is reloaded
    /// on SIGHUP while the keys are not.
    pub mint: Mint,
    /// How secrets are decrypted and how long plaintext stays in memory.
    pub sops: Sops,
    /// Where use counts live, so a limited token is used up across restarts.
    pub usage: Usage,
    /// Where the audit records go, which must work before a secret leaves.
    pub audit: Audit,
    /// Diagnostic logging, set up before anything else can fail loudly.
    pub log: Log,
    /// Settings given that have no effect here but are not refused, because
    /// images and manifests set them for every setup: one sentence each,
    /// naming the setting, for the operator to read (`doctor` shows them).
    pub warnings: Vec<&'static str>,
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

    /// Validates `args` against the process environment `env`, part by part.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn from_args(args: Args, env: &[(OsString, OsString)]) -> Result<Self, ConfigError> {
        let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        check_limits(&args)?;
        let key = read_key(&lookup)?;
        let store = usage_store::usage_store(&args, &lookup)?;
        let previous_keys = read_previous_keys(&lookup)?;
        let sops = sops_part(&args, env, &lookup)?;
        let tokens = tokens_part(&args, key, previous_keys)?;
        let listen = listen_part(&args)?;
        let mint = mint_part(&args, &lookup)?;
        let usage = usage_part(&args, store)?;
        let audit = audit_part(&args)?;
        let warnings = usage_store::unused_state_path(&args).into_iter().collect();
        let log = Log { filter: checked_log_filter(args.log)?, format: args.log_format };
        let http = Http {
            require_request_header: args.require_request_header,
            body_timeout: Duration::from_secs(args.body_timeout_seconds),
            request_timeout: Duration::from_secs(args.request_timeout_seconds),
            worker_threads: args.worker_threads,
        };
        Ok(Self { listen, http, tokens, mint, sops, usage, audit, log, warnings })
    }
}

fn tokens_part(args: &Args, key: SecretSlice<u8>, previous_keys: Vec<SecretSlice<u8>>) -> Result<Tokens, ConfigError> {
    check_ttls(args.default_ttl_minutes, args.max_ttl_minutes)?;
    Ok(Tokens {
        key,
        previous_keys,
        issuer: non_empty("--issuer", args.issuer.clone())?,
        audience: non_empty("--audience", args.audience.clone())?,
        clock_leeway: Duration::from_secs(args.clock_leeway_seconds),
        default_ttl_minutes: args.default_ttl_minutes,
        max_ttl_minutes: args.max_ttl_minutes,
    })
}

fn listen_part(args: &Args) -> Result<Listen, ConfigError> {
    let tcp = tcp_config(args)?;
    let mode = parse_mode(&args.socket_mode)?;
    check_socket_path(&args.socket)?;
    Ok(Listen { socket: SocketConfig { path: args.socket.clone(), mode, max_connections: args.max_connections }, tcp })
}

/// Longest socket path a client can connect to: `sun_path` holds 108 bytes,
/// the last a NUL.
const MAX_SOCKET_PATH_BYTES: usize = 107;

/// What the agent's staging path adds to the socket's directory: it binds
/// at `<dir>/.<pid>.d/s` first (transport/unix.rs), and a pid has at most 7
/// digits (`pid_max` is at most 4194304).
pub(crate) const STAGING_SUFFIX_BYTES: usize = "/.4194304.d/s".len();

/// A path too long for `sun_path` could be bound through a shorter one and
/// then turn every client away; one whose staging path is too long would
/// fail at bind, naming a path the operator never gave.
fn check_socket_path(path: &Path) -> Result<(), ConfigError> {
    let len = path.as_os_str().len();
    let dir = path.parent().map_or(0, |dir| dir.as_os_str().len());
    let needed = len.max(dir + STAGING_SUFFIX_BYTES);
    if needed > MAX_SOCKET_PATH_BYTES {
        let problem = format!(
            "the path needs {needed} bytes (it is {len} bytes long and is bound first at .<pid>.d/s beside it); \
             a Unix socket path can have at most {MAX_SOCKET_PATH_BYTES}: choose a shorter one"
        );
        return Err(invalid("--socket", problem));
    }
    Ok(())
}

/// The policy file and the `--mint-*` flags exclude each other: silently
/// preferring one would leave the operator believing the other applies.
/// The admin credential is for TCP callers only: without `--listen-tcp` it
/// would be ignored, so it is refused (after its own checks).
fn mint_part(args: &Args, lookup: &impl Fn(&str) -> Option<OsString>) -> Result<Mint, ConfigError> {
    let admin_token = match lookup(ADMIN_TOKEN_FILE_VAR) {
        None => None,
        Some(path) => Some(checked_key(
            ADMIN_TOKEN_FILE_VAR,
            read_secret_file(ADMIN_TOKEN_FILE_VAR, Path::new(&path))?.expose_secret(),
        )?),
    };
    if admin_token.is_some() && args.listen_tcp.is_none() {
        return Err(invalid(
            "--listen-tcp",
            "VANTA_ADMIN_TOKEN_FILE applies to TCP callers only and needs --listen-tcp".into(),
        ));
    }
    let ceiling = MintCeiling {
        environments: args.mint_allowed_environments.clone(),
        key_patterns: args.mint_allowed_key_patterns.clone(),
        max_usage_limit: args.mint_max_usage_limit,
        uids: args.mint_allowed_uids.clone(),
    };
    let flag_set = ceiling.environments.is_some()
        || ceiling.key_patterns.is_some()
        || ceiling.max_usage_limit.is_some()
        || ceiling.uids.is_some();
    let rules = match &args.policy_file {
        Some(_) if flag_set => return Err(ConfigError::Conflict("--policy-file", "the --mint-* flags")),
        Some(path) => MintRules::File(path.clone()),
        None => MintRules::Flags(ceiling),
    };
    Ok(Mint { rules, admin_token })
}

/// A lease no longer than the sops timeout would hand a slow but live
/// fetch's use back while the fetch still runs.
fn usage_part(args: &Args, store: UsageStoreConfig) -> Result<Usage, ConfigError> {
    if args.usage_lease_seconds <= args.sops_timeout_seconds {
        return Err(invalid("--usage-lease-seconds", "must be longer than --sops-timeout-seconds".into()));
    }
    Ok(Usage { store, lease: Duration::from_secs(args.usage_lease_seconds), hold_max: args.usage_hold_max })
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

fn tcp_config(args: &Args) -> Result<Option<TcpConfig>, ConfigError> {
    let (cert, key, insecure) = (args.tls_cert.clone(), args.tls_key.clone(), args.insecure_tcp);
    let Some(addr) = args.listen_tcp else {
        if cert.is_some() || key.is_some() || insecure || args.max_tcp_connections.is_some() {
            return Err(invalid(
                "--listen-tcp",
                "--tls-cert, --tls-key, --insecure-tcp and --max-tcp-connections need --listen-tcp".into(),
            ));
        }
        return Ok(None);
    };
    let max_connections = args.max_tcp_connections.unwrap_or(DEFAULT_MAX_TCP_CONNECTIONS);
    match (cert, key, insecure) {
        (Some(_), _, true) | (_, Some(_), true) => Err(ConfigError::Conflict("--insecure-tcp", "--tls-cert/--tls-key")),
        (Some(cert), Some(key), false) => Ok(Some(TcpConfig { addr, tls: Some((cert, key)), max_connections })),
        (None, None, true) if addr.ip().is_loopback() => Ok(Some(TcpConfig { addr, tls: None, max_connections })),
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

/// Most connections served at once on one listener: far more than the file
/// descriptors a process gets (`ulimit -n`), so it never limits a real
/// agent, and far below tokio's semaphore limit (`usize::MAX >> 3`), above
/// which the agent would panic after binding the socket.
const MAX_CONNECTIONS: u64 = 1_000_000;
/// Most runtime threads: no host the agent serves has more CPUs, and the
/// operating system refuses to start many more threads (tokio panics then).
const MAX_WORKER_THREADS: u64 = 1024;
/// Longest clock leeway. A limited token's use count is forgotten an hour
/// after its expiry (`usage::PRUNE_GRACE_SECS`, 3600 s) while the token is
/// accepted until expiry plus the leeway: the leeway must stay well below
/// that hour, or a token would be served again with its uses forgotten.
const MAX_CLOCK_LEEWAY_SECS: u64 = 600;
/// TCP connections served at once when `--max-tcp-connections` is not set.
const DEFAULT_MAX_TCP_CONNECTIONS: usize = 256;
/// Longest usage lease: a dead agent's uses come back only when it ends, and
/// SQLite cannot store a deadline past `i64::MAX`.
const MAX_USAGE_LEASE_SECS: u64 = 86_400;
/// Most uses held at once for one token: what a SIGKILL may cost it.
const MAX_USAGE_HOLD: u64 = 1_024;

/// Each number's range: connection caps, threads, deadlines and the mint
/// ceiling at least 1, and the upper bounds above (each with its reason in
/// the operator guide's flag table); and the whole request's deadline longer
/// than the parts it contains.
fn check_limits(args: &Args) -> Result<(), ConfigError> {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    for (name, value, min, max) in [
        ("--max-connections", count(args.max_connections), 1, MAX_CONNECTIONS),
        ("--max-tcp-connections", args.max_tcp_connections.map_or(1, count), 1, MAX_CONNECTIONS),
        ("--body-timeout-seconds", args.body_timeout_seconds, 1, u64::MAX),
        ("--worker-threads", args.worker_threads.map_or(1, count), 1, MAX_WORKER_THREADS),
        // 0 would refuse every mint; the policy file refuses it too.
        ("--mint-max-usage-limit", args.mint_max_usage_limit.unwrap_or(1), 1, u64::MAX),
        ("--clock-leeway-seconds", args.clock_leeway_seconds, 0, MAX_CLOCK_LEEWAY_SECS),
        ("--usage-lease-seconds", args.usage_lease_seconds, 0, MAX_USAGE_LEASE_SECS),
        ("--usage-hold-max", args.usage_hold_max, 1, MAX_USAGE_HOLD),
    ] {
        if value < min {
            return Err(invalid(name, format!("must be at least {min}")));
        }
        if value > max {
            return Err(invalid(name, format!("must be at most {max}")));
        }
    }
    let floor = args.body_timeout_seconds.max(args.sops_timeout_seconds);
    if args.request_timeout_seconds <= floor {
        let problem = format!("must be longer than --body-timeout-seconds and --sops-timeout-seconds ({floor})");
        return Err(invalid("--request-timeout-seconds", problem));
    }
    Ok(())
}

/// `--audit-fsync` syncs a file: with the records on stdout it would be
/// ignored while the operator believes every record is on disk.
fn audit_part(args: &Args) -> Result<Audit, ConfigError> {
    let path = audit_path(&args.audit_log)?;
    if path.is_none() && args.audit_fsync {
        return Err(invalid("--audit-fsync", "applies to an audit file only, not to --audit-log -".into()));
    }
    Ok(Audit { path, fsync: args.audit_fsync })
}

fn audit_path(value: &str) -> Result<Option<PathBuf>, ConfigError> {
    match value {
        "" => Err(invalid("--audit-log", "must be a file path or '-'".into())),
        "-" => Ok(None),
        path => Ok(Some(PathBuf::from(path))),
    }
}

/// The log filter, if `tracing` can parse it: a typo must not silently log
/// everything or nothing.
fn checked_log_filter(filter: String) -> Result<String, ConfigError> {
    match tracing_subscriber::EnvFilter::try_new(&filter) {
        Ok(_) => Ok(filter),
        Err(err) => Err(invalid("--log (VANTA_LOG)", format!("'{filter}' is not a log filter: {err}"))),
    }
}

#[cfg(test)]
mod tests;

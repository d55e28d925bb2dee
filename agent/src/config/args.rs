//! The raw command line of `vanta-agent`: clap flags, each with its
//! environment variable (docs/API.md §3). Checked by [`super::Config::from_args`].
//! A switch's variable takes `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`
//! in any case, as the CLI's `VANTA_MASK` does.
//!
//! A flag that applies to one setup only (a Redis store's prefix, the state
//! file when `--usage-store` names the store) has no clap default: it is
//! `None` unless the operator set it, so that `config` can tell a setting
//! given without effect from a default, and applies the default itself.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Parser, Subcommand};
use vanta_shared::{EnvName, KeyPattern, defaults};

/// Raw command line of `vanta-agent`; every flag has an environment variable.
#[derive(Debug, Parser)]
#[command(
    name = "vanta-agent",
    version,
    args_override_self = true,
    about = "VANTA secrets sidecar: mints scoped JWTs and serves single keys of SOPS files over a Unix socket.",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// What to run instead of serving; none: serve.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Unix socket to listen on (its parent directory is created if missing).
    #[arg(long, global = true, env = "VANTA_AGENT_SOCKET", default_value = defaults::SOCKET_PATH)]
    pub socket: PathBuf,
    /// File mode of the socket, in octal: who may connect (and so mint tokens).
    #[arg(long, global = true, env = "VANTA_AGENT_SOCKET_MODE", default_value = "0660")]
    pub socket_mode: String,
    /// Directory of SOPS files: `{environment}.enc.yaml` (or `.yml`, `.json`, `.env`, `.ini`), one per environment.
    #[arg(long, global = true, env = "VANTA_SOPS_FILES_PATH")]
    pub sops_files_path: Option<PathBuf>,
    /// The sops executable (a path, or a name looked up on PATH).
    #[arg(long, global = true, env = "VANTA_SOPS_BIN", default_value = "sops")]
    pub sops_bin: PathBuf,
    /// A sops run that takes longer than this is killed (answered 504).
    #[arg(long, global = true, env = "VANTA_SOPS_TIMEOUT_SECONDS", default_value_t = 10)]
    pub sops_timeout_seconds: u64,
    /// How long a decrypted file is served from memory, in seconds; a changed
    /// file is re-decrypted at once. 0 runs sops for every request.
    #[arg(long, global = true, env = "VANTA_CACHE_TTL_SECONDS", default_value_t = 60)]
    pub cache_ttl_seconds: u64,
    /// `iss` claim written into tokens and required of them.
    #[arg(long, global = true, env = "VANTA_JWT_ISSUER", default_value = defaults::ISSUER)]
    pub issuer: String,
    /// `aud` claim written into tokens and required of them.
    #[arg(long, global = true, env = "VANTA_JWT_AUDIENCE", default_value = defaults::AUDIENCE)]
    pub audience: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    #[arg(long, global = true, env = "VANTA_CLOCK_LEEWAY_SECONDS", default_value_t = 30)]
    pub clock_leeway_seconds: u64,
    /// JSONL audit log file (opened for append), or `-` for stdout.
    #[arg(long, global = true, env = "VANTA_AUDIT_LOG", default_value = "-")]
    pub audit_log: String,
    /// Write every batch of audit records to disk (fdatasync) before
    /// answering; an audit file only, not stdout.
    #[arg(long, global = true, env = "VANTA_AUDIT_FSYNC", value_parser = BoolishValueParser::new())]
    pub audit_fsync: bool,
    /// SQLite file that counts uses of tokens with a usage limit (default:
    /// /var/lib/vanta/usage.db; not read when --usage-store is given).
    #[arg(long, global = true, env = "VANTA_STATE_PATH")]
    pub state_path: Option<PathBuf>,
    /// Where use counts live: `sqlite:PATH` (default: --state-path),
    /// `redis://HOST:PORT/DB` or `redis+unix:///PATH` (a fleet sharing one
    /// Redis). The password comes only from VANTA_USAGE_STORE_PASSWORD or
    /// VANTA_USAGE_STORE_PASSWORD_FILE, never from the URL.
    #[arg(long, global = true, env = "VANTA_USAGE_STORE", value_name = "URL")]
    pub usage_store: Option<String>,
    /// Prefix of the Redis usage store's keys, so several fleets can share
    /// one Redis (default: vanta; Redis only).
    #[arg(long, global = true, env = "VANTA_USAGE_STORE_PREFIX")]
    pub usage_store_prefix: Option<String>,
    /// Deadline of each Redis usage store operation, in milliseconds
    /// (default: 2000; Redis only).
    #[arg(long, global = true, env = "VANTA_USAGE_STORE_TIMEOUT_MS")]
    pub usage_store_timeout_ms: Option<u64>,
    /// PEM file of the CA that signed a `rediss://` usage store's certificate
    /// (a private CA); without it the system's roots are trusted.
    #[arg(long, global = true, env = "VANTA_USAGE_STORE_CA_CERT", value_name = "PATH")]
    pub usage_store_ca_cert: Option<PathBuf>,
    /// How long a fetch of a limited token may hold its use before the use
    /// comes back unconfirmed (an agent killed mid-fetch), in seconds; must
    /// be longer than --sops-timeout-seconds.
    #[arg(long, global = true, env = "VANTA_USAGE_LEASE_SECONDS", default_value_t = 60)]
    pub usage_lease_seconds: u64,
    /// The most uses of one limited token the agent takes from the store at
    /// once when the token is fetched again and again, to serve the next
    /// fetches from memory; 1 takes every use on its own. Held uses are
    /// spent: an agent killed with SIGKILL loses at most this many per token.
    #[arg(long, global = true, env = "VANTA_USAGE_HOLD_MAX", default_value_t = 64)]
    pub usage_hold_max: u64,
    /// Token lifetime when a request names none, in minutes.
    #[arg(long, global = true, env = "VANTA_DEFAULT_TTL_MINUTES", default_value_t = defaults::TTL_MINUTES)]
    pub default_ttl_minutes: u32,
    /// Longest token lifetime granted, in minutes.
    #[arg(long, global = true, env = "VANTA_MAX_TTL_MINUTES", default_value_t = defaults::MAX_TTL_MINUTES)]
    pub max_ttl_minutes: u32,
    /// Minting policy: environments tokens may be minted for (comma-separated; default any).
    #[arg(long, global = true, env = "VANTA_MINT_ALLOWED_ENVIRONMENTS", value_delimiter = ',')]
    pub mint_allowed_environments: Option<Vec<EnvName>>,
    /// Minting policy: patterns a requested key pattern must provably fall inside (default any).
    #[arg(long, global = true, env = "VANTA_MINT_ALLOWED_KEY_PATTERNS", value_delimiter = ',')]
    pub mint_allowed_key_patterns: Option<Vec<KeyPattern>>,
    /// Minting policy: largest usage_limit; when set, every token must have one.
    #[arg(long, global = true, env = "VANTA_MINT_MAX_USAGE_LIMIT")]
    pub mint_max_usage_limit: Option<u64>,
    /// Minting policy: Unix uids allowed to mint on the socket (comma-separated; default any).
    #[arg(long, global = true, env = "VANTA_MINT_ALLOWED_UIDS", value_delimiter = ',')]
    pub mint_allowed_uids: Option<Vec<u32>>,
    /// Per-caller minting policy: a TOML file of rules (reloaded on SIGHUP);
    /// replaces the --mint-* flags. Check one with `vanta-agent policy check FILE`.
    #[arg(long, global = true, env = "VANTA_POLICY_FILE")]
    pub policy_file: Option<PathBuf>,
    /// Also serve HTTPS on this `host:port` (needs --tls-cert and --tls-key).
    #[arg(long, global = true, env = "VANTA_LISTEN_TCP")]
    pub listen_tcp: Option<SocketAddr>,
    /// PEM certificate chain for --listen-tcp (reloaded on SIGHUP).
    #[arg(long, global = true, env = "VANTA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --listen-tcp (reloaded on SIGHUP).
    #[arg(long, global = true, env = "VANTA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on --listen-tcp instead of HTTPS; only for loopback addresses.
    #[arg(long, global = true, env = "VANTA_INSECURE_TCP", value_parser = BoolishValueParser::new())]
    pub insecure_tcp: bool,
    /// Most connections served at once on the Unix socket; further clients
    /// wait in the accept queue. TCP has its own cap, so it can never starve the socket.
    #[arg(long, global = true, env = "VANTA_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Most connections served at once on --listen-tcp (separate from the
    /// socket's cap) [default: 256].
    #[arg(long, global = true, env = "VANTA_MAX_TCP_CONNECTIONS")]
    pub max_tcp_connections: Option<usize>,
    /// Threads that serve requests (default: one per CPU but one, at least
    /// one: the callers share the host). Fewer serve cached fetches under
    /// heavy concurrency with the least CPU per request; more mint sooner.
    #[arg(long, global = true, env = "VANTA_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
    /// A request body not received in full within this many seconds is
    /// refused (408) and its connection closed.
    #[arg(long, global = true, env = "VANTA_BODY_TIMEOUT_SECONDS", default_value_t = 10)]
    pub body_timeout_seconds: u64,
    /// A request not answered within this many seconds of its head (body,
    /// decryption and audit included) is refused (408); must exceed the
    /// body and sops timeouts.
    #[arg(long, global = true, env = "VANTA_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,
    /// Diagnostic log filter, in `tracing` directive syntax (`info`,
    /// `vanta_agent=debug`, ...); an invalid filter stops start-up.
    #[arg(long, global = true, env = "VANTA_LOG", default_value = "info")]
    pub log: String,
    /// Diagnostic log format on stderr.
    #[arg(long, global = true, env = "VANTA_LOG_FORMAT", value_enum, ignore_case = true, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,
    /// Refuse (412) requests without the header `X-Vanta-Request: true`, so a
    /// confused deputy (an SSRF in a local service) cannot reach the agent.
    #[arg(long, global = true, env = "VANTA_REQUIRE_REQUEST_HEADER", value_parser = BoolishValueParser::new())]
    pub require_request_header: bool,
}

/// Subcommands of `vanta-agent`; without one, the agent serves. They take
/// the same flags and variables as the agent itself (every flag is global:
/// before or after the subcommand's name).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration, socket directory, state store, sops, the key
    /// material sops will see and every environment file; one line per check,
    /// exit 1 if any fails. Prints no secret value.
    #[command(after_help = DOCTOR_HELP)]
    Doctor,
    /// Check a minting policy file, or explain which rule covers a caller.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

/// `vanta-agent policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file and print its rules as the agent understands them.
    #[command(after_help = "Example:\n  vanta-agent policy check /etc/vanta/policy.toml")]
    Check {
        /// The policy file.
        file: PathBuf,
    },
    /// Say which rule covers a caller and what it may mint.
    #[command(
        after_help = "Examples:\n  vanta-agent policy explain --policy-file /etc/vanta/policy.toml --pid 4242\n  \
        vanta-agent policy explain --policy-file /etc/vanta/policy.toml --uid 1001 --exe /usr/local/bin/payments-api"
    )]
    Explain(ExplainArgs),
}

/// `vanta-agent policy explain`: a live process, or a caller described by
/// hand; the policy file is the agent's own `--policy-file`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A running process to attest (as the agent would its caller).
    #[arg(long, conflicts_with_all = ["uid", "gid", "exe", "cgroup"], required_unless_present = "uid")]
    pub pid: Option<i32>,
    /// The caller's uid (by hand).
    #[arg(long)]
    pub uid: Option<u32>,
    /// The caller's primary gid (by hand; default: the uid).
    #[arg(long)]
    pub gid: Option<u32>,
    /// The caller's executable path (by hand).
    #[arg(long)]
    pub exe: Option<PathBuf>,
    /// The caller's cgroup path (by hand).
    #[arg(long)]
    pub cgroup: Option<String>,
}

const DOCTOR_HELP: &str = "\
Run it first when something does not work, as the agent's user and with the agent's environment:
  kubectl exec deploy/app -c vanta-agent -- vanta-agent doctor
  VANTA_SOPS_FILES_PATH=/etc/vanta/secrets vanta-agent --state-path /var/lib/vanta/usage.db doctor";

/// How diagnostic logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

const AFTER_HELP: &str = "\
Secrets are read from the environment only, never from flags:
  VANTA_JWT_SECRET_KEY        HS256 signing key, at least 32 bytes (required, or:)
  VANTA_JWT_SECRET_KEY_FILE   file holding the key (e.g. a Kubernetes Secret volume)
  VANTA_JWT_PREVIOUS_KEYS     keys from before a rotation, still accepted (one per line or comma-separated)
  VANTA_JWT_PREVIOUS_KEYS_FILE  the same, from a file
  VANTA_ADMIN_TOKEN_FILE      credential (>= 32 bytes) that TCP callers must send as a Bearer to mint
  VANTA_USAGE_STORE_PASSWORD  password of the Redis usage store (or VANTA_USAGE_STORE_PASSWORD_FILE)
sops gets only the variables its key backends need (SOPS_*, GNUPGHOME, AWS_*, ...).
Logging goes to stderr (--log / VANTA_LOG, --log-format / VANTA_LOG_FORMAT); stdout carries only audit records.

Example:
  VANTA_JWT_SECRET_KEY_FILE=/etc/vanta/jwt.key SOPS_AGE_KEY_FILE=/etc/vanta/age.txt \\
    vanta-agent --socket /run/vanta/agent.sock --sops-files-path /etc/vanta/secrets \\
                --audit-log /var/log/vanta/audit.jsonl --state-path /var/lib/vanta/usage.db";

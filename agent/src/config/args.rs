//! The raw command line of `vanta-agent`: clap flags, each with its
//! environment variable (CONTRACT §3). Checked by [`super::Config::from_args`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
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
    /// Unix socket to listen on (its parent directory is created if missing).
    #[arg(long, env = "VANTA_AGENT_SOCKET", default_value = defaults::SOCKET_PATH)]
    pub socket: PathBuf,
    /// File mode of the socket, in octal: who may connect (and so mint tokens).
    #[arg(long, env = "VANTA_AGENT_SOCKET_MODE", default_value = "0660")]
    pub socket_mode: String,
    /// Directory of `{environment}.enc.yaml` SOPS files.
    #[arg(long, env = "VANTA_SOPS_FILES_PATH")]
    pub sops_files_path: Option<PathBuf>,
    /// The sops executable (a path, or a name looked up on PATH).
    #[arg(long, env = "VANTA_SOPS_BIN", default_value = "sops")]
    pub sops_bin: PathBuf,
    /// A sops run that takes longer than this is killed (answered 504).
    #[arg(long, env = "VANTA_SOPS_TIMEOUT_SECONDS", default_value_t = 10)]
    pub sops_timeout_seconds: u64,
    /// How long a decrypted file is served from memory, in seconds; a changed
    /// file is re-decrypted at once. 0 runs sops for every request.
    #[arg(long, env = "VANTA_CACHE_TTL_SECONDS", default_value_t = 60)]
    pub cache_ttl_seconds: u64,
    /// `iss` claim written into tokens and required of them.
    #[arg(long, env = "VANTA_JWT_ISSUER", default_value = defaults::ISSUER)]
    pub issuer: String,
    /// `aud` claim written into tokens and required of them.
    #[arg(long, env = "VANTA_JWT_AUDIENCE", default_value = defaults::AUDIENCE)]
    pub audience: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    #[arg(long, env = "VANTA_CLOCK_LEEWAY_SECONDS", default_value_t = 30)]
    pub clock_leeway_seconds: u64,
    /// JSONL audit log file (opened for append), or `-` for stdout.
    #[arg(long, env = "VANTA_AUDIT_LOG", default_value = "-")]
    pub audit_log: String,
    /// Write every batch of audit records to disk (fdatasync) before answering.
    #[arg(long, env = "VANTA_AUDIT_FSYNC")]
    pub audit_fsync: bool,
    /// SQLite file that counts uses of tokens with a usage limit.
    #[arg(long, env = "VANTA_STATE_PATH", default_value = DEFAULT_STATE_PATH)]
    pub state_path: PathBuf,
    /// Where use counts live: `sqlite:PATH` (default: --state-path),
    /// `redis://HOST:PORT/DB` or `redis+unix:///PATH` (a fleet sharing one
    /// Redis). The password comes only from VANTA_USAGE_STORE_PASSWORD or
    /// VANTA_USAGE_STORE_PASSWORD_FILE, never from the URL.
    #[arg(long, env = "VANTA_USAGE_STORE", value_name = "URL")]
    pub usage_store: Option<String>,
    /// Prefix of the Redis usage store's keys, so several fleets can share one Redis.
    #[arg(long, env = "VANTA_USAGE_STORE_PREFIX", default_value = "vanta")]
    pub usage_store_prefix: String,
    /// Deadline of each Redis usage store operation, in milliseconds.
    #[arg(long, env = "VANTA_USAGE_STORE_TIMEOUT_MS", default_value_t = 2000)]
    pub usage_store_timeout_ms: u64,
    /// How long a fetch of a limited token may hold its use before the use
    /// comes back unconfirmed (an agent killed mid-fetch), in seconds; must
    /// be longer than --sops-timeout-seconds.
    #[arg(long, env = "VANTA_USAGE_LEASE_SECONDS", default_value_t = 60)]
    pub usage_lease_seconds: u64,
    /// Token lifetime when a request names none, in minutes.
    #[arg(long, env = "VANTA_DEFAULT_TTL_MINUTES", default_value_t = defaults::TTL_MINUTES)]
    pub default_ttl_minutes: u32,
    /// Longest token lifetime granted, in minutes.
    #[arg(long, env = "VANTA_MAX_TTL_MINUTES", default_value_t = defaults::MAX_TTL_MINUTES)]
    pub max_ttl_minutes: u32,
    /// Minting policy: environments tokens may be minted for (comma-separated; default any).
    #[arg(long, env = "VANTA_MINT_ALLOWED_ENVIRONMENTS", value_delimiter = ',')]
    pub mint_allowed_environments: Option<Vec<EnvName>>,
    /// Minting policy: patterns a requested key pattern must provably fall inside (default any).
    #[arg(long, env = "VANTA_MINT_ALLOWED_KEY_PATTERNS", value_delimiter = ',')]
    pub mint_allowed_key_patterns: Option<Vec<KeyPattern>>,
    /// Minting policy: largest usage_limit; when set, every token must have one.
    #[arg(long, env = "VANTA_MINT_MAX_USAGE_LIMIT")]
    pub mint_max_usage_limit: Option<u64>,
    /// Minting policy: Unix uids allowed to mint on the socket (comma-separated; default any).
    #[arg(long, env = "VANTA_MINT_ALLOWED_UIDS", value_delimiter = ',')]
    pub mint_allowed_uids: Option<Vec<u32>>,
    /// Also serve HTTPS on this `host:port` (needs --tls-cert and --tls-key).
    #[arg(long, env = "VANTA_LISTEN_TCP")]
    pub listen_tcp: Option<SocketAddr>,
    /// PEM certificate chain for --listen-tcp (reloaded on SIGHUP).
    #[arg(long, env = "VANTA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --listen-tcp (reloaded on SIGHUP).
    #[arg(long, env = "VANTA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on --listen-tcp instead of HTTPS; only for loopback addresses.
    #[arg(long, env = "VANTA_INSECURE_TCP")]
    pub insecure_tcp: bool,
    /// Most connections served at once; further clients wait in the accept queue.
    #[arg(long, env = "VANTA_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Refuse (412) requests without the header `X-Vanta-Request: true`, so a
    /// confused deputy (an SSRF in a local service) cannot reach the agent.
    #[arg(long, env = "VANTA_REQUIRE_REQUEST_HEADER")]
    pub require_request_header: bool,
}

const DEFAULT_STATE_PATH: &str = "/var/lib/vanta/usage.db";

const AFTER_HELP: &str = "\
Secrets are read from the environment only, never from flags:
  VANTA_JWT_SECRET_KEY        HS256 signing key, at least 32 bytes (required, or:)
  VANTA_JWT_SECRET_KEY_FILE   file holding the key (e.g. a Kubernetes Secret volume)
  VANTA_JWT_PREVIOUS_KEYS     keys from before a rotation, still accepted (one per line or comma-separated)
  VANTA_JWT_PREVIOUS_KEYS_FILE  the same, from a file
  VANTA_ADMIN_TOKEN_FILE      credential (>= 32 bytes) that TCP callers must send as a Bearer to mint
  VANTA_USAGE_STORE_PASSWORD  password of the Redis usage store (or VANTA_USAGE_STORE_PASSWORD_FILE)
sops gets only the variables its key backends need (SOPS_*, GNUPGHOME, AWS_*, ...).
Logging: VANTA_LOG (filter, default info), VANTA_LOG_FORMAT (plain|json), to stderr.

Example:
  VANTA_JWT_SECRET_KEY_FILE=/etc/vanta/jwt.key SOPS_AGE_KEY_FILE=/etc/vanta/age.txt \\
    vanta-agent --socket /run/vanta/agent.sock --sops-files-path /etc/vanta/secrets \\
                --audit-log /var/log/vanta/audit.jsonl --state-path /var/lib/vanta/usage.db";

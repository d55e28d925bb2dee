//! The parts of [`super::Config`] (layer L1, part of `config`): one plain,
//! checked struct per component that `app` builds, so that `app` hands each
//! component its part whole and a reader sees which setting reaches which
//! component. The components never see these types (leaves do not use each
//! other): `app` turns a part into its component's own settings in one call.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretSlice;
use vanta_shared::{EnvName, KeyPattern};

use super::{LogFormat, UsageStoreConfig};

/// The listeners: where callers reach the agent, and how many it serves at
/// once on each, so that one listener's callers cannot take another's places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// The Unix socket, always there: local callers are known by its peer
    /// credentials, which the audit and the minting policy rely on.
    pub socket: SocketConfig,
    /// The optional TCP listener, for callers outside the pod or host that
    /// cannot reach the socket (`None`: socket only).
    pub tcp: Option<TcpConfig>,
}

/// The Unix socket's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketConfig {
    /// The socket file; its parent directory is created if missing, so a
    /// fresh `emptyDir` or `/run` works without an init step.
    pub path: PathBuf,
    /// Mode of the socket file: the file system decides who may connect, so
    /// this is the first access check (default owner and group only).
    pub mode: u32,
    /// Most connections served at once, so a flood of idle connections
    /// cannot exhaust file descriptors or memory; later callers wait in the
    /// accept queue instead of failing.
    pub max_connections: usize,
}

/// The TCP listener's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// Address and port to listen on; plain HTTP only on loopback, so a
    /// token never crosses a network in clear.
    pub addr: SocketAddr,
    /// Certificate and key, reloaded on SIGHUP so a renewed certificate
    /// needs no restart; `None` for plain HTTP (loopback only).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Most TCP connections served at once: a cap of its own, so that TCP
    /// clients can never take the socket's places.
    pub max_connections: usize,
}

/// What the HTTP layer demands of every request, so that a slow or
/// confused client holds a connection for a bounded time only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http {
    /// Demand `X-Vanta-Request: true` on every request but the probes, so a
    /// browser or an SSRF-able proxy that cannot set headers cannot reach
    /// the API.
    pub require_request_header: bool,
    /// Deadline for receiving a whole request body: a client that trickles
    /// its body would otherwise hold a connection and a place under the cap.
    pub body_timeout: Duration,
    /// Deadline for answering a request once its head is in; longer than
    /// the body and sops deadlines so that only a stuck request reaches it.
    pub request_timeout: Duration,
    /// Runtime threads serving requests; `None`: one per CPU but one (the
    /// callers share the host), at least one. A trade-off measured in
    /// docs/PERFORMANCE.md: fewer threads save the hand-offs between threads
    /// under heavy concurrency, more threads mint faster. Slow work (sops,
    /// fsync, attestation) runs elsewhere either way.
    pub worker_threads: Option<usize>,
}

/// What makes a token ours and how long it may live: the token issuer, the
/// validator and the use cases' lifetime rules are built from this part.
/// Holds the JWT keys, so it has no `Debug`.
pub struct Tokens {
    /// HS256 key that signs new tokens; validation is stateless, so this key
    /// is all that makes a token ours (docs/API.md §7).
    pub key: SecretSlice<u8>,
    /// Keys from before a rotation, still accepted for validation so tokens
    /// already handed out keep working until they expire; never used to sign.
    pub previous_keys: Vec<SecretSlice<u8>>,
    /// `iss` written into and required of every token, so tokens of another
    /// issuer sharing the key are refused.
    pub issuer: String,
    /// `aud` written into and required of every token, for the same reason.
    pub audience: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, for callers whose
    /// clocks drift from ours; the usage store applies it to `iat` too.
    pub clock_leeway: Duration,
    /// Token lifetime, in minutes, when a request does not ask for one.
    pub default_ttl_minutes: u32,
    /// Longest lifetime a request may ask for, in minutes, so a leaked
    /// token stops working within a bound the operator chose.
    pub max_ttl_minutes: u32,
}

/// Who may mint which tokens. Holds the admin credential: no `Debug`.
pub struct Mint {
    /// Where the minting rules come from: a policy file or the `--mint-*`
    /// flags, never both (one source of truth for who may mint what).
    pub rules: MintRules,
    /// Credential TCP callers must present to mint: a TCP peer has no
    /// credentials the kernel vouches for (from `VANTA_ADMIN_TOKEN_FILE`).
    pub admin_token: Option<SecretSlice<u8>>,
}

/// The source of the minting rules; the enum makes the two exclusive.
#[derive(Debug, Clone)]
pub enum MintRules {
    /// The per-caller policy file, loaded and checked by `app` before
    /// anything binds and reloaded on SIGHUP.
    File(PathBuf),
    /// The `--mint-*` flags: one ceiling that covers every caller.
    Flags(MintCeiling),
}

/// The `--mint-*` flags. Each `None` means "no restriction", so a bare
/// agent mints anything for anyone who can reach the socket (its mode is
/// then the only gate).
#[derive(Debug, Clone, Default)]
pub struct MintCeiling {
    /// Environments any caller may mint for (`None`: any).
    pub environments: Option<Vec<EnvName>>,
    /// Key patterns a minted token's pattern must fall within (`None`: any).
    pub key_patterns: Option<Vec<KeyPattern>>,
    /// Largest usage limit a token may carry; when set, a token without a
    /// limit is refused, so every token can be used up (`None`: no limit
    /// required).
    pub max_usage_limit: Option<u64>,
    /// Caller uids (socket peer credentials) allowed to mint (`None`: any).
    pub uids: Option<Vec<u32>>,
}

/// How secrets are decrypted and how long plaintext stays in memory: the
/// sops runner and its cache are built from this part. Its `Debug` shows
/// the names of `env` only: values such as `SOPS_AGE_KEY` are key material.
#[derive(Clone, PartialEq, Eq)]
pub struct Sops {
    /// The sops executable, resolved once at start-up so that a later change
    /// of `PATH` cannot swap the program that sees decrypted data.
    pub bin: PathBuf,
    /// Directory of `<environment>.enc.yaml` (and other formats) files; the
    /// only place names from a request can lead to (docs/API.md §2).
    pub files_dir: PathBuf,
    /// How long one sops run may take before it is killed and the request
    /// answered 504, so a hung key backend cannot hold requests forever.
    pub timeout: Duration,
    /// Environment handed to sops: only what its key backends need, never
    /// one of our variables (they hold the JWT key).
    pub env: Vec<(OsString, OsString)>,
    /// How long decrypted files are cached, trading plaintext in memory for
    /// not running sops on every fetch (zero: not at all).
    pub cache_ttl: Duration,
}

/// Where use counts of limited tokens live and how long a fetch may hold
/// a use, so that a use is counted once even if the agent dies mid-fetch.
pub struct Usage {
    /// The usage store: SQLite at `--state-path`, or `--usage-store`.
    pub store: UsageStoreConfig,
    /// How long a fetch holds a use before it comes back unconfirmed (an
    /// agent killed mid-fetch); longer than the sops timeout, so a slow but
    /// live fetch never loses its use.
    pub lease: Duration,
    /// The most uses of one token taken at once for a token in heavy use
    /// (1: each on its own): fewer waits for the store, at the price of what
    /// a SIGKILL may cost the token.
    pub hold_max: u64,
}

/// Where the audit records go and how durably, so that a record exists
/// before its secret leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// The audit file, reopened on SIGHUP for log rotation; `None` writes
    /// the records to stdout (for a collector reading the container's log).
    pub path: Option<PathBuf>,
    /// `fdatasync` the audit file after every batch of records, so a record
    /// survives a power loss before its secret is served (costs latency).
    pub fsync: bool,
}

/// Diagnostic logging on stderr (the audit is not logging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// Filter, checked to parse here so a typo stops start-up (exit 2)
    /// instead of silently logging nothing.
    pub filter: String,
    /// Text for a terminal, JSON for a collector.
    pub format: LogFormat,
}

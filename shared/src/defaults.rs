//! Defaults that the agent and the client must agree on (layer L0).

/// Where the agent listens and the client connects, unless told otherwise.
pub const SOCKET_PATH: &str = "/run/vanta/agent.sock";
/// The `iss` claim written and required.
pub const ISSUER: &str = "vanta-agent";
/// The `aud` claim written and required.
pub const AUDIENCE: &str = "vanta-vault";
/// Token lifetime when the request names none, in minutes.
pub const TTL_MINUTES: u32 = 15;
/// Longest token lifetime the agent grants, in minutes.
pub const MAX_TTL_MINUTES: u32 = 60;
/// Largest request body the agent reads, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The subject `vanta-cli run-with-secrets` mints its own tokens for when not
/// told otherwise.
pub const RUN_SUBJECT: &str = "vanta-cli-run";

//! The minting policy (layer L1): which callers may mint which tokens.
//!
//! A policy is an ordered list of [`Rule`]s. A rule's selectors say which
//! callers it covers; every selector it has must match, and the first rule
//! that covers a caller decides what that caller may mint (its [`Grant`]).
//! A caller no rule covers is refused: deny by default. Selectors look only at
//! what the kernel says about the caller ([`Caller`], attested elsewhere),
//! never at the request. Over TCP there is no process to attest: only a rule
//! marked `admin_token` covers a TCP caller that sent the admin credential.
//!
//! A policy comes from a TOML file (`policy/file.rs`, reloaded on SIGHUP
//! through [`LivePolicy`]) or from the `--mint-*` flags, which make one rule
//! that covers every caller. The format and a worked example are in
//! docs/VAULT_ACCESS_SYSTEM_README.md, "Minting policy".

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use vanta_shared::{EnvName, KeyPattern};

use crate::peer::Caller;

mod display;
mod file;
mod rule;

pub use display::CallerLine;
pub use file::LoadError;
pub use rule::{Glob, Grant, Selectors};

/// Rules in the order they are tried, and where they came from.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    origin: Origin,
}

/// Where a [`Policy`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The `--mint-*` flags (or their defaults).
    Flags,
    /// A policy file.
    File(PathBuf),
}

/// One rule: who it covers and what they may mint.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's name, as the audit log records it.
    pub name: String,
    /// Which callers it covers.
    pub selectors: Selectors,
    /// What they may mint.
    pub grant: Grant,
}

/// The `--mint-*` flags: the ceiling of the rule that covers every caller.
#[derive(Debug, Clone, Default)]
pub struct FlagCeiling {
    /// `--mint-allowed-environments` (`None`: any).
    pub environments: Option<Vec<EnvName>>,
    /// `--mint-allowed-key-patterns` (`None`: any).
    pub key_patterns: Option<Vec<KeyPattern>>,
    /// `--mint-max-usage-limit` (`None`: no limit required).
    pub max_usage_limit: Option<u64>,
    /// `--mint-allowed-uids` (`None`: any).
    pub uids: Option<Vec<u32>>,
}

/// Who asks, as far as the policy can tell.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    /// A local process, attested.
    Local(&'a Caller),
    /// A local peer whose credentials the kernel did not give.
    Unknown,
    /// A TCP caller that sent the admin credential.
    Admin,
    /// A TCP caller without it.
    Remote,
}

/// What a caller asks to mint.
#[derive(Debug, Clone, Copy)]
pub struct MintAsk<'a> {
    /// The environment.
    pub environment: &'a EnvName,
    /// The key pattern.
    pub key_pattern: &'a KeyPattern,
    /// The lifetime, minutes (the default already applied).
    pub ttl_minutes: u32,
    /// The usage limit, if any.
    pub usage_limit: Option<u64>,
}

/// Why the policy refuses. The text goes to the audit log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A TCP caller without the admin credential.
    #[error("minting over TCP requires the admin credential")]
    NotAdmin,
    /// No rule covers the caller.
    #[error("minting policy: no rule covers this caller")]
    NoRule,
    /// The rule does not grant this environment.
    #[error("minting policy: environment is not allowed")]
    Environment,
    /// The requested pattern is not provably inside a granted one.
    #[error("minting policy: key_pattern is not inside an allowed pattern")]
    Pattern,
    /// Longer than the rule's longest TTL.
    #[error("minting policy: ttl_minutes is over the rule's max_ttl_minutes ({0})")]
    Ttl(u32),
    /// No usage limit, or one over the rule's largest.
    #[error("minting policy: usage_limit is missing or over the ceiling")]
    UsageLimit,
    /// The rule does not allow revoking.
    #[error("minting policy: the rule does not allow revoking")]
    Revoke,
}

/// The policy in force, replaced whole on reload; readers hold the old one
/// until they are done.
#[derive(Debug)]
pub struct LivePolicy {
    current: RwLock<Arc<Policy>>,
}

/// The name of the rule that the `--mint-*` flags make.
pub const FLAGS_RULE: &str = "mint-flags";

// === impl Policy ===

impl Policy {
    /// The one rule of the `--mint-*` flags: it covers every local caller
    /// (those of `uids`, when given) and TCP callers with the admin credential.
    pub fn from_flags(flags: FlagCeiling) -> Self {
        let selectors = Selectors { uids: flags.uids, local: true, admin_token: true, ..Selectors::default() };
        let grant = Grant {
            environments: flags.environments,
            key_patterns: flags.key_patterns,
            max_usage_limit: flags.max_usage_limit,
            // Whoever may mint here may revoke (docs/API.md §8).
            may_revoke: true,
            ..Grant::default()
        };
        Self { rules: vec![Rule { name: FLAGS_RULE.to_owned(), selectors, grant }], origin: Origin::Flags }
    }

    /// Reads and checks a policy file.
    ///
    /// # Errors
    /// [`LoadError`] with the line and the reason.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let rules = file::load(path)?;
        Ok(Self { rules, origin: Origin::File(path.to_owned()) })
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Where the policy came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Whether a decision needs the caller attested from `/proc` (a policy
    /// file); the flags' rule decides on the peer credentials alone.
    pub fn needs_attestation(&self) -> bool {
        matches!(self.origin, Origin::File(_))
    }

    /// Whether some rule selects on the executable's SHA-256 (worth hashing).
    pub fn needs_exe_hash(&self) -> bool {
        self.rules.iter().any(|r| r.selectors.exe_sha256.is_some())
    }

    /// Whether some rule selects on user or group names (worth looking up).
    pub fn needs_names(&self) -> bool {
        self.rules.iter().any(|r| r.selectors.users.is_some() || r.selectors.groups.is_some())
    }

    /// The first rule that covers `who`.
    ///
    /// # Errors
    /// [`Refusal::NotAdmin`] for a TCP caller without the credential,
    /// [`Refusal::NoRule`] when no rule covers the caller.
    pub fn rule_for(&self, who: Who<'_>) -> Result<&Rule, Refusal> {
        if matches!(who, Who::Remote) {
            return Err(Refusal::NotAdmin);
        }
        self.rules.iter().find(|r| r.selectors.covers(who)).ok_or(Refusal::NoRule)
    }
}

// === impl Rule ===

impl Rule {
    /// Checks a mint request against the rule's grant.
    ///
    /// # Errors
    /// The first limit the request breaks.
    pub fn check_mint(&self, ask: &MintAsk<'_>) -> Result<(), Refusal> {
        self.grant.check(ask)
    }

    /// The lifetime of a token whose request names none: the agent's
    /// `--default-ttl-minutes`, but no longer than the rule allows, so a
    /// plain request (`run-with-secrets` without `--ttl`) is never refused
    /// for a lifetime it did not ask for.
    pub fn default_ttl_minutes(&self, agent_default: u32) -> u32 {
        self.grant.max_ttl_minutes.map_or(agent_default, |max| agent_default.min(max))
    }

    /// Checks that the rule allows revoking tokens.
    ///
    /// # Errors
    /// [`Refusal::Revoke`] otherwise.
    pub fn check_revoke(&self) -> Result<(), Refusal> {
        if self.grant.may_revoke { Ok(()) } else { Err(Refusal::Revoke) }
    }
}

// === impl LivePolicy ===

impl LivePolicy {
    /// Starts with `policy`.
    pub fn new(policy: Policy) -> Self {
        Self { current: RwLock::new(Arc::new(policy)) }
    }

    /// The policy in force now.
    pub fn get(&self) -> Arc<Policy> {
        Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Re-reads the policy file; a file that does not load leaves the policy
    /// in force unchanged. `None` when the policy comes from flags.
    pub fn reload(&self) -> Option<Result<Arc<Policy>, LoadError>> {
        let Origin::File(path) = self.get().origin.clone() else { return None };
        Some(Policy::load(&path).map(|fresh| {
            let fresh = Arc::new(fresh);
            *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&fresh);
            fresh
        }))
    }
}

#[cfg(test)]
mod tests;

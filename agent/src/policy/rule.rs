//! Selectors (who a rule covers) and grants (what they may mint).

use std::fmt;

use vanta_shared::{EnvName, KeyPattern};
use wildmatch::WildMatch;

use super::{MintAsk, Refusal, Who};
use crate::peer::Caller;

/// Which callers a rule covers. Every selector given must match; a list
/// matches when any of its entries does.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    /// Effective uid is one of these.
    pub uids: Option<Vec<u32>>,
    /// Primary or a supplementary gid is one of these.
    pub gids: Option<Vec<u32>>,
    /// The uid's user name is one of these.
    pub users: Option<Vec<String>>,
    /// The name of the primary or a supplementary group is one of these.
    pub groups: Option<Vec<String>>,
    /// `/proc/PID/exe` matches this glob.
    pub exe: Option<Glob>,
    /// The executable's SHA-256 (lower-case hex) is this.
    pub exe_sha256: Option<String>,
    /// The cgroup path matches this glob.
    pub cgroup: Option<Glob>,
    /// Covers local callers (on the Unix socket).
    pub local: bool,
    /// Covers TCP callers that sent the admin credential.
    pub admin_token: bool,
}

/// A wildmatch glob (`*` any run of characters, `/` included; `?` one).
#[derive(Clone)]
pub struct Glob {
    text: String,
    matcher: WildMatch,
}

/// What a rule allows. `None` in a field means no limit of that kind (only
/// the flags' rule has those; a policy file names environments and patterns).
#[derive(Debug, Clone, Default)]
pub struct Grant {
    /// Environments tokens may be minted for.
    pub environments: Option<Vec<EnvName>>,
    /// Patterns a requested pattern must provably fall inside.
    pub key_patterns: Option<Vec<KeyPattern>>,
    /// Longest lifetime, minutes (the agent's `--max-ttl-minutes` still holds).
    pub max_ttl_minutes: Option<u32>,
    /// Largest usage limit; when set, every token needs one.
    pub max_usage_limit: Option<u64>,
    /// Whether the caller may revoke tokens.
    pub may_revoke: bool,
}

// === impl Selectors ===

impl Selectors {
    /// Whether this rule covers `who`.
    pub fn covers(&self, who: Who<'_>) -> bool {
        match who {
            Who::Local(caller) => self.local && self.kernel_match(caller),
            Who::Unknown => self.local && !self.has_kernel_selectors(),
            Who::Admin => self.admin_token,
            Who::Remote => false,
        }
    }

    /// Whether any selector about the local process is set.
    pub fn has_kernel_selectors(&self) -> bool {
        self.uids.is_some()
            || self.gids.is_some()
            || self.users.is_some()
            || self.groups.is_some()
            || self.exe.is_some()
            || self.exe_sha256.is_some()
            || self.cgroup.is_some()
    }

    fn kernel_match(&self, c: &Caller) -> bool {
        // In another user namespace the caller can mount any file at the
        // path an `exe` rule names: only its hash is evidence there.
        let exe = c.exe.as_deref().filter(|_| !c.foreign_user_namespace).and_then(|p| p.to_str());
        self.uids.as_ref().is_none_or(|uids| uids.contains(&c.uid))
            && self.gids.as_ref().is_none_or(|gids| gids.contains(&c.gid) || c.groups.iter().any(|g| gids.contains(g)))
            && self.users.as_ref().is_none_or(|users| c.user.as_ref().is_some_and(|u| users.contains(u)))
            && self.groups.as_ref().is_none_or(|groups| c.group_names.iter().any(|g| groups.contains(g)))
            && self.exe.as_ref().is_none_or(|glob| exe.is_some_and(|e| glob.matches(e)))
            && self.exe_sha256.as_ref().is_none_or(|sha| c.exe_sha256.as_ref() == Some(sha))
            && self.cgroup.as_ref().is_none_or(|glob| c.cgroup.as_deref().is_some_and(|g| glob.matches(g)))
    }
}

// === impl Glob ===

impl Glob {
    /// A glob from its text.
    pub fn new(text: &str) -> Self {
        Self { text: text.to_owned(), matcher: WildMatch::new(text) }
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        self.matcher.matches(text)
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Glob").field(&self.text).finish()
    }
}

// === impl Grant ===

impl Grant {
    /// Checks a mint request against the grant.
    ///
    /// # Errors
    /// The first limit the request breaks.
    pub fn check(&self, ask: &MintAsk<'_>) -> Result<(), Refusal> {
        if self.environments.as_ref().is_some_and(|envs| !envs.contains(ask.environment)) {
            return Err(Refusal::Environment);
        }
        if self.key_patterns.as_ref().is_some_and(|ps| !ps.iter().any(|p| p.covers(ask.key_pattern))) {
            return Err(Refusal::Pattern);
        }
        if let Some(max) = self.max_ttl_minutes.filter(|max| ask.ttl_minutes > *max) {
            return Err(Refusal::Ttl(max));
        }
        if self.max_usage_limit.is_some_and(|max| ask.usage_limit.is_none_or(|limit| limit > max)) {
            return Err(Refusal::UsageLimit);
        }
        Ok(())
    }
}

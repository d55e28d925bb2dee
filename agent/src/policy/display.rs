//! How rules and callers read in `policy check` and `policy explain`.

use std::fmt::{self, Display, Formatter};

use super::{Grant, Rule, Selectors};
use crate::peer::Caller;

fn list<T: Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

// === impl Display for Rule ===

impl Display for Rule {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "rule \"{}\"", self.name)?;
        writeln!(f, "  covers:   {}", self.selectors)?;
        write!(f, "  may mint: {}", self.grant)
    }
}

impl Display for Selectors {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(uids) = &self.uids {
            parts.push(format!("uid in [{}]", list(uids)));
        }
        if let Some(gids) = &self.gids {
            parts.push(format!("gid or supplementary gid in [{}]", list(gids)));
        }
        if let Some(users) = &self.users {
            parts.push(format!("user in [{}]", list(users)));
        }
        if let Some(groups) = &self.groups {
            parts.push(format!("group in [{}]", list(groups)));
        }
        if let Some(exe) = &self.exe {
            parts.push(format!("exe matches {}", exe.as_str()));
        }
        if let Some(sha) = &self.exe_sha256 {
            parts.push(format!("exe sha256 {sha}"));
        }
        if let Some(cgroup) = &self.cgroup {
            parts.push(format!("cgroup matches {}", cgroup.as_str()));
        }
        let local = match (self.local, parts.is_empty()) {
            (false, _) => None,
            (true, true) => Some("every local caller".to_owned()),
            (true, false) => Some(format!("local callers with {}", parts.join(" and "))),
        };
        let admin = self.admin_token.then(|| "TCP callers with the admin credential".to_owned());
        f.write_str(&[local, admin].into_iter().flatten().collect::<Vec<_>>().join("; "))
    }
}

impl Display for Grant {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let envs = self.environments.as_deref().map_or_else(|| "any".to_owned(), list);
        let patterns = self.key_patterns.as_deref().map_or_else(|| "any".to_owned(), list);
        let ttl = self.max_ttl_minutes.map_or_else(|| "the agent's maximum".to_owned(), |m| format!("{m} min"));
        let limit = self.max_usage_limit.map_or_else(|| "optional".to_owned(), |m| format!("required, at most {m}"));
        let revoke = if self.may_revoke { "yes" } else { "no" };
        write!(
            f,
            "environments [{envs}]; key patterns [{patterns}]; ttl up to {ttl}; usage limit {limit}; may revoke: {revoke}"
        )
    }
}

/// A caller, on one line.
pub struct CallerLine<'a>(pub &'a Caller);

impl Display for CallerLine<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let c = self.0;
        let unknown = || "?".to_owned();
        if let Some(pid) = c.pid {
            write!(f, "pid {pid} ")?;
        }
        write!(f, "uid {} ({}) gid {}", c.uid, c.user.clone().unwrap_or_else(unknown), c.gid)?;
        if !c.groups.is_empty() {
            write!(f, " groups [{}]", list(&c.groups))?;
        }
        if !c.group_names.is_empty() {
            write!(f, " group names [{}]", list(&c.group_names))?;
        }
        let exe = c.exe.as_ref().map_or_else(unknown, |e| e.display().to_string());
        let foreign =
            if c.foreign_user_namespace { " (in another user namespace: exe rules do not apply)" } else { "" };
        write!(f, " exe {exe}{foreign} cgroup {}", c.cgroup.clone().unwrap_or_else(unknown))?;
        if let Some(sha) = &c.exe_sha256 {
            write!(f, " sha256 {sha}")?;
        }
        Ok(())
    }
}

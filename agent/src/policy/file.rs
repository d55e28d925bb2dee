//! The policy file: TOML `[[rule]]` tables, read with the `toml` crate and
//! checked whole; an error names the line and the reason.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use vanta_shared::{EnvName, KeyPattern};

use super::{Glob, Grant, Rule, Selectors};

/// A policy file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {reason}", path.display(), line.map(|l| format!(": line {l}")).unwrap_or_default())]
pub struct LoadError {
    /// The file.
    pub path: PathBuf,
    /// The line (1-based) the problem is on, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    uids: Option<Vec<u32>>,
    gids: Option<Vec<u32>>,
    users: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    exe: Option<String>,
    exe_sha256: Option<String>,
    cgroup: Option<String>,
    #[serde(default)]
    admin_token: bool,
    environments: Vec<EnvName>,
    key_patterns: Vec<KeyPattern>,
    max_ttl_minutes: Option<u32>,
    max_usage_limit: Option<u64>,
    #[serde(default)]
    may_revoke: bool,
}

/// Reads and checks the rules of the file at `path`.
///
/// # Errors
/// [`LoadError`] when it cannot be read, is not valid TOML, has an unknown
/// key, or a rule that cannot work.
pub(super) fn load(path: &Path) -> Result<Vec<Rule>, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|err| LoadError {
        path: path.to_owned(),
        line: None,
        reason: format!("failed to read: {err}"),
    })?;
    parse(&text).map_err(|(line, reason)| LoadError { path: path.to_owned(), line, reason })
}

/// Parses policy text; `Err((line, reason))`.
pub(super) fn parse(text: &str) -> Result<Vec<Rule>, (Option<usize>, String)> {
    let line_of = |span: Range<usize>| Some(text[..span.start.min(text.len())].matches('\n').count() + 1);
    let raw: RawFile = toml::from_str(text).map_err(|err| (err.span().and_then(line_of), one_line(err.message())))?;
    if raw.rule.is_empty() {
        return Err((None, "no [[rule]]: every caller would be refused".to_owned()));
    }
    let mut names = HashSet::new();
    let mut rules = Vec::with_capacity(raw.rule.len());
    for spanned in raw.rule {
        let line = line_of(spanned.span());
        let rule = checked(spanned.into_inner()).map_err(|reason| (line, reason))?;
        if !names.insert(rule.name.clone()) {
            return Err((line, format!("rule name '{}' is used twice", rule.name)));
        }
        rules.push(rule);
    }
    Ok(rules)
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn checked(raw: RawRule) -> Result<Rule, String> {
    let name = raw.name.trim().to_owned();
    if name.is_empty() {
        return Err("a rule needs a non-empty name".to_owned());
    }
    let at = |problem: String| format!("rule '{name}': {problem}");
    for (key, empty) in [
        ("uids", raw.uids.as_ref().is_some_and(Vec::is_empty)),
        ("gids", raw.gids.as_ref().is_some_and(Vec::is_empty)),
        ("users", raw.users.as_ref().is_some_and(Vec::is_empty)),
        ("groups", raw.groups.as_ref().is_some_and(Vec::is_empty)),
        ("environments", raw.environments.is_empty()),
        ("key_patterns", raw.key_patterns.is_empty()),
    ] {
        if empty {
            return Err(at(format!("{key} is empty (it would match nothing)")));
        }
    }
    let exe_sha256 = raw.exe_sha256.map(|s| s.to_ascii_lowercase());
    if exe_sha256.as_ref().is_some_and(|s| s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(at("exe_sha256 must be 64 hex digits".to_owned()));
    }
    if raw.max_ttl_minutes == Some(0) || raw.max_usage_limit == Some(0) {
        return Err(at("max_ttl_minutes and max_usage_limit must be at least 1".to_owned()));
    }
    let selectors = Selectors {
        uids: raw.uids,
        gids: raw.gids,
        users: raw.users,
        groups: raw.groups,
        exe: raw.exe.as_deref().map(Glob::new),
        exe_sha256,
        cgroup: raw.cgroup.as_deref().map(Glob::new),
        local: !raw.admin_token,
        admin_token: raw.admin_token,
    };
    if raw.admin_token && selectors.has_kernel_selectors() {
        return Err(at("admin_token covers TCP callers, which have no process: it takes no other selector".into()));
    }
    let grant = Grant {
        environments: Some(raw.environments),
        key_patterns: Some(raw.key_patterns),
        max_ttl_minutes: raw.max_ttl_minutes,
        max_usage_limit: raw.max_usage_limit,
        may_revoke: raw.may_revoke,
    };
    Ok(Rule { name, selectors, grant })
}

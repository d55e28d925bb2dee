//! The command's environment: what it inherits, what it gets, what is
//! overridden (client leaf layer, part of `inject`; a pure function of the
//! inherited variables and the options, so that it is tested without
//! touching the process environment).
//!
//! The token variables (`VANTA_TOKEN`, `VANTA_TOKEN_FILE`) never reach the
//! command unless `--pass-token` (which passes `VANTA_TOKEN` only), nor does
//! `VANTA_ADMIN_TOKEN_FILE`; `--pristine` keeps only [`PRISTINE_KEEP`]
//! and `--keep-env` names.

use std::ffi::{OsStr, OsString};

/// What to build the command's environment from.
pub(crate) struct Options<'a> {
    /// `--pristine`: keep only [`PRISTINE_KEEP`] and these extra names.
    pub(crate) pristine: Option<&'a [String]>,
    /// Variables to set: the secrets in env mode, `VANTA_SECRETS_FILE` else.
    pub(crate) set: Vec<(&'a str, &'a OsStr)>,
    /// `--pass-token`: the token, passed as `VANTA_TOKEN`.
    pub(crate) token: Option<&'a str>,
}

/// The command's environment, complete.
pub(crate) struct ChildEnv {
    /// Every variable, for `Command::env_clear().envs(..)`.
    pub(crate) vars: Vec<(OsString, OsString)>,
    /// Names in `set` that replaced a variable the command would have had.
    pub(crate) overridden: Vec<String>,
}

/// What `--pristine` keeps of this environment.
pub(crate) const PRISTINE_KEEP: &[&str] = &["PATH", "HOME", "USER", "LANG", "TERM", "TZ"];
/// Variable that carries a token to vanta tools.
pub(crate) const TOKEN_VAR: &str = "VANTA_TOKEN";
/// Variable that names a file holding a token.
pub(crate) const TOKEN_FILE_VAR: &str = "VANTA_TOKEN_FILE";
/// Variable that names the file of the agent's admin (minting) credential.
pub(crate) const ADMIN_TOKEN_FILE_VAR: &str = "VANTA_ADMIN_TOKEN_FILE";

/// The environment of the command, from the CLI's own `inherited` one.
pub(crate) fn build(inherited: impl IntoIterator<Item = (OsString, OsString)>, options: &Options<'_>) -> ChildEnv {
    let mut vars: Vec<(OsString, OsString)> =
        inherited.into_iter().filter(|(name, _)| keeps(options, name) && !is_token_var(name)).collect();
    let mut overridden = Vec::new();
    for &(name, value) in &options.set {
        if let Some(at) = vars.iter().position(|(n, _)| n == name) {
            vars.remove(at);
            overridden.push(name.to_owned());
        }
        vars.push((name.into(), value.into()));
    }
    // The token variables were all filtered out above: nothing to override.
    if let Some(token) = options.token {
        vars.push((TOKEN_VAR.into(), token.into()));
    }
    ChildEnv { vars, overridden }
}

fn keeps(options: &Options<'_>, name: &OsStr) -> bool {
    let Some(extra) = options.pristine else {
        return true;
    };
    PRISTINE_KEEP.iter().any(|k| name == *k) || extra.iter().any(|k| name == k.as_str())
}

fn is_token_var(name: &OsStr) -> bool {
    name == TOKEN_VAR || name == TOKEN_FILE_VAR || name == ADMIN_TOKEN_FILE_VAR
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inherited() -> Vec<(OsString, OsString)> {
        [
            ("PATH", "/bin"),
            ("HOME", "/h"),
            ("DB", "old"),
            ("OTHER", "x"),
            ("VANTA_TOKEN", "t"),
            ("VANTA_TOKEN_FILE", "/f"),
            ("VANTA_ADMIN_TOKEN_FILE", "/a"),
        ]
        .iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
    }

    fn names(env: &ChildEnv) -> Vec<&str> {
        env.vars.iter().map(|(k, _)| k.to_str().expect("utf-8")).collect()
    }

    fn value<'a>(env: &'a ChildEnv, name: &str) -> Option<&'a str> {
        env.vars.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.to_str())
    }

    #[test]
    fn inherits_everything_but_the_token_and_reports_overrides() {
        let options =
            Options { pristine: None, set: vec![("DB", OsStr::new("new")), ("API", OsStr::new("k"))], token: None };
        let env = build(inherited(), &options);
        assert_eq!(names(&env), ["PATH", "HOME", "OTHER", "DB", "API"]);
        assert_eq!(value(&env, "DB"), Some("new"));
        assert_eq!(env.overridden, ["DB"]);
    }

    #[test]
    fn pristine_keeps_the_allowlist_and_what_is_asked() {
        let keep = ["OTHER".to_owned()];
        let options = Options { pristine: Some(&keep), set: vec![("API", OsStr::new("k"))], token: None };
        let env = build(inherited(), &options);
        assert_eq!(names(&env), ["PATH", "HOME", "OTHER", "API"]);
        let bare = build(inherited(), &Options { pristine: Some(&[]), set: vec![], token: None });
        assert_eq!(names(&bare), ["PATH", "HOME"]);
        assert!(bare.overridden.is_empty(), "DB was dropped, not overridden");
    }

    #[test]
    fn the_token_is_passed_only_when_asked() {
        let options = Options { pristine: Some(&[]), set: vec![], token: Some("given") };
        let env = build(inherited(), &options);
        assert_eq!(value(&env, "VANTA_TOKEN"), Some("given"));
        assert_eq!(value(&env, "VANTA_TOKEN_FILE"), None);
        assert!(env.overridden.is_empty());
    }
}

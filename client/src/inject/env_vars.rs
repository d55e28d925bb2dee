//! Variable names for keys (client leaf layer, part of `inject`).
//!
//! docs/API.md §6: every character outside `[A-Za-z0-9_]` becomes `_`
//! (`API_KEYS/stripe` -> `API_KEYS_stripe`); `--prefix` goes before such a
//! derived name; `--key KEY=NAME` names a key explicitly. Two keys that land
//! on one name are refused before anything is fetched, and so are names that
//! change how programs run (`PATH`, `LD_PRELOAD`, ...) unless allowed.

use std::collections::HashMap;

use vanta_shared::KeyPath;

/// How keys become names: the prefix and the explicit renames.
#[derive(Default)]
pub(crate) struct Naming<'a> {
    /// `--prefix`, for derived names only.
    pub(crate) prefix: Option<&'a str>,
    /// `--key KEY=NAME` pairs.
    pub(crate) renames: HashMap<&'a KeyPath, &'a str>,
}

/// Why a set of secrets cannot be injected as variables.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Two keys give the same variable name.
    #[error("keys '{first}' and '{second}' would both become the variable {name}")]
    Collision { first: KeyPath, second: KeyPath, name: String },
    /// Names that change how programs run, not allowed by the user.
    #[error(
        "refusing to inject {}: these variables change how programs run \
         (allow each with --allow-dangerous-name NAME, or rename with --key KEY=NAME)",
        names.join(", ")
    )]
    Dangerous { names: Vec<String> },
    /// A value holds a NUL byte, which no environment variable can carry.
    #[error(
        "the value of '{key}' contains a NUL byte, which an environment variable cannot hold (try --inject-as file)"
    )]
    NulByte { key: KeyPath },
}

/// Names that change what a program loads, runs or trusts, or where it
/// looks for things: shells, dynamic loaders, language runtimes, vanta-cli.
const DANGEROUS: &[&str] = &[
    "PATH",
    "HOME",
    "SHELL",
    "IFS",
    "ENV",
    "BASH_ENV",
    "CDPATH",
    "PS4",
    "PROMPT_COMMAND",
    "SHELLOPTS",
    "BASHOPTS",
    "TMPDIR",
    "GCONV_PATH",
    "GLIBC_TUNABLES",
    "HOSTALIASES",
    "LOCPATH",
    "NLSPATH",
    "RES_OPTIONS",
    "LOCALDOMAIN",
    "NODE_OPTIONS",
    "NODE_PATH",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PYTHONINSPECT",
    "PERL5LIB",
    "PERL5OPT",
    "PERLLIB",
    "RUBYLIB",
    "RUBYOPT",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "GIT_SSH_COMMAND",
    "GIT_EXEC_PATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Prefixes of dangerous names: the dynamic loaders, exported bash
/// functions, and vanta's own variables (VANTA_AGENT_SOCKET, VANTA_TOKEN...).
const DANGEROUS_PREFIXES: &[&str] = &["LD_", "DYLD_", "BASH_FUNC_", "VANTA_"];

// === impl Naming ===

impl Naming<'_> {
    /// The variable name for `key`.
    pub(crate) fn name(&self, key: &KeyPath) -> String {
        if let Some(name) = self.renames.get(key) {
            return (*name).to_owned();
        }
        let mut name = self.prefix.unwrap_or_default().to_owned();
        name.extend(key.as_str().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
        name
    }

    /// The variable names of `keys`, in the same order.
    ///
    /// # Errors
    /// [`Error::Collision`] naming the first two keys that share a name.
    pub(crate) fn names(&self, keys: &[KeyPath]) -> Result<Vec<String>, Error> {
        let mut seen: HashMap<String, &KeyPath> = HashMap::with_capacity(keys.len());
        let mut names = Vec::with_capacity(keys.len());
        for key in keys {
            let name = self.name(key);
            if let Some(first) = seen.insert(name.clone(), key) {
                return Err(Error::Collision { first: first.clone(), second: key.clone(), name });
            }
            names.push(name);
        }
        Ok(names)
    }
}

/// Whether injecting `name` could change how the command (or what it runs)
/// behaves beyond reading a secret.
pub(crate) fn is_dangerous(name: &str) -> bool {
    DANGEROUS.contains(&name) || DANGEROUS_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Checks that no name is dangerous unless it is in `allowed`.
///
/// # Errors
/// [`Error::Dangerous`] listing every refused name.
pub(crate) fn check_dangerous(names: &[String], allowed: &[String]) -> Result<(), Error> {
    let refused: Vec<String> =
        names.iter().filter(|n| is_dangerous(n) && !allowed.contains(n)).map(Clone::clone).collect();
    if refused.is_empty() { Ok(()) } else { Err(Error::Dangerous { names: refused }) }
}

/// Checks that `value` can be the value of an environment variable.
///
/// # Errors
/// [`Error::NulByte`] naming the key, never showing the value.
pub(crate) fn check_value(key: &KeyPath, value: &str) -> Result<(), Error> {
    if value.contains('\0') {
        return Err(Error::NulByte { key: key.clone() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(raw: &[&str]) -> Vec<KeyPath> {
        raw.iter().map(|k| k.parse().expect("test key is valid")).collect()
    }

    #[test]
    fn maps_like_the_contract_says() {
        let cases = [
            ("DATABASE_URL", "DATABASE_URL"),
            ("API_KEYS/stripe", "API_KEYS_stripe"),
            ("a.b-c/d", "a_b_c_d"),
            ("x/y/z", "x_y_z"),
            ("1st", "1st"),
        ];
        for (key, want) in cases {
            assert_eq!(Naming::default().name(&keys(&[key])[0]), want);
        }
    }

    #[test]
    fn prefix_applies_to_derived_names_and_renames_are_exact() {
        let all = keys(&["A/b", "C", "D"]);
        let renames = HashMap::from([(&all[1], "SEE")]);
        let naming = Naming { prefix: Some("APP_"), renames };
        assert_eq!(naming.names(&all).expect("distinct"), ["APP_A_b", "SEE", "APP_D"]);
    }

    #[test]
    fn distinct_names_keep_their_order() {
        let names = Naming::default().names(&keys(&["B", "A/x", "a_x"])).expect("no collision");
        assert_eq!(names, ["B", "A_x", "a_x"]);
    }

    #[test]
    fn collisions_name_both_keys() {
        for (raw, first, second, name) in
            [(&["A/b", "A_b"][..], "A/b", "A_b", "A_b"), (&["x", "a.b", "a-b"][..], "a.b", "a-b", "a_b")]
        {
            let err = Naming::default().names(&keys(raw)).expect_err("collision");
            assert_eq!(err.to_string(), format!("keys '{first}' and '{second}' would both become the variable {name}"));
        }
        let all = keys(&["A", "B"]);
        let renamed = Naming { prefix: None, renames: HashMap::from([(&all[1], "A")]) };
        assert!(renamed.names(&all).is_err(), "a rename can collide too");
    }

    #[test]
    fn dangerous_names_need_an_opt_in_each() {
        for name in ["PATH", "HOME", "LD_PRELOAD", "LD_LIBRARY_PATH", "NODE_OPTIONS", "PYTHONPATH", "VANTA_TOKEN"] {
            assert!(is_dangerous(name), "{name}");
        }
        for name in ["path", "DATABASE_URL", "MY_PATH", "API_KEYS_stripe", "LDAP_URL"] {
            assert!(!is_dangerous(name), "{name}");
        }
        let names = vec!["PATH".to_owned(), "OK".to_owned(), "LD_PRELOAD".to_owned()];
        let err = check_dangerous(&names, &["LD_PRELOAD".to_owned()]).expect_err("PATH refused");
        assert!(err.to_string().starts_with("refusing to inject PATH: "), "{err}");
        assert!(check_dangerous(&names, &["PATH".to_owned(), "LD_PRELOAD".to_owned()]).is_ok());
    }

    #[test]
    fn nul_bytes_are_refused_without_showing_the_value() {
        let key = &keys(&["K"])[0];
        assert!(check_value(key, "line1\nline2 \"'$").is_ok());
        let err = check_value(key, "s3\0cr3t").expect_err("nul");
        assert!(!err.to_string().contains("s3"), "{err}");
    }
}

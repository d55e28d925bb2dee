//! Variable names for keys: every character outside `[A-Za-z0-9_]` becomes
//! `_` (`API_KEYS/stripe` -> `API_KEYS_stripe`, CONTRACT §6), and two keys
//! that land on one name are refused before anything runs (client leaf
//! layer, part of `inject`).

use std::collections::HashMap;

use vanta_shared::KeyPath;

/// Why a set of secrets cannot be injected as variables.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Two keys give the same variable name.
    #[error("keys '{first}' and '{second}' would both become the variable {name}")]
    Collision { first: KeyPath, second: KeyPath, name: String },
    /// A value holds a NUL byte, which no environment variable can carry.
    #[error(
        "the value of '{key}' contains a NUL byte, which an environment variable cannot hold (try --inject-as file)"
    )]
    NulByte { key: KeyPath },
}

/// The variable name for `key`.
pub(crate) fn var_name(key: &KeyPath) -> String {
    key.as_str().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// The variable names of `keys`, in the same order.
///
/// # Errors
/// [`Error::Collision`] naming the first two keys that share a name.
pub(crate) fn var_names(keys: &[KeyPath]) -> Result<Vec<String>, Error> {
    let mut seen: HashMap<String, &KeyPath> = HashMap::with_capacity(keys.len());
    let mut names = Vec::with_capacity(keys.len());
    for key in keys {
        let name = var_name(key);
        if let Some(first) = seen.insert(name.clone(), key) {
            return Err(Error::Collision { first: first.clone(), second: key.clone(), name });
        }
        names.push(name);
    }
    Ok(names)
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
            assert_eq!(var_name(&keys(&[key])[0]), want);
        }
    }

    #[test]
    fn distinct_names_keep_their_order() {
        let names = var_names(&keys(&["B", "A/x", "a_x"])).expect("no collision");
        assert_eq!(names, ["B", "A_x", "a_x"]);
    }

    #[test]
    fn collisions_name_both_keys() {
        for (raw, first, second, name) in
            [(&["A/b", "A_b"][..], "A/b", "A_b", "A_b"), (&["x", "a.b", "a-b"][..], "a.b", "a-b", "a_b")]
        {
            let err = var_names(&keys(raw)).expect_err("collision");
            assert_eq!(err.to_string(), format!("keys '{first}' and '{second}' would both become the variable {name}"));
        }
    }

    #[test]
    fn nul_bytes_are_refused_without_showing_the_value() {
        let key = &keys(&["K"])[0];
        assert!(check_value(key, "line1\nline2 \"'$").is_ok());
        let err = check_value(key, "s3\0cr3t").expect_err("nul");
        assert!(!err.to_string().contains("s3"), "{err}");
    }
}

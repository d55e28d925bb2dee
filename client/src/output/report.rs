//! The stderr lines of `run-with-secrets` (client leaf layer, part of
//! `output`): where the token came from and when it expires, what was
//! injected and how, what was overridden. Names only, never a value.

use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vanta_shared::EnvName;
use vanta_shared::api::ScopeDetails;

use super::{PREFIX, expiry_time, usage_limit};

/// How the secrets were handed over.
pub(crate) enum Mode<'a> {
    /// As environment variables.
    Env,
    /// In a file, in this format.
    File { path: &'a Path, format: &'a str },
    /// Through a named pipe, in this format.
    Fifo { path: &'a Path, format: &'a str },
}

/// The line for a token minted for this run.
pub(crate) fn minted_token(subject: &str, scope: &ScopeDetails, expires_in: u64, now: OffsetDateTime) -> String {
    let until = expiry_time(now, expires_in).map(|at| format!(", until {at}")).unwrap_or_default();
    format!(
        "{PREFIX}: token: self-minted for '{subject}' (environment '{}', key pattern '{}', usage limit {}), \
         expires in {expires_in} s{until}",
        scope.environment,
        scope.key_pattern,
        usage_limit(scope.usage_limit),
    )
}

/// The line for a token that was given; `expires_at` from its `exp` claim.
pub(crate) fn given_token(expires_at: Option<i64>, now: OffsetDateTime) -> String {
    let expiry = expires_at.and_then(|exp| OffsetDateTime::from_unix_timestamp(exp).ok()).and_then(|at| {
        let text = at.format(&Rfc3339).ok()?;
        let left = (at - now).whole_seconds();
        Some(if left > 0 { format!("expires in {left} s, at {text}") } else { format!("expired at {text}") })
    });
    let expiry = expiry.unwrap_or_else(|| "expiry unknown".to_owned());
    format!("{PREFIX}: token: given (--token, VANTA_TOKEN, --token-file or VANTA_TOKEN_FILE), {expiry}")
}

/// The line naming what was injected and how: `NAME`, or `NAME (KEY)` when
/// the name is not the key.
pub(crate) fn injected(env: &EnvName, mode: &Mode<'_>, pairs: &[(&str, &str)]) -> String {
    let count = match pairs.len() {
        1 => "1 secret".to_owned(),
        n => format!("{n} secrets"),
    };
    let how = match mode {
        Mode::Env => "as environment variables".to_owned(),
        Mode::File { path, format } => format!("into the {format} file {} (VANTA_SECRETS_FILE)", path.display()),
        Mode::Fifo { path, format } => {
            format!("through the named pipe {} ({format}, one read, VANTA_SECRETS_FILE)", path.display())
        }
    };
    let names: Vec<String> = pairs
        .iter()
        .map(|&(key, name)| if key == name { name.to_owned() } else { format!("{name} ({key})") })
        .collect();
    format!("{PREFIX}: injected {count} from '{env}' {how}: {}", names.join(", "))
}

/// The line naming variables that the secrets replaced.
pub(crate) fn overridden(names: &[String]) -> String {
    format!("{PREFIX}: overriding variables already set: {}", names.join(", "))
}

/// The line naming the variables (never their values) whose values hold
/// `${` in a dotenv file.
pub(crate) fn interpolated(names: &[&str]) -> String {
    format!(
        "{PREFIX}: the values of {} hold '${{': python-dotenv expands ${{NAME}} in them, even single-quoted, \
         unless read with interpolate=False; --file-format json keeps every value exact",
        names.join(", ")
    )
}

/// The line for `--pristine`.
pub(crate) fn pristine(kept: &[&str]) -> String {
    format!("{PREFIX}: pristine environment: only {} kept", kept.join(", "))
}

/// The line for `--pass-token`.
pub(crate) fn token_passed() -> String {
    format!("{PREFIX}: passing the token to the command as VANTA_TOKEN (--pass-token)")
}

/// The line for directories of killed runs that were removed.
pub(crate) fn swept(count: usize, parent: &Path) -> String {
    let what = if count == 1 { "directory" } else { "directories" };
    format!("{PREFIX}: removed {count} secrets {what} left in {} by a killed run", parent.display())
}

/// The line for `--mask`: how many values are masked, and the variables
/// whose values are too short to be.
pub(crate) fn masking(masked: usize, short: &[&str], min_len: usize) -> String {
    let values = if masked == 1 { "value" } else { "values" };
    let mut line = format!("{PREFIX}: masking {masked} {values} in the command's output");
    if !short.is_empty() {
        line.push_str(&format!("; not masked, shorter than {min_len} bytes: {}", short.join(", ")));
    }
    line
}

/// A warning line.
pub(crate) fn warning(what: &str) -> String {
    format!("{PREFIX}: warning: {what}")
}

#[cfg(test)]
mod tests {
    use vanta_shared::Permission;

    use super::*;

    /// 2030-01-02T03:04:05Z
    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_893_553_445).expect("valid time")
    }

    #[test]
    fn token_lines_say_where_from_and_until_when() {
        let scope = ScopeDetails {
            environment: "dev".to_owned(),
            key_pattern: "DATABASE_*".to_owned(),
            permissions: vec![Permission::Read],
            usage_limit: Some(2),
        };
        assert_eq!(
            minted_token("vanta-cli-run", &scope, 300, now()),
            "vanta-cli: token: self-minted for 'vanta-cli-run' (environment 'dev', key pattern 'DATABASE_*', \
             usage limit 2), expires in 300 s, until 2030-01-02T03:09:05Z"
        );
        let given = "vanta-cli: token: given (--token, VANTA_TOKEN, --token-file or VANTA_TOKEN_FILE), ";
        assert_eq!(given_token(Some(1_893_553_505), now()), format!("{given}expires in 60 s, at 2030-01-02T03:05:05Z"));
        assert_eq!(given_token(Some(1_893_553_000), now()), format!("{given}expired at 2030-01-02T02:56:40Z"));
        assert_eq!(given_token(None, now()), format!("{given}expiry unknown"));
    }

    #[test]
    fn injected_lines_name_mode_keys_and_variables() {
        let dev: EnvName = "dev".parse().expect("env");
        let pairs = [("API_KEYS/stripe", "API_KEYS_stripe"), ("DATABASE_URL", "DATABASE_URL")];
        assert_eq!(
            injected(&dev, &Mode::Env, &pairs),
            "vanta-cli: injected 2 secrets from 'dev' as environment variables: \
             API_KEYS_stripe (API_KEYS/stripe), DATABASE_URL"
        );
        let file = Mode::File { path: Path::new("/t/secrets.env"), format: "dotenv" };
        assert_eq!(
            injected(&dev, &file, &pairs[1..]),
            "vanta-cli: injected 1 secret from 'dev' into the dotenv file /t/secrets.env (VANTA_SECRETS_FILE): \
             DATABASE_URL"
        );
        let fifo = Mode::Fifo { path: Path::new("/t/secrets.json"), format: "json" };
        assert!(injected(&dev, &fifo, &pairs).contains("through the named pipe /t/secrets.json (json, one read"));
    }

    #[test]
    fn other_lines() {
        assert_eq!(overridden(&["A".to_owned(), "B".to_owned()]), "vanta-cli: overriding variables already set: A, B");
        assert_eq!(swept(2, Path::new("/s")), "vanta-cli: removed 2 secrets directories left in /s by a killed run");
        assert_eq!(pristine(&["PATH", "HOME"]), "vanta-cli: pristine environment: only PATH, HOME kept");
        assert_eq!(masking(1, &[], 6), "vanta-cli: masking 1 value in the command's output");
        assert_eq!(
            masking(3, &["A", "B"], 6),
            "vanta-cli: masking 3 values in the command's output; not masked, shorter than 6 bytes: A, B"
        );
    }
}

//! The text the CLI shows besides errors: the token summary, the stderr
//! report of `run-with-secrets`, and the terminal newline policy (client leaf
//! layer; pure functions over `vanta_shared` types — `commands` prints).
//!
//! Reports name keys, variables and files, never values or tokens, except
//! the token summary, whose purpose is to show the token.

use std::path::Path;

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use vanta_shared::api::{GenerateTokenResponse, ScopeDetails};
use vanta_shared::{EnvName, Permission};

/// How `run-with-secrets` handed the secrets over, for its report.
pub(crate) enum Injected<'a> {
    /// As environment variables.
    Env,
    /// In the dotenv file at this path.
    File(&'a Path),
}

/// Prefix of every line the CLI writes to stderr.
pub(crate) const PREFIX: &str = "vanta-cli";

/// `token generate --output text`: one `label: value` line per fact, the
/// token last so that it is easy to select.
pub(crate) fn token_summary(subject: &str, response: &GenerateTokenResponse, now: OffsetDateTime) -> String {
    let scope = &response.scope_details;
    let expiry = match expiry_time(now, response.expires_in) {
        Some(at) => format!("{} seconds (until {at})", response.expires_in),
        None => format!("{} seconds", response.expires_in),
    };
    let rows = [
        ("subject", subject.to_owned()),
        ("environment", scope.environment.clone()),
        ("key pattern", scope.key_pattern.clone()),
        ("permissions", permissions(&scope.permissions)),
        ("expires in", expiry),
        ("usage limit", usage_limit(scope.usage_limit)),
        ("token", response.access_token.clone()),
    ];
    rows.iter().map(|(label, value)| format!("{:<13}{value}\n", format!("{label}:"))).collect()
}

/// What follows a value on stdout: a newline only for a terminal, so that
/// `$(vanta-cli get ...)` and pipes get the value byte for byte.
pub(crate) fn terminal_newline(stdout_is_terminal: bool) -> &'static str {
    if stdout_is_terminal { "\n" } else { "" }
}

/// The stderr line for a token `run-with-secrets` minted itself.
pub(crate) fn minted_token_line(subject: &str, scope: &ScopeDetails, expires_in: u64) -> String {
    format!(
        "{PREFIX}: using a self-minted token for '{subject}' (environment '{}', key pattern '{}', \
         expires in {expires_in} seconds, usage limit {})",
        scope.environment,
        scope.key_pattern,
        usage_limit(scope.usage_limit),
    )
}

/// The stderr line for a token that was given.
pub(crate) fn given_token_line() -> String {
    format!("{PREFIX}: using the given token (--token or VANTA_TOKEN)")
}

/// The stderr line naming what was injected and how; names only.
pub(crate) fn injected_line(env: &EnvName, how: &Injected<'_>, names: &[String]) -> String {
    let count = match names.len() {
        1 => "1 secret".to_owned(),
        n => format!("{n} secrets"),
    };
    let how = match how {
        Injected::Env => "as environment variables".to_owned(),
        Injected::File(path) => format!("into {} (VANTA_SECRETS_FILE)", path.display()),
    };
    format!("{PREFIX}: injected {count} from '{env}' {how}: {}", names.join(", "))
}

fn expiry_time(now: OffsetDateTime, expires_in: u64) -> Option<String> {
    let seconds = i64::try_from(expires_in).ok()?;
    let at = now.replace_nanosecond(0).ok()?.checked_add(Duration::seconds(seconds))?;
    at.format(&Rfc3339).ok()
}

fn permissions(permissions: &[Permission]) -> String {
    let names: Vec<&str> = permissions
        .iter()
        .map(|p| match p {
            Permission::Read => "read",
        })
        .collect();
    names.join(", ")
}

fn usage_limit(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2030-01-02T03:04:05.678Z
    fn now() -> OffsetDateTime {
        let at = OffsetDateTime::from_unix_timestamp(1_893_553_445).expect("valid time");
        at.replace_millisecond(678).expect("valid millisecond")
    }

    fn response(usage_limit: Option<u64>) -> GenerateTokenResponse {
        GenerateTokenResponse {
            access_token: "eyJ.a.b".to_owned(),
            token_type: "Bearer".to_owned(),
            expires_in: 900,
            scope_details: ScopeDetails {
                environment: "dev".to_owned(),
                key_pattern: "DATABASE_*".to_owned(),
                permissions: vec![Permission::Read],
                usage_limit,
            },
        }
    }

    #[test]
    fn summary_lists_scope_expiry_and_token() {
        let now = now();
        let text = token_summary("ci", &response(Some(2)), now);
        assert_eq!(
            text,
            "subject:     ci\n\
             environment: dev\n\
             key pattern: DATABASE_*\n\
             permissions: read\n\
             expires in:  900 seconds (until 2030-01-02T03:19:05Z)\n\
             usage limit: 2\n\
             token:       eyJ.a.b\n"
        );
        assert!(token_summary("ci", &response(None), now).contains("usage limit: unlimited\n"));
    }

    #[test]
    fn huge_expiry_has_no_date() {
        let mut r = response(None);
        r.expires_in = u64::MAX;
        let text = token_summary("ci", &r, now());
        assert!(text.contains(&format!("expires in:  {} seconds\n", u64::MAX)), "{text}");
    }

    #[test]
    fn newline_only_for_terminals() {
        assert_eq!(terminal_newline(true), "\n");
        assert_eq!(terminal_newline(false), "");
    }

    #[test]
    fn reports_name_what_was_injected() {
        let dev: EnvName = "dev".parse().expect("env");
        let names = vec!["API_KEYS_stripe".to_owned(), "DATABASE_URL".to_owned()];
        assert_eq!(
            injected_line(&dev, &Injected::Env, &names),
            "vanta-cli: injected 2 secrets from 'dev' as environment variables: API_KEYS_stripe, DATABASE_URL"
        );
        assert_eq!(
            injected_line(&dev, &Injected::File(Path::new("/t/secrets.env")), &names[..1]),
            "vanta-cli: injected 1 secret from 'dev' into /t/secrets.env (VANTA_SECRETS_FILE): API_KEYS_stripe"
        );
        let minted = minted_token_line("vanta-cli-run", &response(Some(2)).scope_details, 300);
        assert_eq!(
            minted,
            "vanta-cli: using a self-minted token for 'vanta-cli-run' (environment 'dev', \
             key pattern 'DATABASE_*', expires in 300 seconds, usage limit 2)"
        );
    }
}

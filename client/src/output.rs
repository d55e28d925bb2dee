//! The text the CLI shows besides errors: the token summary, the stderr
//! report of `run-with-secrets` ([`report`]), and the terminal newline policy
//! (client leaf layer; pure functions over `vanta_shared` types — `commands`
//! prints).
//!
//! Reports name keys, variables and files, never values or tokens, except
//! the token summary, whose purpose is to show the token.

pub(crate) mod report;

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use vanta_shared::Permission;
use vanta_shared::api::GenerateTokenResponse;

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

/// `now + expires_in` as RFC 3339, whole seconds; `None` if out of range.
pub(crate) fn expiry_time(now: OffsetDateTime, expires_in: u64) -> Option<String> {
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

/// A usage limit, or "unlimited".
pub(crate) fn usage_limit(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use vanta_shared::api::ScopeDetails;

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
}

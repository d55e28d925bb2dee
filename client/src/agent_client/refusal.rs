//! Why the agent most likely refused a token (client leaf layer, part of
//! `agent_client`): the claims of the token the client sent, read without
//! checking the signature, compared with the request and the clock.
//!
//! The agent answers every token failure with the same 401 and every scope
//! failure with the same 403, so that callers learn nothing from the
//! difference; the holder of the token can read its own claims, and this
//! says what they show. It is a guess for the user, never a decision: the
//! agent decided. Nothing here shows the token itself.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vanta_shared::{Claims, EnvName, KeyPath};

/// The reason a 401 or 403 for a request on `env` (and `key`) most likely
/// had, given the token's `claims` (`None`: not readable) at `now` (Unix
/// seconds).
pub(super) fn likely_reason(
    status: u16,
    claims: Option<&Claims>,
    env: &EnvName,
    key: Option<&KeyPath>,
    now: i64,
) -> Option<String> {
    let Some(claims) = claims else {
        return (status == 401).then(|| "the token is not a VANTA token: its claims cannot be read".to_owned());
    };
    let scope = &claims.scope;
    match status {
        401 => Some(unauthorized(claims, now)),
        403 if !scope.allows_env(env) => {
            Some(format!("the token is for environment '{}', not '{env}'", scope.environment))
        }
        403 => match key {
            Some(key) if !scope.key_pattern.matches(key) => {
                Some(format!("the token's key pattern '{}' does not cover the key '{key}'", scope.key_pattern))
            }
            _ => None,
        },
        _ => None,
    }
}

fn unauthorized(claims: &Claims, now: i64) -> String {
    let (exp, nbf) = (to_i64(claims.exp), to_i64(claims.nbf));
    if exp <= now {
        return format!("the token expired at {} ({} ago)", when(exp), span(now - exp));
    }
    if nbf > now {
        return format!("the token is not valid before {} (in {})", when(nbf), span(nbf - now));
    }
    match claims.usage_limit {
        Some(1) => "the token allowed 1 read (--usage-limit) and it was most likely taken".to_owned(),
        Some(n) => format!("the token allowed {n} reads (--usage-limit) and they were most likely all taken"),
        // The agent's 401 is the same for all of these: the claims cannot tell them apart.
        None => "the token was not accepted: revoked (a revoke by subject also refuses tokens minted in its \
                 second), minted by another agent, or the agent's signing key changed"
            .to_owned(),
    }
}

fn to_i64(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// `2026-01-31T12:00:00Z`, or the Unix seconds if out of range.
fn when(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{unix} (Unix time)"))
}

/// `42 seconds`, `1 minute`, `17 minutes`, `3 hours`, `2 days`.
fn span(seconds: i64) -> String {
    let (n, unit) = match seconds {
        s if s < 60 => (s, "second"),
        s if s < 3_600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3_600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn claims(env: &str, pattern: &str, exp: i64, nbf: i64, usage_limit: Option<u64>) -> Claims {
        serde_json::from_value(serde_json::json!({
            "iss": "vanta-agent", "aud": "vanta-vault", "sub": "ci", "exp": exp, "nbf": nbf, "iat": nbf,
            "jti": "j", "usage_limit": usage_limit,
            "scope": {"environment": env, "key_pattern": pattern, "permissions": ["read"]}
        }))
        .expect("valid claims")
    }

    fn reason(status: u16, claims: &Claims, env: &str, key: Option<&str>) -> Option<String> {
        let key: Option<KeyPath> = key.map(|k| k.parse().expect("key"));
        likely_reason(status, Some(claims), &env.parse().expect("env"), key.as_ref(), NOW)
    }

    #[test]
    fn a_401_names_expiry_start_or_usage_limit() {
        let expired = claims("dev", "*", NOW - 17 * 60, NOW - 3_600, None);
        assert_eq!(
            reason(401, &expired, "dev", Some("K")).as_deref(),
            Some("the token expired at 2027-01-15T07:43:00Z (17 minutes ago)")
        );
        let early = claims("dev", "*", NOW + 7_200, NOW + 60, None);
        assert_eq!(
            reason(401, &early, "dev", None).as_deref(),
            Some("the token is not valid before 2027-01-15T08:01:00Z (in 1 minute)")
        );
        let limited = claims("dev", "*", NOW + 60, NOW - 60, Some(3));
        assert!(reason(401, &limited, "dev", None).is_some_and(|r| r.contains("allowed 3 reads")));
        let fine = claims("dev", "*", NOW + 60, NOW - 60, None);
        let not_accepted = reason(401, &fine, "dev", None).unwrap_or_default();
        for cause in ["revoked", "another agent", "signing key changed"] {
            assert!(not_accepted.contains(cause), "{cause}: {not_accepted}");
        }
        assert!(likely_reason(401, None, &"dev".parse().expect("env"), None, NOW).is_some());
    }

    #[test]
    fn a_403_names_the_scope_that_does_not_cover_the_request() {
        let scoped = claims("dev", "DATABASE_*", NOW + 60, NOW - 60, None);
        assert_eq!(
            reason(403, &scoped, "prod", Some("DATABASE_URL")).as_deref(),
            Some("the token is for environment 'dev', not 'prod'")
        );
        assert_eq!(
            reason(403, &scoped, "dev", Some("API_KEYS/stripe")).as_deref(),
            Some("the token's key pattern 'DATABASE_*' does not cover the key 'API_KEYS/stripe'")
        );
        assert_eq!(reason(403, &scoped, "dev", Some("DATABASE_URL")), None, "no guess when the scope covers it");
        assert_eq!(reason(404, &scoped, "dev", Some("DATABASE_URL")), None);
    }
}

//! The probe routes, `GET /healthz` and `GET /readyz` (client leaf layer,
//! part of `agent_client`): a 200 is health; anything else is an [`Error`]
//! that names the agent and, for readiness, each failing check and why.

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use vanta_shared::api::{HEALTHZ_PATH, READYZ_PATH};

use super::error::{one_line, refusal_detail};
use super::{AgentClient, Error};

/// The `/readyz` body: `{"checks": {"name": "ok" | "<problem>"}}`.
#[derive(Deserialize)]
struct ReadyBody {
    checks: serde_json::Map<String, serde_json::Value>,
}

// === impl AgentClient (probes) ===

impl AgentClient {
    /// `GET /healthz`: `Ok` on a 200.
    ///
    /// # Errors
    /// A connection [`Error`], or `Unhealthy` for any other status.
    pub(crate) async fn health(&self) -> Result<(), Error> {
        let (status, body) = self.exchange(Method::GET, HEALTHZ_PATH, None, Bytes::new()).await?;
        if status == StatusCode::OK {
            return Ok(());
        }
        Err(Error::Unhealthy { agent: self.name(), status: status.as_u16(), detail: refusal_detail(status, &body) })
    }

    /// `GET /readyz`: on a 200, each check and its outcome (`ok`).
    ///
    /// # Errors
    /// A connection [`Error`], or `NotReady` naming each failing check (or
    /// the status and message, if the answer names none).
    pub(crate) async fn readiness(&self) -> Result<Vec<(String, String)>, Error> {
        let (status, body) = self.exchange(Method::GET, READYZ_PATH, None, Bytes::new()).await?;
        let checks = readiness_checks(&body);
        if status == StatusCode::OK {
            return Ok(checks.unwrap_or_default());
        }
        let failing = checks.map(|checks| failing_checks(&checks)).filter(|failing| !failing.is_empty());
        let failing = failing.unwrap_or_else(|| format!("{} {}", status.as_u16(), refusal_detail(status, &body)));
        Err(Error::NotReady { agent: self.name(), failing })
    }
}

/// The checks of a `/readyz` body, in the agent's order (sorted by name);
/// `None` if the body has none.
fn readiness_checks(body: &[u8]) -> Option<Vec<(String, String)>> {
    let body: ReadyBody = serde_json::from_slice(body).ok()?;
    let checks = body.checks.into_iter().map(|(name, outcome)| {
        let outcome = match outcome {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        (one_line(&name, 40), one_line(&outcome, 120))
    });
    Some(checks.collect())
}

/// `name: problem, ...` for the checks that are not `ok`.
fn failing_checks(checks: &[(String, String)]) -> String {
    let failing: Vec<String> = checks
        .iter()
        .filter(|(_, outcome)| outcome != "ok")
        .map(|(name, problem)| format!("{name}: {problem}"))
        .collect();
    failing.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_readiness_checks_are_named_with_their_reason() {
        let body = br#"{"error":"not_ready","message":"not ready: audit","status":"not_ready",
            "checks":{"sops":"ok","audit":"the last audit write failed","usage_store":"disk\nfull"}}"#;
        let checks = readiness_checks(body).expect("checks");
        assert_eq!(failing_checks(&checks), "audit: the last audit write failed, usage_store: disk full");
        assert_eq!(readiness_checks(br#"{"error":"not_ready","message":"m"}"#).map(|c| c.len()), None);
        assert_eq!(readiness_checks(br#"{"checks":{"a":false}}"#), Some(vec![("a".to_owned(), "false".to_owned())]));
    }
}

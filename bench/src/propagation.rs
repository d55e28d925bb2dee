//! Revocation propagation: how long from the `200` of a revoke at one agent
//! until another agent on the same store answers `401` for the revoked token.
//!
//! Each run mints a token at agent A for a subject of its own, checks that
//! agent B serves it, revokes the subject at A, then asks B back to back
//! (a new connection per request, `Connection: close`) until it says 401. The
//! delay includes one request round trip at B; every wait has a deadline.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::latency::{Summary, nanos};

/// The two agents and what to read.
#[derive(Debug, Clone)]
pub struct PropagationConfig {
    /// The agent that revokes.
    pub from: PathBuf,
    /// The agent that must refuse.
    pub to: PathBuf,
    /// The secret route fetched at `to` (`/api/v1/vault/dev/KEY`).
    pub path: String,
    /// The environment the tokens are for.
    pub environment: String,
    /// How many revocations to time.
    pub runs: usize,
    /// Give up on one run after this long.
    pub deadline: Duration,
}

/// What `revoke-propagation` prints, as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PropagationReport {
    /// Revocations timed.
    pub runs: usize,
    /// From the revoke's 200 at A to the first 401 at B.
    pub delay: Summary,
}

/// Times `config.runs` revocations.
///
/// # Errors
/// A request that fails, an unexpected status, or a run past its deadline.
pub fn measure(config: &PropagationConfig) -> anyhow::Result<PropagationReport> {
    let mut samples = Vec::with_capacity(config.runs);
    for run in 0..config.runs {
        let subject = format!("bench-revoke-{}-{run}", std::process::id());
        let mint = format!(
            r#"{{"subject":"{subject}","environment":"{}","key_pattern":"*","ttl_minutes":5}}"#,
            config.environment
        );
        let (status, body) = request(&config.from, "POST", "/api/v1/vault/tokens/generate", None, &mint)?;
        if status != 200 {
            bail!("minting at A answered {status}");
        }
        let answer: serde_json::Value = serde_json::from_str(&body).context("mint answer is not JSON")?;
        let token = answer["access_token"].as_str().context("no access_token")?.to_owned();
        let (status, _) = request(&config.to, "GET", &config.path, Some(&token), "")?;
        if status != 200 {
            bail!("B answered {status} before the revoke");
        }
        let revoke = format!(r#"{{"subject":"{subject}"}}"#);
        let (status, _) = request(&config.from, "POST", "/api/v1/vault/tokens/revoke", None, &revoke)?;
        if status != 200 {
            bail!("revoking at A answered {status}");
        }
        let revoked = Instant::now();
        loop {
            let (status, _) = request(&config.to, "GET", &config.path, Some(&token), "")?;
            if status == 401 {
                samples.push(nanos(revoked.elapsed()));
                break;
            }
            if revoked.elapsed() > config.deadline {
                bail!("B still answered {status} {:?} after the revoke", config.deadline);
            }
        }
    }
    let delay = Summary::of(&mut samples).context("no runs")?;
    Ok(PropagationReport { runs: config.runs, delay })
}

/// One HTTP/1.1 request on a fresh connection; the status and body.
fn request(socket: &Path, method: &str, path: &str, token: Option<&str>, body: &str) -> anyhow::Result<(u16, String)> {
    let mut stream =
        UnixStream::connect(socket).with_context(|| format!("failed to connect to {}", socket.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).context("not an HTTP answer")?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

//! Why a request to the agent failed, and how the agent's answer is quoted
//! (client leaf layer, part of `agent_client`).
//!
//! Every variant names the agent (its socket path or URL). Only the
//! documented error body shape is quoted from an answer, on one line and
//! cut short; no token or secret value ever reaches an error.

use std::path::PathBuf;

use hyper::StatusCode;
use serde::Deserialize;
use vanta_shared::api::ErrorBody;

use super::BadToken;
use super::connector::ConnectError;
use super::tls::TlsSetupError;

/// Why a request to the agent failed. Every variant names the agent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// No connection could be made (nothing listens, TLS failed, ...).
    #[error("cannot connect to the agent at {agent}")]
    Connect {
        agent: String,
        /// Whether the agent was reached over TCP (for the hint).
        over_tcp: bool,
        #[source]
        source: ConnectError,
    },
    /// The client's TLS settings are unusable (e.g. the CA file).
    #[error("cannot set up TLS for the agent at {agent}")]
    TlsSetup {
        agent: String,
        #[source]
        source: TlsSetupError,
    },
    /// The connection broke or the answer was not HTTP.
    #[error("failed to talk to the agent at {agent}")]
    Transport {
        agent: String,
        #[source]
        source: Broken,
    },
    /// No whole answer arrived in time: the agent hangs, or the connection
    /// is half-open (its peer gone without a word).
    #[error("the agent at {agent} did not answer within {} s", limit.as_secs())]
    TimedOut { agent: String, limit: std::time::Duration },
    /// The answer's body could not be read (or was too large).
    #[error("failed to read the answer of the agent at {agent}")]
    ReadBody {
        agent: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The agent answered with an error status.
    #[error("the agent at {agent} refused the request: {status} {detail}")]
    Refused {
        agent: String,
        status: u16,
        /// `<code>: <message>` from the error body, or the status reason.
        detail: String,
    },
    /// The agent refused to mint (or revoke) over TCP (403): the admin
    /// credential was missing or wrong.
    #[error("the agent at {agent} refused to {action} over TCP: {status} {detail}")]
    MintForbidden {
        agent: String,
        /// `mint a token` or `revoke tokens`.
        action: &'static str,
        status: u16,
        detail: String,
        /// Whether an admin credential was sent (for the hint).
        credential_sent: bool,
    },
    /// The agent refused to mint (or revoke) for a local caller (403 on the
    /// socket): its minting policy does not cover the caller or the request.
    #[error("the agent at {agent} refused to {action}: {status} {detail}")]
    PolicyRefused {
        agent: String,
        /// `mint a token` or `revoke tokens`.
        action: &'static str,
        status: u16,
        detail: String,
    },
    /// The admin credential file could not be read.
    #[error("failed to read the admin credential file {}", path.display())]
    AdminTokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The admin credential file holds something that cannot be sent.
    #[error("the admin credential in {} is not usable", path.display())]
    AdminToken {
        path: PathBuf,
        #[source]
        source: BadToken,
    },
    /// `GET /healthz` answered something else than 200.
    #[error("the agent at {agent} is not healthy: {status} {detail}")]
    Unhealthy { agent: String, status: u16, detail: String },
    /// `GET /readyz` answered 503: `failing` names each failing check.
    #[error("the agent at {agent} is not ready: {failing}")]
    NotReady { agent: String, failing: String },
    /// A success answer whose body is not what the API promises.
    #[error("the agent at {agent} sent an answer that is not {expected}")]
    Malformed { agent: String, expected: &'static str },
    /// The request could not be assembled.
    #[error("failed to build a request for the agent at {agent}")]
    Request {
        agent: String,
        #[source]
        source: hyper::http::Error,
    },
}

/// Why an exchange broke: the causes under hyper-util's own error, whose
/// text is a Rust debug name (`client error (SendRequest)`), in words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Broken(String);

// === impl Broken ===

impl From<&hyper_util::client::legacy::Error> for Broken {
    fn from(err: &hyper_util::client::legacy::Error) -> Self {
        let causes: Vec<String> =
            std::iter::successors(std::error::Error::source(err), |e| e.source()).map(ToString::to_string).collect();
        let text = if causes.is_empty() { "the exchange failed".to_owned() } else { causes.join(": ") };
        Self(one_line(&text, MAX_DETAIL_CHARS))
    }
}

/// An error body with any `error` string, for codes this client does not know.
#[derive(Deserialize)]
struct LooseErrorBody {
    error: String,
    message: String,
}

/// Longest agent message quoted in an error line.
const MAX_DETAIL_CHARS: usize = 300;

/// `<code>: <message>` from a JSON error body, else the status reason.
/// Only the documented body shape is quoted: a raw body could hold anything.
pub(super) fn refusal_detail(status: StatusCode, body: &[u8]) -> String {
    let detail = if let Ok(known) = serde_json::from_slice::<ErrorBody>(body) {
        format!("{}: {}", known.error, known.message)
    } else if let Ok(loose) = serde_json::from_slice::<LooseErrorBody>(body) {
        format!("{}: {}", loose.error, loose.message)
    } else {
        status.canonical_reason().unwrap_or("(no reason given)").to_owned()
    };
    one_line(&detail, MAX_DETAIL_CHARS)
}

/// `text` with control characters as spaces, cut to `max` characters.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let mut line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect();
    if text.chars().count() > max {
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_quote_code_and_message_on_one_line() {
        let cases: [(u16, &[u8], &str); 4] = [
            (403, br#"{"error":"forbidden","message":"key outside scope"}"#, "forbidden: key outside scope"),
            (418, br#"{"error":"teapot","message":"short\nand stout"}"#, "teapot: short and stout"),
            (502, b"<html>secret?</html>", "Bad Gateway"),
            (599, b"", "(no reason given)"),
        ];
        for (status, body, want) in cases {
            let status = StatusCode::from_u16(status).expect("valid status");
            assert_eq!(refusal_detail(status, body), want);
        }
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(1000);
        let line = one_line(&long, 10);
        assert_eq!(line, format!("{}…", "x".repeat(10)));
    }

    #[test]
    fn errors_name_the_agent_but_not_the_token() {
        let err = Error::Refused { agent: "/x.sock".to_owned(), status: 403, detail: "forbidden: no".to_owned() };
        assert_eq!(err.to_string(), "the agent at /x.sock refused the request: 403 forbidden: no");
        let err = Error::NotReady { agent: "https://h:1".to_owned(), failing: "audit: gone".to_owned() };
        assert_eq!(err.to_string(), "the agent at https://h:1 is not ready: audit: gone");
    }
}

//! How a failure is reported: exactly one line, `vanta-cli: error: <what>`,
//! with a hint when the fix is known, and the exit code (top layer, used by
//! `main`; reads the errors of `agent_client` and `child`, prints nothing).
//!
//! The line is the error's chain joined by `: ` (as `{:#}` would), with each
//! part on one line and without Rust's `(os error N)` suffixes. Errors in this
//! crate never hold secret values or tokens, so the chain is safe to show.

use std::error::Error;
use std::io;

use crate::agent_client;
use crate::agent_client::TlsFailure;
use crate::child;
use crate::cli::Misuse;
use crate::output::PREFIX;

/// Exit code of every failure that is not the child's or a usage error.
const FAILURE: u8 = 1;
/// Exit code of a usage error, as clap's.
const USAGE: u8 = 2;

/// The line to print for `err`, without a trailing newline.
pub fn error_line(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in chain(err) {
        let part = clean(&cause.to_string());
        if !part.is_empty() && parts.last() != Some(&part) {
            parts.push(part);
        }
    }
    let mut line = format!("{PREFIX}: error: {}", parts.join(": "));
    if let Some(hint) = chain(err).find_map(hint) {
        line.push_str(&format!(" ({hint})"));
    }
    line
}

/// The exit code for `err`: the child's code if the command could not be
/// run (127 not found, 126 not executable), 2 for options that cannot be
/// used together, 1 otherwise.
pub fn exit_code(err: &(dyn Error + 'static)) -> u8 {
    chain(err)
        .find_map(|cause| {
            let usage = cause.downcast_ref::<Misuse>().map(|_| USAGE);
            usage.or_else(|| cause.downcast_ref::<child::Error>().map(child::Error::exit_code))
        })
        .unwrap_or(FAILURE)
}

fn chain<'a>(err: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
}

fn hint(cause: &(dyn Error + 'static)) -> Option<&'static str> {
    use agent_client::{ConnectError, Error as Agent};
    match cause.downcast_ref::<Agent>()? {
        Agent::Connect { source: ConnectError::Io(io), over_tcp: false, .. } => match io.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                Some("is vanta-agent running? set --socket or VANTA_AGENT_SOCKET")
            }
            io::ErrorKind::PermissionDenied => {
                Some("the socket's mode or group does not let this user in; see vanta-agent --socket-mode")
            }
            _ => None,
        },
        Agent::Connect { source: ConnectError::Io(io), over_tcp: true, .. } => match io.kind() {
            io::ErrorKind::ConnectionRefused => {
                Some("is vanta-agent listening there with --listen-tcp? check --url or VANTA_AGENT_URL")
            }
            _ => None,
        },
        Agent::Connect { source: ConnectError::Tls(failure), .. } => Some(tls_hint(failure)),
        Agent::MintForbidden { credential_sent: false, .. } => Some(
            "minting over TCP needs the agent's admin credential: set --admin-token-file or VANTA_ADMIN_TOKEN_FILE",
        ),
        Agent::MintForbidden { credential_sent: true, .. } => {
            Some("the admin credential was not accepted, or the agent's minting policy refuses this scope")
        }
        Agent::PolicyRefused { .. } => Some(
            "the agent's minting policy does not let this program ask for that (environment, key pattern, --ttl, \
             usage limit, or revoking): vanta-agent policy explain --pid PID shows its rule, the audit log the reason",
        ),
        Agent::Refused { status, detail, .. } => refusal_hint(*status, detail),
        _ => None,
    }
}

/// The fix for a refused read, by status and the agent's message.
fn refusal_hint(status: u16, detail: &str) -> Option<&'static str> {
    match status {
        401 => Some("mint a new token with vanta-cli token generate, or give none and vanta-cli mints its own"),
        403 => Some("use a token whose --environment and --key-pattern cover this key"),
        404 if detail.contains("no such environment") => Some(
            "check --environment: the agent has no ENV.enc.yaml, .yml, .json, .env or .ini file for it in its \
             --sops-files-path",
        ),
        404 if detail.contains("map") => Some("vanta-cli list --environment ENV shows the keys below it"),
        404 if detail.contains("no such key") => {
            Some("vanta-cli list --environment ENV shows the keys this token may read")
        }
        // Not only bugs: a sops the agent cannot start at all answers so.
        500 if detail.starts_with("internal:") => Some(
            "the agent's log has the cause; vanta-cli health --ready and vanta-agent doctor check its set-up, \
             such as a --sops-bin that cannot be started",
        ),
        _ => None,
    }
}

fn tls_hint(failure: &TlsFailure) -> &'static str {
    match failure {
        TlsFailure::Expired { .. } | TlsFailure::NotValidYet { .. } => {
            "renew the agent's certificate (vanta-agent --tls-cert), then send the agent SIGHUP; check this machine's clock"
        }
        TlsFailure::WrongName { .. } => "use a --url whose host is named in the agent's certificate, or reissue it",
        TlsFailure::CaUsedAsEndEntity => {
            "give the agent a server certificate signed by a CA of --ca-cert, or put this very certificate in --ca-cert"
        }
        TlsFailure::NotTls => {
            "is that port the agent's TLS listener? an agent started with --insecure-tcp needs http://"
        }
        _ => "--ca-cert or VANTA_CA_CERT must hold the CA that signed the agent's certificate",
    }
}

/// One line: control characters become spaces, `(os error N)` goes.
fn clean(text: &str) -> String {
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => text,
    };
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use anyhow::Context;

    use super::*;

    fn connect_error(kind_errno: i32) -> agent_client::Error {
        agent_client::Error::Connect {
            agent: "/run/vanta/agent.sock".to_owned(),
            over_tcp: false,
            source: agent_client::ConnectError::Io(Arc::new(io::Error::from_raw_os_error(kind_errno))),
        }
    }

    #[test]
    fn connection_failures_name_socket_cause_and_fix() {
        let err = anyhow::Error::from(connect_error(2));
        assert_eq!(
            error_line(err.as_ref()),
            "vanta-cli: error: cannot connect to the agent at /run/vanta/agent.sock: \
             No such file or directory (is vanta-agent running? set --socket or VANTA_AGENT_SOCKET)"
        );
        assert_eq!(exit_code(err.as_ref()), 1);
    }

    #[test]
    fn tcp_failures_name_the_url_and_the_fix() {
        let refused = agent_client::Error::Connect {
            agent: "https://127.0.0.1:9".to_owned(),
            over_tcp: true,
            source: agent_client::ConnectError::Io(Arc::new(io::Error::from_raw_os_error(111))),
        };
        assert_eq!(
            error_line(anyhow::Error::from(refused).as_ref()),
            "vanta-cli: error: cannot connect to the agent at https://127.0.0.1:9: Connection refused \
             (is vanta-agent listening there with --listen-tcp? check --url or VANTA_AGENT_URL)"
        );
        let forbidden = agent_client::Error::MintForbidden {
            agent: "https://h:1".to_owned(),
            action: "mint a token",
            status: 403,
            detail: "forbidden: no".to_owned(),
            credential_sent: false,
        };
        let line = error_line(anyhow::Error::from(forbidden).context("failed to mint").as_ref());
        assert!(
            line.starts_with("vanta-cli: error: failed to mint: the agent at https://h:1 refused to mint"),
            "{line}"
        );
        assert!(line.ends_with("set --admin-token-file or VANTA_ADMIN_TOKEN_FILE)"), "{line}");
    }

    #[test]
    fn a_mint_the_policy_refuses_on_the_socket_points_at_the_policy_not_at_a_token() {
        let refused = agent_client::Error::PolicyRefused {
            agent: "/run/vanta/agent.sock".to_owned(),
            action: "mint a token",
            status: 403,
            detail: "forbidden: the token does not allow this request".to_owned(),
        };
        let line = error_line(anyhow::Error::from(refused).context("failed to mint").as_ref());
        assert!(line.contains("refused to mint a token: 403"), "{line}");
        assert!(line.contains("minting policy") && !line.contains("use a token whose"), "{line}");
    }

    #[test]
    fn context_and_agent_answer_are_on_one_line() {
        let refused = agent_client::Error::Refused {
            agent: "/x.sock".to_owned(),
            status: 404,
            detail: "not_found: no such key".to_owned(),
        };
        let err = Err::<(), _>(refused).context("failed to fetch 'DB\nURL' from 'dev'").expect_err("err");
        assert_eq!(
            error_line(err.as_ref()),
            "vanta-cli: error: failed to fetch 'DB URL' from 'dev': \
             the agent at /x.sock refused the request: 404 not_found: no such key \
             (vanta-cli list --environment ENV shows the keys this token may read)"
        );
    }

    #[test]
    fn repeated_causes_are_shown_once() {
        let inner = io::Error::other("boom");
        let err = anyhow::Error::new(inner).context("boom").context("outer");
        assert_eq!(error_line(err.as_ref()), "vanta-cli: error: outer: boom");
    }

    #[test]
    fn child_errors_keep_their_exit_codes() {
        let spawn = child::Error::Spawn { program: "nope".to_owned(), source: io::Error::from_raw_os_error(2) };
        let err = anyhow::Error::from(spawn).context("running the command");
        assert_eq!(exit_code(err.as_ref()), 127);
        assert_eq!(
            error_line(err.as_ref()),
            "vanta-cli: error: running the command: cannot run nope: No such file or directory"
        );
    }

    #[test]
    fn os_error_suffixes_go() {
        assert_eq!(clean("Permission denied (os error 13)"), "Permission denied");
        assert_eq!(clean("keeps (this)"), "keeps (this)");
    }
}

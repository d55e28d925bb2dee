//! A failed TLS handshake in words (client leaf layer, part of
//! `agent_client::tls`): what was wrong with the agent's certificate or
//! answer, never a Rust debug string, so the CLI can print it and hint at
//! the fix.

use std::fmt;

use rustls::pki_types::UnixTime;
use rustls::{CertificateError, Error as RustlsError};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why the handshake with the agent failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TlsFailure {
    /// The certificate's validity ended (at this Unix time, when known).
    Expired { not_after: Option<u64> },
    /// The certificate's validity has not begun (at this Unix time, when known).
    NotValidYet { not_before: Option<u64> },
    /// The certificate does not name the URL's host.
    WrongName { expected: Option<String>, presented: Vec<String> },
    /// No trusted CA signed the certificate.
    UnknownIssuer,
    /// The agent presents a CA certificate as its own.
    CaUsedAsEndEntity,
    /// Another problem with the certificate, in words.
    BadCertificate(&'static str),
    /// The agent does not speak TLS on that port.
    NotTls,
    /// The agent ended the handshake (it may not accept this client).
    AlertReceived,
    /// No TLS version or cipher suite in common.
    Incompatible,
    /// Anything else.
    Other,
}

// === impl TlsFailure ===

impl From<&RustlsError> for TlsFailure {
    fn from(err: &RustlsError) -> Self {
        match err {
            RustlsError::InvalidCertificate(cert) => Self::from(cert),
            RustlsError::InvalidMessage(_) | RustlsError::PeerSentOversizedRecord => Self::NotTls,
            RustlsError::AlertReceived(_) => Self::AlertReceived,
            RustlsError::PeerIncompatible(_) => Self::Incompatible,
            _ => Self::Other,
        }
    }
}

impl From<&CertificateError> for TlsFailure {
    fn from(err: &CertificateError) -> Self {
        use CertificateError as C;
        match err {
            C::Expired => Self::Expired { not_after: None },
            C::ExpiredContext { not_after, .. } => Self::Expired { not_after: Some(seconds(*not_after)) },
            C::NotValidYet => Self::NotValidYet { not_before: None },
            C::NotValidYetContext { not_before, .. } => Self::NotValidYet { not_before: Some(seconds(*not_before)) },
            C::NotValidForName => Self::WrongName { expected: None, presented: Vec::new() },
            C::NotValidForNameContext { expected, presented } => {
                Self::WrongName { expected: Some(expected.to_str().into_owned()), presented: presented.clone() }
            }
            C::UnknownIssuer => Self::UnknownIssuer,
            C::BadEncoding => Self::BadCertificate("the agent's certificate is not well-formed"),
            C::BadSignature => Self::BadCertificate("the agent's certificate has a bad signature"),
            C::Revoked => Self::BadCertificate("the agent's certificate is revoked"),
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                Self::BadCertificate("the agent's certificate is not for TLS servers (extended key usage)")
            }
            // rustls passes webpki errors it has no variant for through as
            // `Other`: a CA certificate used as the server's is one.
            C::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
                Some(webpki::Error::CaUsedAsEndEntity) => Self::CaUsedAsEndEntity,
                _ => Self::BadCertificate("the agent's certificate was not accepted"),
            },
            _ => Self::BadCertificate("the agent's certificate was not accepted"),
        }
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expired { not_after: Some(at) } => write!(f, "the agent's certificate expired at {}", when(*at)),
            Self::Expired { not_after: None } => f.write_str("the agent's certificate has expired"),
            Self::NotValidYet { not_before: Some(at) } => {
                write!(f, "the agent's certificate is not valid before {}", when(*at))
            }
            Self::NotValidYet { not_before: None } => f.write_str("the agent's certificate is not valid yet"),
            Self::WrongName { expected, presented } => {
                let name = expected.as_ref().map_or_else(|| "the URL's host".to_owned(), |n| format!("the name {n}"));
                if presented.is_empty() {
                    write!(f, "the agent's certificate is not valid for {name}")
                } else {
                    write!(f, "the agent's certificate is not valid for {name} (it names {})", presented.join(", "))
                }
            }
            Self::UnknownIssuer => f.write_str("the agent's certificate is not signed by a trusted CA"),
            Self::CaUsedAsEndEntity => f.write_str("the agent presents a CA certificate as its server certificate"),
            Self::BadCertificate(words) => f.write_str(words),
            Self::NotTls => f.write_str("the agent did not answer in TLS"),
            Self::AlertReceived => f.write_str("the agent ended the handshake"),
            Self::Incompatible => f.write_str("the agent offers no TLS version or cipher suite this client accepts"),
            Self::Other => f.write_str("the TLS connection failed"),
        }
    }
}

fn seconds(time: UnixTime) -> u64 {
    time.as_secs()
}

/// `2026-01-31T12:00:00Z`, or the raw seconds if out of range.
fn when(unix_seconds: u64) -> String {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{unix_seconds} (Unix time)"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::OtherError;
    use rustls::pki_types::ServerName;

    use super::*;

    #[test]
    fn certificate_problems_are_said_in_words() {
        let name = ServerName::try_from("vanta.internal").expect("name").to_owned();
        let cases: Vec<(CertificateError, &str)> = vec![
            (
                CertificateError::ExpiredContext {
                    time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_800_000_000)),
                    not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000)),
                },
                "the agent's certificate expired at 2023-11-14T22:13:20Z",
            ),
            (
                CertificateError::NotValidForNameContext {
                    expected: name,
                    presented: vec!["DnsName(\"other\")".to_owned()],
                },
                "the agent's certificate is not valid for the name vanta.internal (it names DnsName(\"other\"))",
            ),
            (CertificateError::UnknownIssuer, "the agent's certificate is not signed by a trusted CA"),
            (
                CertificateError::Other(OtherError(Arc::new(webpki::Error::CaUsedAsEndEntity))),
                "the agent presents a CA certificate as its server certificate",
            ),
        ];
        for (err, want) in cases {
            let words = TlsFailure::from(&RustlsError::InvalidCertificate(err)).to_string();
            assert_eq!(words, want);
            assert!(!words.contains("Context") && !words.contains("Other("), "{words}");
        }
    }

    #[test]
    fn a_plain_http_answer_is_not_tls() {
        let err = RustlsError::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert_eq!(TlsFailure::from(&err).to_string(), "the agent did not answer in TLS");
    }
}

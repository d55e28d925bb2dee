//! The TLS client settings for an `https://` agent URL (client leaf layer,
//! part of `agent_client`): rustls with the ring provider, TLS 1.2 and 1.3,
//! no client certificate (hyper-rustls adds HTTP/1.1 by ALPN); and
//! [`TlsFailure`], a failed handshake in words.
//!
//! Trusted CAs: exactly the certificates of `--ca-cert` when given (like
//! `curl --cacert`, including a self-signed CA certificate that the agent
//! serves as its own: `pinned`), else the system's (`rustls-native-certs`:
//! the OS store, `SSL_CERT_FILE`, `SSL_CERT_DIR`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, InvalidDnsNameError, ServerName};
use rustls::{ClientConfig, RootCertStore};

mod failure;
mod pinned;

pub(crate) use failure::TlsFailure;

/// Why the TLS settings cannot be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsSetupError {
    /// The CA file could not be read.
    #[error("failed to read the CA certificate file {}", path.display())]
    ReadCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The CA file is not PEM, or a certificate in it is not usable.
    #[error("the CA certificate file {} is not a PEM file of usable CA certificates", path.display())]
    BadCa {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The CA file holds no certificate.
    #[error("the CA certificate file {} holds no certificate", path.display())]
    EmptyCa { path: PathBuf },
    /// The system has no trusted CA certificates.
    #[error("no trusted CA certificates found on this system; give the agent's CA with --ca-cert or VANTA_CA_CERT")]
    NoSystemRoots,
    /// The URL's host cannot be checked against a certificate.
    #[error("the host '{host}' is not a valid name for a TLS certificate")]
    ServerName {
        host: String,
        #[source]
        source: InvalidDnsNameError,
    },
    /// rustls refused the protocol versions (it does not with ring).
    #[error("failed to configure TLS")]
    Config(#[source] rustls::Error),
}

/// The client settings, trusting `ca_file` or else the system's CAs.
///
/// # Errors
/// [`TlsSetupError`] if the CAs cannot be loaded.
pub(super) fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsSetupError::Config)?;
    let Some(path) = ca_file else {
        return Ok(builder.with_root_certificates(system_roots()?).with_no_client_auth());
    };
    let (roots, pinned) = roots_from_file(path)?;
    let chained = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| TlsSetupError::BadCa { path: path.to_owned(), source: e.into() })?;
    let verifier = Arc::new(pinned::PinnedOrChained { chained, pinned });
    Ok(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
}

/// The name the agent's certificate must carry: the URL's host.
///
/// # Errors
/// [`TlsSetupError::ServerName`] if it is neither a DNS name nor an IP.
pub(super) fn server_name(host: &str) -> Result<ServerName<'static>, TlsSetupError> {
    ServerName::try_from(host.to_owned()).map_err(|source| TlsSetupError::ServerName { host: host.to_owned(), source })
}

/// The CAs of a PEM file, and its certificates as they are (for pinning).
fn roots_from_file(path: &Path) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), TlsSetupError> {
    let pem = std::fs::read(path).map_err(|source| TlsSetupError::ReadCa { path: path.to_owned(), source })?;
    let bad = |source: Box<dyn std::error::Error + Send + Sync>| TlsSetupError::BadCa { path: path.to_owned(), source };
    let mut roots = RootCertStore::empty();
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(e.into()))?;
        roots.add(cert.clone()).map_err(|e| bad(e.into()))?;
        certs.push(cert);
    }
    if roots.is_empty() {
        return Err(TlsSetupError::EmptyCa { path: path.to_owned() });
    }
    Ok((roots, certs))
}

fn system_roots() -> Result<RootCertStore, TlsSetupError> {
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        tracing::debug!(error = %err, "a system CA certificate store could not be read");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "system CA certificates loaded");
    if roots.is_empty() {
        return Err(TlsSetupError::NoSystemRoots);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_pem_certificates() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = dir.path().join("missing.pem");
        assert!(matches!(roots_from_file(&missing), Err(TlsSetupError::ReadCa { .. })));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no PEM here\n").expect("written");
        assert!(matches!(roots_from_file(&empty), Err(TlsSetupError::EmptyCa { .. })));
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").expect("written");
        assert!(matches!(roots_from_file(&garbage), Err(TlsSetupError::BadCa { .. })));
    }

    #[test]
    fn server_names_are_dns_names_or_addresses() {
        assert!(server_name("vanta.internal").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("::1").is_ok());
        assert!(server_name("bad name").is_err());
    }
}

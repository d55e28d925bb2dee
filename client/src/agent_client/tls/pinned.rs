//! Trust in a `--ca-cert` file that holds the agent's own certificate
//! (client leaf layer, part of `agent_client::tls`), as curl accepts it.
//!
//! `openssl req -x509` makes a self-signed certificate that is also a CA
//! (`basicConstraints CA:TRUE`). Given to curl with `--cacert` and served
//! by the agent, curl (OpenSSL) accepts it; webpki refuses a CA certificate
//! as a server's. [`PinnedOrChained`] accepts it only when the agent serves
//! byte for byte a certificate of the `--ca-cert` file (the operator pinned
//! it), it is in date and it names the URL's host; the agent still proves it
//! holds the key in the handshake. Everything else is webpki's answer.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, Error, SignatureScheme};

use super::TlsFailure;

/// webpki's chain check, and the exact certificates of `--ca-cert` as the
/// agent's own.
#[derive(Debug)]
pub(super) struct PinnedOrChained {
    pub(super) chained: Arc<WebPkiServerVerifier>,
    pub(super) pinned: Vec<CertificateDer<'static>>,
}

// === impl PinnedOrChained ===

impl ServerCertVerifier for PinnedOrChained {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self.chained.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            // webpki checks the validity period before it refuses the CA
            // flag, so this certificate is in date; the name is left.
            Err(err)
                if TlsFailure::from(&err) == TlsFailure::CaUsedAsEndEntity
                    && self.pinned.iter().any(|pinned| pinned.as_ref() == end_entity.as_ref()) =>
            {
                verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chained.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chained.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chained.supported_verify_schemes()
    }
}

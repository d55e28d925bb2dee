//! TLS material and clients for the agent's TCP listener (harness).
//!
//! [`Pki`] makes a fresh CA and a leaf certificate it signs (for `localhost`
//! and `127.0.0.1`) with `rcgen` at run time; nothing is checked in.
//! [`HttpsClient`] is a rustls client that trusts exactly one CA and speaks
//! exactly one TLS version; [`plain_request`] is plain HTTP over TCP. Both use
//! [`crate::http::exchange`], so responses parse as on the Unix socket.

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ProtocolVersion, RootCertStore, StreamOwned, SupportedProtocolVersion};

use crate::http::{self, Response};

/// A CA and a leaf certificate signed by it.
pub struct Pki {
    /// The CA certificate, for clients to trust.
    pub ca: CertificateDer<'static>,
    /// The leaf certificate chain (leaf, then CA), PEM.
    pub chain_pem: String,
    /// The leaf's private key, PEM (PKCS#8).
    pub key_pem: String,
}

/// The server certificate a [`Pki`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// Signed by the CA, for `localhost` and `127.0.0.1`, valid now.
    Valid,
    /// As `Valid`, but it expired on 2021-01-01.
    Expired,
    /// As `Valid`, but for `vanta.example` only.
    OtherName,
    /// A CA certificate signed by the CA, for `localhost` and `127.0.0.1`.
    SubCa,
    /// No leaf: the CA certificate itself (with the CA's key) is served,
    /// for `localhost` and `127.0.0.1` (as `openssl req -x509` makes one).
    TheCa,
    /// As `TheCa`, but for `vanta.example` only.
    TheCaOtherName,
}

/// A TLS client trusting one CA, speaking one protocol version.
pub struct HttpsClient {
    config: Arc<ClientConfig>,
}

/// How long connecting or one exchange may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

// === impl Pki ===

impl Pki {
    /// A new CA named `ca_name` and a leaf for `localhost` and `127.0.0.1`.
    ///
    /// # Panics
    /// If rcgen fails (it does not for these parameters).
    pub fn generate(ca_name: &str) -> Self {
        Self::generate_with(ca_name, Leaf::Valid)
    }

    /// A new CA named `ca_name` and the server certificate `leaf` says.
    ///
    /// # Panics
    /// If rcgen fails (it does not for these parameters).
    pub fn generate_with(ca_name: &str, leaf: Leaf) -> Self {
        // A CA served as the agent's own certificate carries the agent's names.
        let ca_names = match leaf {
            Leaf::TheCa => vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            Leaf::TheCaOtherName => vec!["vanta.example".to_owned()],
            _ => vec![],
        };
        let mut ca_params = CertificateParams::new(ca_names).expect("valid names");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, ca_name);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = KeyPair::generate().expect("a CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("a self-signed CA");
        if matches!(leaf, Leaf::TheCa | Leaf::TheCaOtherName) {
            let (chain_pem, key_pem) = (ca_cert.pem(), ca_key.serialize_pem());
            return Self { ca: ca_cert.der().clone(), chain_pem, key_pem };
        }
        let issuer = Issuer::new(ca_params, ca_key);
        let names = match leaf {
            Leaf::OtherName => vec!["vanta.example".to_owned()],
            _ => vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
        };
        let mut leaf_params = CertificateParams::new(names).expect("valid names");
        leaf_params.distinguished_name.push(DnType::CommonName, "vanta-agent test leaf");
        if leaf == Leaf::SubCa {
            leaf_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        if leaf == Leaf::Expired {
            leaf_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            leaf_params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let leaf_key = KeyPair::generate().expect("a leaf key");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("a CA-signed leaf");
        Self {
            ca: ca_cert.der().clone(),
            chain_pem: format!("{}{}", leaf.pem(), ca_cert.pem()),
            key_pem: leaf_key.serialize_pem(),
        }
    }

    /// Writes the chain to `cert` and the key to `key` (inside the test's
    /// private temporary directory), replacing what is there.
    ///
    /// # Panics
    /// If the files cannot be written.
    pub fn write(&self, cert: &Path, key: &Path) {
        if let Some(dir) = cert.parent() {
            fs::create_dir_all(dir).expect("the certificate directory can be created");
        }
        fs::write(cert, &self.chain_pem).expect("the certificate can be written");
        fs::write(key, &self.key_pem).expect("the key can be written");
    }

    /// A client trusting this CA, speaking `version` only.
    pub fn client(&self, version: &'static SupportedProtocolVersion) -> HttpsClient {
        HttpsClient::new(&self.ca, version)
    }
}

// === impl HttpsClient ===

impl HttpsClient {
    /// A client that trusts `ca` only and speaks `version` only.
    ///
    /// # Panics
    /// If rustls refuses the configuration.
    pub fn new(ca: &CertificateDer<'static>, version: &'static SupportedProtocolVersion) -> Self {
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone()).expect("the CA certificate is usable");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self { config: Arc::new(config) }
    }

    /// One request to `addr`, verifying the server as `localhost`; returns
    /// the response and the negotiated TLS version.
    ///
    /// # Errors
    /// Connecting, the handshake (e.g. an untrusted certificate) or the
    /// exchange failed.
    pub fn request(
        &self,
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<(Response, Option<ProtocolVersion>)> {
        let name = ServerName::try_from("localhost").expect("a valid DNS name");
        let conn = ClientConnection::new(Arc::clone(&self.config), name).map_err(io::Error::other)?;
        let mut tls = StreamOwned::new(conn, connect(addr)?);
        let response = http::exchange(&mut tls, method, path, headers, body)?;
        Ok((response, tls.conn.protocol_version()))
    }

    /// `GET path` without headers.
    ///
    /// # Errors
    /// As [`HttpsClient::request`].
    pub fn get(&self, addr: SocketAddr, path: &str) -> io::Result<Response> {
        self.request(addr, "GET", path, &[], None).map(|(r, _)| r)
    }
}

// === plain TCP ===

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// One plain-HTTP request over TCP.
///
/// # Errors
/// Connecting or the exchange failed, or the answer is not HTTP.
pub fn plain_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> io::Result<Response> {
    http::exchange(&mut connect(addr)?, method, path, headers, body)
}

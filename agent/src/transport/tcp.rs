//! The optional TCP listener: HTTPS (rustls, TLS 1.2+), or plain HTTP on a
//! loopback address when the operator explicitly asks for it.
//!
//! Connections are accepted raw; the TLS handshake runs in the connection's
//! own task (a slow handshake never blocks the accept loop). The certificate
//! and key are reloaded on SIGHUP; a reload that fails keeps the old ones.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::peer::Peer;

/// A bound TCP listener, with TLS unless configured as plain loopback HTTP.
pub struct TcpServer {
    listener: TcpListener,
    tls: Option<Arc<TlsFiles>>,
}

/// Reloads a [`TcpServer`]'s certificate and key from another task.
#[derive(Clone)]
pub struct TlsReloader {
    files: Arc<TlsFiles>,
}

/// The certificate and key files, and the acceptor built from them.
struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    acceptor: RwLock<TlsAcceptor>,
}

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The PEM file could not be read or holds no usable item.
    #[error("failed to read {what} from {path}")]
    Pem {
        /// Certificate or key.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("no certificate in {0}")]
    NoCertificate(PathBuf),
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("failed to build the TLS configuration")]
    Config(#[source] rustls::Error),
}

// === impl TcpServer ===

impl TcpServer {
    /// Binds `addr`; with `tls` = `Some((cert, key))` every connection must
    /// complete a TLS handshake.
    ///
    /// # Errors
    /// The bind error, or why the TLS material is unusable.
    pub async fn bind(addr: SocketAddr, tls: Option<(&Path, &Path)>) -> anyhow::Result<Self> {
        let tls = match tls {
            Some((cert, key)) => {
                let acceptor = RwLock::new(load_acceptor(cert, key)?);
                Some(Arc::new(TlsFiles { cert: cert.to_owned(), key: key.to_owned(), acceptor }))
            }
            None => None,
        };
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, tls })
    }

    /// The bound address (useful with port 0).
    ///
    /// # Errors
    /// If the socket has no local address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether connections are TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Accepts one TCP connection (no handshake yet).
    ///
    /// # Errors
    /// The accept error.
    pub async fn accept(&self) -> std::io::Result<(TcpStream, Peer)> {
        let (stream, addr) = self.listener.accept().await?;
        // Small request/response exchanges: don't wait to fill packets.
        let _ = stream.set_nodelay(true);
        Ok((stream, Peer::Tcp(addr.ip())))
    }

    /// The acceptor for the handshake, `None` for plain HTTP.
    pub fn acceptor(&self) -> Option<TlsAcceptor> {
        let files = self.tls.as_ref()?;
        Some(files.acceptor.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }

    /// Re-reads the certificate and key (on SIGHUP). New connections use
    /// them; on failure the old ones stay in use.
    ///
    /// # Errors
    /// Why the new material is unusable.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.reloader().map_or(Ok(()), |reloader| reloader.reload())
    }

    /// A handle that reloads this server's TLS material; `None` for plain HTTP.
    pub fn reloader(&self) -> Option<TlsReloader> {
        self.tls.as_ref().map(|files| TlsReloader { files: Arc::clone(files) })
    }
}

// === impl TlsReloader ===

impl TlsReloader {
    /// Re-reads the certificate and key (on SIGHUP). New connections use
    /// them; on failure the old ones stay in use.
    ///
    /// # Errors
    /// Why the new material is unusable.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = load_acceptor(&self.files.cert, &self.files.key)?;
        *self.files.acceptor.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }
}

/// Builds a TLS 1.2+ server configuration, HTTP/1.1 only.
/// Whether `cert` and `key` make a TLS server configuration, as start-up
/// loads them (`doctor` asks).
///
/// # Errors
/// Why the material is unusable.
pub fn check_tls_files(cert: &Path, key: &Path) -> Result<(), TlsError> {
    load_acceptor(cert, key).map(drop)
}

fn load_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let pem_error = |what, path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Pem { what, path, source }
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(pem_error("certificates", cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error("certificates", cert))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_owned()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(pem_error("private key", key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
        let (cert_path, key_path) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
        (cert_path, key_path)
    }

    #[tokio::test]
    async fn loads_reloads_and_refuses_bad_material() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = write_pair(dir.path(), "a");
        let server = TcpServer::bind("127.0.0.1:0".parse().expect("addr"), Some((&cert, &key))).await.expect("bind");
        assert!(server.is_tls() && server.acceptor().is_some());
        // A new pair written over the files is picked up.
        let (cert2, key2) = write_pair(dir.path(), "b");
        std::fs::rename(cert2, &cert).expect("rotate cert");
        std::fs::rename(key2, &key).expect("rotate key");
        server.reload().expect("reload");
        // A broken file is refused and the old acceptor stays.
        std::fs::write(&key, "not a key").expect("break key");
        assert!(server.reload().is_err());
        assert!(server.acceptor().is_some());
        std::fs::write(&cert, "").expect("empty cert");
        assert!(matches!(load_acceptor(&cert, &key), Err(TlsError::NoCertificate(_))));
    }

    #[tokio::test]
    async fn a_mismatched_key_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, _) = write_pair(dir.path(), "a");
        let (_, other_key) = write_pair(dir.path(), "b");
        assert!(matches!(load_acceptor(&cert, &other_key), Err(TlsError::Config(_))));
    }
}

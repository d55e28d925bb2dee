//! Binding the listeners the configuration names (part of `app`, layer L4):
//! the Unix socket, then the optional TCP listener, each under its own cap,
//! with one `info!` line per listener.

use anyhow::Context;

use crate::config::{Listen, TcpConfig};
use crate::transport::{Listeners, TcpServer, UnixSocket};

/// Binds every listener of `listen`; `attest` pins each peer's process at
/// the accept, which attesting callers needs.
///
/// # Errors
/// A socket or address that cannot be bound, naming the flags to change.
pub(super) async fn bind(listen: &Listen, attest: bool) -> anyhow::Result<Listeners> {
    let socket = &listen.socket;
    let mut unix = UnixSocket::bind(&socket.path, socket.mode)
        .context("failed to listen on the socket (set --socket or VANTA_AGENT_SOCKET)")?;
    if attest {
        unix.pin_peer_processes();
    }
    tracing::info!(socket = %unix.path().display(), mode = format!("{:o}", socket.mode), "listening");
    let tcp = match &listen.tcp {
        None => None,
        Some(tcp) => Some((bind_tcp(tcp).await?, tcp.max_connections)),
    };
    Ok(Listeners::new(unix, socket.max_connections, tcp))
}

async fn bind_tcp(tcp: &TcpConfig) -> anyhow::Result<TcpServer> {
    let tls = tcp.tls.as_ref().map(|(cert, key)| (cert.as_path(), key.as_path()));
    let server = TcpServer::bind(tcp.addr, tls).await.with_context(|| {
        format!(
            "failed to listen on {} (set --listen-tcp, --tls-cert and --tls-key, or their VANTA_ variables)",
            tcp.addr
        )
    })?;
    let addr = server.local_addr().map_or_else(|_| tcp.addr.to_string(), |a| a.to_string());
    let scheme = if server.is_tls() { "https" } else { "http (insecure, loopback only)" };
    tracing::info!(addr = %addr, scheme, "listening");
    Ok(server)
}

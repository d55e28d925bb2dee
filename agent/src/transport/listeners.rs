//! Every listener of the agent behind one `accept`, each with its own
//! connection cap.
//!
//! [`Listeners::accept`] yields the next connection from the socket or TCP,
//! with its peer, whether it still needs a TLS handshake, and its place under
//! its own listener's cap. A place is taken before accepting, so at the cap
//! new clients wait in the kernel's queue instead of using memory; because
//! the caps are separate, TCP clients can never take the socket's places.

use std::io;
use std::sync::Arc;

use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use super::{TcpServer, UnixSocket};
use crate::peer::Peer;

/// The socket and the optional TCP listener, each with its cap.
pub struct Listeners {
    unix: Capped<UnixSocket>,
    tcp: Option<Capped<TcpServer>>,
}

/// A connection just accepted.
pub struct Accepted {
    /// The stream.
    pub conn: Conn,
    /// Who is on the other end.
    pub peer: Peer,
    /// Its place under its listener's cap; hold it until the connection ends.
    pub slot: OwnedSemaphorePermit,
}

/// The stream of an accepted connection: which listener, and TLS or not.
pub enum Conn {
    /// From the Unix socket.
    Unix(UnixStream),
    /// From TCP, plain HTTP (loopback only).
    Tcp(TcpStream),
    /// From TCP; the TLS handshake is still to be done (in the connection's task).
    Tls(TcpStream, TlsAcceptor),
}

struct Capped<L> {
    listener: L,
    slots: Arc<Semaphore>,
}

// === impl Listeners ===

impl Listeners {
    /// The socket with at most `unix_cap` connections at once, and TCP, when
    /// it listens, with at most its own cap.
    pub fn new(unix: UnixSocket, unix_cap: usize, tcp: Option<(TcpServer, usize)>) -> Self {
        let unix = Capped { listener: unix, slots: Arc::new(Semaphore::new(unix_cap)) };
        let tcp = tcp.map(|(listener, cap)| Capped { listener, slots: Arc::new(Semaphore::new(cap)) });
        Self { unix, tcp }
    }

    /// The Unix socket.
    pub fn unix(&self) -> &UnixSocket {
        &self.unix.listener
    }

    /// The TCP listener, if configured.
    pub fn tcp(&self) -> Option<&TcpServer> {
        self.tcp.as_ref().map(|capped| &capped.listener)
    }

    /// The next connection from any listener that has a free place.
    /// Cancel-safe: dropping the future loses no connection.
    ///
    /// # Errors
    /// The accept error (out of file descriptors and the like).
    pub async fn accept(&self) -> io::Result<Accepted> {
        tokio::select! {
            accepted = self.accept_unix() => accepted,
            accepted = self.accept_tcp() => accepted,
        }
    }

    /// Stops listening on TCP (the socket file is removed separately).
    pub fn close_tcp(&mut self) {
        self.tcp = None;
    }

    async fn accept_unix(&self) -> io::Result<Accepted> {
        let slot = take_place(&self.unix.slots).await;
        let (stream, peer) = self.unix.listener.accept().await?;
        Ok(Accepted { conn: Conn::Unix(stream), peer, slot })
    }

    async fn accept_tcp(&self) -> io::Result<Accepted> {
        let Some(tcp) = &self.tcp else { return std::future::pending().await };
        let slot = take_place(&tcp.slots).await;
        let (stream, peer) = tcp.listener.accept().await?;
        let conn = match tcp.listener.acceptor() {
            Some(acceptor) => Conn::Tls(stream, acceptor),
            None => Conn::Tcp(stream),
        };
        Ok(Accepted { conn, peer, slot })
    }
}

async fn take_place(slots: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    Arc::clone(slots).acquire_owned().await.expect("the semaphore is never closed")
}

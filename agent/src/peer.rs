//! Who is calling: the peer of a connection (layer L0, plain data).

use std::net::IpAddr;

use serde::Serialize;

/// The other end of a connection, as the audit log records it (CONTRACT §5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Peer {
    /// A process on this host, from the Unix socket's peer credentials.
    Unix {
        /// Effective user id.
        uid: u32,
        /// Effective group id.
        gid: u32,
        /// Process id, when the kernel reports one.
        pid: Option<i32>,
    },
    /// A TCP client, by IP address.
    Tcp(IpAddr),
    /// Credentials could not be read (should not happen on Linux).
    Unknown,
}

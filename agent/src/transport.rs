//! Listeners (layer L1): where connections come from and who is on the other
//! end. Knows nothing of HTTP or of the use cases.
//!
//! - [`unix`]: the Unix socket (always), peers identified by credentials.
//! - [`tcp`]: the optional HTTPS (or loopback-only plain HTTP) listener,
//!   peers identified by IP address.
//! - [`listeners`]: both behind one `accept`, each with its own connection cap.

pub mod listeners;
pub mod tcp;
pub mod unix;

pub use listeners::{Accepted, Conn, Listeners};
pub use tcp::{TcpServer, TlsError, TlsReloader};
pub use unix::{BindError, UnixSocket};

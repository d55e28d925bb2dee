//! Listeners (layer L1): where connections come from and who is on the other
//! end. Knows nothing of HTTP or of the use cases.

pub mod unix;

pub use unix::{BindError, UnixSocket};

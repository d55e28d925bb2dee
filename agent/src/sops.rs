//! Getting decrypted secrets out of SOPS files (layer L1).
//!
//! [`command`] runs the real `sops` binary (no shell, minimal environment, a
//! deadline); [`tree`] turns its output into a lookup tree; [`cache`] keeps
//! decrypted trees between requests. Nothing here re-implements SOPS
//! cryptography, knows about tokens, or decides who may read what.

pub mod cache;
pub mod command;
pub mod tree;

use std::future::Future;
use std::sync::Arc;

use vanta_shared::EnvName;

pub use cache::CachedSource;
pub use command::{SopsCommand, SopsError};
pub use tree::{Missing, Tree};

/// Where decrypted environment trees come from. The real one runs sops
/// (optionally through the cache); unit tests of the use cases pass a fake.
pub trait SecretSource: Send + Sync + 'static {
    /// The decrypted tree of environment `env`.
    fn load(&self, env: &EnvName) -> impl Future<Output = Result<Arc<Tree>, SopsError>> + Send;

    /// Whether decryption can work at all (readiness): why not, if not.
    fn check_ready(&self) -> Result<(), String> {
        Ok(())
    }
}

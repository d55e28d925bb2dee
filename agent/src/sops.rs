//! Getting decrypted secrets out of SOPS files (layer L1).
//!
//! [`files`] finds an environment's one file and its format; [`command`]
//! runs the real `sops` binary (no shell, minimal environment, a deadline);
//! [`failure`] names why it failed and what to check; [`keys`] surveys the
//! key material sops will see; [`tree`] turns its
//! output into a lookup tree; [`cache`] keeps decrypted trees between
//! requests and remembers the last outcome per environment. Nothing here
//! re-implements SOPS cryptography, knows about tokens, or decides who may
//! read what.

pub mod cache;
pub mod command;
pub mod failure;
pub mod files;
pub mod keys;
pub mod tree;

use std::future::Future;
use std::sync::Arc;

use vanta_shared::EnvName;

pub use cache::CachedSource;
pub use command::{SopsCommand, SopsError};
pub use failure::Cause;
pub use tree::{Missing, Tree};

/// Where decrypted environment trees come from. The real one runs sops
/// (optionally through the cache); unit tests of the use cases pass a fake.
pub trait SecretSource: Send + Sync + 'static {
    /// The decrypted tree of environment `env`.
    fn load(&self, env: &EnvName) -> impl Future<Output = Result<Arc<Tree>, SopsError>> + Send;

    /// The decrypted tree of `env` if it is at hand and current, without
    /// running sops (a limited token's use is then taken in one step).
    fn cached(&self, _env: &EnvName) -> Option<Arc<Tree>> {
        None
    }

    /// Whether decryption can work at all (readiness): why not, if not.
    fn check_ready(&self) -> Result<(), String> {
        Ok(())
    }

    /// Whether the last decryptions failed everywhere (readiness), judged
    /// from past attempts only.
    fn check_decryption(&self) -> Result<(), String> {
        Ok(())
    }

    /// Things worth a warning that do not make the agent unready.
    fn readiness_warning(&self) -> Option<String> {
        None
    }
}

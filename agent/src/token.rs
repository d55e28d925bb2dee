//! JWT issuing and validation, HS256 via josekit (layer L1).
//!
//! Owns the signing keys and the claim checks. Knows nothing of HTTP, scope
//! enforcement or usage counting: it turns a request into a signed token and
//! a token string into [`VerifiedClaims`], or says precisely why not.

pub mod issue;
pub mod key;
pub mod validate;

pub use issue::{IssueError, IssuedToken, TokenIssuer};
pub use key::{JwtKey, JwtKeyError, JwtKeys};
pub use validate::{InvalidToken, TokenValidator, VerifiedClaims};

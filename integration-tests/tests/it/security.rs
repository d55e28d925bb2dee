//! The security model (operator guide "Security model"): who may connect and
//! mint, the minting policy, tokens, key rotation, inputs, usage limits under
//! load, and process hygiene.

mod doors;
mod hygiene;
mod inputs;
mod minting;
mod permissions;
mod policy;
mod request_header;
mod revocation;
mod rotation;
mod tokens;
mod usage;

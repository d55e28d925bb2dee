//! Harness for the black-box tests of `vanta-agent` and `vanta-cli`.
//!
//! The tests (in `tests/it/`) start the real binaries against the real `sops`
//! on temporary directories and Unix sockets; nothing here links the agent or
//! the client. Everything that can wait has a deadline.
//!
//! # Layout
//! - [`bins`]: where the agent, the CLI, the helper binaries and `sops` are.
//! - [`fixtures`]: age keys, files encrypted by the real sops, upstream SOPS
//!   fixtures, a private `GNUPGHOME`.
//! - [`agent`]: [`agent::TestAgent`], one real agent per test.
//! - [`cli`]: runs the real `vanta-cli`.
//! - [`http`]: a tiny HTTP/1.1 client over a Unix socket.
//! - [`jwt`]: tokens signed by the tests themselves (hmac + sha2).
//! - [`process`]: child processes with deadlines.
//! - [`staged`]: copies of programs that a test can run as another user.
//! - [`redis`]: a private `redis-server` for the fleet tests.
//! - [`tls`]: a run-time CA and leaf certificate, HTTPS and plain TCP clients.
//!
//! The helper binaries in `src/bin/` are the programs the tests run (each
//! file's `//!` says its arguments):
//! - `age-keygen`: writes an age key file (no `age-keygen` on the test
//!   machines); also serves `make demo`.
//! - `exit-with`, `sleep-secs`: a command that exits with N, or sleeps.
//! - `print-env`: the environment a command got, as JSON.
//! - `run-inspect`: what `run-with-secrets` gave the command through
//!   `$VANTA_SECRETS_FILE` (file or FIFO, modes, content).
//! - `run-trap`: catches and reports the signals forwarded to a command.
//! - `watch-child`: the command of the `--watch` tests (restart, signal).
//! - `mask-probe`: writes secret values in pieces, for `--mask`.
//! - `with-umask`: runs a program under a given umask.
//! - `hand-off-connection`: a caller that is gone by the time its request is
//!   attested (the minting policy's pid-reuse tests).
#![forbid(unsafe_code)]

pub mod agent;
pub mod bins;
pub mod cli;
pub mod fixtures;
pub mod http;
pub mod jwt;
pub mod process;
pub mod redis;
pub mod staged;
pub mod tls;

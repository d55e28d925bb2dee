//! The CLI's deadline on a whole answer (operator guide, "Troubleshooting":
//! `the agent at … did not answer within … s`). Apart from `get`'s other
//! tests because it reads no secret: the cache-off pass of `make test` need
//! not wait for it twice.

use std::os::unix::net::UnixListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vanta_integration_tests::cli::{Cli, SocketVia};
use vanta_integration_tests::process;

use crate::common::assert_cli_error_line;

/// Operator guide, "Global options": a whole request must be done within
/// `--agent-timeout-seconds` (35 s by default, checked in the CLI's unit
/// tests). A socket that accepts and never answers (a hung agent) is then an
/// error, not a command that waits for ever.
#[test]
fn an_agent_that_never_answers_is_an_error_after_the_request_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("silent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let (done, until_done) = mpsc::channel::<()>();
    // Accepts the one connection `get` makes and holds it, without a word.
    std::thread::spawn(move || {
        let held = listener.accept();
        let _ = until_done.recv();
        drop(held);
    });
    let cli = Cli::new(&socket)
        .socket_via(SocketVia::Env)
        .env("VANTA_TOKEN", "e30.e30.sig")
        .env("VANTA_AGENT_TIMEOUT_SECONDS", "3");
    let started = Instant::now();
    // Longer than the CLI's deadline, with room for a loaded machine.
    let finished = process::output_with_deadline(
        &mut cli.command(&["get", "--environment", "dev", "DATABASE_URL"]),
        Duration::from_secs(30),
    );
    let _ = done.send(());
    assert_eq!(finished.code(), Some(1), "{}", finished.stderr_text());
    let line = assert_cli_error_line(&finished);
    let want = format!("the agent at {} did not answer within 3 s", socket.display());
    assert!(line.contains(&want), "{line}");
    assert!(started.elapsed() >= Duration::from_secs(3), "not before the deadline: {line}");
}

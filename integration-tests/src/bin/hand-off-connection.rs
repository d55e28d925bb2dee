//! `hand-off-connection [--queued] SOCKET TRIGGER OUT`: a caller that is
//! gone by the time its request is attested.
//!
//! It connects to the agent's socket, makes one keep-alive `GET /healthz`
//! round trip (so the agent has accepted the connection and read its peer
//! credentials; with `--queued` it does not, for a connection still waiting
//! in the accept queue of an agent at its connection cap), hands the
//! connection to a child of its own as stdin, prints its pid and exits. The
//! child waits for the file TRIGGER to appear, then sends a token request on
//! the inherited connection as if it were the original caller, and writes the
//! raw response to OUT. The test can meanwhile start another process under
//! the same pid.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BODY: &str = r#"{"subject":"hand-off","environment":"dev","key_pattern":"*"}"#;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--child") => child(Path::new(&args[2]), Path::new(&args[3])),
        Some("--queued") if args.len() == 5 => parent(&args[2], &args[3], &args[4], false),
        Some(socket) if args.len() == 4 => parent(socket, &args[2], &args[3], true),
        _ => panic!("usage: hand-off-connection [--queued] SOCKET TRIGGER OUT"),
    }
}

#[allow(clippy::zombie_processes)]
fn parent(socket: &str, trigger: &str, out: &str, accepted: bool) {
    let stream = UnixStream::connect(socket).expect("connect to the agent");
    if accepted {
        round_trip(&stream);
    }
    let exe = std::env::current_exe().expect("own path");
    // Deliberately not waited for: the child must outlive this process (it
    // stops by itself once it has its answer, or after 60 s).
    let _child = Command::new(exe)
        .args(["--child", trigger, out])
        .stdin(Stdio::from(OwnedFd::from(stream)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    println!("{}", std::process::id());
}

/// A keep-alive `GET /healthz` and its answer's head.
fn round_trip(mut stream: &UnixStream) {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: vanta\r\n\r\n").expect("send");
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("\r\n\r\n") {
        let n = stream.read(&mut buf).expect("read the healthz answer");
        assert!(n > 0, "the agent closed the connection");
        seen.extend_from_slice(&buf[..n]);
    }
}

fn child(trigger: &Path, out: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !trigger.exists() {
        assert!(Instant::now() < deadline, "no trigger within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let fd = std::io::stdin().as_fd().try_clone_to_owned().expect("the inherited connection");
    let mut stream = UnixStream::from(fd);
    let request = format!(
        "POST /api/v1/vault/tokens/generate HTTP/1.1\r\nHost: vanta\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    stream.write_all(request.as_bytes()).expect("send the token request");
    let mut response = Vec::new();
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let _ = stream.read_to_end(&mut response);
    let partial = out.with_extension("partial");
    std::fs::write(&partial, &response).expect("write the answer");
    std::fs::rename(&partial, out).expect("publish the answer");
}

//! Slow and anonymous clients (operator guide, "Slow clients and connection
//! caps"): a body that does not arrive in time is refused with 408 over the
//! socket and over TCP; over TCP a mint without the admin credential is
//! refused from its headers, before any body; each listener has its own
//! connection cap, so TCP clients can never starve the socket.

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use vanta_integration_tests::agent::{AgentBuilder, GENERATE_PATH, TestAgent};
use vanta_integration_tests::http::{Response, parse_response};

use crate::common::{assert_error, dev_builder, ok_json};

const ADMIN: &str = "admin-credential-for-the-doors-tests-0123456789";
/// Far longer than any answer the tests wait for: a test that reaches it fails.
const WAIT: Duration = Duration::from_secs(30);
/// How often a dripping client sends its next byte.
const DRIP_EVERY: Duration = Duration::from_millis(200);

/// A mint request's head announcing a 200-byte body that never fully comes.
fn mint_head(credential: Option<&str>) -> String {
    let auth = credential.map(|c| format!("Authorization: Bearer {c}\r\n")).unwrap_or_default();
    format!(
        "POST {GENERATE_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: 200\r\n{auth}\r\n"
    )
}

/// Sends `head`, then one body byte every [`DRIP_EVERY`] until the agent
/// answers and closes; the answer.
fn drip<S: Read + Write>(stream: &mut S, head: &str) -> Response {
    stream.write_all(head.as_bytes()).unwrap();
    let (started, mut raw, mut buf) = (Instant::now(), Vec::new(), [0u8; 4096]);
    loop {
        assert!(
            started.elapsed() < WAIT,
            "no answer to a slow body within {WAIT:?}: {}",
            String::from_utf8_lossy(&raw)
        );
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) && raw.is_empty() => {
                // Still dripping: the agent has not answered yet.
                if let Err(e) = stream.write_all(b" ") {
                    assert!(matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset), "{e}");
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => panic!("reading the answer to a slow body: {e}"),
        }
    }
    parse_response(&raw).unwrap()
}

fn unix(agent: &TestAgent) -> UnixStream {
    let stream = UnixStream::connect(agent.socket()).unwrap();
    stream.set_read_timeout(Some(DRIP_EVERY)).unwrap();
    stream
}

fn tcp(addr: SocketAddr, read_timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(read_timeout)).unwrap();
    stream
}

/// An agent that also serves plain HTTP on loopback, with the admin credential.
fn tcp_agent(builder: AgentBuilder) -> TestAgent {
    let admin = builder.paths().root.join("admin.token");
    fs::write(&admin, ADMIN).unwrap();
    builder.env("VANTA_ADMIN_TOKEN_FILE", &admin).args(["--listen-tcp", "127.0.0.1:0", "--insecure-tcp"]).start()
}

fn last_mint_record(agent: &TestAgent) -> serde_json::Value {
    let lines = agent.wait_audit_lines(1);
    lines.into_iter().rev().find(|l| l["event"] == "token_generate").expect("a token_generate record")
}

#[test]
fn a_slow_body_over_the_socket_is_cut_with_408() {
    let agent = dev_builder().args(["--body-timeout-seconds", "1"]).start();
    let answer = drip(&mut unix(&agent), &mint_head(None));
    assert_error(&answer, 408, "request_timeout");
    assert_eq!(answer.header("connection"), Some("close"));
    let record = last_mint_record(&agent);
    assert_eq!((record["outcome"].as_str(), record["status_code"].as_u64()), (Some("request_timeout"), Some(408)));
    assert_eq!(ok_json(&agent.get("/healthz", None))["status"], "ok", "the agent still answers");
}

#[test]
fn a_slow_body_over_tcp_is_cut_with_408_even_with_the_credential() {
    let agent = tcp_agent(dev_builder().args(["--body-timeout-seconds", "1"]));
    let answer = drip(&mut tcp(agent.tcp_addr(), DRIP_EVERY), &mint_head(Some(ADMIN)));
    assert_error(&answer, 408, "request_timeout");
}

#[test]
fn a_tcp_mint_without_the_credential_is_refused_before_its_body() {
    // The body deadline is far beyond the test's wait: only a refusal from
    // the headers can answer in time.
    let agent = tcp_agent(dev_builder().args(["--body-timeout-seconds", "300", "--request-timeout-seconds", "600"]));
    for credential in [None, Some("wrong-credential")] {
        let mut stream = tcp(agent.tcp_addr(), WAIT);
        stream.write_all(mint_head(credential).as_bytes()).unwrap();
        let mut raw = Vec::new();
        match stream.read_to_end(&mut raw) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !raw.is_empty() => {}
            Err(e) => panic!("no answer without a body ({credential:?}): {e}"),
        }
        assert_error(&parse_response(&raw).unwrap(), 403, "forbidden");
    }
    let record = last_mint_record(&agent);
    assert_eq!((record["outcome"].as_str(), record["status_code"].as_u64()), (Some("forbidden"), Some(403)));
    assert!(record["error"].as_str().unwrap().contains("admin credential"), "{record}");
}

/// Opens a TCP connection that sends half a request head and holds it.
fn hold(addr: SocketAddr) -> TcpStream {
    let mut stream = tcp(addr, WAIT);
    stream.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    stream
}

fn tcp_healthz(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map(|_| raw)
}

#[test]
fn tcp_has_its_own_cap_and_never_starves_the_socket() {
    let agent = tcp_agent(dev_builder().args(["--max-tcp-connections", "2", "--max-connections", "4"]));
    let addr = agent.tcp_addr();
    let held: Vec<TcpStream> = (0..2).map(|_| hold(addr)).collect();
    // A third TCP client is queued behind the cap: no answer while both are held.
    let mut third = tcp(addr, Duration::from_secs(1));
    let early = tcp_healthz(&mut third);
    assert!(
        early.as_ref().is_err_and(|e| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "{early:?}"
    );
    // The socket answers whatever TCP does.
    for _ in 0..5 {
        assert_eq!(ok_json(&agent.get("/healthz", None))["status"], "ok");
    }
    // A held place freed, the queued client is served.
    drop(held);
    third.set_read_timeout(Some(WAIT)).unwrap();
    let mut raw = Vec::new();
    third.read_to_end(&mut raw).unwrap();
    assert_eq!(parse_response(&raw).unwrap().status, 200);
}

/// A client that sends requests and never reads the answers loses its place
/// under the connection cap once a write has waited 10 s for it: the next
/// client is served, not queued for ever.
#[test]
fn a_client_that_never_reads_its_answers_does_not_hold_its_place() {
    let agent = dev_builder().args(["--max-connections", "1"]).start();
    let mut greedy = UnixStream::connect(agent.socket()).unwrap();
    greedy.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    // Enough pipelined requests that their answers fill the socket's buffers.
    let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for _ in 0..20_000 {
        if greedy.write_all(request).is_err() {
            break; // The agent stopped reading: its writes are stuck.
        }
    }
    let started = Instant::now();
    let mut next = UnixStream::connect(agent.socket()).unwrap();
    next.set_read_timeout(Some(WAIT)).unwrap();
    next.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    next.read_to_end(&mut raw).expect("served before the test's deadline");
    assert_eq!(parse_response(&raw).unwrap().status, 200);
    assert!(started.elapsed() < WAIT, "served after {:?}", started.elapsed());
    drop(greedy);
}

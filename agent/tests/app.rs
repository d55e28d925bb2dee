//! The agent in-process through `app::run(config, shutdown)`, as mini-redis
//! tests its server: routing, limits, the connection cap and draining,
//! without the built binaries or sops (nothing here decrypts).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vanta_agent::app::{self, AppError};
use vanta_agent::config::{Args, Config};

/// Generous: a test that waits this long has failed.
const WAIT: Duration = Duration::from_secs(20);
const MINT: &str = "/api/v1/vault/tokens/generate";

/// One agent on a temporary socket, stopped by `stop`.
struct Agent {
    dir: tempfile::TempDir,
    socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), AppError>>,
}

/// A parsed answer.
struct Answer {
    status: u16,
    head: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

impl Agent {
    /// Starts the agent with `flags` and waits until its socket answers.
    async fn start(flags: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let sops = root.join("sops");
        // Never run: these tests read no secret.
        std::fs::write(&sops, "#!/bin/sh\nexit 1\n").expect("stand-in sops");
        std::fs::set_permissions(&sops, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let socket = root.join("run/agent.sock");
        let mut argv: Vec<OsString> = vec!["vanta-agent".into()];
        for (flag, path) in [
            ("--sops-files-path", root.to_path_buf()),
            ("--sops-bin", sops),
            ("--socket", socket.clone()),
            ("--audit-log", root.join("audit.jsonl")),
            ("--state-path", root.join("state/usage.db")),
        ] {
            argv.push(flag.into());
            argv.push(path.into());
        }
        argv.extend(flags.iter().map(OsString::from));
        let args = Args::try_parse_from(argv).expect("flags parse");
        let env = [(OsString::from("VANTA_JWT_SECRET_KEY"), OsString::from("in-process-test-key-0123456789abcdefgh"))];
        let config = Config::from_args(args, &env).unwrap_or_else(|e| panic!("config: {e}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app::run(config, async move {
            let _ = stopped.await;
        }));
        let agent = Self { dir, socket, stop: Some(stop), task };
        tokio::time::timeout(WAIT, async {
            while agent.request("GET", "/healthz", &[], b"").await.is_none() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the agent answers /healthz");
        agent
    }

    async fn connect(&self) -> UnixStream {
        UnixStream::connect(&self.socket).await.expect("connect")
    }

    /// One request on a new connection; `None` if nobody answers.
    async fn request(&self, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Option<Answer> {
        let mut stream = UnixStream::connect(&self.socket).await.ok()?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for header in headers {
            head.push_str(header);
            head.push_str("\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        stream.write_all(head.as_bytes()).await.ok()?;
        let _ = stream.write_all(body).await;
        read_answer(&mut stream).await
    }

    /// Triggers shutdown and returns how `run` ended.
    async fn stop(mut self) -> (Result<(), AppError>, tempfile::TempDir) {
        self.stop.take().expect("running").send(()).expect("the agent listens for shutdown");
        let ended = tokio::time::timeout(WAIT, self.task).await.expect("run returns").expect("run does not panic");
        (ended, self.dir)
    }
}

async fn read_answer(stream: &mut UnixStream) -> Option<Answer> {
    let mut raw = Vec::new();
    match tokio::time::timeout(WAIT, stream.read_to_end(&mut raw)).await.ok()? {
        Ok(_) => {}
        // A 413 answered before the body was read closes with the body unread:
        // the answer arrives, then the reset.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !raw.is_empty() => {}
        Err(_) => return None,
    }
    let text = String::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(Answer { status, head: head.to_owned(), text: body.to_owned() })
}

fn mint_body() -> Vec<u8> {
    json!({"subject": "in-process", "environment": "dev", "key_pattern": "*"}).to_string().into_bytes()
}

#[tokio::test]
async fn routes_answer_with_the_statuses_of_the_error_table() {
    let agent = Agent::start(&[]).await;
    let ok = agent.request("GET", "/healthz", &[], b"").await.expect("answer");
    assert_eq!((ok.status, ok.json()), (200, json!({"status": "ok"})));
    let missing = agent.request("GET", "/nope", &[], b"").await.expect("answer");
    assert_eq!((missing.status, missing.json()["error"].clone()), (404, json!("not_found")));
    let wrong_method = agent.request("DELETE", "/healthz", &[], b"").await.expect("answer");
    assert_eq!((wrong_method.status, wrong_method.json()["error"].clone()), (405, json!("method_not_allowed")));
    assert!(wrong_method.head.to_ascii_lowercase().contains("allow: get, head"), "{}", wrong_method.head);
    let no_token = agent.request("GET", "/api/v1/vault/dev/KEY", &[], b"").await.expect("answer");
    assert_eq!(no_token.status, 401);
    assert!(no_token.head.to_ascii_lowercase().contains("www-authenticate: bearer"), "{}", no_token.head);
    let minted = agent.request("POST", MINT, &["Content-Type: application/json"], &mint_body()).await.expect("answer");
    assert_eq!(minted.status, 200, "{}", minted.text);
    assert!(minted.json()["access_token"].is_string());
    // The router counts what it routed.
    let metrics = agent.request("GET", "/metrics", &[], b"").await.expect("answer");
    assert!(metrics.text.contains("vanta_tokens_minted_total 1"), "{}", metrics.text);
    assert!(metrics.text.contains(r#"vanta_http_requests_total{route="unknown",outcome="not_found"} 1"#));
    let (ended, _dir) = agent.stop().await;
    assert!(ended.is_ok());
}

#[tokio::test]
async fn size_and_time_limits_are_answered_from_the_table() {
    let agent = Agent::start(&["--body-timeout-seconds", "1"]).await;
    let big = vec![b' '; 64 * 1024 + 1];
    let too_big = agent.request("POST", MINT, &[], &big).await.expect("answer");
    assert_eq!((too_big.status, too_big.json()["message"].clone()), (413, json!("request body is larger than 64 KiB")));
    let long_header = format!("X-Filler: {}", "a".repeat(17 * 1024));
    let headers = agent.request("GET", "/healthz", &[&long_header], b"").await.expect("answer");
    assert_eq!(headers.status, 431);
    assert_eq!(headers.json()["message"], "request headers are larger than 16 KiB");
    // Half a body, then nothing: cut at the body deadline.
    let mut stream = agent.connect().await;
    let head = format!("POST {MINT} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{\"subject\"");
    stream.write_all(head.as_bytes()).await.expect("write");
    let slow = read_answer(&mut stream).await.expect("an answer before the test's deadline");
    assert_eq!((slow.status, slow.json()["error"].clone()), (408, json!("request_timeout")));
    agent.stop().await.0.expect("clean stop");
}

#[tokio::test]
async fn the_socket_cap_queues_clients_until_a_place_frees() {
    let agent = Agent::start(&["--max-connections", "1"]).await;
    let mut held = agent.connect().await;
    held.write_all(b"GET /healthz HTTP/1.1\r\n").await.expect("half a head");
    let queued = tokio::spawn({
        let socket = agent.socket.clone();
        async move { request_on(&socket).await }
    });
    // With the one place taken, the queued client gets no answer.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!queued.is_finished(), "a second client was served past --max-connections 1");
    drop(held);
    let answer = tokio::time::timeout(WAIT, queued).await.expect("served once a place frees").expect("no panic");
    assert_eq!(answer.map(|a| a.status), Some(200));
    agent.stop().await.0.expect("clean stop");
}

async fn request_on(socket: &Path) -> Option<Answer> {
    let mut stream = UnixStream::connect(socket).await.ok()?;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.ok()?;
    read_answer(&mut stream).await
}

#[tokio::test]
async fn shutdown_removes_the_socket_then_drains_requests_in_flight() {
    let agent = Agent::start(&[]).await;
    let socket = agent.socket.clone();
    let body = mint_body();
    let (first, rest) = body.split_at(10);
    let mut stream = agent.connect().await;
    let head =
        format!("POST {MINT} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(first).await.expect("first part");
    let stopped = tokio::spawn(agent.stop());
    // Evidence that shutdown began: the socket file is gone.
    tokio::time::timeout(WAIT, async {
        while socket.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the socket is removed on shutdown");
    stream.write_all(rest).await.expect("the rest of the body");
    let answer = read_answer(&mut stream).await.expect("the request in flight is answered");
    assert_eq!(answer.status, 200, "{}", answer.text);
    let (ended, _dir) = stopped.await.expect("no panic");
    assert!(ended.is_ok());
}

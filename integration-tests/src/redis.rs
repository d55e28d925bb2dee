//! A private `redis-server` for the fleet tests (harness): on a Unix socket
//! in its own temporary directory, `appendonly yes` unless asked otherwise,
//! no TCP port, plus any server options a test gives. It can be
//! stopped and started again on the same data; it is killed on drop.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::process;

/// A `redis-server` owned by one test.
pub struct TestRedis {
    child: Option<Child>,
    socket: PathBuf,
    dir: tempfile::TempDir,
    appendonly: &'static str,
    options: Vec<String>,
}

// === impl TestRedis ===

impl TestRedis {
    /// Starts a server and waits until its socket is there.
    ///
    /// # Panics
    /// If `redis-server` is not on PATH (`make tools` installs it) or does not start in 10 s.
    pub fn start() -> Self {
        Self::start_with("yes", &[])
    }

    /// A server that loses its writes on restart (`appendonly no`).
    ///
    /// # Panics
    /// As [`TestRedis::start`].
    pub fn start_forgetful() -> Self {
        Self::start_with("no", &[])
    }

    /// A durable server with more options on its command line, e.g.
    /// `["--maxmemory", "3mb"]`.
    ///
    /// # Panics
    /// As [`TestRedis::start`].
    pub fn start_with_options(options: &[&str]) -> Self {
        Self::start_with("yes", options)
    }

    fn start_with(appendonly: &'static str, options: &[&str]) -> Self {
        let dir = tempfile::Builder::new().prefix("vanta-redis").tempdir().expect("temp dir for redis");
        let socket = dir.path().join("redis.sock");
        let options = options.iter().map(|o| (*o).to_owned()).collect();
        let mut redis = Self { child: None, socket, dir, appendonly, options };
        redis.start_again();
        redis
    }

    /// `--usage-store` for the agents.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    /// Where it keeps its data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// How many times the server ran each command so far (`INFO
    /// commandstats`), by lower-case name, e.g. `evalsha`.
    ///
    /// # Panics
    /// If the server does not answer.
    pub fn command_calls(&self) -> HashMap<String, u64> {
        let mut stream = UnixStream::connect(&self.socket).expect("redis-server's socket");
        stream.write_all(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n").expect("ask redis");
        let mut reader = BufReader::new(stream);
        let mut header = String::new();
        reader.read_line(&mut header).expect("redis answers");
        let len: usize = header.trim_end().strip_prefix('$').and_then(|n| n.parse().ok()).expect("a bulk reply");
        let mut body = vec![0; len];
        reader.read_exact(&mut body).expect("the whole reply");
        let text = String::from_utf8(body).expect("text");
        text.lines()
            .filter_map(|line| {
                let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?.parse().ok()?;
                Some((name.to_owned(), calls))
            })
            .collect()
    }

    /// Runs one command, as an operator's `redis-cli` would, and returns
    /// the first line of the reply (`+OK`, `-ERR …`).
    ///
    /// # Panics
    /// If the server does not answer.
    pub fn command(&self, args: &[&str]) -> String {
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        let mut stream = UnixStream::connect(&self.socket).expect("redis-server's socket");
        stream.write_all(request.as_bytes()).expect("ask redis");
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply).expect("redis answers");
        reply.trim_end().to_owned()
    }

    /// Kills the server (SIGKILL: what a crash or a lost node looks like).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(i32::try_from(child.id()).unwrap_or(0)), Signal::SIGCONT);
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    /// Freezes the server (SIGSTOP): it accepts nothing and answers nothing,
    /// as a hung Redis does, until [`TestRedis::resume`].
    pub fn pause(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal(Signal::SIGCONT);
    }

    fn signal(&self, signal: Signal) {
        let child = self.child.as_ref().expect("redis-server is running");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pids fit in i32"));
        kill(pid, signal).expect("redis-server can be signalled");
    }

    /// Starts the server (again) on the same socket and data.
    ///
    /// # Panics
    /// As [`TestRedis::start`].
    pub fn start_again(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocketperm", "700", "--save", ""])
            .args(["--appendonly", self.appendonly])
            .args(&self.options)
            .arg("--unixsocket")
            .arg(&self.socket)
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is on PATH (make tools installs it)");
        self.child = Some(child);
        let socket = self.socket.clone();
        process::poll_until(Duration::from_secs(10), "redis-server's socket", || socket.exists().then_some(()));
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

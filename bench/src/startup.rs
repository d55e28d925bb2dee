//! Start-up time: spawn a server, poll its socket with `GET /healthz` in a
//! tight loop, and time from just before the spawn to the first `200`.
//!
//! Timing from inside one process keeps the shell's own fork and exec out of
//! the number. Each run stops the server with SIGTERM (SIGKILL after a grace
//! period) and reaps it before the next; every wait has a deadline.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::latency::median;

/// What to start and how often.
#[derive(Debug, Clone)]
pub struct StartupConfig {
    /// The socket the server will answer on.
    pub socket: PathBuf,
    /// The program and its arguments.
    pub command: Vec<OsString>,
    /// How many start-ups to time.
    pub runs: usize,
    /// Give up on one start-up after this long.
    pub deadline: Duration,
}

/// The measured start-ups, in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartupReport {
    /// Every run, in order.
    pub runs_us: Vec<f64>,
    /// Their median.
    pub median_us: f64,
    /// The fastest.
    pub min_us: f64,
    /// The slowest.
    pub max_us: f64,
}

/// Time between two probes while the socket does not answer yet.
const POLL: Duration = Duration::from_micros(200);
/// How long a stopped server may take to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);
const PROBE: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// Times `config.runs` start-ups.
///
/// # Errors
/// If the socket already answers, the program cannot be started, exits, or
/// does not answer within the deadline.
pub fn measure(config: &StartupConfig) -> anyhow::Result<StartupReport> {
    let mut runs_us = Vec::with_capacity(config.runs);
    for run in 0..config.runs.max(1) {
        let took = once(config).with_context(|| format!("start-up {}", run + 1))?;
        runs_us.push(took.as_secs_f64() * 1e6);
    }
    let fold = |pick: fn(f64, f64) -> f64| runs_us.iter().copied().reduce(pick).unwrap_or(0.0);
    Ok(StartupReport {
        median_us: median(&runs_us).unwrap_or(0.0),
        min_us: fold(f64::min),
        max_us: fold(f64::max),
        runs_us,
    })
}

fn once(config: &StartupConfig) -> anyhow::Result<Duration> {
    if healthy(&config.socket) {
        bail!("{} already answers before the server is started", config.socket.display());
    }
    let (program, args) = config.command.split_first().context("no command to start")?;
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("failed to start {}", program.to_string_lossy()))?;
    let outcome = wait_healthy(config, &mut child, started);
    stop(&mut child)?;
    outcome
}

fn wait_healthy(config: &StartupConfig, child: &mut Child, started: Instant) -> anyhow::Result<Duration> {
    loop {
        if healthy(&config.socket) {
            return Ok(started.elapsed());
        }
        if let Some(status) = child.try_wait().context("failed to poll the server")? {
            bail!("the server exited ({status}) before answering /healthz");
        }
        if started.elapsed() > config.deadline {
            bail!("the server did not answer /healthz within {:?}", config.deadline);
        }
        std::thread::sleep(POLL);
    }
}

/// One `GET /healthz` on a fresh connection; true on a `200`.
pub fn healthy(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else { return false };
    let timeout = Some(Duration::from_secs(1));
    if stream.set_read_timeout(timeout).is_err() || stream.write_all(PROBE).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 200"
}

/// SIGTERM, a grace period, then SIGKILL; always reaps.
fn stop(child: &mut Child) -> anyhow::Result<()> {
    let pid = Pid::from_raw(i32::try_from(child.id()).context("pid out of range")?);
    let _ = kill(pid, Signal::SIGTERM);
    let asked = Instant::now();
    while asked.elapsed() < STOP_GRACE {
        if child.try_wait().context("failed to reap the server")?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    child.wait().context("failed to reap the server")?;
    Ok(())
}

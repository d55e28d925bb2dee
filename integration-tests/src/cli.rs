//! The real `vanta-cli`, run against a test agent (harness).
//!
//! [`Cli`] runs the client with a cleared environment (PATH, HOME and the
//! agent socket, via `--socket` or `VANTA_AGENT_SOCKET`), captures its output
//! and enforces a deadline. [`RunningCli`] is for tests that signal the client
//! while its child runs: it hands out stdout line by line.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::bins;
use crate::process::{self, DEADLINE, Finished};

/// How a [`Cli`] tells the client where the agent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketVia {
    /// `--socket PATH` before the subcommand.
    Flag,
    /// `VANTA_AGENT_SOCKET=PATH`.
    Env,
}

/// A configured `vanta-cli` invocation.
#[derive(Debug, Clone)]
pub struct Cli {
    socket: PathBuf,
    via: SocketVia,
    env: Vec<(OsString, OsString)>,
    home: PathBuf,
    /// The executable (the build's `vanta-cli` unless a copy is given).
    program: PathBuf,
    /// Run as this (uid, gid) instead of the test's own user.
    run_as: Option<(u32, u32)>,
}

/// A `vanta-cli` still running, its stdout readable line by line.
pub struct RunningCli {
    child: Child,
    lines: Receiver<String>,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    /// Set once reaped, so that drop does not signal a recycled pid.
    reaped: bool,
}

// === impl Cli ===

impl Cli {
    /// A client for the agent on `socket`, told via `--socket`.
    pub fn new(socket: &Path) -> Self {
        let home = std::env::temp_dir();
        Self {
            socket: socket.to_path_buf(),
            via: SocketVia::Flag,
            env: Vec::new(),
            home,
            program: bins::cli(),
            run_as: None,
        }
    }

    /// Runs `program` (e.g. a [`crate::staged::Staged`] copy) instead of the
    /// build's `vanta-cli`.
    pub fn program(mut self, program: &Path) -> Self {
        self.program = program.to_path_buf();
        self
    }

    /// Runs the client as `uid`:`gid` (the test must be root; the program,
    /// the socket and HOME must be reachable by that user: see
    /// [`crate::staged`]).
    pub fn run_as(mut self, uid: u32, gid: u32) -> Self {
        self.run_as = Some((uid, gid));
        self
    }

    /// Tells the client the socket via `VANTA_AGENT_SOCKET` instead.
    pub fn socket_via(mut self, via: SocketVia) -> Self {
        self.via = via;
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().into(), value.as_ref().into()));
        self
    }

    /// The client's command line, environment cleared as for every run,
    /// for tests that wire its stdio themselves.
    ///
    /// It starts with the terminating signals at their default action
    /// (GNU `env --default-signal`), whatever the suite inherited: run
    /// under `nohup` or as a background job of a script, the suite ignores
    /// SIGHUP or SIGINT and SIGQUIT, and vanta-cli, like `exec`, leaves
    /// signals ignored at its start ignored, so the signal tests would test
    /// the launcher rather than the CLI.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new("/usr/bin/env");
        cmd.arg("--default-signal=HUP,INT,QUIT,TERM").arg(&self.program);
        cmd.env_clear().env("PATH", bins::child_path()).env("HOME", &self.home);
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        match self.via {
            SocketVia::Flag => {
                cmd.arg("--socket").arg(&self.socket);
            }
            SocketVia::Env => {
                cmd.env("VANTA_AGENT_SOCKET", &self.socket);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v))).args(args);
        cmd
    }

    /// Runs the client to completion (30 s deadline).
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Finished {
        process::output_with_deadline(&mut self.command(args), DEADLINE)
    }

    /// Runs the client to completion with `input` on its stdin (30 s deadline).
    pub fn run_with_stdin<S: AsRef<OsStr>>(&self, args: &[S], input: &[u8]) -> Finished {
        process::output_with_input(&mut self.command(args), Some(input.to_vec()), DEADLINE)
    }

    /// Starts the client in its own process group, stdin null, stdout and
    /// stderr piped.
    ///
    /// # Panics
    /// If it cannot be started.
    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S]) -> RunningCli {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        let mut child = cmd.spawn().expect("vanta-cli can be started");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout is piped");
        let stdout = thread::spawn(move || {
            let mut all = Vec::new();
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                all.extend_from_slice(line.as_bytes());
                all.push(b'\n');
                let _ = tx.send(line);
            }
            all
        });
        let stderr = process::collect(child.stderr.take());
        RunningCli { child, lines, stdout: Some(stdout), stderr: Some(stderr), reaped: false }
    }
}

// === impl RunningCli ===

impl RunningCli {
    /// The next line of stdout.
    ///
    /// # Panics
    /// If none arrives within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> String {
        self.lines
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("no stdout line from vanta-cli within {timeout:?}: {e}"))
    }

    /// Sends `sig` to the client (not to its group).
    pub fn signal(&self, sig: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pids fit in i32"));
        kill(pid, sig).expect("vanta-cli can be signalled");
    }

    /// Waits for the client to exit.
    ///
    /// # Panics
    /// If it has not within `timeout` (its group is killed first).
    pub fn wait(mut self, timeout: Duration) -> Finished {
        let status = process::wait_with_deadline(&mut self.child, timeout);
        process::kill_group(&self.child);
        let _ = self.child.wait();
        self.reaped = true;
        let stderr = self.stderr.take().map(process::join).unwrap_or_default();
        let Some(status) = status else {
            panic!("vanta-cli did not exit within {timeout:?}; stderr: {}", String::from_utf8_lossy(&stderr));
        };
        let stdout = self.stdout.take().map(process::join).unwrap_or_default();
        Finished { status, stdout, stderr }
    }
}

impl Drop for RunningCli {
    fn drop(&mut self) {
        // A test that failed half-way must not leave the client or its child behind.
        if !self.reaped {
            process::kill_group(&self.child);
            let _ = self.child.wait();
        }
    }
}

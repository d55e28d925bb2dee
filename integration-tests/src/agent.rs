//! The real `vanta-agent`, started for one test (harness).
//!
//! [`AgentBuilder`] lays out a temporary directory (vault, age key file, HOME,
//! socket, audit log, usage store), encrypts the test's secret files, and
//! starts the agent with a cleared environment plus exactly the variables it
//! needs. [`TestAgent`] waits for `GET /healthz`, talks HTTP to it over the
//! socket, restarts it on the same files, and kills and reaps it on drop.

use std::ffi::OsString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::fixtures::{AgeKey, GnupgHome};
use crate::http;
use crate::process;

mod api;
mod builder;
mod tcp;

pub use api::GENERATE_PATH;
pub use builder::AgentBuilder;

/// Where everything of one test agent lives, all under one temporary directory.
#[derive(Debug, Clone)]
pub struct AgentPaths {
    /// The temporary directory.
    pub root: PathBuf,
    /// `VANTA_SOPS_FILES_PATH`.
    pub vault: PathBuf,
    /// `VANTA_AGENT_SOCKET`.
    pub socket: PathBuf,
    /// `VANTA_AUDIT_LOG`.
    pub audit: PathBuf,
    /// `VANTA_STATE_PATH`.
    pub state: PathBuf,
    /// `SOPS_AGE_KEY_FILE`.
    pub age_keys: PathBuf,
    /// `HOME`.
    pub home: PathBuf,
    /// Where the agent's stdout goes.
    pub stdout: PathBuf,
    /// Where the agent's stderr goes.
    pub stderr: PathBuf,
}

/// A running (or stopped) `vanta-agent`. Killed and reaped on drop.
pub struct TestAgent {
    child: Option<Child>,
    /// The `vanta-agent` executable (a staged copy when run as another user).
    program: PathBuf,
    env: Vec<(OsString, OsString)>,
    args: Vec<OsString>,
    /// Run as this (uid, gid) instead of the test's own user.
    run_as: Option<(u32, u32)>,
    /// Programs (with their arguments) that start the agent, outermost first.
    wrapper: Vec<OsString>,
    paths: AgentPaths,
    age: AgeKey,
    // Dropped before `_dir`: its gpg-agent must stop before the files go.
    _gnupg: Option<GnupgHome>,
    _dir: tempfile::TempDir,
}

/// How long the agent may take to answer `/healthz` or to exit.
pub const START_DEADLINE: Duration = Duration::from_secs(10);

// === impl AgentPaths ===

impl AgentPaths {
    fn under(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            vault: root.join("vault"),
            socket: root.join("run/agent.sock"),
            audit: root.join("audit.jsonl"),
            state: root.join("usage.db"),
            age_keys: root.join("age-keys.txt"),
            home: root.join("home"),
            stdout: root.join("agent.stdout"),
            stderr: root.join("agent.stderr"),
        }
    }
}

// === impl TestAgent ===

impl TestAgent {
    /// A builder with a fresh temporary directory.
    pub fn builder() -> AgentBuilder {
        AgentBuilder::new()
    }

    /// The agent's paths.
    pub fn paths(&self) -> &AgentPaths {
        &self.paths
    }

    /// The socket the agent listens on.
    pub fn socket(&self) -> &Path {
        &self.paths.socket
    }

    /// The age identity the vault files are encrypted to.
    pub fn age_key(&self) -> &AgeKey {
        &self.age
    }

    /// The agent's process id.
    ///
    /// # Panics
    /// If the agent is not running.
    pub fn pid(&self) -> Pid {
        let child = self.child.as_ref().expect("the agent is running");
        Pid::from_raw(i32::try_from(child.id()).expect("pids fit in i32"))
    }

    pub(crate) fn command(&self) -> Command {
        let mut cmd = match self.wrapper.split_first() {
            None => Command::new(&self.program),
            Some((outermost, rest)) => {
                let mut wrapped = Command::new(outermost);
                wrapped.args(rest).arg(&self.program);
                wrapped
            }
        };
        cmd.env_clear().envs(self.env.iter().map(|(k, v)| (k, v))).args(&self.args).current_dir(&self.paths.root);
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn spawn_and_wait(&mut self) {
        if let Err(status) = self.try_spawn_and_wait() {
            panic!("vanta-agent exited during start-up ({status}); stderr:\n{}", self.stderr_text());
        }
    }

    /// Starts the agent and waits for `/healthz`; `Err` with the exit status
    /// if it exits first.
    fn try_spawn_and_wait(&mut self) -> Result<(), ExitStatus> {
        let append = |p: &Path| fs::OpenOptions::new().create(true).append(true).open(p).expect("log file");
        let mut cmd = self.command();
        cmd.stdin(Stdio::null()).stdout(append(&self.paths.stdout)).stderr(append(&self.paths.stderr)).process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        self.child = Some(child);
        let socket = self.paths.socket.clone();
        process::poll_until(START_DEADLINE, "vanta-agent to answer GET /healthz or exit", || {
            if let Some(status) = self.try_wait() {
                self.child = None;
                return Some(Err(status));
            }
            let healthy = http::try_request(&socket, "GET", "/healthz", &[], None).is_ok_and(|r| r.status == 200);
            healthy.then_some(Ok(()))
        })
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().expect("try_wait on our own child works"))
    }

    /// Sends `sig` to the agent.
    pub fn signal(&self, sig: Signal) {
        kill(self.pid(), sig).expect("the agent can be signalled");
    }

    /// Waits for the agent to exit by itself.
    ///
    /// # Panics
    /// If it has not within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("the agent was started");
        let status = process::wait_with_deadline(child, timeout);
        let status = status.unwrap_or_else(|| panic!("vanta-agent did not exit within {timeout:?}"));
        self.child = None;
        status
    }

    /// SIGTERM, then waits for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.wait_exit(START_DEADLINE)
    }

    /// SIGKILL (no chance to clean up), then reaps.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            process::kill_group(&child);
            let _ = child.wait();
        }
    }

    /// Stops the agent if it runs (SIGTERM) and starts it again with the same
    /// configuration and files.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.stop();
            assert!(status.success(), "vanta-agent exited with {status} on SIGTERM");
        }
        self.spawn_and_wait();
    }

    /// The agent's stderr so far.
    pub fn stderr_text(&self) -> String {
        fs::read_to_string(&self.paths.stderr).unwrap_or_default()
    }

    /// Waits (up to [`process::DEADLINE`]) for a line of the agent's stderr
    /// that contains `text` and returns it; panics naming `text` if none comes.
    pub fn wait_log_line(&self, text: &str) -> String {
        process::poll_until(process::DEADLINE, &format!("the agent to log {text:?}"), || {
            self.stderr_text().lines().find(|l| l.contains(text)).map(str::to_owned)
        })
    }

    /// The agent's stdout so far.
    pub fn stdout_text(&self) -> String {
        fs::read_to_string(&self.paths.stdout).unwrap_or_default()
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.kill9();
    }
}

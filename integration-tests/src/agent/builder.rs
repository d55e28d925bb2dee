//! Configuring and starting a [`TestAgent`] (harness).
//!
//! Lays out the temporary directory, encrypts the test's secret files with
//! the real sops, and builds the agent's environment: cleared, plus exactly
//! the variables it needs, plus the test's overrides.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::Path;
use std::process::{Command, ExitStatus};

use super::{AgentPaths, START_DEADLINE, TestAgent};
use crate::fixtures::{self, AgeKey, GnupgHome};
use crate::process::{self, Finished};
use crate::{bins, jwt, staged};

/// Test-process variable that sets the agent's `--cache-ttl-seconds` for a whole run.
pub(crate) const CACHE_TTL_TEST_VAR: &str = "VANTA_TEST_CACHE_TTL_SECONDS";

const SOPS_BIN_VAR: &str = "VANTA_SOPS_BIN";

/// Configures and starts a [`TestAgent`].
pub struct AgentBuilder {
    dir: tempfile::TempDir,
    paths: AgentPaths,
    age: AgeKey,
    gnupg: Option<GnupgHome>,
    /// Overrides of the default environment; `None` removes a variable.
    env: Vec<(OsString, Option<OsString>)>,
    args: Vec<OsString>,
    run_as: Option<(u32, u32)>,
    wrapper: Vec<OsString>,
}

// === impl AgentBuilder ===

impl Default for AgentBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl AgentBuilder {
    /// A fresh temporary directory with an empty vault and a new age key.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("vanta-it").tempdir().expect("temp dir for the agent");
        let paths = AgentPaths::under(dir.path());
        for d in [&paths.vault, &paths.home, &paths.root.join("run")] {
            fs::create_dir_all(d).expect("agent test dirs can be created");
        }
        let age = AgeKey::generate();
        age.write_key_file(&paths.age_keys);
        Self { dir, paths, age, gnupg: None, env: Vec::new(), args: Vec::new(), run_as: None, wrapper: Vec::new() }
    }

    /// The paths the agent will use.
    pub fn paths(&self) -> &AgentPaths {
        &self.paths
    }

    /// Encrypts `yaml` with this agent's age key into `<vault>/<env>.enc.yaml`.
    pub fn secrets(self, env: &str, yaml: &str) -> Self {
        fixtures::encrypt_yaml(self.age.recipient(), yaml, &self.paths.vault, env);
        self
    }

    /// Encrypts `plain`, in the format of extension `ext` (`json`, `env`,
    /// `ini`, `yaml`, `yml`), with this agent's age key into `<vault>/<env>.enc.<ext>`.
    pub fn secrets_as(self, env: &str, ext: &str, plain: &str) -> Self {
        fixtures::encrypt_as(self.age.recipient(), ext, plain, &self.paths.vault, env);
        self
    }

    /// Encrypts `yaml` to `recipient` (e.g. the upstream age test key).
    pub fn secrets_to(self, recipient: &str, env: &str, yaml: &str) -> Self {
        fixtures::encrypt_yaml(recipient, yaml, &self.paths.vault, env);
        self
    }

    /// Encrypts `yaml` to an age key the agent does not have.
    pub fn foreign_secrets(self, env: &str, yaml: &str) -> Self {
        fixtures::encrypt_yaml(AgeKey::generate().recipient(), yaml, &self.paths.vault, env);
        self
    }

    /// Serves the upstream fixture `file` as `env`, with a `GNUPGHOME` that
    /// holds the upstream PGP key.
    pub fn upstream(mut self, file: &str, env: &str) -> Self {
        fixtures::copy_upstream(file, &self.paths.vault, env);
        if self.gnupg.is_none() {
            self.gnupg = Some(GnupgHome::with_upstream_key(&self.paths.root));
        }
        self
    }

    /// Adds the upstream age test identity to the agent's key file.
    pub fn upstream_age_key(self) -> Self {
        fixtures::append_upstream_age_key(&self.paths.age_keys);
        self
    }

    /// Sets (or overrides) an environment variable of the agent.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().into(), Some(value.as_ref().into())));
        self
    }

    /// Removes a variable from the agent's environment.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().into(), None));
        self
    }

    /// Adds one command-line argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().into());
        self
    }

    /// Adds command-line arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().into()));
        self
    }

    /// Runs the agent as `uid`:`gid` (the test must be root): its whole
    /// directory is handed to that user when the agent starts, and the agent
    /// and `sops` it runs are copies in that directory, so the user need not
    /// reach the checkout or the tool directory.
    pub fn run_as(mut self, uid: u32, gid: u32) -> Self {
        self.run_as = Some((uid, gid));
        self
    }

    /// Starts the agent under the file-creation mask `mask` (e.g. `0o000`).
    pub fn umask(self, mask: u32) -> Self {
        self.under(&[bins::helper("with-umask").into_os_string(), format!("{mask:o}").into()])
    }

    /// Starts the agent through `command` (a program and its arguments,
    /// which must `exec` the agent's command line appended to them, e.g.
    /// `prlimit --nofile=256:4096 --`), inside any given before.
    pub fn under(mut self, command: &[impl AsRef<std::ffi::OsStr>]) -> Self {
        self.wrapper.extend(command.iter().map(|part| part.as_ref().to_owned()));
        self
    }

    /// Listens on `path` instead of `<root>/run/agent.sock`.
    pub fn socket(mut self, path: &Path) -> Self {
        self.paths.socket = path.to_path_buf();
        self.env(Self::SOCKET_VAR, path)
    }

    const SOCKET_VAR: &str = "VANTA_AGENT_SOCKET";

    fn environment(&self) -> Vec<(OsString, OsString)> {
        let p = &self.paths;
        let mut env: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), bins::child_path()),
            ("HOME".into(), p.home.clone().into()),
            ("VANTA_JWT_SECRET_KEY".into(), jwt::TEST_JWT_KEY.into()),
            ("VANTA_SOPS_FILES_PATH".into(), p.vault.clone().into()),
            (Self::SOCKET_VAR.into(), p.socket.clone().into()),
            (SOPS_BIN_VAR.into(), bins::sops().into()),
            ("VANTA_AUDIT_LOG".into(), p.audit.clone().into()),
            ("VANTA_STATE_PATH".into(), p.state.clone().into()),
            ("SOPS_AGE_KEY_FILE".into(), p.age_keys.clone().into()),
        ];
        if let Some(gnupg) = &self.gnupg {
            env.push(("GNUPGHOME".into(), gnupg.path().into()));
        }
        // `make test` runs the suite twice: with the agent's default cache and
        // with `VANTA_TEST_CACHE_TTL_SECONDS=0` (one sops run per request).
        if let Some(ttl) = std::env::var_os(CACHE_TTL_TEST_VAR) {
            env.push(("VANTA_CACHE_TTL_SECONDS".into(), ttl));
        }
        for (key, value) in &self.env {
            env.retain(|(k, _)| k != key);
            if let Some(value) = value {
                env.push((key.clone(), value.clone()));
            }
        }
        env
    }

    fn into_agent(self) -> TestAgent {
        let mut env = self.environment();
        let mut program = bins::agent();
        if let Some((uid, gid)) = self.run_as {
            // That user may not reach the build's target/ or the tool's sops:
            // run copies from the agent's own directory, which it will own.
            let bin = self.paths.root.join("bin");
            program = staged::copy_program(&program, &bin.join("vanta-agent"));
            if !self.env.iter().any(|(k, _)| k == SOPS_BIN_VAR) {
                let sops = staged::copy_program(&bins::sops(), &bin.join("sops"));
                env.retain(|(k, _)| k != SOPS_BIN_VAR);
                env.push((SOPS_BIN_VAR.into(), sops.into()));
            }
            chown_tree(&self.paths.root, uid, gid);
        }
        TestAgent {
            child: None,
            program,
            env,
            args: self.args,
            run_as: self.run_as,
            wrapper: self.wrapper,
            paths: self.paths,
            age: self.age,
            _gnupg: self.gnupg,
            _dir: self.dir,
        }
    }

    /// Starts the agent and waits until `/healthz` answers 200.
    ///
    /// # Panics
    /// If it exits or does not answer within [`START_DEADLINE`].
    pub fn start(self) -> TestAgent {
        let mut agent = self.into_agent();
        agent.spawn_and_wait();
        agent
    }

    /// The agent's command, configured as [`AgentBuilder::start`] would run
    /// it, for a test that must start it its own way (its own stdio, another
    /// program around it, no wait for `/healthz`); and the agent, which holds
    /// its directory and runs nothing (keep it for as long as the command).
    pub fn unstarted(self) -> (Command, TestAgent) {
        let agent = self.into_agent();
        (agent.command(), agent)
    }

    /// Starts the agent when a start-up error is expected but serving must be
    /// detected at once: returns the agent (for its output) and `None` once
    /// `/healthz` answers, or the exit status if it exits first.
    ///
    /// # Panics
    /// If it does neither within [`START_DEADLINE`].
    pub fn try_start(self) -> (TestAgent, Option<ExitStatus>) {
        let mut agent = self.into_agent();
        let exited = agent.try_spawn_and_wait().err();
        (agent, exited)
    }

    /// Starts the agent expecting it to exit by itself (a start-up error);
    /// returns how it ended and what it printed, and the stopped agent.
    ///
    /// # Panics
    /// If it is still running after [`START_DEADLINE`].
    pub fn run_to_exit(self) -> (Finished, TestAgent) {
        let agent = self.into_agent();
        let mut cmd = agent.command();
        let finished = process::output_with_deadline(&mut cmd, START_DEADLINE);
        (finished, agent)
    }
}

/// `chown -R uid:gid root` (symlinks not followed).
fn chown_tree(root: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(root, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("cannot chown {}: {e}", root.display()));
    if fs::symlink_metadata(root).is_ok_and(|m| m.is_dir()) {
        for entry in fs::read_dir(root).expect("the agent directory can be read") {
            chown_tree(&entry.expect("a directory entry").path(), uid, gid);
        }
    }
}

//! Running `sops decrypt` on one environment file.
//!
//! The whole file is decrypted to YAML and parsed here rather than asking
//! sops for one key with `--extract`: a key can then never become part of an
//! sops expression, and one run serves key listing and any later fetch.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;
use vanta_shared::EnvName;
use zeroize::Zeroizing;

use super::{SecretSource, Tree};

/// How to run sops: which binary, with which environment, for how long.
#[derive(Clone, Debug)]
pub struct SopsCommand {
    bin: PathBuf,
    files_dir: PathBuf,
    timeout: Duration,
    /// Only the variables sops' key backends need (CONTRACT §7); never ours.
    env: Arc<Vec<(OsString, OsString)>>,
}

/// Why an environment could not be decrypted.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    /// There is no `{env}.enc.yaml`.
    #[error("no secrets file for this environment")]
    NoFile,
    /// sops ran and failed (wrong key, MAC mismatch, not a sops file).
    #[error("sops failed to decrypt the file (exit code {code:?})")]
    Decrypt {
        /// sops' exit code; `None` if it died of a signal.
        code: Option<i32>,
    },
    /// sops did not finish within the deadline and was killed.
    #[error("sops did not finish within {0:?}")]
    Timeout(Duration),
    /// sops could not be started at all.
    #[error("failed to start sops")]
    Spawn(#[source] std::io::Error),
    /// sops printed something that is not a YAML document.
    #[error("failed to parse sops output")]
    Output(#[source] super::tree::TreeError),
}

/// sops exit code for "could not read the input file".
const SOPS_EXIT_CANNOT_READ_INPUT: i32 = 2;

// === impl SopsCommand ===

impl SopsCommand {
    /// Runs `bin` on `{files_dir}/{env}.enc.yaml` with exactly `env` as its
    /// environment, killing it after `timeout`.
    pub fn new(bin: PathBuf, files_dir: PathBuf, timeout: Duration, env: Vec<(OsString, OsString)>) -> Self {
        Self { bin, files_dir, timeout, env: Arc::new(env) }
    }

    /// The file that holds environment `env`.
    pub fn file_for(&self, env: &EnvName) -> PathBuf {
        self.files_dir.join(format!("{env}.enc.yaml"))
    }

    /// Whether sops is an executable file and the files directory readable.
    ///
    /// # Errors
    /// What is wrong, for `/readyz`.
    pub fn check_ready(&self) -> Result<(), String> {
        let executable = std::fs::metadata(&self.bin)
            .is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0);
        if !executable {
            return Err(format!("sops at {} is not an executable file", self.bin.display()));
        }
        std::fs::read_dir(&self.files_dir)
            .map(drop)
            .map_err(|err| format!("cannot read {}: {err}", self.files_dir.display()))
    }

    /// Decrypts `env`'s file and parses it.
    ///
    /// # Errors
    /// [`SopsError`] saying which step failed.
    pub async fn decrypt(&self, env: &EnvName) -> Result<Tree, SopsError> {
        let path = self.file_for(env);
        if !path.is_file() {
            return Err(SopsError::NoFile);
        }
        let output = self.run(&path).await?;
        Tree::parse(&output).map_err(SopsError::Output)
    }

    async fn run(&self, path: &Path) -> Result<Zeroizing<Vec<u8>>, SopsError> {
        let child = Command::new(&self.bin)
            .args(["decrypt", "--input-type", "yaml", "--output-type", "yaml", "--"])
            .arg(path)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(SopsError::Spawn)?;
        // On timeout the future, and with it the child, is dropped: kill_on_drop
        // sends SIGKILL and tokio reaps it in the background.
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| SopsError::Timeout(self.timeout))?
            .map_err(SopsError::Spawn)?;
        let stdout = Zeroizing::new(output.stdout);
        if output.status.success() {
            return Ok(stdout);
        }
        // sops' stderr may quote file content; it is counted, never logged.
        tracing::debug!(code = ?output.status.code(), stderr_bytes = output.stderr.len(), "sops failed");
        match output.status.code() {
            // The file vanished between the check and the run.
            Some(SOPS_EXIT_CANNOT_READ_INPUT) if !path.is_file() => Err(SopsError::NoFile),
            code => Err(SopsError::Decrypt { code }),
        }
    }
}

impl SecretSource for SopsCommand {
    async fn load(&self, env: &EnvName) -> Result<Arc<Tree>, SopsError> {
        self.decrypt(env).await.map(Arc::new)
    }

    fn check_ready(&self) -> Result<(), String> {
        SopsCommand::check_ready(self)
    }
}

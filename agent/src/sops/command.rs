//! Running `sops --decrypt` on one environment file.
//!
//! The whole file is decrypted and parsed here rather than asking sops for
//! one key with `--extract`: a key can then never become part of an sops
//! expression, and one run serves key listing and any later fetch. A failed
//! run is classified into a [`Cause`] from sops' exit code and stderr.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use vanta_shared::EnvName;
use zeroize::Zeroizing;

use super::failure::{Cause, KeyTypes, screen_stderr};
use super::files::{self, EnvFile, Unresolved};
use super::keys::KeyMaterial;
use super::tree::TreeError;
use super::{SecretSource, Tree};

/// How to run sops: which binary, with which environment, for how long.
/// The environment holds key material (`SOPS_AGE_KEY`, cloud credentials):
/// its `Debug` names the variables, never their values.
#[derive(Clone)]
pub struct SopsCommand {
    bin: PathBuf,
    files_dir: PathBuf,
    timeout: Duration,
    /// Only the variables sops' key backends need (docs/API.md §7); never ours.
    env: Arc<Vec<(OsString, OsString)>>,
    /// sops processes started to decrypt (a decryption may take two).
    runs: Counter,
}

impl std::fmt::Debug for SopsCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.env.iter().map(|(name, _)| name).collect();
        f.debug_struct("SopsCommand")
            .field("bin", &self.bin)
            .field("files_dir", &self.files_dir)
            .field("timeout", &self.timeout)
            .field("env", &names)
            .finish()
    }
}

/// The process group of a running sops (its pid: it leads the group).
/// Dropped before sops has ended, it sends SIGKILL to the whole group. Once
/// sops has ended ([`ProcessGroup::ended`]) nothing is sent: its helpers
/// ended with it or left the group on their own (a daemon such as
/// gpg-agent), and its pid may soon name another process.
struct ProcessGroup(Option<u32>);

impl ProcessGroup {
    fn ended(mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|pid| i32::try_from(pid).ok()) {
            // The leader is not reaped yet (it is being killed right now, and
            // tokio reaps it later), so its pid cannot name another group.
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Why an environment could not be decrypted. The text is the cause in
/// words (for the audit log); it never holds a path, a value or sops' output.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    /// There is no `{env}.enc.{yaml,yml,json,env,ini}`.
    #[error("no secrets file for this environment")]
    NoFile,
    /// More than one file for the environment: a configuration error.
    #[error("{}: {}: {}", Cause::AmbiguousFiles, Cause::AmbiguousFiles.describe(), .files)]
    Ambiguous {
        /// The files' names (no directory).
        files: String,
    },
    /// sops ran and failed; why, classified.
    #[error("{cause}: {}{}", .cause.describe(), tried_suffix(.tried))]
    Decrypt {
        /// The classified cause.
        cause: Cause,
        /// Key types sops tried (for [`Cause::NoMatchingKey`]).
        tried: KeyTypes,
        /// sops' stderr, screened for logging; `None` if empty.
        stderr: Option<String>,
    },
    /// sops did not finish within the deadline and was killed.
    #[error("{}: sops did not finish within {} s and was killed", Cause::TimedOut, .0.as_secs())]
    Timeout(Duration),
    /// sops could not be started at all.
    #[error("{}: failed to start sops", Cause::SopsUnavailable)]
    Spawn(#[source] std::io::Error),
    /// sops printed something that cannot be read as a tree.
    #[error("{}: failed to parse sops output", Cause::UnexpectedOutput)]
    Output(#[source] TreeError),
}

/// sops exit code for "could not read the input file".
const SOPS_EXIT_CANNOT_READ_INPUT: i32 = 2;
/// The `--output-type` of the second run for YAML that cannot be read.
const JSON_OUTPUT: &str = "json";

// === impl SopsError ===

impl SopsError {
    /// The stable cause; `None` when the environment simply has no file.
    pub fn cause(&self) -> Option<Cause> {
        match self {
            Self::NoFile => None,
            Self::Ambiguous { .. } => Some(Cause::AmbiguousFiles),
            Self::Decrypt { cause, .. } => Some(*cause),
            Self::Timeout(_) => Some(Cause::TimedOut),
            Self::Spawn(_) => Some(Cause::SopsUnavailable),
            Self::Output(_) => Some(Cause::UnexpectedOutput),
        }
    }

    /// What the operator should check, if this is a failure.
    pub fn hint(&self) -> Option<String> {
        let tried = match self {
            Self::Decrypt { tried, .. } => tried.clone(),
            _ => KeyTypes::default(),
        };
        self.cause().map(|cause| cause.hint(&tried))
    }

    /// sops' screened stderr, if there is one to log.
    pub fn stderr(&self) -> Option<&str> {
        match self {
            Self::Decrypt { stderr, .. } => stderr.as_deref(),
            _ => None,
        }
    }

    /// The same error again, for each request that waited for the sops run
    /// that failed with it (the cache's single flight). An I/O error keeps
    /// its OS error code, or else its kind and text.
    pub fn duplicate(&self) -> Self {
        match self {
            Self::NoFile => Self::NoFile,
            Self::Ambiguous { files } => Self::Ambiguous { files: files.clone() },
            Self::Decrypt { cause, tried, stderr } => {
                Self::Decrypt { cause: *cause, tried: tried.clone(), stderr: stderr.clone() }
            }
            Self::Timeout(after) => Self::Timeout(*after),
            Self::Spawn(err) => {
                Self::Spawn(err.raw_os_error().map_or_else(
                    || std::io::Error::new(err.kind(), err.to_string()),
                    std::io::Error::from_raw_os_error,
                ))
            }
            Self::Output(err) => Self::Output(err.clone()),
        }
    }

    fn from_unresolved(unresolved: Unresolved, env: &EnvName) -> Self {
        match unresolved {
            Unresolved::Missing => Self::NoFile,
            Unresolved::Ambiguous(exts) => Self::Ambiguous { files: files::file_names(env, &exts) },
        }
    }
}

fn tried_suffix(tried: &KeyTypes) -> String {
    if tried.is_empty() { String::new() } else { format!(" (tried: {tried})") }
}

// === impl SopsCommand ===

impl SopsCommand {
    /// Runs `bin` on `{files_dir}/{env}.enc.{yaml,yml,json,env,ini}` with
    /// exactly `env` as its environment, killing it after `timeout`.
    pub fn new(bin: PathBuf, files_dir: PathBuf, timeout: Duration, env: Vec<(OsString, OsString)>) -> Self {
        Self { bin, files_dir, timeout, env: Arc::new(env), runs: Counter::default() }
    }

    /// How many sops processes were started to decrypt, for `/metrics`.
    pub fn runs(&self) -> &Counter {
        &self.runs
    }

    /// The one file that holds environment `env`.
    ///
    /// # Errors
    /// [`SopsError::NoFile`] or [`SopsError::Ambiguous`].
    pub fn file_for(&self, env: &EnvName) -> Result<EnvFile, SopsError> {
        EnvFile::resolve(&self.files_dir, env).map_err(|u| SopsError::from_unresolved(u, env))
    }

    /// The key material sops will see (names and counts only).
    pub fn key_material(&self) -> KeyMaterial {
        KeyMaterial::survey(&self.env)
    }

    /// The files directory.
    pub fn files_dir(&self) -> &Path {
        &self.files_dir
    }

    /// The sops executable.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Whether sops is an executable file, the files directory readable and
    /// no environment has two files. Names no path: `/readyz` may be public.
    ///
    /// # Errors
    /// What is wrong, for `/readyz`.
    pub fn check_ready(&self) -> Result<(), String> {
        let executable = std::fs::metadata(&self.bin)
            .is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0);
        if !executable {
            return Err(format!("{}: sops is not an executable file (check --sops-bin)", Cause::SopsUnavailable));
        }
        let scanned = files::scan(&self.files_dir)
            .map_err(|err| format!("cannot read the secrets directory (--sops-files-path): {}", err.kind()))?;
        let ambiguous: Vec<String> =
            scanned.iter().filter(|(_, exts)| exts.len() > 1).map(|(env, exts)| files::file_names(env, exts)).collect();
        if ambiguous.is_empty() {
            return Ok(());
        }
        Err(format!("{}: {}: {}", Cause::AmbiguousFiles, Cause::AmbiguousFiles.describe(), ambiguous.join("; ")))
    }

    /// sops' version line (`sops 3.11.0`), asked without the network check.
    ///
    /// # Errors
    /// [`SopsError::Spawn`], [`SopsError::Timeout`], or
    /// [`SopsError::Decrypt`] with [`Cause::SopsFailed`] if it exits non-zero.
    pub async fn version(&self) -> Result<String, SopsError> {
        let output =
            self.output(self.command().args(["--version", "--disable-version-check"]), 0, self.timeout).await?;
        if !output.status.success() {
            return Err(SopsError::Decrypt { cause: Cause::SopsFailed, tried: KeyTypes::default(), stderr: None });
        }
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(text.lines().next().unwrap_or_default().trim().to_owned())
    }

    /// Runs `command` to its end within the deadline; its stdout is read
    /// into a buffer wiped on drop, with room for `stdout_size` bytes.
    /// Runs `command`, killing it after `limit` (reported as the configured
    /// timeout: `limit` is what is left of it).
    async fn output(&self, command: &mut Command, stdout_size: usize, limit: Duration) -> Result<Finished, SopsError> {
        let mut child = command.spawn().map_err(SopsError::Spawn)?;
        // On timeout (or when the request is dropped) the future, and with it
        // the child, is dropped: kill_on_drop sends SIGKILL to sops and tokio
        // reaps it in the background; the guard kills what sops started.
        let group = ProcessGroup(child.id());
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let run = async {
            let (stdout, stderr) = tokio::try_join!(read_wiped(stdout, stdout_size), read_all(stderr))?;
            Ok(Finished { status: child.wait().await?, stdout, stderr })
        };
        let finished = tokio::time::timeout(limit, run).await;
        let finished = finished.map_err(|_| SopsError::Timeout(self.timeout))?.map_err(SopsError::Spawn)?;
        // Only once sops was waited for; on any error the guard kills its group.
        group.ended();
        Ok(finished)
    }

    /// sops with our environment and stdio, arguments still to add.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own, so that a timeout also stops what sops
            // started (gpg, a key command): see `ProcessGroup`.
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    /// Decrypts `env`'s file and parses it.
    ///
    /// # Errors
    /// [`SopsError`] saying which step failed.
    pub async fn decrypt(&self, env: &EnvName) -> Result<Tree, SopsError> {
        self.decrypt_file(&self.file_for(env)?, std::iter::empty()).await
    }

    /// Decrypts `file` and parses it; `known` are values decrypted from it
    /// before, which sops' stderr must not contain to be logged.
    ///
    /// # Errors
    /// [`SopsError`] saying which step failed.
    pub async fn decrypt_file<'a>(
        &self,
        file: &EnvFile,
        known: impl IntoIterator<Item = &'a str>,
    ) -> Result<Tree, SopsError> {
        let known: Vec<&str> = known.into_iter().collect();
        let started = tokio::time::Instant::now();
        let output = self.run(file, file.format.output_type(), &known, b"", self.timeout).await?;
        match Tree::parse_output(file.format, &output) {
            // sops' YAML output cannot carry these characters unambiguously
            // (see `Tree::parse`): a second run, in JSON, reads them exactly.
            // Both runs share one --sops-timeout-seconds, which the lease and
            // the request deadline are checked against.
            Err(TreeError::LineSeparators) => {
                let left = self.timeout.saturating_sub(started.elapsed());
                let second = self.run(file, JSON_OUTPUT, &known, &output, left).await?;
                Tree::parse_json_of_yaml(&second)
            }
            parsed => parsed,
        }
        .map_err(SopsError::Output)
    }

    /// Runs sops on `file`, asking for `output` (`--output-type`), killing
    /// it after `limit`; `decrypted_before` is what an earlier run on it
    /// printed, which a failure's stderr must not quote either.
    async fn run(
        &self,
        file: &EnvFile,
        output: &str,
        known: &[&str],
        decrypted_before: &[u8],
        limit: Duration,
    ) -> Result<Zeroizing<Vec<u8>>, SopsError> {
        self.runs.inc();
        let input = file.format.input_type();
        // The plaintext is almost always shorter than the encrypted file
        // (each value grows in encryption, and the metadata is dropped):
        // room for the file's size means one buffer, and should the output
        // not fit (sops re-encodes, e.g. JSON's `<` as `\u003c`), the
        // buffers it outgrows are wiped.
        let size = std::fs::metadata(&file.path).map_or(0, |meta| meta.len());
        let size = usize::try_from(size).unwrap_or(usize::MAX).min(MAX_STDOUT_ROOM);
        let mut command = self.command();
        command.args(["--decrypt", "--input-type", input, "--output-type", output]).arg(file_argument(&file.path));
        let output = self.output(&mut command, size, limit).await?;
        let stdout = output.stdout;
        if output.status.success() {
            return Ok(stdout);
        }
        let code = output.status.code();
        if code == Some(SOPS_EXIT_CANNOT_READ_INPUT) && !file.path.is_file() {
            // The file vanished between the check and the run.
            return Err(SopsError::NoFile);
        }
        let text = String::from_utf8_lossy(&output.stderr);
        let cause = Cause::classify(code, &text);
        let tried = KeyTypes::from_stderr(&text);
        let printed = Zeroizing::new([decrypted_before, stdout.as_slice()].concat());
        let stderr = screen_stderr(&output.stderr, &printed, cause, known.iter().copied());
        Err(SopsError::Decrypt { cause, tried, stderr })
    }
}

/// `path` as sops' file argument. sops runs as `sops --decrypt … FILE`, the
/// form every 3.x takes (the `decrypt` subcommand came only in 3.9), with no
/// `--` before the file; so a relative path (`--sops-files-path` may be one,
/// even `-vault`) is given as `./…`, which can never read as an option.
fn file_argument(path: &Path) -> PathBuf {
    if path.is_relative() { Path::new(".").join(path) } else { path.to_path_buf() }
}

/// A finished sops run. Its stdout may hold every secret of a file.
struct Finished {
    status: std::process::ExitStatus,
    stdout: Zeroizing<Vec<u8>>,
    stderr: Vec<u8>,
}

/// Most room made for sops' stdout up front; a larger output grows.
const MAX_STDOUT_ROOM: usize = 16 << 20;

/// Reads `pipe` to its end into a buffer wiped on drop, with room for
/// `size` bytes and the read that sees the end. A buffer it outgrows is
/// copied into one twice as large and then wiped, where a `Vec` growing by
/// itself would leave the old copy in freed memory.
async fn read_wiped(pipe: Option<impl AsyncRead + Unpin>, size: usize) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(size.saturating_add(1)));
    let Some(mut pipe) = pipe else { return Ok(buf) };
    loop {
        if buf.len() == buf.capacity() {
            let mut larger = Zeroizing::new(Vec::with_capacity(buf.capacity().saturating_mul(2)));
            larger.extend_from_slice(&buf);
            buf = larger;
        }
        // Into the spare room only: `Vec` grows itself only when it has none.
        if pipe.read_buf(&mut *buf).await? == 0 {
            return Ok(buf);
        }
    }
}

async fn read_all(pipe: Option<impl AsyncRead + Unpin>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut buf).await?;
    }
    Ok(buf)
}

impl SecretSource for SopsCommand {
    async fn load(&self, env: &EnvName) -> Result<Arc<Tree>, SopsError> {
        self.decrypt(env).await.map(Arc::new)
    }

    fn check_ready(&self) -> Result<(), String> {
        SopsCommand::check_ready(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stdout_is_read_whole_into_the_room_made_for_it_and_grows_only_past_it() {
        let text: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
        for (len, room) in [(0, 0), (1, 0), (999, 1000), (1000, 1000), (1001, 1000), (3000, 100)] {
            let read = read_wiped(Some(&text[..len]), room).await.expect("read");
            assert_eq!(&read[..], &text[..len], "{len} bytes into room for {room}");
            if len <= room {
                assert_eq!(read.capacity(), room + 1, "{len} bytes fit the room for {room}: one buffer");
            }
        }
        assert!(read_wiped(None::<&[u8]>, 10).await.expect("no pipe").is_empty());
    }

    #[test]
    fn the_file_argument_never_starts_with_a_dash() {
        assert_eq!(file_argument(Path::new("/vault/dev.enc.yaml")), Path::new("/vault/dev.enc.yaml"));
        assert_eq!(file_argument(Path::new("-vault/dev.enc.yaml")), Path::new("./-vault/dev.enc.yaml"));
        assert_eq!(file_argument(Path::new("vault/dev.enc.yaml")), Path::new("./vault/dev.enc.yaml"));
    }

    #[test]
    fn debug_names_the_variables_handed_to_sops_but_not_their_values() {
        let env = vec![("SOPS_AGE_KEY".into(), "AGE-SECRET-KEY-1QQQQ-not-to-be-printed".into())];
        let command = SopsCommand::new("sops".into(), "/vault".into(), Duration::from_secs(5), env);
        let debug = format!("{command:?}");
        assert!(debug.contains("SOPS_AGE_KEY") && !debug.contains("not-to-be-printed"), "{debug}");
    }
}

//! The sops part of the configuration (part of `config`, layer L1): which
//! program runs, on which directory, and which environment it sees. Both
//! are settled at start-up, so that nothing a request or a later change of
//! `PATH` does can swap the program that sees decrypted data or hand it our
//! own variables.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Args, ConfigError, Sops, invalid};

/// Variables passed to sops by exact name (docs/API.md §7).
const SOPS_ENV_NAMES: [&str; 20] = [
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "TZ",
    "GNUPGHOME",
    "GPG_TTY",
    "XDG_CONFIG_HOME",
    "XDG_RUNTIME_DIR",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];
/// Prefixes of variables passed to sops: its own and its key backends'.
const SOPS_ENV_PREFIXES: [&str; 9] =
    ["SOPS_", "AWS_", "AZURE_", "GOOGLE_", "GCLOUD_", "CLOUDSDK_", "VAULT_", "IDENTITY_", "MSI_"];

// === impl Sops ===

impl Sops {
    /// Names (never values) of the variables handed to sops whose names say
    /// they carry key material inline (`SOPS_AGE_KEY`, `AWS_SECRET_ACCESS_KEY`,
    /// `VAULT_TOKEN`, ...) rather than a path or a command that yields one:
    /// sops children can be read by processes of the same uid, so `app`
    /// warns about them at start-up.
    pub fn inline_key_vars(&self) -> Vec<String> {
        const SECRET_ENDINGS: [&str; 5] = ["_KEY", "_SECRET", "_TOKEN", "_PASSWORD", "_CREDENTIALS"];
        self.env
            .iter()
            .filter_map(|(name, _)| name.to_str())
            .filter(|name| SECRET_ENDINGS.iter().any(|end| name.ends_with(end)))
            .map(str::to_owned)
            .collect()
    }
}

/// Names only: the environment handed to sops holds key material
/// (`SOPS_AGE_KEY`, `AWS_SECRET_ACCESS_KEY`, `VAULT_TOKEN`, ...), and a
/// `Debug` is printed wherever someone logs the part.
impl std::fmt::Debug for Sops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env_names: Vec<&OsStr> = self.env.iter().map(|(name, _)| name.as_os_str()).collect();
        f.debug_struct("Sops")
            .field("bin", &self.bin)
            .field("files_dir", &self.files_dir)
            .field("timeout", &self.timeout)
            .field("env_names", &env_names)
            .field("cache_ttl", &self.cache_ttl)
            .finish()
    }
}

/// The files directory must exist and the binary must be found now, so a
/// typo stops start-up instead of failing the first fetch.
pub(super) fn sops_part(
    args: &Args,
    env: &[(OsString, OsString)],
    lookup: &impl Fn(&str) -> Option<OsString>,
) -> Result<Sops, ConfigError> {
    let files_dir =
        args.sops_files_path.clone().ok_or(ConfigError::Missing("--sops-files-path (VANTA_SOPS_FILES_PATH)"))?;
    if !files_dir.is_dir() {
        return Err(invalid("--sops-files-path", format!("{} is not a directory", files_dir.display())));
    }
    let bin = resolve_executable(&args.sops_bin, lookup("PATH").as_deref()).ok_or_else(|| {
        invalid("--sops-bin", format!("{} is not an executable file or on PATH", args.sops_bin.display()))
    })?;
    if args.sops_timeout_seconds == 0 {
        return Err(invalid("--sops-timeout-seconds", "must be at least 1".into()));
    }
    Ok(Sops {
        bin,
        files_dir,
        timeout: Duration::from_secs(args.sops_timeout_seconds),
        env: sops_env(env),
        cache_ttl: Duration::from_secs(args.cache_ttl_seconds),
    })
}

/// `bin` itself if it names a path, else the first match on `PATH`.
pub(super) fn resolve_executable(bin: &Path, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
    };
    if bin.components().count() > 1 || bin.is_absolute() {
        return is_exec(bin).then(|| bin.to_owned());
    }
    std::env::split_paths(path_var?).map(|dir| dir.join(bin)).find(|p| is_exec(p))
}

/// The variables sops may see: never one of ours (they hold the JWT key).
fn sops_env(env: &[(OsString, OsString)]) -> Vec<(OsString, OsString)> {
    env.iter()
        .filter(|(name, _)| {
            let Some(name) = name.to_str() else { return false };
            !name.starts_with("VANTA_")
                && (SOPS_ENV_NAMES.contains(&name) || SOPS_ENV_PREFIXES.iter().any(|p| name.starts_with(p)))
        })
        .cloned()
        .collect()
}

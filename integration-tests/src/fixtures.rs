//! Secret files for the agent to serve (harness).
//!
//! Owns the test key material: fresh age identities made with the `age`
//! crate, files encrypted by the real `sops` (never a hand-made SOPS file),
//! the upstream SOPS fixtures copied under chosen environment names, and a
//! private `GNUPGHOME` holding the upstream PGP test key. Plaintext is only
//! ever written to a scratch directory, never into a vault directory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use age::secrecy::ExposeSecret;

use crate::bins;

/// A fresh age identity and its recipient.
pub struct AgeKey {
    secret: String,
    recipient: String,
}

/// A private `GNUPGHOME` with the upstream PGP test key imported. Its
/// gpg-agent is stopped on drop.
pub struct GnupgHome {
    dir: PathBuf,
}

// === impl AgeKey ===

impl AgeKey {
    /// Generates a new X25519 identity.
    pub fn generate() -> Self {
        let identity = age::x25519::Identity::generate();
        let secret = identity.to_string().expose_secret().to_owned();
        Self { secret, recipient: identity.to_public().to_string() }
    }

    /// The public key (`age1…`), for `sops encrypt --age`.
    pub fn recipient(&self) -> &str {
        &self.recipient
    }

    /// The secret key (`AGE-SECRET-KEY-1…`).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The identity as an age key file, as `age-keygen` writes it.
    pub fn key_file_text(&self, created: &str) -> String {
        format!("# created: {created}\n# public key: {}\n{}\n", self.recipient, self.secret)
    }

    /// Writes the identity as a key file with mode 0600.
    ///
    /// # Panics
    /// If the file cannot be written.
    pub fn write_key_file(&self, path: &Path) {
        write_private(path, self.key_file_text("2024-01-01T00:00:00Z").as_bytes());
    }
}

/// Appends the upstream age test identity (`age-test-key.txt`) to a key file.
///
/// # Panics
/// If either file cannot be read or written.
pub fn append_upstream_age_key(key_file: &Path) {
    let upstream = fs::read_to_string(bins::upstream_fixtures().join("age-test-key.txt"))
        .expect("upstream age-test-key.txt is readable");
    let mut file = fs::OpenOptions::new().append(true).open(key_file).expect("age key file exists");
    // The upstream file has no final newline; a key file is line-based.
    write!(file, "\n{}\n", upstream.trim_end()).expect("age key file is writable");
}

/// The recipient of the upstream age test identity, from the `public key:`
/// comment of `age-test-key.txt`.
///
/// # Panics
/// If the file cannot be read or has no such comment.
pub fn upstream_age_recipient() -> String {
    let text = fs::read_to_string(bins::upstream_fixtures().join("age-test-key.txt"))
        .expect("upstream age-test-key.txt is readable");
    let (_, rest) = text.split_once("public key: ").expect("age-test-key.txt names its public key");
    rest.split_whitespace().next().expect("a recipient follows 'public key:'").to_owned()
}

/// Writes a file that only its owner may read.
///
/// # Panics
/// If it cannot be written.
pub fn write_private(path: &Path, contents: &[u8]) {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    file.write_all(contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

// === encryption with the real sops ===

/// Encrypts `plain_yaml` to `recipient` with the real sops and writes it to
/// `<vault_dir>/<env>.enc.yaml`. The plaintext lives only in a scratch
/// directory that is removed before this returns.
///
/// # Panics
/// If sops fails.
pub fn encrypt_yaml(recipient: &str, plain_yaml: &str, vault_dir: &Path, env: &str) -> PathBuf {
    encrypt_as(recipient, "yaml", plain_yaml, vault_dir, env)
}

/// Encrypts `plain` (in the format of file extension `ext`: `yaml`, `yml`,
/// `json`, `env` or `ini`) to `recipient` with the real sops and writes it to
/// `<vault_dir>/<env>.enc.<ext>`, in the same format. The plaintext lives only
/// in a scratch directory that is removed before this returns.
///
/// # Panics
/// If `ext` is not one of those or sops fails.
pub fn encrypt_as(recipient: &str, ext: &str, plain: &str, vault_dir: &Path, env: &str) -> PathBuf {
    let sops_type = match ext {
        "yaml" | "yml" => "yaml",
        "json" => "json",
        "env" => "dotenv",
        "ini" => "ini",
        other => panic!("sops reads no format with extension {other}"),
    };
    let scratch = tempfile::tempdir().expect("scratch dir for plaintext");
    let plain_path = scratch.path().join(format!("plain.{ext}"));
    write_private(&plain_path, plain.as_bytes());
    let dest = vault_dir.join(format!("{env}.enc.{ext}"));
    let output = Command::new(bins::sops())
        .env_clear()
        .env("PATH", bins::child_path())
        .env("HOME", scratch.path())
        .current_dir(scratch.path())
        .args(["encrypt", "--age", recipient, "--input-type", sops_type, "--output-type", sops_type, "--output"])
        .arg(&dest)
        .arg(&plain_path)
        .stdin(Stdio::null())
        .output()
        .expect("sops can be started");
    assert!(
        output.status.success(),
        "sops encrypt failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    dest
}

/// Sets `key` (a top-level key) of the sops file `file` to the string
/// `value` with the real `sops set`, decrypting with the age keys in
/// `key_file`: how an operator rotates one secret in place.
///
/// # Panics
/// If sops fails.
pub fn sops_set(key_file: &Path, file: &Path, key: &str, value: &str) {
    let scratch = tempfile::tempdir().expect("scratch home for sops");
    let index = format!("[{}]", serde_json::Value::from(key));
    let output = Command::new(bins::sops())
        .env_clear()
        .env("PATH", bins::child_path())
        .env("HOME", scratch.path())
        .env("SOPS_AGE_KEY_FILE", key_file)
        .arg("set")
        .arg(file)
        .arg(&index)
        .arg(serde_json::Value::from(value).to_string())
        .stdin(Stdio::null())
        .output()
        .expect("sops can be started");
    assert!(
        output.status.success(),
        "sops set failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Copies an upstream fixture (e.g. `example.enc.yaml`) to
/// `<vault_dir>/<env>.enc.yaml`.
///
/// # Panics
/// If the copy fails.
pub fn copy_upstream(file: &str, vault_dir: &Path, env: &str) -> PathBuf {
    let dest = vault_dir.join(format!("{env}.enc.yaml"));
    fs::copy(bins::upstream_fixtures().join(file), &dest).unwrap_or_else(|e| panic!("cannot copy {file}: {e}"));
    // The source is read-only; the copy must stay removable by TempDir.
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o644)).expect("copied fixture is ours");
    dest
}

// === impl GnupgHome ===

impl GnupgHome {
    /// Creates `<parent>/gnupg` (mode 0700) and imports the upstream PGP key.
    ///
    /// # Panics
    /// If gpg is missing or the import fails.
    pub fn with_upstream_key(parent: &Path) -> Self {
        let dir = parent.join("gnupg");
        fs::create_dir(&dir).expect("gnupg home can be created");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("gnupg home is ours");
        let key = bins::upstream_fixtures().join("sops_functional_tests_key.asc");
        let output = Command::new("gpg")
            .args(["--batch", "--homedir"])
            .arg(&dir)
            .arg("--import")
            .arg(&key)
            .stdin(Stdio::null())
            .output()
            .expect("gpg is needed for the upstream fixtures: run `scripts/install-tools.sh` (`make test` does)");
        assert!(output.status.success(), "gpg --import failed: {}", String::from_utf8_lossy(&output.stderr));
        Self { dir }
    }

    /// The directory, for `GNUPGHOME`.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        // sops started a gpg-agent for this home; it must not outlive the test.
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.dir)
            .args(["--kill", "gpg-agent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

//! The key material sops will see, judged from the environment the agent
//! gives it: which sources exist, and which are named but unusable.
//!
//! Only names and counts come out of here, never a key. Absence is not an
//! error: sops may get keys from places the agent cannot see (a cloud
//! instance's metadata service, a KMS role). The survey runs on every
//! `/readyz`, and reading an age key file to count its identities reads the
//! private keys: into one buffer wiped on drop ([`read_wiped`]), never an
//! ordinary `String` left behind in freed memory.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// What was found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KeyMaterial {
    /// Usable-looking sources, e.g. `age: SOPS_AGE_KEY_FILE (identities: 2)`.
    pub found: Vec<String>,
    /// Sources that are named but cannot work, with what to do.
    pub problems: Vec<String>,
}

/// Variables whose presence means a cloud or Vault key service can be used.
const SERVICE_VARS: [(&str, &str); 8] = [
    ("AWS_PROFILE", "aws_kms"),
    ("AWS_ACCESS_KEY_ID", "aws_kms"),
    ("AWS_ROLE_ARN", "aws_kms"),
    ("AWS_WEB_IDENTITY_TOKEN_FILE", "aws_kms"),
    ("GOOGLE_APPLICATION_CREDENTIALS", "gcp_kms"),
    ("AZURE_CLIENT_ID", "azure_kv"),
    ("AZURE_TENANT_ID", "azure_kv"),
    ("VAULT_ADDR", "hc_vault"),
];

// === impl KeyMaterial ===

impl KeyMaterial {
    /// Surveys `env`, the exact environment sops runs with.
    pub fn survey(env: &[(OsString, OsString)]) -> Self {
        let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_os_str());
        let mut out = Self::default();
        out.age(&get);
        out.gnupg(&get);
        for (var, kind) in SERVICE_VARS {
            let label = format!("{kind} ({var})");
            if get(var).is_some() && !out.found.iter().any(|f| f.starts_with(kind)) {
                out.found.push(label);
            }
        }
        out
    }

    /// One line for `/readyz` and the start-up log when nothing was found;
    /// `None` when something was.
    pub fn absent_warning(&self) -> Option<String> {
        self.found.is_empty().then(|| {
            "no key material visible to sops (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, GNUPGHOME, cloud credentials); \
             fine only if sops gets keys from instance metadata"
                .to_owned()
        })
    }

    fn age<'a>(&mut self, get: &impl Fn(&str) -> Option<&'a OsStr>) {
        if let Some(path) = get("SOPS_AGE_KEY_FILE") {
            match count_age_identities(Path::new(path)) {
                Some(0) => self.problems.push("SOPS_AGE_KEY_FILE holds no AGE-SECRET-KEY line".to_owned()),
                Some(n) => self.found.push(format!("age: SOPS_AGE_KEY_FILE (identities: {n})")),
                None => self.problems.push("SOPS_AGE_KEY_FILE names a file that cannot be read".to_owned()),
            }
        }
        if get("SOPS_AGE_KEY").is_some() {
            self.found.push("age: SOPS_AGE_KEY (inline; prefer SOPS_AGE_KEY_FILE)".to_owned());
        }
        if get("SOPS_AGE_KEY_CMD").is_some() {
            self.found.push("age: SOPS_AGE_KEY_CMD".to_owned());
        }
        let config_home =
            get("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| get("HOME").map(|h| Path::new(h).join(".config")));
        if let Some(n) = config_home.and_then(|c| count_age_identities(&c.join("sops/age/keys.txt"))).filter(|n| *n > 0)
        {
            self.found.push(format!("age: sops/age/keys.txt in the config directory (identities: {n})"));
        }
        let ssh = get("SOPS_AGE_SSH_PRIVATE_KEY_FILE").map(PathBuf::from);
        let home_ssh = get("HOME").map(|h| Path::new(h).join(".ssh/id_ed25519"));
        if ssh.or(home_ssh).is_some_and(|p| p.is_file()) {
            self.found.push("age: an SSH private key".to_owned());
        }
    }

    fn gnupg<'a>(&mut self, get: &impl Fn(&str) -> Option<&'a OsStr>) {
        let named = get("GNUPGHOME").map(PathBuf::from);
        let home = named.clone().or_else(|| get("HOME").map(|h| Path::new(h).join(".gnupg")));
        let secret_keys = home.as_ref().map(|h| h.join("private-keys-v1.d"));
        let has_keys = secret_keys.and_then(|d| std::fs::read_dir(d).ok()).is_some_and(|mut d| d.next().is_some());
        match (named.is_some(), has_keys) {
            (_, true) => self.found.push("pgp: GNUPGHOME (secret keys present)".to_owned()),
            (true, false) => {
                self.problems.push("GNUPGHOME holds no secret key (private-keys-v1.d is empty)".to_owned())
            }
            (false, false) => {}
        }
    }
}

/// The most of a key file that is read to count its identities: far more
/// than any real one holds.
const MAX_KEY_FILE: u64 = 1 << 20;

/// Lines starting with `AGE-SECRET-KEY-`; `None` if unreadable.
fn count_age_identities(path: &Path) -> Option<usize> {
    let bytes = read_wiped(path).ok()?;
    let is_identity = |line: &&[u8]| line.trim_ascii_start().starts_with(b"AGE-SECRET-KEY-");
    Some(bytes.split(|b| *b == b'\n').filter(is_identity).count())
}

/// The file at `path` (at most [`MAX_KEY_FILE`] bytes) in one buffer wiped
/// on drop. Sized from the file's length and never grown, so no copy is left
/// in freed memory; read straight into it (not with `read_to_end`, whose
/// probe reads go through a stack buffer). A file that grew meanwhile is cut.
fn read_wiped(path: &Path) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut file = std::fs::File::open(path)?;
    let room = file.metadata()?.len().min(MAX_KEY_FILE);
    let mut buf = Zeroizing::new(vec![0; usize::try_from(room).unwrap_or(0)]);
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    // Shortening keeps the buffer; what lies past `filled` is zeros.
    buf.truncate(filled);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &Path)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (OsString::from(k), v.as_os_str().to_owned())).collect()
    }

    #[test]
    fn finds_age_files_and_names_unusable_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = dir.path().join("keys.txt");
        std::fs::write(&keys, "# created\nAGE-SECRET-KEY-1ABC\nAGE-SECRET-KEY-1DEF\n").expect("write");
        let found = KeyMaterial::survey(&env(&[("SOPS_AGE_KEY_FILE", &keys), ("HOME", dir.path())]));
        assert_eq!(found.found, ["age: SOPS_AGE_KEY_FILE (identities: 2)"]);
        assert!(found.problems.is_empty() && found.absent_warning().is_none());
        let missing = KeyMaterial::survey(&env(&[("SOPS_AGE_KEY_FILE", &dir.path().join("nope"))]));
        assert_eq!(missing.problems, ["SOPS_AGE_KEY_FILE names a file that cannot be read"]);
        assert!(missing.absent_warning().is_some());
    }

    #[test]
    fn a_key_file_is_read_into_one_wiped_buffer_of_its_size_as_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = dir.path().join("keys.txt");
        // A comment in Latin-1: not UTF-8, and still a usable key file.
        std::fs::write(&keys, b"# cr\xe9\xe9 par age-keygen\n  AGE-SECRET-KEY-1ABC\n").expect("write");
        let read = read_wiped(&keys).expect("read");
        assert_eq!(read.len(), 44);
        assert_eq!(read.capacity(), read.len(), "one buffer, never grown");
        assert_eq!(count_age_identities(&keys), Some(1));
        let found = KeyMaterial::survey(&env(&[("SOPS_AGE_KEY_FILE", &keys)]));
        assert_eq!(found.found, ["age: SOPS_AGE_KEY_FILE (identities: 1)"]);
    }

    #[test]
    fn nothing_at_all_is_a_warning_and_never_shows_a_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let none = KeyMaterial::survey(&env(&[("HOME", dir.path())]));
        assert!(none.found.is_empty() && none.problems.is_empty());
        let warning = none.absent_warning().expect("a warning");
        assert!(warning.contains("SOPS_AGE_KEY_FILE"), "{warning}");
        let inline = vec![(OsString::from("SOPS_AGE_KEY"), OsString::from("AGE-SECRET-KEY-1SECRET"))];
        let found = KeyMaterial::survey(&inline);
        assert!(!format!("{found:?}").contains("1SECRET"));
    }
}

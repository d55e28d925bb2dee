//! Secrets of the configuration: the JWT keys and the admin credential, read
//! from environment variables or files, checked for length, never echoed.

use std::ffi::OsString;
use std::path::Path;

use secrecy::{ExposeSecret, SecretSlice, SecretString};

use super::{ConfigError, KEY_FILE_VAR, KEY_VAR, MIN_KEY_BYTES, PREVIOUS_KEYS_FILE_VAR, PREVIOUS_KEYS_VAR, invalid};

pub(super) fn read_key(lookup: &impl Fn(&str) -> Option<OsString>) -> Result<SecretSlice<u8>, ConfigError> {
    // A refusal names the variable the key came from.
    match (lookup(KEY_VAR), lookup(KEY_FILE_VAR)) {
        (Some(_), Some(_)) => Err(ConfigError::Conflict(KEY_VAR, KEY_FILE_VAR)),
        (None, None) => Err(ConfigError::Missing("VANTA_JWT_SECRET_KEY (or VANTA_JWT_SECRET_KEY_FILE)")),
        (Some(value), None) => checked_key(KEY_VAR, secret_var(KEY_VAR, value)?.expose_secret()),
        (None, Some(path)) => checked_key_bytes(KEY_FILE_VAR, &read_key_file(Path::new(&path))?),
    }
}

/// Reads the signing key's file: text (one trailing newline dropped, as for
/// every secret file) or, when it is not UTF-8, raw bytes taken whole, such
/// as `head -c 48 /dev/urandom` or a binary Kubernetes Secret writes.
fn read_key_file(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, ConfigError> {
    let bytes = read_file_bytes(KEY_FILE_VAR, path)?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(zeroize::Zeroizing::new(without_line_end(text).as_bytes().to_vec())),
        Err(_) => Ok(bytes),
    }
}

/// `text` without one trailing `\n` (or `\r\n`), as `echo` writes it.
fn without_line_end(text: &str) -> &str {
    text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(text)
}

pub(super) fn read_previous_keys(
    lookup: &impl Fn(&str) -> Option<OsString>,
) -> Result<Vec<SecretSlice<u8>>, ConfigError> {
    match (lookup(PREVIOUS_KEYS_VAR), lookup(PREVIOUS_KEYS_FILE_VAR)) {
        (Some(_), Some(_)) => Err(ConfigError::Conflict(PREVIOUS_KEYS_VAR, PREVIOUS_KEYS_FILE_VAR)),
        (None, None) => Ok(Vec::new()),
        (Some(value), None) => key_list(PREVIOUS_KEYS_VAR, secret_var(PREVIOUS_KEYS_VAR, value)?.expose_secret()),
        (None, Some(path)) => {
            let bytes = read_file_bytes(PREVIOUS_KEYS_FILE_VAR, Path::new(&path))?;
            match std::str::from_utf8(&bytes) {
                Ok(text) => key_list(PREVIOUS_KEYS_FILE_VAR, text),
                // Raw bytes (a binary key rotated out): one key, taken whole.
                Err(_) => Ok(vec![checked_key_bytes(PREVIOUS_KEYS_FILE_VAR, &bytes)?]),
            }
        }
    }
}

/// Keys separated by newlines or commas, each trimmed.
fn key_list(name: &'static str, text: &str) -> Result<Vec<SecretSlice<u8>>, ConfigError> {
    text.split(['\n', ',']).map(str::trim).filter(|k| !k.is_empty()).map(|k| checked_key(name, k)).collect()
}

/// A secret file's bytes, in a buffer wiped on drop.
fn read_file_bytes(name: &'static str, path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, ConfigError> {
    std::fs::read(path).map(zeroize::Zeroizing::new).map_err(|source| ConfigError::KeyFile {
        name,
        path: path.to_owned(),
        source,
    })
}

/// A secret from the environment variable `name`, which must be UTF-8 as the
/// `_FILE` forms must: a lossy conversion would silently turn other bytes
/// into U+FFFD and so change the key. The refusal never shows the value.
pub(super) fn secret_var(name: &'static str, value: OsString) -> Result<SecretString, ConfigError> {
    // The refused bytes are dropped unread; only a UTF-8 value is kept.
    value
        .into_string()
        .map(SecretString::from)
        .map_err(|_| invalid(name, "the value is not valid UTF-8: give it as text (a key as base64, for one)".into()))
}

/// Reads a key file; one trailing newline (as `echo` writes) is not part of the key.
pub(super) fn read_secret_file(name: &'static str, path: &Path) -> Result<SecretString, ConfigError> {
    let bytes = read_file_bytes(name, path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ConfigError::KeyFile {
        name,
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "stream did not contain valid UTF-8"),
    })?;
    Ok(SecretString::from(without_line_end(text).to_owned()))
}

/// Fewest different byte values a key must hold. Random keys have far more
/// (32 random base64 characters hold about 25, hex about 14); a key of one
/// repeated byte or a short repeated pattern is a placeholder, not a secret.
const MIN_DISTINCT_KEY_BYTES: usize = 8;

pub(super) fn checked_key(name: &'static str, key: &str) -> Result<SecretSlice<u8>, ConfigError> {
    checked_key_bytes(name, key.as_bytes())
}

fn checked_key_bytes(name: &'static str, key: &[u8]) -> Result<SecretSlice<u8>, ConfigError> {
    if key.len() < MIN_KEY_BYTES {
        let problem = format!("the key is {} bytes long; at least {MIN_KEY_BYTES} bytes are required", key.len());
        return Err(invalid(name, problem));
    }
    let mut seen = [false; 256];
    key.iter().for_each(|b| seen[usize::from(*b)] = true);
    let distinct = seen.iter().filter(|s| **s).count();
    if distinct < MIN_DISTINCT_KEY_BYTES {
        let problem = format!(
            "the key has only {distinct} different byte values and cannot be random (at least \
             {MIN_DISTINCT_KEY_BYTES} are required); generate one with `openssl rand -base64 48`"
        );
        return Err(invalid(name, problem));
    }
    Ok(SecretSlice::from(key.to_vec()))
}

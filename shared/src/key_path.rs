//! Key paths: the address of one leaf in an environment's YAML tree (layer L0).
//!
//! `DATABASE_URL`, `API_KEYS/stripe`: segments joined by `/`, each of
//! `[A-Za-z0-9_.-]`, no empty segment, at most 512 bytes (docs/API.md §2). A
//! segment made only of dots (`.`, `..`) is refused too: no real secret is
//! called that, and it is what path-traversal attempts look like.

use std::fmt;
use std::str::FromStr;

/// A validated key path. Can only be built through [`FromStr`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyPath(String);

/// Why a string is not a valid key path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyPathError {
    /// The path is empty.
    #[error("key is empty")]
    Empty,
    /// The path is longer than [`KeyPath::MAX_LEN`] bytes.
    #[error("key is longer than 512 bytes")]
    TooLong,
    /// Two `/` in a row, or a leading or trailing `/`.
    #[error("key has an empty segment")]
    EmptySegment,
    /// A segment made only of dots.
    #[error("key segments '.' and '..' are not allowed")]
    DotSegment,
    /// A character outside `[A-Za-z0-9_.-]` and `/`.
    #[error("key may only contain letters, digits, '_', '.', '-' and '/' between segments")]
    BadChar,
}

// === impl KeyPath ===

impl KeyPath {
    /// Longest accepted path, in bytes.
    pub const MAX_LEN: usize = 512;

    /// The path as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments of the path, in order.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// Whether `segment` could be one segment of a key path. Used when listing
    /// a tree, to leave out keys that no request could name.
    pub fn is_valid_segment(segment: &str) -> bool {
        check_segment(segment).is_ok()
    }
}

fn check_segment(segment: &str) -> Result<(), KeyPathError> {
    if segment.is_empty() {
        return Err(KeyPathError::EmptySegment);
    }
    if !segment.bytes().all(is_segment_byte) {
        return Err(KeyPathError::BadChar);
    }
    if segment.bytes().all(|b| b == b'.') {
        return Err(KeyPathError::DotSegment);
    }
    Ok(())
}

fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

impl FromStr for KeyPath {
    type Err = KeyPathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(KeyPathError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(KeyPathError::TooLong);
        }
        s.split('/').try_for_each(check_segment)?;
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_contract_keys() {
        for ok in ["DATABASE_URL", "API_KEYS/stripe", "a.b-c_d/e", "x/y/z", "1"] {
            let key: KeyPath = ok.parse().expect(ok);
            assert_eq!(key.as_str(), ok);
        }
        let segs: Vec<_> = "a/b/c".parse::<KeyPath>().expect("valid").segments().map(String::from).collect();
        assert_eq!(segs, ["a", "b", "c"]);
    }

    #[test]
    fn rejects_everything_else() {
        let cases = [
            ("", KeyPathError::Empty),
            ("/a", KeyPathError::EmptySegment),
            ("a/", KeyPathError::EmptySegment),
            ("a//b", KeyPathError::EmptySegment),
            ("..", KeyPathError::DotSegment),
            ("a/../b", KeyPathError::DotSegment),
            ("a/./b", KeyPathError::DotSegment),
            ("a\"]", KeyPathError::BadChar),
            ("a[0]", KeyPathError::BadChar),
            ("a'b", KeyPathError::BadChar),
            ("a b", KeyPathError::BadChar),
            ("a%2Fb", KeyPathError::BadChar),
            ("a\0", KeyPathError::BadChar),
            ("clé", KeyPathError::BadChar),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<KeyPath>(), Err(want), "{input:?}");
        }
        assert_eq!("a".repeat(513).parse::<KeyPath>(), Err(KeyPathError::TooLong));
        assert!("a".repeat(512).parse::<KeyPath>().is_ok());
    }
}

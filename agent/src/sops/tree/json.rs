//! sops' JSON output (of `.enc.json`, `.enc.env` and `.enc.ini` files) as a
//! [`Node`] tree.
//!
//! Each value is first taken as the raw JSON text sops printed: a number or
//! boolean keeps exactly that text (`1234567890123`, `true`), a string is
//! unescaped, objects recurse, arrays and `null` are not secrets.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::{MAX_DEPTH, Missing, Node, TreeError};

/// A JSON object's entries in file order, values still raw text.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

struct EntriesVisitor;

/// Parses sops' JSON output: one object at the top.
///
/// # Errors
/// [`TreeError`] if it is not one JSON object.
pub(super) fn parse(text: &str) -> Result<Node, TreeError> {
    if text.trim().is_empty() {
        return Ok(Node::Map(Vec::new()));
    }
    let raw: &RawValue = serde_json::from_str(text).map_err(json_error)?;
    match raw.get().trim_start().as_bytes().first() {
        Some(b'{') => object(raw, 1),
        _ => Err(TreeError::Shape),
    }
}

fn object(raw: &RawValue, depth: usize) -> Result<Node, TreeError> {
    if depth > MAX_DEPTH {
        return Err(TreeError::Shape);
    }
    let Entries(raw_entries) = serde_json::from_str(raw.get()).map_err(json_error)?;
    let mut entries = Vec::with_capacity(raw_entries.len());
    for (key, value) in raw_entries {
        let node = node(value, depth)?;
        super::insert(&mut entries, key, node);
    }
    Ok(Node::Map(entries))
}

fn node(raw: &RawValue, depth: usize) -> Result<Node, TreeError> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{') => object(raw, depth + 1),
        Some(b'"') => {
            let value: String = serde_json::from_str(text).map_err(json_error)?;
            Ok(Node::Leaf(Zeroizing::new(value)))
        }
        Some(b'[') => Ok(Node::NotSecret(Missing::List)),
        Some(b'n') => Ok(Node::NotSecret(Missing::Null)),
        // A number or a boolean: the text exactly as sops printed it.
        Some(_) => Ok(Node::Leaf(Zeroizing::new(text.to_owned()))),
        None => Err(TreeError::Shape),
    }
}

fn json_error(err: serde_json::Error) -> TreeError {
    // Position only: serde_json's message could quote content.
    TreeError::Json { line: err.line() }
}

// === impl Entries ===

impl<'de: 'a, 'a> serde::Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntriesVisitor)
    }
}

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = Entries<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
            entries.push(entry);
        }
        Ok(Entries(entries))
    }
}

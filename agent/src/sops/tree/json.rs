//! sops' JSON output (of `.enc.json`, `.enc.env` and `.enc.ini` files) as a
//! [`Node`] tree.
//!
//! Each value is first taken as the raw JSON text sops printed: a number or
//! boolean keeps exactly that text (`1234567890123`, `true`), a string is
//! unescaped, objects recurse, arrays and `null` are not secrets.
//!
//! The JSON output of a YAML file (see [`super::Tree::parse_json_of_yaml`])
//! keeps a YAML merge as a `<<` key holding the merged map (or a list of
//! them); with [`MergeKeys::Yes`] such maps are merged as the YAML reader
//! merges them.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::{MAX_DEPTH, Missing, Node, TreeError};

/// A JSON object's entries in file order, values still raw text.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

/// Whether a `<<` key is a YAML merge (JSON output of a YAML file) or an
/// ordinary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MergeKeys {
    Yes,
    No,
}

/// The key a YAML merge has in sops' JSON output.
const MERGE_KEY: &str = "<<";

struct EntriesVisitor;

/// Parses sops' JSON output: one object at the top.
///
/// # Errors
/// [`TreeError`] if it is not one JSON object.
pub(super) fn parse(text: &str, merge_keys: MergeKeys) -> Result<Node, TreeError> {
    if text.trim().is_empty() {
        return Ok(Node::Map(Vec::new()));
    }
    let raw: &RawValue = serde_json::from_str(text).map_err(json_error)?;
    match raw.get().trim_start().as_bytes().first() {
        Some(b'{') => object(raw, 1, merge_keys),
        _ => Err(TreeError::Shape),
    }
}

fn object(raw: &RawValue, depth: usize, merge_keys: MergeKeys) -> Result<Node, TreeError> {
    entries(raw, depth, merge_keys).map(Node::Map)
}

fn entries(raw: &RawValue, depth: usize, merge_keys: MergeKeys) -> Result<Vec<(String, Node)>, TreeError> {
    if depth > MAX_DEPTH {
        return Err(TreeError::Shape);
    }
    let Entries(raw_entries) = serde_json::from_str(raw.get()).map_err(json_error)?;
    let mut entries = Vec::with_capacity(raw_entries.len());
    let mut merged = Vec::new();
    for (key, value) in raw_entries {
        if merge_keys == MergeKeys::Yes && key == MERGE_KEY {
            merged.extend(merge_value(value, depth, merge_keys)?);
            continue;
        }
        let node = node(value, depth, merge_keys)?;
        super::insert(&mut entries, key, node);
    }
    Ok(super::merge(entries, merged))
}

/// The maps a merge key holds: one object, or a list of objects (in the
/// order they are merged), as the YAML reader takes them.
fn merge_value(raw: &RawValue, depth: usize, merge_keys: MergeKeys) -> Result<Vec<Vec<(String, Node)>>, TreeError> {
    match raw.get().as_bytes().first() {
        Some(b'{') => Ok(vec![entries(raw, depth + 1, merge_keys)?]),
        Some(b'[') => {
            let maps: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(json_error)?;
            maps.into_iter()
                .map(|map| match map.get().as_bytes().first() {
                    Some(b'{') => entries(map, depth + 2, merge_keys),
                    _ => Err(TreeError::Shape),
                })
                .collect()
        }
        _ => Err(TreeError::Shape),
    }
}

fn node(raw: &RawValue, depth: usize, merge_keys: MergeKeys) -> Result<Node, TreeError> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{') => object(raw, depth + 1, merge_keys),
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

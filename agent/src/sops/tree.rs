//! A decrypted environment as a lookup tree of key paths to leaf values.
//!
//! Leaves keep the exact text sops printed for them, so numbers and booleans
//! come back as sops prints them (`1.234568e+09`, `true`) and strings byte for
//! byte (docs/VAULT_ACCESS_SYSTEM_README.md, "Secret files"). `null`, lists
//! and aliases are not secrets. Nested maps (JSON objects, INI sections) are
//! `section/key`. Values are held in zeroizing buffers, and the type has no
//! `Debug`. sops' YAML output is read here, its JSON output in [`json`].
//!
//! sops expands YAML aliases when it decrypts, but keeps merge keys: `<<:
//! *base` comes back as `!!merge <<:` followed by a copy of `base`'s map. Such
//! entries are merged into the map that holds them as YAML 1.1 says (keys
//! written in the map win, then earlier merged maps over later ones), so
//! `prod/user` finds a `user` that `prod` merges from `base`. A file is one
//! YAML document: sops prints the documents of a multi-document file one
//! after the other, and output with keys after the first document is refused
//! rather than read in part.
//!
//! sops' YAML writer (go-yaml, YAML 1.1) takes U+0085, U+2028 and U+2029
//! for line breaks and writes them raw, with no newline after them, inside
//! single-quoted and literal scalars; this reader (YAML 1.2) does not, so
//! it would read the next key into the value. Output holding one of them is
//! refused ([`TreeError::LineSeparators`]), and the caller reads that file
//! through sops' JSON output instead ([`Tree::parse_json_of_yaml`]), whose
//! strings are exact.

mod json;

use vanta_shared::KeyPath;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{ScanError, TScalarStyle};
use zeroize::Zeroizing;

use super::files::Format;

/// A decrypted environment file.
pub struct Tree {
    root: Node,
}

enum Node {
    /// Entries in file order.
    Map(Vec<(String, Node)>),
    /// A scalar that is a secret: its text exactly as sops printed it.
    Leaf(Zeroizing<String>),
    /// `null`, a list, an alias: present but not a secret.
    NotSecret(Missing),
}

/// Why a key path has no value: nothing there, or something that is not a
/// leaf. Said in the 404 answer: it is about a key the token may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    /// Nothing at that path.
    #[error("no such key in this environment")]
    Key,
    /// A map: its keys are below it.
    #[error("the key is a map, not a value: fetch a key below it")]
    Map,
    /// A list (lists are not secrets).
    #[error("the key is a list, not a value")]
    List,
    /// `null`.
    #[error("the key is null, not a value")]
    Null,
    /// A YAML alias.
    #[error("the key is a YAML alias, not a value")]
    Alias,
}

/// Why sops' output could not be read as a tree.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TreeError {
    /// Not UTF-8.
    #[error("sops output is not UTF-8")]
    Utf8,
    /// Not YAML (position only: the message could quote content).
    #[error("sops output is not valid YAML (line {line})")]
    Yaml {
        /// Where the parser stopped.
        line: usize,
    },
    /// Not JSON (position only).
    #[error("sops output is not valid JSON (line {line})")]
    Json {
        /// Where the parser stopped.
        line: usize,
    },
    /// The document is not a mapping at the top, or nests absurdly deep.
    #[error("sops output has an unexpected shape")]
    Shape,
    /// More than one YAML document, and a later one holds something: the
    /// agent would not know which one a key path means.
    #[error("sops output holds more than one YAML document")]
    Documents,
    /// YAML holding a character that sops' writer takes for a line break
    /// and this reader does not ([`YAML_11_BREAKS`]).
    #[error("sops' YAML output holds a line or paragraph separator (U+0085, U+2028 or U+2029)")]
    LineSeparators,
}

/// The top-level key under which sops keeps its metadata.
const SOPS_METADATA_KEY: &str = "sops";
/// Deeper nesting than this is refused rather than recursed into.
const MAX_DEPTH: usize = 64;
/// Line breaks in YAML 1.1 (next line, line and paragraph separator), which
/// YAML 1.2 reads as ordinary characters.
const YAML_11_BREAKS: [char; 3] = ['\u{85}', '\u{2028}', '\u{2029}'];

// === impl Tree ===

impl Tree {
    /// Parses what sops printed for a file of `format` (see
    /// [`Format::output_type`]).
    ///
    /// # Errors
    /// [`TreeError`] if it is not one mapping of that syntax.
    pub fn parse_output(format: Format, output: &[u8]) -> Result<Self, TreeError> {
        if !format.prints_json() {
            return Self::parse(output);
        }
        Self::parse_json(output, json::MergeKeys::No)
    }

    /// Parses sops' JSON output of a YAML file (asked for when its YAML
    /// output was refused with [`TreeError::LineSeparators`]): strings come
    /// back exact, numbers as sops writes them in JSON, and the maps a `<<`
    /// key holds are merged as in YAML.
    ///
    /// # Errors
    /// [`TreeError`] if it is not one JSON object.
    pub fn parse_json_of_yaml(output: &[u8]) -> Result<Self, TreeError> {
        Self::parse_json(output, json::MergeKeys::Yes)
    }

    fn parse_json(output: &[u8], merge_keys: json::MergeKeys) -> Result<Self, TreeError> {
        let text = std::str::from_utf8(output).map_err(|_| TreeError::Utf8)?;
        let mut root = json::parse(text, merge_keys)?;
        if let Node::Map(entries) = &mut root {
            entries.retain(|(k, _)| k != SOPS_METADATA_KEY);
        }
        Ok(Self { root })
    }

    /// Parses sops' YAML output.
    ///
    /// # Errors
    /// [`TreeError`] if it is not one YAML mapping, or holds a character
    /// sops' writer took for a line break ([`TreeError::LineSeparators`]).
    pub fn parse(yaml: &[u8]) -> Result<Self, TreeError> {
        let text = std::str::from_utf8(yaml).map_err(|_| TreeError::Utf8)?;
        if text.contains(YAML_11_BREAKS) {
            return Err(refusal_of_separators(text));
        }
        let mut events = Events { parser: Parser::new_from_str(text) };
        loop {
            match events.next()? {
                Event::StreamStart | Event::DocumentStart => continue,
                // An empty file: an environment with no keys.
                Event::StreamEnd => return Ok(Self { root: Node::Map(Vec::new()) }),
                Event::MappingStart(..) => {
                    let mut entries = events.entries(1)?;
                    entries.retain(|(k, _)| k != SOPS_METADATA_KEY);
                    events.only_empty_documents_left()?;
                    return Ok(Self { root: Node::Map(entries) });
                }
                _ => return Err(TreeError::Shape),
            }
        }
    }

    /// The value of the leaf at `key`; `None` if there is none or it is not a
    /// leaf (a map, a list, `null`).
    pub fn get(&self, key: &KeyPath) -> Option<&str> {
        self.lookup(key).ok()
    }

    /// The value of the leaf at `key`, or why there is none.
    ///
    /// # Errors
    /// [`Missing`]: no such key, or a map, list, `null` or alias there.
    pub fn lookup(&self, key: &KeyPath) -> Result<&str, Missing> {
        let mut node = &self.root;
        for segment in key.segments() {
            let Node::Map(entries) = node else { return Err(Missing::Key) };
            node = &entries.iter().find(|(k, _)| k == segment).ok_or(Missing::Key)?.1;
        }
        match node {
            Node::Leaf(value) => Ok(value.as_str()),
            Node::Map(_) => Err(Missing::Map),
            Node::NotSecret(kind) => Err(*kind),
        }
    }

    /// Every leaf value (to check that a log line holds none of them).
    pub fn values(&self) -> Vec<&str> {
        let mut out = Vec::new();
        collect_values(&self.root, &mut out);
        out
    }

    /// Every leaf's key path, sorted. Keys no [`KeyPath`] could name (spaces,
    /// slashes, other characters) are left out: they could not be fetched.
    pub fn keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_keys(&self.root, &mut String::new(), &mut out);
        out.sort();
        out
    }

    /// How many leaves [`Tree::keys`] leaves out because no key path can
    /// name them (for `doctor`: such a secret can never be fetched).
    pub fn unnamable_leaves(&self) -> usize {
        // Every leaf has a value; the nameable ones also have a key.
        self.values().len().saturating_sub(self.keys().len())
    }
}

/// Why YAML holding [`YAML_11_BREAKS`] is refused: [`TreeError::Documents`]
/// when it has keys after its first document (sops' JSON output would keep
/// the first one only, serving the file in part), else
/// [`TreeError::LineSeparators`]. The documents are counted with the
/// separators read as the line breaks sops wrote them as.
fn refusal_of_separators(text: &str) -> TreeError {
    let as_written = Zeroizing::new(text.replace(YAML_11_BREAKS, "\n"));
    match Tree::parse(as_written.as_bytes()) {
        Err(TreeError::Documents) => TreeError::Documents,
        _ => TreeError::LineSeparators,
    }
}

fn collect_values<'a>(node: &'a Node, out: &mut Vec<&'a str>) {
    match node {
        Node::Leaf(value) => out.push(value.as_str()),
        Node::NotSecret(_) => {}
        Node::Map(entries) => entries.iter().for_each(|(_, child)| collect_values(child, out)),
    }
}

fn collect_keys(node: &Node, prefix: &mut String, out: &mut Vec<String>) {
    match node {
        Node::Leaf(_) => out.push(prefix.clone()),
        Node::NotSecret(_) => {}
        Node::Map(entries) => {
            for (key, child) in entries.iter().filter(|(k, _)| KeyPath::is_valid_segment(k)) {
                let len = prefix.len();
                if len > 0 {
                    prefix.push('/');
                }
                prefix.push_str(key);
                if prefix.len() <= KeyPath::MAX_LEN {
                    collect_keys(child, prefix, out);
                }
                prefix.truncate(len);
            }
        }
    }
}

struct Events<'a> {
    parser: Parser<std::str::Chars<'a>>,
}

// === impl Events ===

impl Events<'_> {
    fn next(&mut self) -> Result<Event, TreeError> {
        self.parser.next_token().map(|(event, _)| event).map_err(yaml_error)
    }

    /// Reads one node whose first event is `first`.
    fn node(&mut self, first: Event, depth: usize) -> Result<Node, TreeError> {
        match first {
            Event::Scalar(text, style, ..) if is_null(&text, style) => Ok(Node::NotSecret(Missing::Null)),
            Event::Scalar(text, ..) => Ok(Node::Leaf(Zeroizing::new(text))),
            Event::MappingStart(..) => self.mapping(depth + 1),
            Event::SequenceStart(..) => self.skip_until_closed(depth + 1).map(|()| Node::NotSecret(Missing::List)),
            Event::Alias(_) => Ok(Node::NotSecret(Missing::Alias)),
            _ => Err(TreeError::Shape),
        }
    }

    /// Reads a mapping whose `MappingStart` was just read.
    fn mapping(&mut self, depth: usize) -> Result<Node, TreeError> {
        self.entries(depth).map(Node::Map)
    }

    /// Reads the entries of a mapping whose `MappingStart` was just read,
    /// with the maps its merge keys name merged in.
    fn entries(&mut self, depth: usize) -> Result<Vec<(String, Node)>, TreeError> {
        if depth > MAX_DEPTH {
            return Err(TreeError::Shape);
        }
        let mut entries = Vec::new();
        let mut merged = Vec::new();
        loop {
            let key = match self.next()? {
                Event::MappingEnd => return Ok(merge(entries, merged)),
                Event::Scalar(text, style, _, tag) if is_merge_key(&text, style, tag.as_ref()) => {
                    merged.extend(self.merge_value(depth)?);
                    continue;
                }
                Event::Scalar(text, ..) => Some(text),
                // A complex key (a map or list as key): read it and drop the entry.
                other => self.node(other, depth).map(|_| None)?,
            };
            let first = self.next()?;
            let value = self.node(first, depth)?;
            if let Some(key) = key {
                insert(&mut entries, key, value);
            }
        }
    }

    /// Reads the value of a merge key: one map, or a list of maps (in the
    /// order they are merged). Anything else is no merge YAML allows (sops
    /// itself refuses it), so the output has an unexpected shape.
    fn merge_value(&mut self, depth: usize) -> Result<Vec<Vec<(String, Node)>>, TreeError> {
        match self.next()? {
            Event::MappingStart(..) => Ok(vec![self.entries(depth + 1)?]),
            Event::SequenceStart(..) => {
                let mut maps = Vec::new();
                loop {
                    match self.next()? {
                        Event::SequenceEnd => return Ok(maps),
                        Event::MappingStart(..) => maps.push(self.entries(depth + 2)?),
                        _ => return Err(TreeError::Shape),
                    }
                }
            }
            _ => Err(TreeError::Shape),
        }
    }

    /// Checks that no document after the first holds anything. sops prints a
    /// trailing empty document (`a: 1` then `---`) as `{}`, which is harmless.
    fn only_empty_documents_left(&mut self) -> Result<(), TreeError> {
        loop {
            match self.next()? {
                Event::StreamEnd => return Ok(()),
                Event::DocumentEnd | Event::DocumentStart => {}
                Event::MappingStart(..) if self.entries(1)?.is_empty() => {}
                Event::Scalar(text, style, ..) if is_null(&text, style) => {}
                _ => return Err(TreeError::Documents),
            }
        }
    }

    /// Skips the rest of a sequence or mapping, nested ones included.
    fn skip_until_closed(&mut self, depth: usize) -> Result<(), TreeError> {
        if depth > MAX_DEPTH {
            return Err(TreeError::Shape);
        }
        loop {
            match self.next()? {
                Event::SequenceEnd | Event::MappingEnd => return Ok(()),
                Event::SequenceStart(..) | Event::MappingStart(..) => self.skip_until_closed(depth + 1)?,
                Event::StreamEnd | Event::DocumentEnd => return Err(TreeError::Shape),
                _ => {}
            }
        }
    }
}

/// Adds an entry to a map. A key seen twice (sops prints an INI file's
/// `DEFAULT` section twice, once empty) merges two maps, else the later wins.
fn insert(entries: &mut Vec<(String, Node)>, key: String, value: Node) {
    let Some(existing) = entries.iter_mut().find(|(k, _)| *k == key) else {
        entries.push((key, value));
        return;
    };
    match (&mut existing.1, value) {
        (Node::Map(old), Node::Map(new)) => {
            for (k, v) in new {
                insert(old, k, v);
            }
        }
        (slot, value) => *slot = value,
    }
}

/// YAML 1.1 merge: the entries written in the map win over merged ones, and
/// a map merged earlier wins over one merged later. Merging is shallow: a
/// map written in the map replaces a merged map of the same key.
fn merge(mut entries: Vec<(String, Node)>, merged: Vec<Vec<(String, Node)>>) -> Vec<(String, Node)> {
    for (key, value) in merged.into_iter().flatten() {
        if !entries.iter().any(|(k, _)| *k == key) {
            entries.push((key, value));
        }
    }
    entries
}

/// Whether a mapping key is YAML's merge key: `<<` written plain, or tagged
/// `!!merge` as sops prints it. A quoted `"<<"` is an ordinary key.
fn is_merge_key(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> bool {
    let merge_tag = tag.is_some_and(|t| t.handle == "tag:yaml.org,2002:" && t.suffix == "merge");
    text == "<<" && (merge_tag || (tag.is_none() && style == TScalarStyle::Plain))
}

fn is_null(text: &str, style: TScalarStyle) -> bool {
    style == TScalarStyle::Plain && matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn yaml_error(err: ScanError) -> TreeError {
    TreeError::Yaml { line: err.marker().line() }
}

#[cfg(test)]
mod tests;

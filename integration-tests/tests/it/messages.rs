//! The messages a program can print, read from its source, and the ones the
//! operator guide's troubleshooting section lists: the tests of
//! `cli/troubleshooting.rs` and `ops/troubleshooting.rs` compare the two.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The section, from its heading to the next `## ` heading.
const SECTION: &str = "## Troubleshooting";

/// Code right before a string literal that makes it a message, and the
/// files (suffix of the path under the source folder, empty for any) it counts in.
pub(crate) type Markers = [(&'static str, &'static str)];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
            out.push(path);
        }
    }
}

/// The string literals of `code` (comments skipped), each with its offset.
fn literals(code: &str) -> Vec<(usize, String)> {
    let bytes = code.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = code[i..].find('\n').map_or(bytes.len(), |n| i + n),
            // A char literal such as '"' (lifetimes are skipped a byte at a time).
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 3,
            b'\'' if bytes.get(i + 1) == Some(&b'\\') && bytes.get(i + 3) == Some(&b'\'') => i += 4,
            b'"' => {
                let (text, end) = literal(code, i + 1);
                out.push((i, text));
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

/// The text of a string literal whose body starts at `start`, with Rust's
/// escapes and line continuations; and the offset after its closing quote.
fn literal(code: &str, start: usize) -> (String, usize) {
    let mut chars = code[start..].char_indices().peekable();
    let mut text = String::new();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return (text, start + at + 1),
            '\\' => match chars.next().map(|(_, e)| e) {
                Some('\n') => {
                    while chars.peek().is_some_and(|(_, w)| w.is_whitespace()) {
                        chars.next();
                    }
                }
                Some('n') => text.push('\n'),
                Some('t') => text.push('\t'),
                Some(other) => text.push(other),
                None => break,
            },
            other => text.push(other),
        }
    }
    (text, code.len())
}

/// `{…}` placeholders as `…` (`{{`/`}}` are not used in messages).
fn template(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push('…');
                }
                depth += 1;
            }
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Every message template of the Rust source under `src` (a folder of the
/// workspace): string literals right after one of `markers`, with at least
/// one letter; test code (`tests.rs`, after `#[cfg(test)]`) is skipped.
pub(crate) fn source_messages(src: &str, markers: &Markers) -> BTreeSet<String> {
    let src = repo().join(src);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut messages = BTreeSet::new();
    for file in files {
        let code = fs::read_to_string(&file).unwrap();
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        let name = file.strip_prefix(&src).unwrap().to_str().unwrap().to_owned();
        for (at, text) in literals(code) {
            let before: String = code[..at].split_whitespace().collect::<Vec<_>>().join(" ");
            let counts = markers.iter().any(|(marker, only)| before.ends_with(marker) && name.ends_with(only));
            if counts && text.chars().any(char::is_alphabetic) {
                messages.insert(template(&text));
            }
        }
    }
    messages
}

/// The first cell of every row of the section's `table` (a `### ` heading),
/// without its backticks (``` `` … `` ``` around a message with a backtick).
fn documented_messages(guide: &str, table: &str) -> BTreeSet<String> {
    let section = guide.split(SECTION).nth(1).expect("the guide has a troubleshooting section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let rows = section.split(table).nth(1).unwrap_or_else(|| panic!("the section has '{table}'"));
    let rows = rows.split("\n### ").next().unwrap_or_default();
    let cell = |line: &str| match line.strip_prefix("| `` ") {
        Some(row) => row.split_once(" `` |").map(|(message, _)| message.to_owned()),
        None => line.strip_prefix("| `")?.split_once("` |").map(|(message, _)| message.to_owned()),
    };
    rows.lines().filter_map(cell).map(|message| message.replace("\\|", "|")).collect()
}

/// Fails unless the guide's `table` lists exactly the `source` messages
/// (at least `at_least` of them, so that a broken extraction fails too).
pub(crate) fn assert_listed(source: &BTreeSet<String>, table: &str, at_least: usize) {
    let guide = fs::read_to_string(repo().join("docs/VAULT_ACCESS_SYSTEM_README.md")).unwrap();
    assert!(source.len() >= at_least, "the extraction found the messages: {source:#?}");
    let documented = documented_messages(&guide, table);
    let missing: Vec<&String> = source.difference(&documented).collect();
    let stale: Vec<&String> = documented.difference(source).collect();
    assert!(missing.is_empty(), "add these to the guide's '{table}' table, with their fix: {missing:#?}");
    assert!(stale.is_empty(), "the guide's '{table}' table lists messages no longer in the source: {stale:#?}");
}

#[test]
fn the_extraction_reads_rust_literals() {
    let code = "x.context(\"failed to \\\n    read {} at {path:?}\") // \"not this\"\n let c = '\"'; y(\"z\")";
    let found: Vec<String> = literals(code).into_iter().map(|(_, t)| template(&t)).collect();
    assert_eq!(found, ["failed to read … at …", "z"]);
}

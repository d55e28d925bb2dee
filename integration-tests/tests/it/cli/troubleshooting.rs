//! The operator guide's troubleshooting section lists every message
//! `vanta-cli` can print, with its fix: the messages are read from the
//! client's source (error types, `context`, hints, TLS reasons, refusal
//! explanations, usage errors, warnings) and each must be in the section,
//! with `…` for the parts filled in at run time; and every message the
//! section lists must still be in the source.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The section, from its heading to the next `## ` heading.
const SECTION: &str = "## Troubleshooting";
/// Where the section lists the CLI's messages, one table row each.
const TABLE: &str = "### vanta-cli messages";

/// Code right before a string literal that makes it a message, and the
/// files (suffix of the path under `client/src`, empty for any) it counts in.
const MARKERS: &[(&str, &str)] = &[
    ("#[error(", ""),
    (".context(", ""),
    ("with_context(|| format!(", ""),
    ("with_context(|| { format!(", ""),
    ("bail!(", ""),
    ("anyhow!(", ""),
    ("return Err(", "cli/agent_args.rs"),
    ("TOKEN_IN_ARGV: &str =", "commands.rs"),
    ("Some(", "error.rs"),
    ("=>", "error.rs"),
    ("=> {", "error.rs"),
    ("write_str(", "tls/failure.rs"),
    ("write!(f,", "tls/failure.rs"),
    ("BadCertificate(", "tls/failure.rs"),
    ("Some(format!(", "agent_client/refusal.rs"),
    ("return format!(", "agent_client/refusal.rs"),
    ("=> format!(", "agent_client/refusal.rs"),
    ("=>", "agent_client/refusal.rs"),
    ("then(||", "agent_client/refusal.rs"),
];

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

/// Every message template of the client's source.
fn source_messages() -> BTreeSet<String> {
    let src = repo().join("client/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut messages = BTreeSet::new();
    for file in files {
        let code = fs::read_to_string(&file).unwrap();
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        let name = file.strip_prefix(&src).unwrap().to_str().unwrap().to_owned();
        for (at, text) in literals(code) {
            let before: String = code[..at].split_whitespace().collect::<Vec<_>>().join(" ");
            let counts = MARKERS.iter().any(|(marker, only)| before.ends_with(marker) && name.ends_with(only));
            if counts && text.chars().any(char::is_alphabetic) {
                messages.insert(template(&text));
            }
        }
    }
    messages
}

/// The first cell of every row of the section's table, without backticks.
fn documented_messages(guide: &str) -> BTreeSet<String> {
    let section = guide.split(SECTION).nth(1).expect("the guide has a troubleshooting section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let table = section.split(TABLE).nth(1).expect("the section lists the CLI's messages");
    let table = table.split("\n### ").next().unwrap_or_default();
    table
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|row| row.split_once("` |").map(|(message, _)| message.replace("\\|", "|")))
        .collect()
}

#[test]
fn every_cli_message_is_in_the_troubleshooting_section_with_its_fix() {
    let guide = fs::read_to_string(repo().join("docs/VAULT_ACCESS_SYSTEM_README.md")).unwrap();
    let source = source_messages();
    assert!(source.len() > 50, "the extraction found the messages: {source:#?}");
    let documented = documented_messages(&guide);
    let missing: Vec<&String> = source.difference(&documented).collect();
    let stale: Vec<&String> = documented.difference(&source).collect();
    assert!(missing.is_empty(), "add these to the guide's '{TABLE}' table, with their fix: {missing:#?}");
    assert!(stale.is_empty(), "the guide lists messages the CLI no longer prints: {stale:#?}");
}

#[test]
fn the_extraction_reads_rust_literals() {
    let code = "x.context(\"failed to \\\n    read {} at {path:?}\") // \"not this\"\n let c = '\"'; y(\"z\")";
    let found: Vec<String> = literals(code).into_iter().map(|(_, t)| template(&t)).collect();
    assert_eq!(found, ["failed to read … at …", "z"]);
}

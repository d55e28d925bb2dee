//! A strict reader of `.env` files, for checking `--inject-as file`.
//!
//! docs/API.md §6: every value must read back unchanged "with a standard dotenv
//! parser". This follows what the common ones (dotenvy, python-dotenv,
//! godotenv) agree on, and refuses what they disagree on or would change:
//! `'…'` is literal; `"…"` takes the escapes `\n \r \t \\ \" \' \$`; an
//! unescaped `$NAME` or `${…}` outside single quotes would be expanded, so it
//! is an error here; unquoted values end at ` #` and are trimmed.

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::str::Chars;

/// Parses `text`; panics (naming the line) on anything a dotenv parser would
/// read differently from what was meant.
pub(crate) fn parse(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.peek() {
            None => return vars,
            Some('#') => skip_line(&mut chars),
            Some(_) => {
                let (key, value) = assignment(&mut chars);
                vars.insert(key, value);
            }
        }
    }
}

fn skip_line(chars: &mut Peekable<Chars<'_>>) {
    for c in chars.by_ref() {
        if c == '\n' {
            break;
        }
    }
}

fn assignment(chars: &mut Peekable<Chars<'_>>) -> (String, String) {
    let mut key: String =
        std::iter::from_fn(|| chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')).collect();
    if key == "export" && chars.next_if_eq(&' ').is_some() {
        key = std::iter::from_fn(|| chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')).collect();
    }
    assert!(!key.is_empty(), "dotenv: expected a variable name at {:?}", chars.clone().collect::<String>());
    while chars.next_if_eq(&' ').is_some() {}
    assert_eq!(chars.next(), Some('='), "dotenv: expected '=' after {key}");
    while chars.next_if_eq(&' ').is_some() {}
    let value = match chars.peek() {
        Some('\'') => single_quoted(chars, &key),
        Some('"') => double_quoted(chars, &key),
        _ => unquoted(chars, &key),
    };
    (key, value)
}

fn single_quoted(chars: &mut Peekable<Chars<'_>>, key: &str) -> String {
    chars.next();
    let value: String = std::iter::from_fn(|| chars.next_if(|c| *c != '\'')).collect();
    assert_eq!(chars.next(), Some('\''), "dotenv: unterminated '…' for {key}");
    // python-dotenv decodes \\ and \' in single quotes, dotenvy does not.
    assert!(!value.contains('\\'), "dotenv: a backslash in '…' ({key}) is read differently by parsers");
    rest_of_line(chars, key);
    value
}

fn double_quoted(chars: &mut Peekable<Chars<'_>>, key: &str) -> String {
    chars.next();
    let mut value = String::new();
    loop {
        match chars.next() {
            None => panic!("dotenv: unterminated \"…\" for {key}"),
            Some('"') => break,
            Some('\\') => value.push(escape(chars.next(), key)),
            Some('$') => {
                refuse_expansion(chars.peek(), key);
                value.push('$');
            }
            Some(c) => value.push(c),
        }
    }
    rest_of_line(chars, key);
    value
}

fn escape(c: Option<char>, key: &str) -> char {
    match c {
        Some('n') => '\n',
        Some('r') => '\r',
        Some('t') => '\t',
        Some(c @ ('\\' | '"' | '\'' | '$')) => c,
        other => panic!("dotenv: escape \\{other:?} in {key} is not read the same by all parsers"),
    }
}

fn refuse_expansion(next: Option<&char>, key: &str) {
    let expands = next.is_some_and(|c| *c == '{' || c.is_ascii_alphabetic() || *c == '_');
    assert!(!expands, "dotenv: an unescaped $ in {key} would be expanded by dotenv parsers");
}

fn unquoted(chars: &mut Peekable<Chars<'_>>, key: &str) -> String {
    let line: String = std::iter::from_fn(|| chars.next_if(|c| *c != '\n')).collect();
    let value = line.split(" #").next().unwrap_or_default().trim().to_owned();
    let mut it = value.chars().peekable();
    while let Some(c) = it.next() {
        assert!(c != '\\' && c != '"' && c != '\'', "dotenv: unquoted {key} holds {c:?}, read differently by parsers");
        if c == '$' {
            refuse_expansion(it.peek(), key);
        }
    }
    value
}

fn rest_of_line(chars: &mut Peekable<Chars<'_>>, key: &str) {
    while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
    match chars.peek() {
        None | Some('\n') | Some('#') => skip_line(chars),
        Some(c) => panic!("dotenv: unexpected {c:?} after the value of {key}"),
    }
}

#[test]
fn reads_the_common_forms() {
    let text = "# comment\nA=plain\nexport B='lit $HOME # x'\nC=\"a \\\"q\\\" \\$HOME\\nnext\"\nD='multi\nline'\nE= spaced # note\nF=\"\"\n";
    let vars = parse(text);
    let get = |k: &str| vars.get(k).map(String::as_str);
    assert_eq!(get("A"), Some("plain"));
    assert_eq!(get("B"), Some("lit $HOME # x"));
    assert_eq!(get("C"), Some("a \"q\" $HOME\nnext"));
    assert_eq!(get("D"), Some("multi\nline"));
    assert_eq!(get("E"), Some("spaced"));
    assert_eq!(get("F"), Some(""));
}

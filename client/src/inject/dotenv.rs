//! The dotenv format of `run-with-secrets --inject-as file|fifo`: quoting
//! that gives back every value unchanged (client leaf layer, part of
//! `inject`). Pure text; `private_dir` writes it, `fifo` streams it.
//!
//! One `NAME=value` line per secret. Values are read back unchanged by
//! python-dotenv (`dotenv_values(path, interpolate=False)`), and where
//! possible also by parsers that expand variables in double quotes only
//! (dotenvy, godotenv, docker compose); python-dotenv's default
//! (`interpolate=True`, `load_dotenv`) expands `${NAME}` in single quotes
//! too, which no quoting prevents (`run::handover` names such values):
//! - By default the value is double-quoted, with `\` as `\\`, `"` as `\"`,
//!   newline as `\n` and carriage return as `\r` (Python reads files with
//!   universal newlines, so a literal CR would come back as LF); everything
//!   else (`'`, `#`, `=`, spaces, unicode) is literal.
//! - A value with `${` or `$NAME` in it is single-quoted instead, if it has no
//!   `'`, `\` or CR, so that the parsers that expand in double quotes only
//!   leave it alone too. Other values with `$` stay double-quoted: a reader
//!   that interpolates expands them there (documented in the operator guide,
//!   `docs/VAULT_ACCESS_SYSTEM_README.md#vanta-cli-run-with-secrets`).
//! - python-dotenv reads `\\"` at the end of a double-quoted value as an
//!   escaped quote and runs on to the next `"` in the file; only on the last
//!   line does its regex backtrack to the right answer. So one value ending in
//!   a backslash is written double-quoted on the last line, and any other is
//!   written unquoted, which is exact for one line without outer spaces, ` #`
//!   or a leading quote. A second value that fits neither is refused.

use zeroize::Zeroizing;

/// Why a set of values cannot be written as one dotenv file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Two values that only read back right on the last line.
    #[error(
        "the values of {first} and {second} both end with a backslash and need quotes; \
         a dotenv file can hold only one such value (try --file-format json or --inject-as env)"
    )]
    TwoTails { first: String, second: String },
}

/// How one value is written.
#[derive(Debug, PartialEq, Eq)]
enum Form {
    /// `NAME="escaped"`.
    Double,
    /// `NAME='literal'`, for values that expanding parsers would change.
    Single,
    /// `NAME=raw`, for a value ending in `\` that is not the last line.
    Bare,
}

/// The file's content: one line per entry, the entries in order except
/// that the one chosen by [`last_line`] goes last.
///
/// # Errors
/// [`Error::TwoTails`] if two values can only be right on the last line.
pub(crate) fn render(entries: &[(&str, &str)]) -> Result<Zeroizing<String>, Error> {
    let capacity = entries.iter().map(|(n, v)| n.len() + 2 * v.len() + 4).sum();
    let mut out = Zeroizing::new(String::with_capacity(capacity));
    let last = last_line(entries)?;
    for (i, &(name, value)) in entries.iter().enumerate() {
        if Some(i) == last {
            continue;
        }
        match form(value) {
            Form::Double => push_double(&mut out, name, value),
            Form::Single => push_single(&mut out, name, value),
            Form::Bare => push_bare(&mut out, name, value),
        }
    }
    if let Some((name, value)) = last.map(|i| entries[i]) {
        push_double(&mut out, name, value);
    }
    Ok(out)
}

/// Which entry, if any, is written double-quoted on the last line: the one
/// value ending in `\` that cannot be bare, else the first ending in `\`
/// (quoted reads back right with more parsers than bare).
fn last_line(entries: &[(&str, &str)]) -> Result<Option<usize>, Error> {
    let ends_in_backslash = |v: &str| v.ends_with('\\');
    let mut must = entries.iter().enumerate().filter(|(_, (_, v))| ends_in_backslash(v) && !can_be_bare(v));
    match (must.next(), must.next()) {
        (Some((_, (first, _))), Some((_, (second, _)))) => {
            Err(Error::TwoTails { first: (*first).to_owned(), second: (*second).to_owned() })
        }
        (Some((i, _)), None) => Ok(Some(i)),
        _ => Ok(entries.iter().position(|(_, v)| ends_in_backslash(v))),
    }
}

/// The form of a value that is not on the last line.
fn form(value: &str) -> Form {
    if value.ends_with('\\') {
        Form::Bare
    } else if expands(value) && !value.contains(['\'', '\\', '\r']) {
        Form::Single
    } else {
        Form::Double
    }
}

/// Whether a parser that expands variables would expand something in
/// `value` inside double quotes: `${` or `$` before a name.
fn expands(value: &str) -> bool {
    value.as_bytes().windows(2).any(|w| w[0] == b'$' && (w[1] == b'{' || w[1] == b'_' || w[1].is_ascii_alphabetic()))
}

/// Whether python-dotenv reads `NAME=value` back as exactly `value`: it
/// drops leading and trailing whitespace and everything from a whitespace
/// followed by `#`, reads to the end of the line, and a leading quote starts
/// a quoted value.
fn can_be_bare(value: &str) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    let last = value.chars().next_back().unwrap_or(first);
    let mut chars = value.chars().peekable();
    let mut space_then_hash = false;
    while let Some(c) = chars.next() {
        if is_py_space(c) && chars.peek() == Some(&'#') {
            space_then_hash = true;
        }
    }
    !is_py_space(first)
        && !is_py_space(last)
        && !matches!(first, '"' | '\'')
        && !value.contains(['\n', '\r'])
        && !space_then_hash
}

/// Python's `\s` (`str.isspace`): Unicode whitespace plus U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn push_double(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            // A literal CR would become a newline: Python reads text files
            // with universal newlines.
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push_str("\"\n");
}

fn push_single(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("='");
    out.push_str(value);
    out.push_str("'\n");
}

fn push_bare(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push('=');
    out.push_str(value);
    out.push('\n');
}

#[cfg(test)]
mod tests;

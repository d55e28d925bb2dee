//! Masking of injected values in the output of `run-with-secrets --mask`
//! (client leaf layer, below `commands`; external crates only). It never
//! prints and knows nothing of the agent.
//!
//! [`Patterns`] holds what to look for: every value of at least
//! [`MIN_LEN`] bytes (its trailing line end left out), and each line of a
//! multi-line value that is that long; each also without surrounding
//! whitespace, if still that long. A [`Masker`] is one stream's state:
//! it replaces every occurrence with [`PLACEHOLDER`] (overlapping ones
//! become one placeholder) and keeps back only the end of the output that
//! could still be the start of a value, so a value written in pieces is
//! masked too while other output goes on at once. [`relay`] moves the
//! command's stdout and stderr through maskers.

pub(crate) mod relay;

use std::ops::Range;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use zeroize::Zeroizing;

/// The values to mask, compiled once and shared by every stream. No
/// `Debug`: it holds the values.
pub(crate) struct Patterns {
    searcher: AhoCorasick,
    /// The same patterns, to find a value's start at the end of a chunk.
    patterns: Vec<Zeroizing<Vec<u8>>>,
    /// Most output a masker keeps back (see [`MIN_HELD_LIMIT`]).
    held_limit: usize,
}

/// One stream's masking state. No `Debug`: the held-back end may be the
/// start of a value.
pub(crate) struct Masker {
    patterns: Arc<Patterns>,
    /// Output not yet passed on: it could be the start of a value.
    pending: Zeroizing<Vec<u8>>,
}

/// Why the values could not be compiled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The automaton would be too large (values of many megabytes).
    #[error("failed to prepare the values for masking")]
    Build(#[source] aho_corasick::BuildError),
}

/// What every masked value is replaced with.
pub(crate) const PLACEHOLDER: &[u8] = b"<concealed by vanta>";

/// Values and lines shorter than this many bytes are not masked: masking
/// `1` or `true` would garble every line of output.
pub(crate) const MIN_LEN: usize = 6;

/// A masker keeps back at most this much, or twice the longest value if
/// that is more. Only an endless run of overlapping values (`000000` in a
/// stream of zeros) gets there: then all of it is passed on as one
/// placeholder rather than held in memory until the stream ends.
const MIN_HELD_LIMIT: usize = 1024 * 1024;

/// The largest build a DFA may take, estimated as (bytes of patterns in
/// all)² × (distinct bytes in them); above, the searcher is a contiguous
/// NFA (a little slower, built in linear time). A DFA (the fastest to
/// search) is built by following failure links for every state and byte
/// class: a long repetitive value makes the chains long (`L` × 30,000 took
/// minutes, and the relay cannot start before it is done), and many
/// distinct bytes multiply that (2 KiB of `a`s and 160 other bytes took
/// 8 s in a debug build). The library's automatic choice only looks at the
/// number of patterns. The bound keeps a DFA for a handful of ordinary
/// secrets (5 values of 45 bytes: about 0.1 % of it).
const MAX_DFA_BUILD: usize = 1 << 24;

// === impl Patterns ===

impl Patterns {
    /// Compiles `values`; the ones with nothing of [`MIN_LEN`] bytes are
    /// left out (see [`is_maskable`]).
    ///
    /// # Errors
    /// [`Error::Build`] if the values are too large to search for.
    pub(crate) fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Self, Error> {
        let mut patterns: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        for value in values {
            for part in parts(value.as_bytes()) {
                if !patterns.iter().any(|p| p.as_slice() == part) {
                    patterns.push(Zeroizing::new(part.to_vec()));
                }
            }
        }
        // Standard semantics: every match, overlapping ones included, so
        // that their union is masked.
        let searcher = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(automaton_for(&patterns)))
            .build(patterns.iter().map(|p| p.as_slice()))
            .map_err(Error::Build)?;
        let longest = patterns.iter().map(|p| p.len()).max().unwrap_or(0);
        Ok(Self { searcher, patterns, held_limit: MIN_HELD_LIMIT.max(2 * longest) })
    }

    /// The byte ranges of `buf` covered by a value, sorted, overlapping
    /// matches merged into one range.
    fn spans(&self, buf: &[u8]) -> Vec<Range<usize>> {
        let mut spans: Vec<Range<usize>> = self.searcher.find_overlapping_iter(buf).map(|m| m.range()).collect();
        spans.sort_unstable_by_key(|span| span.start);
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
        for span in spans {
            match merged.last_mut() {
                Some(last) if span.start < last.end => last.end = last.end.max(span.end),
                _ => merged.push(span),
            }
        }
        merged
    }

    /// Where the longest end of `buf` that is the start of a value (and
    /// not a whole one) begins; `buf.len()` if there is none.
    fn held_from(&self, buf: &[u8]) -> usize {
        let mut from = buf.len();
        for pattern in &self.patterns {
            let earliest = buf.len().saturating_sub(pattern.len() - 1);
            if let Some(at) = (earliest..from).find(|&at| pattern.starts_with(&buf[at..])) {
                from = at;
            }
        }
        from
    }
}

/// The kind of searcher for `patterns`: see [`MAX_DFA_BUILD`].
fn automaton_for(patterns: &[Zeroizing<Vec<u8>>]) -> AhoCorasickKind {
    let total: usize = patterns.iter().map(|p| p.len()).sum();
    let mut seen = [false; 256];
    patterns.iter().flat_map(|p| p.iter()).for_each(|&byte| seen[usize::from(byte)] = true);
    let distinct = seen.iter().filter(|&&s| s).count();
    let build = total.saturating_mul(total).saturating_mul(distinct);
    if build <= MAX_DFA_BUILD { AhoCorasickKind::DFA } else { AhoCorasickKind::ContiguousNFA }
}

/// Whether `value` is masked at all: it, or one of its lines, has at
/// least [`MIN_LEN`] bytes.
pub(crate) fn is_maskable(value: &str) -> bool {
    parts(value.as_bytes()).next().is_some()
}

/// What is searched for of one value: the whole value without its
/// trailing line end (a placeholder then keeps the line apart from the
/// next), then each line without `\r`, if it has more than one; each of
/// these also with surrounding whitespace trimmed (an unquoted `$VALUE` in
/// a shell prints it so); only the ones of at least [`MIN_LEN`] bytes.
fn parts(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let whole = value.strip_suffix(b"\n").unwrap_or(value);
    let whole = whole.strip_suffix(b"\r").unwrap_or(whole);
    let lines = whole.contains(&b'\n').then(|| whole.split(|&b| b == b'\n')).into_iter().flatten();
    let lines = lines.map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    std::iter::once(whole).chain(lines).flat_map(|part| [part, part.trim_ascii()]).filter(|part| part.len() >= MIN_LEN)
}

// === impl Masker ===

impl Masker {
    /// A masker for one stream.
    pub(crate) fn new(patterns: Arc<Patterns>) -> Self {
        Self { patterns, pending: Zeroizing::new(Vec::new()) }
    }

    /// Takes the next `chunk` of the stream; appends to `out` all that can
    /// be passed on now, masked. Keeps back only an end that could still
    /// become a value, or a value that such an end overlaps.
    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(chunk);
        let spans = self.patterns.spans(&self.pending);
        let mut cut = self.patterns.held_from(&self.pending);
        // A value that runs into the kept end stays whole with it: it is
        // found again next time, and none of it is passed on unmasked.
        if let Some(span) = spans.iter().find(|span| span.start < cut && cut < span.end) {
            cut = span.start;
        }
        let done = spans.iter().filter(|span| span.end <= cut).cloned();
        if self.pending.len() - cut > self.patterns.held_limit {
            // All the kept end goes, as one placeholder: masking too much
            // is safe, passing on part of a value is not.
            write_masked(&self.pending, done.chain(std::iter::once(cut..self.pending.len())), out);
            self.pending.clear();
            return;
        }
        write_masked(&self.pending[..cut], done, out);
        self.pending.drain(..cut);
    }

    /// The stream has ended: appends the rest to `out`, masked.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        let spans = self.patterns.spans(&self.pending);
        write_masked(&self.pending, spans.into_iter(), out);
        self.pending.clear();
    }
}

/// Appends `buf` to `out` with each of `spans` replaced by [`PLACEHOLDER`].
fn write_masked(buf: &[u8], spans: impl Iterator<Item = Range<usize>>, out: &mut Vec<u8>) {
    let mut at = 0;
    for span in spans {
        out.extend_from_slice(&buf[at..span.start]);
        out.extend_from_slice(PLACEHOLDER);
        at = span.end;
    }
    out.extend_from_slice(&buf[at..]);
}

#[cfg(test)]
mod tests;

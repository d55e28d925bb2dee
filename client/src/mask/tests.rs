use std::sync::Arc;

use aho_corasick::AhoCorasickKind;

use super::{Masker, PLACEHOLDER, Patterns, is_maskable};

const P: &str = "<concealed by vanta>";

fn patterns(values: &[&str]) -> Arc<Patterns> {
    Arc::new(Patterns::new(values.iter().copied()).expect("small values compile"))
}

/// The whole of `input` through a fresh masker in chunks of `size` bytes.
fn masked_in_chunks(patterns: &Arc<Patterns>, input: &[u8], size: usize) -> Vec<u8> {
    let mut masker = Masker::new(Arc::clone(patterns));
    let mut out = Vec::new();
    for chunk in input.chunks(size) {
        masker.push(chunk, &mut out);
    }
    masker.finish(&mut out);
    out
}

/// Masks `input` in chunks of every size from 1 to its length, checks that
/// all give the same text, and returns it.
fn masked(values: &[&str], input: &str) -> String {
    let patterns = patterns(values);
    let whole = masked_in_chunks(&patterns, input.as_bytes(), input.len().max(1));
    for size in 1..=input.len() {
        let out = masked_in_chunks(&patterns, input.as_bytes(), size);
        assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&whole), "chunks of {size} bytes");
    }
    String::from_utf8(whole).expect("the placeholder and the input are UTF-8")
}

#[test]
fn every_value_is_replaced_wherever_the_chunks_split_it() {
    let values = ["sk_live_stripe_77Q", "postgres://app:pw-9f3k@db/app"];
    let input = "key=sk_live_stripe_77Q url=postgres://app:pw-9f3k@db/app\nagain sk_live_stripe_77Q.";
    let want = format!("key={P} url={P}\nagain {P}.");
    assert_eq!(masked(&values, input), want);
}

#[test]
fn a_value_split_over_two_writes_is_masked() {
    let patterns = patterns(&["hunter2-secret"]);
    let mut masker = Masker::new(Arc::clone(&patterns));
    let mut out = Vec::new();
    masker.push(b"token: hunter2", &mut out);
    assert_eq!(out, b"token: ", "the start of a value is held back, the rest is not");
    masker.push(b"-secret done", &mut out);
    assert_eq!(String::from_utf8_lossy(&out), format!("token: {P} done"));
}

#[test]
fn output_that_cannot_start_a_value_is_passed_on_at_once() {
    let patterns = patterns(&["hunter2-secret"]);
    let mut masker = Masker::new(patterns);
    let mut out = Vec::new();
    for prompt in ["Password: ", "h", "un", "ter3\n", "hunter2-secre", "X"] {
        masker.push(prompt.as_bytes(), &mut out);
    }
    assert_eq!(String::from_utf8_lossy(&out), "Password: hunter3\nhunter2-secreX");
}

#[test]
fn a_start_of_a_value_at_the_end_is_passed_on_when_the_stream_ends() {
    let mut masker = Masker::new(patterns(&["hunter2-secret"]));
    let mut out = Vec::new();
    masker.push(b"last: hunter2-sec", &mut out);
    assert_eq!(out, b"last: ");
    masker.finish(&mut out);
    assert_eq!(out, b"last: hunter2-sec");
}

#[test]
fn overlapping_and_nested_values_become_one_placeholder() {
    let values = ["abcdefgh", "efghijkl", "cdef-inner", "xxcdef-innerxx"];
    assert_eq!(masked(&values, "[abcdefghijkl]"), format!("[{P}]"));
    assert_eq!(masked(&values, "[xxcdef-innerxx]"), format!("[{P}]"));
    assert_eq!(masked(&values, "[abcdefgh]"), format!("[{P}]"));
    assert_eq!(masked(&values, "[efghijkl]"), format!("[{P}]"));
    assert_eq!(masked(&values, "abcdefghXYZ efghijk"), format!("{P}XYZ efghijk"));
}

#[test]
fn a_held_back_value_is_never_passed_on_in_part() {
    // "efgh" ends the first value and starts the second: after the first
    // chunk it is held back, and must not come out bare after the second.
    let patterns = patterns(&["abcdefgh", "efghijkl"]);
    let mut masker = Masker::new(patterns);
    let mut out = Vec::new();
    masker.push(b"abcdefgh", &mut out);
    masker.push(b"XYZ", &mut out);
    masker.finish(&mut out);
    assert_eq!(String::from_utf8_lossy(&out), format!("{P}XYZ"));
}

#[test]
fn multi_line_values_are_masked_whole_and_line_by_line() {
    let key = "-----BEGIN KEY-----\nMIIEvQIBADANBg\r\nkqhkiG9w0BAQEF\nabc\n-----END KEY-----\n";
    let values = [key];
    assert_eq!(masked(&values, &format!("key:\n{key}next")), format!("key:\n{P}\nnext"));
    assert_eq!(masked(&values, "log: MIIEvQIBADANBg and kqhkiG9w0BAQEF"), format!("log: {P} and {P}"));
    assert_eq!(masked(&values, "-----END KEY-----"), P);
    // A line shorter than the minimum is not masked on its own.
    assert_eq!(masked(&values, "abc\n"), "abc\n");
}

/// An unquoted `$VALUE` in a shell drops the value's surrounding
/// whitespace (of each line too): that is masked as well, if long enough.
#[test]
fn values_are_masked_with_their_surrounding_whitespace_trimmed() {
    let values = [" sk_live_padded_value \t", "first line  \n\t  second line\n", "   short  "];
    let input = "unquoted: sk_live_padded_value end; first line; second line; short";
    assert_eq!(masked(&values, input), format!("unquoted: {P} end; {P}; {P}; short"));
    assert_eq!(masked(&values, " sk_live_padded_value \t|"), format!("{P}|"), "the value whole");
    assert!(is_maskable("   short  "), "whole, it is long enough");
}

#[test]
fn short_values_are_not_masked() {
    for short in ["1", "true", "12345", "ab\ncd\n"] {
        assert!(!is_maskable(short), "{short:?}");
        assert_eq!(masked(&[short], "1 true 12345 ab\ncd\n"), "1 true 12345 ab\ncd\n");
    }
    assert!(is_maskable("123456"));
    assert_eq!(masked(&["123456", "1"], "x123456x 1"), format!("x{P}x 1"));
}

#[test]
fn binary_output_and_no_values_pass_through_unchanged() {
    let input: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let none = patterns(&[]);
    assert_eq!(masked_in_chunks(&none, &input, 7), input);
    let some = patterns(&["\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}"]);
    let out = masked_in_chunks(&some, &input, 100);
    assert_eq!(out.len(), input.len() + (PLACEHOLDER.len() - 6) * 20, "each of the 20 runs of 1..6 is replaced");
}

#[test]
fn a_value_written_byte_by_byte_with_other_text_is_masked() {
    let values = ["ghp_github_55Z", "ghp_github_55Zextra"];
    let input = "a ghp_github_55 ghp_github_55Z ghp_github_55Zextra ghp_github_55Zextr ghp_github_55Z";
    assert_eq!(masked(&values, input), format!("a ghp_github_55 {P} {P} {P}extr {P}"));
}

#[test]
fn an_endless_run_of_overlapping_values_is_not_held_forever() {
    let patterns = patterns(&["abcabc"]);
    let mut masker = Masker::new(Arc::clone(&patterns));
    let mut out = Vec::new();
    let run = "abc".repeat(20_000);
    for _ in 0..30 {
        masker.push(run.as_bytes(), &mut out);
        assert!(masker.pending.len() <= patterns.held_limit + run.len(), "kept back {}", masker.pending.len());
    }
    assert!(!out.is_empty(), "the run was passed on before its end");
    masker.push(b" end", &mut out);
    masker.finish(&mut out);
    let text = String::from_utf8(out).expect("UTF-8");
    assert!(!text.contains("abcab") && !text.contains("bcabc"), "nothing of the value came through");
    assert!(text.ends_with(&format!("{P} end")), "{}", &text[text.len().saturating_sub(60)..]);
}

#[test]
fn long_values_are_searched_with_an_automaton_built_in_linear_time() {
    // A DFA's build is quadratic in a long repetitive value: `L` × 30,000
    // took minutes before the command could start.
    let small = patterns(&["sk_live_stripe_77Q", "postgres://app:pw-9f3k@db/app"]);
    assert_eq!(small.searcher.kind(), AhoCorasickKind::DFA, "small sets keep the fastest search");
    // What `make bench` masks (W8): five values of 45 bytes.
    let bench: Vec<String> = (1..=5).map(|i| format!("bench-secret-value-{i}-0123456789abcdef01234567")).collect();
    let bench = patterns(&bench.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(bench.searcher.kind(), AhoCorasickKind::DFA);
    // One byte, so one byte class: 4,096² is the bound exactly.
    let at_limit = "k".repeat(4_096);
    assert_eq!(patterns(&[&at_limit]).searcher.kind(), AhoCorasickKind::DFA);
    let over = "L".repeat(4_097);
    assert_eq!(patterns(&[&over]).searcher.kind(), AhoCorasickKind::ContiguousNFA);
    // A long run and many distinct bytes: 8 s to build a DFA in a debug build.
    let mixed: String = "a".repeat(1_600).chars().chain((0x21u8..0x7f).map(char::from)).collect();
    assert_eq!(patterns(&[&mixed]).searcher.kind(), AhoCorasickKind::ContiguousNFA);
    let many = (0..200).map(|i| format!("value-{i:04}-of-many")).collect::<Vec<_>>();
    let many = patterns(&many.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(many.searcher.kind(), AhoCorasickKind::ContiguousNFA, "3,400 bytes in all");
}

#[test]
fn a_long_repetitive_value_is_masked() {
    let value = "L".repeat(30_000);
    let patterns = patterns(&[&value]);
    let input = format!("start {value} L{value}. {} end", &value[1..]);
    for size in [1_000, 4_096, 65_536] {
        let out = masked_in_chunks(&patterns, input.as_bytes(), size);
        let want = format!("start {P} {P}. {} end", &value[1..]);
        assert_eq!(String::from_utf8_lossy(&out), want, "chunks of {size} bytes");
    }
}

//! The JSON format of `run-with-secrets --inject-as file|fifo
//! --file-format json`: one object, variable name to value, in the order the
//! secrets were fetched (client leaf layer, part of `inject`). Pure text.
//!
//! JSON strings carry any Unicode text exactly, so unlike dotenv there is no
//! value this format cannot hold.

use zeroize::Zeroizing;

/// `{"NAME":"value",...}` and a final newline. The text is wiped on drop.
pub(crate) fn render(entries: &[(&str, &str)]) -> Zeroizing<String> {
    let capacity = entries.iter().map(|(n, v)| n.len() + 2 * v.len() + 8).sum::<usize>() + 4;
    let mut out = Zeroizing::new(String::with_capacity(capacity));
    out.push('{');
    for (i, &(name, value)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string(&mut out, name);
        out.push(':');
        push_string(&mut out, value);
    }
    out.push_str("}\n");
    out
}

/// Appends `text` as a JSON string, escaping what RFC 8259 requires.
/// Written by hand so that no copy of a value outlives the zeroized buffer.
fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn every_value_reads_back_unchanged() {
        let values = ["plain", "", "\"q\" 'q'", "\\", "a\nb\r\n\t", "\0\u{1}\u{1f}", "${X} $Y #z =", "héllo ✓ 🦀"];
        let names: Vec<String> = (0..values.len()).map(|i| format!("V{i}")).collect();
        let entries: Vec<(&str, &str)> = names.iter().map(String::as_str).zip(values).collect();
        let text = render(&entries);
        assert!(text.ends_with("}\n"));
        let parsed: BTreeMap<String, String> = serde_json::from_str(&text).expect("valid JSON");
        let want: BTreeMap<String, String> = entries.iter().map(|&(n, v)| (n.to_owned(), v.to_owned())).collect();
        assert_eq!(parsed, want);
    }

    #[test]
    fn keeps_the_order_and_an_empty_set_is_an_empty_object() {
        assert_eq!(render(&[("B", "1"), ("A", "2")]).as_str(), "{\"B\":\"1\",\"A\":\"2\"}\n");
        assert_eq!(render(&[]).as_str(), "{}\n");
    }
}

use super::*;
use crate::sops::files::Format;

fn tree(yaml: &str) -> Tree {
    Tree::parse(yaml.as_bytes()).expect("valid yaml")
}

fn get<'a>(t: &'a Tree, key: &str) -> Option<&'a str> {
    t.get(&key.parse().expect("valid key"))
}

/// Shaped like `sops --decrypt --output-type yaml` output.
const SAMPLE: &str = r#"DATABASE_URL: 'postgres://u:p@h/db?x=1&y=$HOME #c'
API_KEYS:
    stripe: sk_test_123
    quote: he said "hi" and 'bye'
multi: |
    line1
    line2
folded: >-
    a
    b
num: 1.234568e+09
int: 42
flag: true
quoted_num: "42"
nul: null
tilde: ~
quoted_null: "null"
lst:
    - 1
    - 2
uni: héllo ☃
"with space": x
"a/b": y
deep:
    er:
        est: v
sops:
    mac: ENC[...]
"#;

#[test]
fn leaves_come_back_as_sops_printed_them() {
    let t = tree(SAMPLE);
    let cases = [
        ("DATABASE_URL", Some("postgres://u:p@h/db?x=1&y=$HOME #c")),
        ("API_KEYS/stripe", Some("sk_test_123")),
        ("API_KEYS/quote", Some(r#"he said "hi" and 'bye'"#)),
        ("multi", Some("line1\nline2\n")),
        ("folded", Some("a b")),
        ("num", Some("1.234568e+09")),
        ("int", Some("42")),
        ("flag", Some("true")),
        ("quoted_num", Some("42")),
        ("quoted_null", Some("null")),
        ("uni", Some("héllo ☃")),
        ("deep/er/est", Some("v")),
    ];
    for (key, want) in cases {
        assert_eq!(get(&t, key), want, "{key}");
    }
}

#[test]
fn non_leaves_and_metadata_are_not_found() {
    let t = tree(SAMPLE);
    for key in ["nul", "tilde", "lst", "API_KEYS", "deep/er", "missing", "API_KEYS/stripe/x", "sops", "sops/mac"] {
        assert_eq!(get(&t, key), None, "{key}");
    }
}

#[test]
fn a_missing_value_says_what_is_there_instead() {
    let t = tree(SAMPLE);
    let cases = [
        ("missing", Missing::Key),
        ("API_KEYS/stripe/x", Missing::Key),
        ("sops", Missing::Key),
        ("API_KEYS", Missing::Map),
        ("lst", Missing::List),
        ("nul", Missing::Null),
        ("tilde", Missing::Null),
    ];
    for (key, want) in cases {
        assert_eq!(t.lookup(&key.parse().expect("valid key")), Err(want), "{key}");
    }
}

#[test]
fn keys_lists_fetchable_leaves_sorted() {
    let keys = tree(SAMPLE).keys();
    assert_eq!(
        keys,
        [
            "API_KEYS/quote",
            "API_KEYS/stripe",
            "DATABASE_URL",
            "deep/er/est",
            "flag",
            "folded",
            "int",
            "multi",
            "num",
            "quoted_null",
            "quoted_num",
            "uni"
        ]
    );
}

#[test]
fn empty_and_bad_documents() {
    assert!(tree("").keys().is_empty());
    assert!(matches!(Tree::parse(b"- a\n- b\n"), Err(TreeError::Shape)));
    assert!(matches!(Tree::parse(b"a: [unclosed\n"), Err(TreeError::Yaml { .. })));
    assert!(matches!(Tree::parse(&[0xff, 0xfe]), Err(TreeError::Utf8)));
    let deep = "a:\n".to_string() + &(1..80).map(|i| format!("{}a:\n", "  ".repeat(i))).collect::<String>();
    assert!(matches!(Tree::parse(deep.as_bytes()), Err(TreeError::Shape)));
}

fn json_tree(format: Format, json: &str) -> Tree {
    Tree::parse_output(format, json.as_bytes()).expect("valid json")
}

/// Shaped like `sops --decrypt --output-type json` of a `.enc.json` file.
const JSON_SAMPLE: &str = r#"{
	"DATABASE_URL": "postgres://u:p@h/db?x=1&y=$HOME #c",
	"BIG": 1234567890123,
	"FLOAT": 3.14,
	"FLAG": true,
	"ESCAPED": "tab\there \u003c\"q\"\u003e\nnext",
	"NUL": null,
	"LIST": [1, {"a": "b"}],
	"API_KEYS": {"stripe": "sk_test_123", "nested": {"deep": "v"}},
	"sops": {"mac": "ENC[...]"}
}"#;

#[test]
fn json_leaves_keep_sops_text_and_nest_as_paths() {
    let t = json_tree(Format::Json, JSON_SAMPLE);
    let cases = [
        ("DATABASE_URL", Some("postgres://u:p@h/db?x=1&y=$HOME #c")),
        ("BIG", Some("1234567890123")),
        ("FLOAT", Some("3.14")),
        ("FLAG", Some("true")),
        ("ESCAPED", Some("tab\there <\"q\">\nnext")),
        ("API_KEYS/stripe", Some("sk_test_123")),
        ("API_KEYS/nested/deep", Some("v")),
        ("NUL", None),
        ("LIST", None),
        ("API_KEYS", None),
        ("sops/mac", None),
    ];
    for (key, want) in cases {
        assert_eq!(get(&t, key), want, "{key}");
    }
    assert_eq!(
        t.keys(),
        ["API_KEYS/nested/deep", "API_KEYS/stripe", "BIG", "DATABASE_URL", "ESCAPED", "FLAG", "FLOAT"]
    );
}

#[test]
fn an_ini_default_section_printed_twice_is_merged() {
    // sops prints an INI file's DEFAULT section once empty, then filled.
    let ini = r#"{"DEFAULT": {}, "DEFAULT": {"root": "r1"}, "database": {"url": "u1", "port": "5432"}}"#;
    let t = json_tree(Format::Ini, ini);
    assert_eq!(t.keys(), ["DEFAULT/root", "database/port", "database/url"]);
    let yaml = tree("DEFAULT: {}\nDEFAULT:\n    root: r1\n");
    assert_eq!(get(&yaml, "DEFAULT/root"), Some("r1"));
}

#[test]
fn bad_json_documents() {
    assert!(json_tree(Format::Dotenv, "").keys().is_empty());
    assert!(matches!(Tree::parse_output(Format::Json, b"[1, 2]"), Err(TreeError::Shape)));
    assert!(matches!(Tree::parse_output(Format::Json, b"{\"a\": "), Err(TreeError::Json { .. })));
    let deep = "{\"a\":".repeat(80) + "\"x\"" + &"}".repeat(80);
    assert!(Tree::parse_output(Format::Json, deep.as_bytes()).is_err());
}

/// What sops prints for `base: &base {user: u1, pass: p1}`, `other: &o {host:
/// h, user: u2}`, `prod: {<<: *base, pass: p2}`, `stage: {<<: [*base, *o]}`:
/// aliases expanded, merge keys kept and tagged.
const MERGE_SAMPLE: &str = r#"base:
    user: u1
    pass: p1
other:
    host: h
    user: u2
prod:
    !!merge <<:
        user: u1
        pass: p1
    pass: p2
stage:
    !!merge <<:
        - user: u1
          pass: p1
        - host: h
          user: u2
    x: "y"
plain:
    pass: p3
    <<: {user: u4, pass: p4}
quoted:
    "<<": not-a-merge
"#;

#[test]
fn merge_keys_merge_into_their_map_and_written_keys_win() {
    let t = tree(MERGE_SAMPLE);
    let cases = [
        ("prod/user", Some("u1")),
        ("prod/pass", Some("p2")),
        // Of a list, the earlier map wins.
        ("stage/user", Some("u1")),
        ("stage/host", Some("h")),
        ("stage/pass", Some("p1")),
        ("stage/x", Some("y")),
        // Plain `<<`, after the written key: the written key still wins.
        ("plain/user", Some("u4")),
        ("plain/pass", Some("p3")),
    ];
    for (key, want) in cases {
        assert_eq!(get(&t, key), want, "{key}");
    }
    let keys = t.keys();
    assert!(keys.iter().all(|k| !k.contains("<<")), "{keys:?}");
    assert!(keys.contains(&"prod/user".to_owned()) && keys.contains(&"stage/host".to_owned()), "{keys:?}");
    // A quoted "<<" is an ordinary key (no key path can name it).
    assert_eq!(t.lookup(&"quoted".parse().expect("key")), Err(Missing::Map));
    assert_eq!(get(&t, "quoted/user"), None);
}

#[test]
fn a_merge_of_something_other_than_maps_is_refused() {
    for yaml in ["a:\n    <<: x\n", "a:\n    <<: [x]\n", "b: &b {x: y}\na:\n    <<: *b\n"] {
        assert!(matches!(Tree::parse(yaml.as_bytes()), Err(TreeError::Shape)), "{yaml}");
    }
}

#[test]
fn keys_after_the_first_document_are_refused_and_empty_documents_ignored() {
    // sops prints a multi-document file's documents one after the other.
    assert!(matches!(Tree::parse(b"a: 1\n---\nb: 2\n"), Err(TreeError::Documents)));
    assert!(matches!(Tree::parse(b"a: 1\n---\n- x\n"), Err(TreeError::Documents)));
    // `a: 1` followed by a bare `---`, as sops prints it, and variants.
    for yaml in ["a: 1\n---\n{}\n", "a: 1\n---\n", "---\na: 1\n...\n", "a: 1\n---\n~\n"] {
        assert_eq!(get(&tree(yaml), "a"), Some("1"), "{yaml}");
    }
}

/// `sops --decrypt --output-type yaml` of a file whose `NOTE` ends in U+2028
/// (captured from sops 3.11): the separator stands where the newline would.
const YAML_WITH_SEPARATORS: &str = "NOTE: |\n    line1\n    line2\u{2028}DB_PASSWORD: hunter2\nC: 'p\u{2029}    q'\n";

#[test]
fn yaml_holding_a_yaml_1_1_line_break_is_refused_not_misread() {
    assert!(matches!(Tree::parse(YAML_WITH_SEPARATORS.as_bytes()), Err(TreeError::LineSeparators)));
    assert!(matches!(Tree::parse("N: 'a\u{85}b'\n".as_bytes()), Err(TreeError::LineSeparators)));
    // Escaped in a double-quoted scalar, they are unambiguous.
    assert_eq!(get(&tree("K: \"sp \\L x\"\n"), "K"), Some("sp \u{2028} x"));
}

#[test]
fn the_json_output_of_a_yaml_file_merges_its_merge_keys() {
    let json = r#"{"NOTE": "line1\nline2\u2028", "base": {"user": "u1", "pass": "p0"},
        "prod": {"<<": {"user": "u1", "pass": "p0"}, "pass": "p2"},
        "two": {"<<": [{"a": "first"}, {"a": "second", "b": "b2"}]}}"#;
    let t = Tree::parse_json_of_yaml(json.as_bytes()).expect("valid json");
    assert_eq!(get(&t, "NOTE"), Some("line1\nline2\u{2028}"));
    assert_eq!(get(&t, "prod/user"), Some("u1"));
    assert_eq!(get(&t, "prod/pass"), Some("p2"), "written keys win");
    assert_eq!(get(&t, "two/a"), Some("first"), "earlier merged maps win");
    assert_eq!(get(&t, "two/b"), Some("b2"));
    assert!(matches!(Tree::parse_json_of_yaml(br#"{"x": {"<<": "s"}}"#), Err(TreeError::Shape)));
    // In a JSON file, `<<` is an ordinary key.
    let plain = json_tree(Format::Json, r#"{"x": {"<<": {"user": "u1"}}}"#);
    assert_eq!(get(&plain, "x/user"), None);
}

#[test]
fn leaves_no_key_path_can_name_are_counted() {
    let t =
        tree("ok: 1\n\"x y\": 2\nAPI_KEYS:\n  \u{fc}n: x\n  good: y\n  deeper: {a b: c, d: e}\n'c/d': z\nn: null\n");
    assert_eq!(t.keys(), ["API_KEYS/deeper/d", "API_KEYS/good", "ok"]);
    assert_eq!(t.unnamable_leaves(), 4);
    let long = format!("{}: v\n", "k".repeat(KeyPath::MAX_LEN + 1));
    assert_eq!(tree(&long).unnamable_leaves(), 1);
    assert_eq!(tree("a: {b: c}\n").unnamable_leaves(), 0);
}

#[test]
fn yaml_with_separators_and_keys_after_its_first_document_is_refused_as_such() {
    // As sops prints it: the indentation it writes after the break.
    let multi = "A: 'x\u{2028}    y'\nB: one\n---\nC: two\n";
    assert!(matches!(Tree::parse(multi.as_bytes()), Err(TreeError::Documents)));
    let trailing_empty = "A: 'x\u{2028}y'\n---\n";
    assert!(matches!(Tree::parse(trailing_empty.as_bytes()), Err(TreeError::LineSeparators)));
}

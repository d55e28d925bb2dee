//! The dotenv file of `run-with-secrets --inject-as file` read back by the
//! real python-dotenv, `dotenv_values(path, interpolate=False)`, with
//! hostile values: quotes, `$`, `${X}`, `#`, backslashes, `=`, newlines,
//! outer spaces, unicode. Every value must come back byte for byte, through
//! a file and through a named pipe. Also what the guide says of its default
//! reader (`interpolate=True`), and the line naming values it may expand.
//!
//! python-dotenv is installed (once) into `<workspace>/.tools/py` with pip
//! when it cannot be imported; only when there is no pip is the test
//! skipped, loudly.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use vanta_integration_tests::bins;
use vanta_integration_tests::cli::Cli;

use crate::run::support::{agent_with, assert_code, run_args};

/// Hostile values, each in one key. At most one ends in a backslash: a
/// dotenv file can hold only one such value (the CLI says so otherwise).
const HOSTILE: &[(&str, &str)] = &[
    ("DOUBLE", r#"say "hi" \"twice\""#),
    ("SINGLE", "it's 'quoted'"),
    ("DOLLAR", "cost $5 and $HOME"),
    ("BRACES", "${X} and ${HOME:-default} $(id) `id`"),
    ("MIXED", "$X 'single' ${Y} \"double\""),
    ("HASH", "value # not a comment"),
    ("HASH_START", "#starts with a hash"),
    ("BACKSLASHES", r"C:\path\to \n not a newline \\ two"),
    ("EQUALS", "a=b==c="),
    ("NEWLINES", "line1\nline2\n\nline4\n"),
    ("CRLF", "windows\r\nline"),
    ("SPACES", "  leading and trailing  "),
    ("TABS", "\ttabbed\t"),
    ("UNICODE", "héllo wörld ✓ 日本語 🦀"),
    ("EMPTY", ""),
    ("PEM", "-----BEGIN KEY-----\nMIIB+/=\n-----END KEY-----\n"),
    ("TAIL", "ends with a backslash\\"),
];

/// The `PYTHONPATH` under which `import dotenv` works, or `None` (after a
/// loud message) when python-dotenv cannot be had because pip is missing.
fn python_dotenv() -> Option<&'static PathBuf> {
    static PYTHONPATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHONPATH
        .get_or_init(|| {
            let dir = bins::workspace_root().join(".tools/py");
            let importable = || python(&dir).args(["-c", "import dotenv"]).output().is_ok_and(|o| o.status.success());
            if importable() {
                return Some(dir);
            }
            let pip = python(&dir).args(["-m", "pip", "--version"]).output();
            if !pip.is_ok_and(|o| o.status.success()) {
                eprintln!("SKIPPED python-dotenv round trip: neither python-dotenv nor pip is available");
                return None;
            }
            let install = python(&dir)
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
                .arg(&dir)
                .arg("python-dotenv")
                .output()
                .expect("pip runs");
            assert!(
                install.status.success(),
                "pip install python-dotenv: {}",
                String::from_utf8_lossy(&install.stderr)
            );
            assert!(importable(), "python-dotenv installed into {} but not importable", dir.display());
            Some(dir)
        })
        .as_ref()
}

fn python(pythonpath: &std::path::Path) -> Command {
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONPATH", pythonpath).env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

/// Runs python-dotenv on `$VANTA_SECRETS_FILE` under the CLI and returns
/// what it read. A pipe is passed as a stream: python-dotenv before 1.2
/// skips a path that `os.path.isfile` says is not a regular file.
fn read_back(inject_as: &str) -> Option<BTreeMap<String, String>> {
    let pythonpath = python_dotenv()?;
    let agent = agent_with(HOSTILE);
    let source = match inject_as {
        "fifo" => "stream=open(os.environ['VANTA_SECRETS_FILE'], encoding='utf-8')",
        _ => "os.environ['VANTA_SECRETS_FILE']",
    };
    let script = format!(
        "import json, os\nfrom dotenv import dotenv_values\n\
         print(json.dumps(dotenv_values({source}, interpolate=False)))"
    );
    let cmd = ["python3", "-c", script.as_str()];
    let finished = Cli::new(agent.socket()).env("PYTHONPATH", pythonpath).run(&run_args(
        "*",
        &["--inject-as", inject_as, "--quiet"],
        &cmd,
    ));
    assert_code(&finished, 0);
    assert!(finished.stderr.is_empty(), "python-dotenv warned: {}", finished.stderr_text());
    Some(serde_json::from_slice(&finished.stdout).expect("a JSON map of strings"))
}

fn assert_exact(read: &BTreeMap<String, String>) {
    let want: BTreeMap<String, String> = HOSTILE.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    for (key, value) in &want {
        assert_eq!(read.get(key), Some(value), "{key} read back by python-dotenv");
    }
    assert_eq!(read.len(), want.len(), "no extra variables: {read:?}");
}

#[test]
fn python_dotenv_reads_every_hostile_value_back_from_the_file() {
    if let Some(read) = read_back("file") {
        assert_exact(&read);
    }
}

#[test]
fn python_dotenv_reads_every_hostile_value_back_from_the_pipe() {
    if let Some(read) = read_back("fifo") {
        assert_exact(&read);
    }
}

/// What the guide says of python-dotenv's default reader (`interpolate=True`):
/// it expands `${NAME}` even in the single quotes vanta-cli writes such a
/// value in, but not a bare `$NAME`; `interpolate=False` keeps both.
#[test]
fn python_dotenvs_default_reader_expands_braces_even_in_single_quotes() {
    let Some(pythonpath) = python_dotenv() else { return };
    let agent = agent_with(&[("BRACED", "${VANTA_PROBE}"), ("BARE", "$VANTA_PROBE")]);
    let script = "import json, os\nfrom dotenv import dotenv_values\npath = os.environ['VANTA_SECRETS_FILE']\n\
                  print(open(path).read().replace('\\n', ' '), file=__import__('sys').stderr)\n\
                  print(json.dumps([dotenv_values(path), dotenv_values(path, interpolate=False)]))";
    let finished = Cli::new(agent.socket())
        .env("PYTHONPATH", pythonpath)
        .env("VANTA_PROBE", "expanded")
        .run(&run_args("*", &["--inject-as", "file", "--quiet"], &["python3", "-c", script]));
    assert_code(&finished, 0);
    let file = finished.stderr_text();
    assert!(file.contains("BRACED='${VANTA_PROBE}'"), "single-quoted: {file}");
    let [default, exact]: [BTreeMap<String, String>; 2] = serde_json::from_slice(&finished.stdout).unwrap();
    assert_eq!((default["BRACED"].as_str(), default["BARE"].as_str()), ("expanded", "$VANTA_PROBE"));
    assert_eq!((exact["BRACED"].as_str(), exact["BARE"].as_str()), ("${VANTA_PROBE}", "$VANTA_PROBE"));
}

#[test]
fn values_a_dotenv_reader_may_expand_are_named_never_shown() {
    let agent = agent_with(&[("BRACED", "pw-${NOT_A_VAR}-x"), ("BARE", "pw-$NOT_A_VAR"), ("PLAIN", "pw-plain")]);
    let cli = Cli::new(agent.socket());
    let notice = "vanta-cli: the values of BRACED hold '${': python-dotenv expands ${NAME} in them, even \
                  single-quoted, unless read with interpolate=False; --file-format json keeps every value exact";
    for mode in ["file", "fifo"] {
        let finished = cli.run(&run_args("*", &["--inject-as", mode], &["true"]));
        assert_code(&finished, 0);
        let stderr = finished.stderr_text();
        assert_eq!(stderr.lines().filter(|l| *l == notice).count(), 1, "{mode}: {stderr}");
        assert!(!stderr.contains("pw-"), "{mode}: a value shown: {stderr}");
    }
    let quiet_or_exact = [&["--inject-as", "file", "--file-format", "json"][..], &["--inject-as", "file", "-q"], &[]];
    for extra in quiet_or_exact {
        let finished = cli.run(&run_args("*", extra, &["true"]));
        assert_code(&finished, 0);
        assert!(!finished.stderr_text().contains("hold '${'"), "{extra:?}: {}", finished.stderr_text());
    }
}

//! Why sops failed, as a stable cause with what to check, and the part of
//! sops' stderr that may be logged.
//!
//! The cause comes from sops' exit code first and its stderr second (sops'
//! exit codes are documented and stable; its wording is not). The stderr is
//! logged only after it has been screened: capped, on one line, and dropped
//! entirely if it holds any word of what sops printed on stdout or any value
//! of the environment's previous decryption still cached; for a malformed file,
//! quoted fragments (which parsers copy from the file) are cut out.

use std::fmt;

/// A stable name for why an environment could not be decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// No key sops could use decrypted the file's data key.
    NoMatchingKey,
    /// The file's MAC does not match its content: altered after encryption.
    MacMismatch,
    /// Not a sops file, or not valid YAML/JSON/dotenv/INI.
    MalformedFile,
    /// The sops executable is missing or cannot be run.
    SopsUnavailable,
    /// sops did not finish in time and was killed.
    TimedOut,
    /// More than one file for the environment (`dev.enc.yaml` and `dev.enc.json`).
    AmbiguousFiles,
    /// sops succeeded but printed something the agent cannot read.
    UnexpectedOutput,
    /// sops failed for a reason not recognised above.
    SopsFailed,
}

/// The key types sops tried, in the words of its key groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyTypes(Vec<&'static str>);

/// sops exit codes (sops' `cmd/sops/codes`).
const EXIT_COULD_NOT_RETRIEVE_KEY: i32 = 128;
const EXIT_MAC_MISMATCH: i32 = 51;
const EXIT_MAC_NOT_FOUND: i32 = 52;
const EXIT_DECRYPTING_MAC: i32 = 24;
const EXIT_DECRYPTING_TREE: i32 = 25;
/// The longest stderr excerpt that is logged, in bytes.
const STDERR_CAP: usize = 1024;
/// Logged instead of a stderr that holds decrypted content.
pub const STDERR_WITHHELD: &str = "(withheld: it contains decrypted content)";
/// Values shorter than this are not searched for in stderr: `1` or `true`
/// would match everywhere and withhold every message.
const MIN_SCREENED_VALUE: usize = 4;

// === impl Cause ===

impl Cause {
    /// The stable name, as in logs, `/readyz` and `doctor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoMatchingKey => "no_matching_key",
            Self::MacMismatch => "mac_mismatch",
            Self::MalformedFile => "malformed_file",
            Self::SopsUnavailable => "sops_unavailable",
            Self::TimedOut => "timed_out",
            Self::AmbiguousFiles => "ambiguous_files",
            Self::UnexpectedOutput => "unexpected_output",
            Self::SopsFailed => "sops_failed",
        }
    }

    /// The cause in words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NoMatchingKey => "no key available to sops could decrypt the file's data key",
            Self::MacMismatch => "the file's MAC does not match its content (altered after encryption)",
            Self::MalformedFile => "the file is not a sops file or is malformed",
            Self::SopsUnavailable => "the sops executable is missing or cannot be run",
            Self::TimedOut => "sops did not finish in time and was killed",
            Self::AmbiguousFiles => "the environment has more than one file",
            Self::UnexpectedOutput => "sops printed output the agent cannot read",
            Self::SopsFailed => "sops failed",
        }
    }

    /// What the operator should check.
    pub fn hint(self, tried: &KeyTypes) -> String {
        match self {
            Self::NoMatchingKey => tried.hint(),
            Self::MacMismatch => "restore the file from version control, or re-encrypt it with `sops encrypt`; \
                                  do not edit encrypted files by hand"
                .to_owned(),
            Self::MalformedFile => "check that the file was written by `sops encrypt` and that its extension \
                                    matches its format"
                .to_owned(),
            Self::SopsUnavailable => "check --sops-bin (VANTA_SOPS_BIN) and that the file is executable".to_owned(),
            Self::TimedOut => "check that the key service sops calls is reachable, or raise \
                               --sops-timeout-seconds (VANTA_SOPS_TIMEOUT_SECONDS)"
                .to_owned(),
            Self::AmbiguousFiles => "keep exactly one of the files; the agent never picks one".to_owned(),
            Self::UnexpectedOutput => "check that --sops-bin is the real sops (3.8 or newer)".to_owned(),
            Self::SopsFailed => "read sops' own message (`sops_stderr` in the agent's log), or run \
                                 `sops --decrypt` on the file as the agent's user"
                .to_owned(),
        }
    }

    /// Classifies a failed run from its exit code and stderr.
    pub fn classify(code: Option<i32>, stderr: &str) -> Self {
        match code {
            Some(EXIT_COULD_NOT_RETRIEVE_KEY) => Self::NoMatchingKey,
            Some(EXIT_MAC_MISMATCH | EXIT_MAC_NOT_FOUND | EXIT_DECRYPTING_MAC | EXIT_DECRYPTING_TREE) => {
                Self::MacMismatch
            }
            _ if stderr.contains("Failed to get the data key") => Self::NoMatchingKey,
            _ if stderr.contains("MAC mismatch") || stderr.contains("authentication failed") => Self::MacMismatch,
            _ if stderr.contains("sops metadata not found")
                || stderr.contains("Error unmarshalling input")
                || stderr.contains("Error loading")
                // Go's time parser on a hand-edited `lastmodified`.
                || stderr.contains("parsing time")
                || ECHOING_PARSERS.iter().any(|prefix| stderr.contains(prefix)) =>
            {
                Self::MalformedFile
            }
            _ => Self::SopsFailed,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl KeyTypes ===

impl KeyTypes {
    /// The key types named in sops' "Group N: FAILED" report.
    pub fn from_stderr(stderr: &str) -> Self {
        let mut found = Vec::new();
        for line in stderr.lines().map(str::trim) {
            let Some(key) = line.strip_suffix(": FAILED") else { continue };
            if key.starts_with("Group ") {
                continue;
            }
            let kind = key_type(key);
            if !found.contains(&kind) {
                found.push(kind);
            }
        }
        Self(found)
    }

    /// Whether none was named.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn hint(&self) -> String {
        let mut checks: Vec<&str> = self.0.iter().map(|kind| check_for(kind)).collect();
        if checks.is_empty() {
            checks.push(check_for("age"));
            checks.push(check_for("pgp"));
        }
        format!("{}; and that the file's recipients include that key (`sops updatekeys`)", checks.join("; "))
    }
}

impl fmt::Display for KeyTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}

fn key_type(key: &str) -> &'static str {
    if key.starts_with("age1") {
        "age"
    } else if key.starts_with("arn:aws:kms") {
        "aws_kms"
    } else if key.contains("cryptoKeys") {
        "gcp_kms"
    } else if key.contains("vault.azure.net") {
        "azure_kv"
    } else if key.contains("/v1/") || key.contains("transit") {
        "hc_vault"
    } else if key.len() >= 16 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        "pgp"
    } else {
        "other"
    }
}

fn check_for(kind: &str) -> &'static str {
    match kind {
        "age" => "age: check SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY, ~/.config/sops/age/keys.txt) holds the identity",
        "pgp" => "pgp: check GNUPGHOME holds the secret key and gpg can use it without a passphrase prompt",
        "aws_kms" => "aws_kms: check the AWS credentials (AWS_PROFILE, AWS_ROLE_ARN, instance role) may decrypt",
        "gcp_kms" => "gcp_kms: check GOOGLE_APPLICATION_CREDENTIALS or the workload identity",
        "azure_kv" => "azure_kv: check the AZURE_* credentials or the managed identity",
        "hc_vault" => "hc_vault: check VAULT_ADDR and VAULT_TOKEN",
        _ => "check the key service named in the file's sops metadata",
    }
}

/// sops' stderr made fit for a log line: [`STDERR_WITHHELD`] if it must not
/// be logged (it might hold decrypted content), `None` if it is empty. `known` are values decrypted from the
/// same environment before, if any; `stdout` is what this run printed.
pub fn screen_stderr<'a>(
    stderr: &[u8],
    stdout: &[u8],
    cause: Cause,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let mut needles = known.into_iter().filter(|v| v.len() >= MIN_SCREENED_VALUE);
    let stdout_text = String::from_utf8_lossy(stdout);
    // sops prints nothing on stdout when it fails; if it did, none of its words may appear.
    let mut stdout_words = stdout_text
        .split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ':' | '=' | ',' | '{' | '}' | '[' | ']'))
        .filter(|w| w.len() >= MIN_SCREENED_VALUE);
    if needles.any(|v| text.contains(v)) || stdout_words.any(|w| text.contains(w)) {
        return Some(STDERR_WITHHELD.to_owned());
    }
    let text = cut_echoed_lines(&text);
    let text = if matches!(cause, Cause::MalformedFile | Cause::SopsFailed) { cut_quotes(&text) } else { text };
    let mut line = text.split_whitespace().filter(|w| *w != "|" && *w != "-").collect::<Vec<_>>().join(" ");
    if line.len() > STDERR_CAP {
        let mut end = STDERR_CAP;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push_str(" …");
    }
    (!line.is_empty()).then_some(line)
}

/// Errors of sops' dotenv and INI parsers that end with the offending line
/// of the file, unquoted: for a file that was never encrypted, plaintext.
const ECHOING_PARSERS: &[&str] = &["invalid dotenv input line:", "key-value delimiter not found:", "unclosed section:"];

/// Errors that quote, unquoted, a value of a file that is otherwise
/// encrypted: a plaintext value added by hand (sops' exit code 25). The value
/// runs to [`ECHOED_VALUE_END`] and may span lines (a PEM block as a YAML
/// block scalar, a JSON string with `\n`).
const ECHOING_DECRYPTION: &[&str] = &["Input string"];

/// What sops prints after the value an [`ECHOING_DECRYPTION`] prefix quotes.
const ECHOED_VALUE_END: &str = "does not match sops' data format";

/// Cuts what follows an [`ECHOING_DECRYPTION`] prefix up to
/// [`ECHOED_VALUE_END`], across lines, and what follows an
/// [`ECHOING_PARSERS`] prefix to the end of its line.
fn cut_echoed_lines(text: &str) -> String {
    let text = cut_echoed_values(text);
    let lines = text.lines().map(|line| {
        match ECHOING_PARSERS.iter().find_map(|prefix| line.find(prefix).map(|at| at + prefix.len())) {
            Some(end) => format!("{} …", &line[..end]),
            None => line.to_owned(),
        }
    });
    lines.collect::<Vec<_>>().join("\n")
}

/// Cuts the value after an [`ECHOING_DECRYPTION`] prefix: up to the last
/// [`ECHOED_VALUE_END`] (the last, so that a value holding those words is
/// still cut whole), or to the end of `text` when sops' wording changed and
/// the closing text is missing.
fn cut_echoed_values(text: &str) -> String {
    let Some(end) = ECHOING_DECRYPTION.iter().find_map(|prefix| text.find(prefix).map(|at| at + prefix.len())) else {
        return text.to_owned();
    };
    match text[end..].rfind(ECHOED_VALUE_END) {
        Some(closing) => format!("{} … {}", &text[..end], &text[end + closing..]),
        None => format!("{} …", &text[..end]),
    }
}

/// Replaces every quoted fragment (`…`, "…", '…') with `…`: parsers quote the
/// file's own text, which for a malformed file may be plaintext.
fn cut_quotes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open: Option<char> = None;
    for c in text.chars() {
        match open {
            Some(q) if c == q => {
                open = None;
                out.push('…');
            }
            Some(_) => {}
            None if matches!(c, '`' | '"' | '\'') => open = Some(c),
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_KEY: &str = "Failed to get the data key required to decrypt the SOPS file.\n\nGroup 0: FAILED\n  \
        age1z254rm62khgunalahx50rxtfjw6p9tc2hywmj3pmgv8nz9pqpsaqtxm64v: FAILED\n    - | failed to load age \
        identities.\n  FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4: FAILED\n    - | could not decrypt data key\n";

    #[test]
    fn exit_codes_and_messages_give_stable_causes() {
        let cases = [
            (Some(128), "", Cause::NoMatchingKey),
            (Some(1), NO_KEY, Cause::NoMatchingKey),
            (Some(51), "MAC mismatch. File has AB, computed CD", Cause::MacMismatch),
            (Some(25), "Could not decrypt with AES_GCM: cipher: message authentication failed", Cause::MacMismatch),
            (Some(1), "sops metadata not found", Cause::MalformedFile),
            (Some(1), "Error unmarshalling input yaml: yaml: line 1: did not find expected ','", Cause::MalformedFile),
            (Some(3), "something new", Cause::SopsFailed),
            (None, "", Cause::SopsFailed),
        ];
        for (code, stderr, want) in cases {
            assert_eq!(Cause::classify(code, stderr), want, "{code:?} {stderr}");
        }
    }

    #[test]
    fn parsers_that_echo_a_line_of_a_plaintext_file_are_cut() {
        let pem = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7";
        for stderr in [
            format!("invalid dotenv input line: {pem}\n"),
            format!("key-value delimiter not found: {pem}\n"),
            format!("unclosed section: [{pem}\n"),
        ] {
            let cause = Cause::classify(Some(1), &stderr);
            assert_eq!(cause, Cause::MalformedFile, "{stderr}");
            let line = screen_stderr(stderr.as_bytes(), b"", cause, []).expect("a line");
            assert!(!line.contains("MIIE") && line.ends_with(": …"), "{line}");
        }
    }

    #[test]
    fn a_plaintext_value_added_to_an_encrypted_file_is_cut() {
        let stderr = "Error decrypting tree: Error walking tree: Could not decrypt value: Input string \
                      hunter2-plaintext-xyz does not match sops' data format\n";
        let cause = Cause::classify(Some(25), stderr);
        assert_eq!(cause, Cause::MacMismatch);
        let line = screen_stderr(stderr.as_bytes(), b"", cause, []).expect("a line");
        assert!(
            !line.contains("hunter2") && line.ends_with("Input string … does not match sops' data format"),
            "{line}"
        );
    }

    #[test]
    fn a_plaintext_value_spanning_lines_is_cut_whole() {
        let echoed = "-----BEGIN PRIVATE KEY-----\nMIIEvQ-SECRETLINE2\nZZZSECRETLINE3abcdef\n";
        let closed = format!("Could not decrypt value: Input string {echoed} does not match sops' data format\n");
        let line = screen_stderr(closed.as_bytes(), b"", Cause::MacMismatch, []).expect("a line");
        assert!(!line.contains("SECRETLINE") && !line.contains("BEGIN"), "{line}");
        assert!(line.ends_with("Input string … does not match sops' data format"), "{line}");
        // Without the closing words, everything after the prefix goes.
        let unclosed = format!("Could not decrypt value: Input string {echoed}is not valid\n");
        let line = screen_stderr(unclosed.as_bytes(), b"", Cause::MacMismatch, []).expect("a line");
        assert!(!line.contains("SECRETLINE") && line.ends_with("Input string …"), "{line}");
    }

    #[test]
    fn the_key_groups_name_the_key_types_tried() {
        let tried = KeyTypes::from_stderr(NO_KEY);
        assert_eq!(tried.to_string(), "age, pgp");
        let hint = Cause::NoMatchingKey.hint(&tried);
        assert!(hint.contains("SOPS_AGE_KEY_FILE") && hint.contains("GNUPGHOME"), "{hint}");
        assert!(KeyTypes::from_stderr("sops metadata not found").is_empty());
    }

    #[test]
    fn stderr_is_withheld_when_it_holds_decrypted_content() {
        let stderr = b"Error: value s3cr3t-value is odd";
        let withheld = Some(STDERR_WITHHELD.to_owned());
        assert_eq!(screen_stderr(stderr, b"", Cause::SopsFailed, ["s3cr3t-value"]), withheld);
        assert_eq!(screen_stderr(stderr, b"KEY: s3cr3t-value\n", Cause::SopsFailed, []), withheld);
        assert_eq!(screen_stderr(b" \n", b"", Cause::SopsFailed, []), None);
        assert_eq!(screen_stderr(b"Error: ok", b"a", Cause::SopsFailed, ["1", "true"]).as_deref(), Some("Error: ok"));
    }

    #[test]
    fn stderr_is_one_capped_line_and_malformed_files_lose_quotes() {
        let line = screen_stderr(NO_KEY.as_bytes(), b"", Cause::NoMatchingKey, []).expect("logged");
        assert!(!line.contains('\n') && line.contains("age1z254") && !line.contains(" | "), "{line}");
        let long = "x ".repeat(2000);
        assert!(screen_stderr(long.as_bytes(), b"", Cause::NoMatchingKey, []).expect("logged").len() <= STDERR_CAP + 4);
        let quoted = b"yaml: unmarshal errors: line 3: cannot unmarshal !!str `hunter2-pw` into map";
        let line = screen_stderr(quoted, b"", Cause::MalformedFile, []).expect("logged");
        assert!(!line.contains("hunter2") && line.contains("line 3"), "{line}");
    }
}

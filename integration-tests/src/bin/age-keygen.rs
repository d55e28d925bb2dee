//! `age-keygen [-o FILE]`: a stand-in for age's `age-keygen` (there is none
//! on the test machines). Writes a key file exactly as age-keygen does, to
//! stdout or to FILE with mode 0600, and `Public key: age1…` to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vanta_integration_tests::fixtures::{AgeKey, write_private};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.as_slice() {
        [] => None,
        [flag, file] if flag == "-o" || flag == "--output" => Some(PathBuf::from(file)),
        _ => {
            eprintln!("usage: age-keygen [-o OUTPUT]");
            return ExitCode::from(2);
        }
    };
    let key = AgeKey::generate();
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).expect("0 is a valid nanosecond");
    let created = now.format(&Rfc3339).expect("a UTC time formats as RFC 3339");
    let text = key.key_file_text(&created);
    match out {
        Some(path) => write_private(&path, text.as_bytes()),
        None => std::io::stdout().write_all(text.as_bytes()).expect("stdout is writable"),
    }
    eprintln!("Public key: {}", key.recipient());
    ExitCode::SUCCESS
}

//! `exit-with N`: exits with code N (for exit-code propagation tests).

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = std::env::args().nth(1).and_then(|n| n.parse::<u8>().ok()).expect("usage: exit-with N (0-255)");
    ExitCode::from(code)
}

//! `lines-out --mib N`: a chatty command for W6 (`run-with-secrets --mask`):
//! writes N MiB of log lines of about 100 bytes to stdout, every
//! `--value-every`-th one carrying the value of `$VAR`, then exits 0.
#![forbid(unsafe_code)]

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;

/// Write N MiB of log lines, some with an injected value in them.
///
/// Example: `lines-out --mib 100 --var K1 --value-every 1000 > /dev/null`
#[derive(clap::Parser)]
#[command(name = "lines-out", version)]
struct Args {
    /// How much to write, in MiB (the last line may run over).
    #[arg(long, default_value_t = 100)]
    mib: u64,
    /// The variable whose value goes into some lines.
    #[arg(long, default_value = "K1")]
    var: String,
    /// One line in this many carries the value.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    value_every: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let value = std::env::var(&args.var).unwrap_or_default();
    let total = args.mib * 1024 * 1024;
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let (mut written, mut n) = (0u64, 0u64);
    let mut line = Vec::with_capacity(256);
    while written < total {
        line.clear();
        // Writing to a Vec cannot fail.
        let _ = write!(
            line,
            "2026-01-01T00:00:00.{:06}Z INFO worker=7 request={n:>9} path=/api/v1/items status=200",
            n % 1_000_000
        );
        if n % args.value_every == 0 {
            let _ = write!(line, " token={value}");
        }
        line.push(b'\n');
        if let Err(err) = out.write_all(&line) {
            eprintln!("lines-out: error: {err}");
            return ExitCode::FAILURE;
        }
        written += line.len() as u64;
        n += 1;
    }
    match out.flush() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lines-out: error: {err}");
            ExitCode::FAILURE
        }
    }
}

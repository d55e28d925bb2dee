//! `mask-probe [--pieces N] [--interleave N] [--wait-for PATH] NAME...`: the
//! command for `run-with-secrets --mask` tests. For each NAME it writes
//! `NAME=<value>` to stdout and `err NAME=<value>` to stderr, the value in
//! pieces of N bytes (default 1) with a flush and a short pause between.
//! `--interleave N` then writes `out i` / `err i` lines alternately to
//! stdout and stderr, flushing each. `--wait-for PATH` then prints
//! `waiting` and waits (up to 60 s) for PATH to exist before printing
//! `go`. Last, it prints `end`.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut pieces, mut interleave, mut wait_for, mut names) = (1, 0, None, Vec::new());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--pieces" => pieces = args.next().and_then(|n| n.parse().ok()).expect("--pieces N"),
            "--interleave" => interleave = args.next().and_then(|n| n.parse().ok()).expect("--interleave N"),
            "--wait-for" => wait_for = Some(PathBuf::from(args.next().expect("--wait-for PATH"))),
            _ => names.push(arg),
        }
    }
    for name in &names {
        let value = std::env::var(name).unwrap_or_default();
        write_in_pieces(&mut std::io::stdout(), &format!("{name}="), value.as_bytes(), pieces);
        write_in_pieces(&mut std::io::stderr(), &format!("err {name}="), value.as_bytes(), pieces);
    }
    for i in 0..interleave {
        write_flushed(&mut std::io::stdout(), format!("out {i}\n").as_bytes());
        write_flushed(&mut std::io::stderr(), format!("err {i}\n").as_bytes());
    }
    if let Some(path) = wait_for {
        write_flushed(&mut std::io::stdout(), b"waiting\n");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !path.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        write_flushed(&mut std::io::stdout(), b"go\n");
    }
    write_flushed(&mut std::io::stdout(), b"end\n");
}

fn write_in_pieces(out: &mut dyn Write, label: &str, value: &[u8], pieces: usize) {
    write_flushed(out, label.as_bytes());
    for piece in value.chunks(pieces.max(1)) {
        write_flushed(out, piece);
        // Long enough for the reader to take each piece on its own.
        std::thread::sleep(Duration::from_millis(2));
    }
    write_flushed(out, b"\n");
}

fn write_flushed(out: &mut dyn Write, bytes: &[u8]) {
    out.write_all(bytes).expect("the output is open");
    out.flush().expect("the output is open");
}

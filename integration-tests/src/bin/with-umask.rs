//! `with-umask OCTAL PROGRAM [ARGS...]`: runs PROGRAM with the file-creation
//! mask OCTAL (tests of permissions that must not depend on the umask).

use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::sys::stat::{Mode, umask};

fn main() {
    let mut args = std::env::args_os().skip(1);
    let usage = "usage: with-umask OCTAL PROGRAM [ARGS...]";
    let mask = args.next().and_then(|m| u32::from_str_radix(m.to_str()?, 8).ok()).expect(usage);
    let program = args.next().expect(usage);
    umask(Mode::from_bits_truncate(mask));
    let err = Command::new(&program).args(args).exec();
    panic!("cannot run {}: {err}", program.to_string_lossy());
}

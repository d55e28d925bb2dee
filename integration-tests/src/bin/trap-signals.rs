//! `trap-signals FILE [--reraise]`: waits for SIGTERM, SIGINT or SIGHUP,
//! writes the signal's name to FILE, then exits 0, or with `--reraise` dies of
//! that signal. Prints `ready` on stdout once the signals are caught. Gives up
//! (dies of SIGALRM) after 60 s so it never outlives a failed test.

use nix::sys::signal::{SigSet, Signal, raise};

fn main() {
    let mut args = std::env::args().skip(1);
    let file = args.next().expect("usage: trap-signals FILE [--reraise]");
    let reraise = args.next().is_some_and(|a| a == "--reraise");
    let mut set = SigSet::empty();
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(sig);
    }
    // Blocked signals stay pending until sigwait takes them: no handler, no unsafe.
    set.thread_block().expect("signals can be blocked");
    nix::unistd::alarm::set(60);
    println!("ready");
    let sig = set.wait().expect("sigwait returns a signal");
    std::fs::write(&file, sig.as_str()).expect("the report file is writable");
    if reraise {
        set.thread_unblock().expect("signals can be unblocked");
        raise(sig).expect("raise works");
    }
}

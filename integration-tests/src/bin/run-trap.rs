//! `run-trap [--die]`: catches SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and
//! SIGUSR2 and reports each on stdout as `got SIGNAME`, after a first line
//! `ready <pid>`. Exits 0 after SIGTERM; with `--die`, dies of the first
//! signal it gets instead (after reporting it). Gives up (dies of SIGALRM)
//! after 60 s so that it never outlives a failed test.

use std::io::Write;

use nix::sys::signal::{SigSet, Signal, raise};

fn main() {
    let die = std::env::args().nth(1).is_some_and(|a| a == "--die");
    let mut set = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2] {
        set.add(sig);
    }
    // Blocked signals stay pending until sigwait takes them: no handler, no unsafe.
    set.thread_block().expect("signals can be blocked");
    nix::unistd::alarm::set(60);
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {}", std::process::id()).and_then(|()| out.flush()).expect("stdout is writable");
    loop {
        let sig = set.wait().expect("sigwait returns a signal");
        // A reader that went away must not keep the signal from being acted on.
        let _ = writeln!(out, "got {}", sig.as_str()).and_then(|()| out.flush());
        if die {
            set.thread_unblock().expect("signals can be unblocked");
            raise(sig).expect("raise works");
        }
        if sig == Signal::SIGTERM {
            return;
        }
    }
}

//! `watch-child [--keep-on-term] VAR...`: the command of the `--watch`
//! tests. Prints one JSON line per event on stdout:
//! `{"event":"start","pid":N,"env":{VAR:value...},"file":CONTENT,"torn":0}`
//! at start, `{"event":"SIGHUP",...}` for each SIGHUP, SIGUSR1 or SIGTERM
//! (with the file's content at that moment). `file` is the content of
//! `$VANTA_SECRETS_FILE`, if set. A thread reads that file every 2 ms and
//! counts reads that are not one whole JSON object (`torn`): a file
//! rewritten in place would show up there. Exits 0 after SIGTERM unless
//! `--keep-on-term`; dies of SIGALRM after 120 s so it never outlives a
//! failed test.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use serde_json::{Map, Value, json};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let keep_on_term = args.first().is_some_and(|a| a == "--keep-on-term");
    if keep_on_term {
        args.remove(0);
    }
    let mut set = SigSet::empty();
    for sig in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGUSR1] {
        set.add(sig);
    }
    // Blocked before the reader thread starts, so that it inherits the mask.
    set.thread_block().expect("signals can be blocked");
    nix::unistd::alarm::set(120);
    let file = std::env::var_os("VANTA_SECRETS_FILE");
    let torn = Arc::new(AtomicU64::new(0));
    if let Some(path) = file.clone() {
        let torn = Arc::clone(&torn);
        std::thread::spawn(move || {
            loop {
                let whole = std::fs::read(&path)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
                    .is_some_and(|v| v.is_object());
                if !whole {
                    torn.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
    }
    let report = |event: &str| {
        let env: Map<String, Value> =
            args.iter().map(|name| (name.clone(), std::env::var(name).map_or(Value::Null, Value::from))).collect();
        let content = file.as_ref().and_then(|p| std::fs::read_to_string(p).ok());
        let line = json!({"event": event, "pid": std::process::id(), "env": env, "file": content,
            "torn": torn.load(Ordering::Relaxed)});
        let mut out = std::io::stdout().lock();
        // A reader that went away must not keep the signal from being acted on.
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    };
    report("start");
    loop {
        let sig = set.wait().expect("sigwait returns a signal");
        report(sig.as_str());
        if sig == Signal::SIGTERM && !keep_on_term {
            return;
        }
    }
}

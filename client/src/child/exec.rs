//! The parent-death signal of the command (client leaf layer, part of
//! `child`).
//!
//! A CLI killed with SIGKILL cannot stop its command, which would go on
//! running with its secrets. Linux can: `PR_SET_PDEATHSIG` makes the kernel
//! send a signal to a process when the thread that started it dies, and it
//! survives `execve`. It must be set in the child, between `fork` and
//! `exec`, which Rust allows only through `unsafe` `pre_exec`; this crate
//! forbids `unsafe`. So the command is started through this binary: `vanta-cli
//! __vanta-exec-child PID PROGRAM ARGS...` sets the signal (SIGKILL: nobody
//! is left to escalate, and the point is that the secrets go), checks that
//! its parent is still PID (else it would never get the signal), and
//! executes PROGRAM in its own place: same pid, same environment, same
//! stdio. Not for set-uid programs: Linux clears the signal on those. Only
//! the command gets it, not the processes it starts (a wrapper script's
//! children outlive a killed CLI): the guide says to `exec` in wrappers.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpid, getppid};
use tracing::debug;

use super::Error;

/// The first argument that makes `vanta-cli` the trampoline.
pub(crate) const TRAMPOLINE: &str = "__vanta-exec-child";
/// The running binary, even if its file was replaced since.
const SELF_EXE: &str = "/proc/self/exe";
/// The signal the command gets when the CLI dies.
const PARENT_DEATH_SIGNAL: Signal = Signal::SIGKILL;

/// A `Command` that runs `program` with `args` and the parent-death signal
/// (through the trampoline; directly where `/proc` is missing).
pub(crate) fn command(program: &OsStr, args: &[OsString]) -> Command {
    if !Path::new(SELF_EXE).exists() {
        debug!("no /proc: the command gets no parent-death signal");
        let mut command = Command::new(program);
        command.args(args);
        return command;
    }
    let mut command = Command::new(SELF_EXE);
    command.arg0("vanta-cli").arg(TRAMPOLINE).arg(getpid().to_string()).arg(program).args(args);
    command
}

/// The trampoline: sets the parent-death signal and executes `command`;
/// returns only if that failed.
pub(crate) fn exec(parent: Option<i32>, command: &[OsString]) -> Error {
    let program = command.first().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let spawn = |source| Error::Spawn { program: program.clone(), source };
    if let Err(errno) = nix::sys::prctl::set_pdeathsig(PARENT_DEATH_SIGNAL) {
        return spawn(io::Error::from_raw_os_error(errno as i32));
    }
    // A parent that died before the line above sends nothing: act as it would have.
    if parent.map(Pid::from_raw) != Some(getppid()) {
        let _ = kill(getpid(), PARENT_DEATH_SIGNAL);
    }
    let Some((file, args)) = command.split_first() else {
        return spawn(io::Error::from(io::ErrorKind::InvalidInput));
    };
    // std's exec, not a bare execvp: it gives the command SIGPIPE's default
    // action back (the Rust runtime of this binary ignores it, and an
    // ignored signal stays ignored across execve) and an empty signal mask.
    spawn(Command::new(file).args(args).exec())
}

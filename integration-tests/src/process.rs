//! Child processes with deadlines (harness).
//!
//! Every wait in the suite goes through here, so none can hang a test run:
//! commands are started in their own process group and the whole group is
//! killed when a deadline passes.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How a finished command ended and what it printed.
#[derive(Debug)]
pub struct Finished {
    /// The exit status.
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

/// The default deadline for a command of the suite.
pub const DEADLINE: Duration = Duration::from_secs(30);

// === impl Finished ===

impl Finished {
    /// The exit code, `None` if killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// stdout as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (lossy).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

// === running to completion ===

/// Runs `cmd` (stdin null, stdout and stderr captured) in its own process
/// group until it exits.
///
/// # Panics
/// If it cannot be started or is still running after `timeout` (the group
/// is killed first).
pub fn output_with_deadline(cmd: &mut Command, timeout: Duration) -> Finished {
    output_with_input(cmd, None, timeout)
}

/// Like [`output_with_deadline`], with `input` (if any) written to stdin,
/// which is then closed.
///
/// # Panics
/// As [`output_with_deadline`].
pub fn output_with_input(cmd: &mut Command, input: Option<Vec<u8>>, timeout: Duration) -> Finished {
    let stdin = if input.is_some() { Stdio::piped() } else { Stdio::null() };
    cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    if let (Some(input), Some(mut pipe)) = (input, child.stdin.take()) {
        // A thread, so a child that does not read cannot block the test.
        thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    let status = wait_with_deadline(&mut child, timeout);
    let Some(status) = status else {
        kill_group(&child);
        let _ = child.wait();
        let (out, err) = (join(stdout), join(stderr));
        panic!(
            "{:?} still running after {timeout:?}; stdout: {:?}; stderr: {:?}",
            cmd.get_program(),
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
    };
    // Grandchildren may hold the pipes; they belong to the group.
    kill_group(&child);
    Finished { status, stdout: join(stdout), stderr: join(stderr) }
}

/// Reads a pipe to its end on a thread.
pub fn collect<R: Read + Send + 'static>(pipe: Option<R>) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

/// The bytes a [`collect`] thread read.
pub fn join(handle: JoinHandle<Vec<u8>>) -> Vec<u8> {
    handle.join().expect("pipe reader thread does not panic")
}

/// Waits for `child` to exit, at most `timeout`; `None` if it did not.
pub fn wait_with_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait on our own child works") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// SIGKILLs the process group that `child` leads (it was started with
/// `process_group(0)`); errors (group already gone) are ignored.
pub fn kill_group(child: &Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// A child that is SIGKILLed and reaped when dropped, also when a test
/// panics before it could stop it.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` every 20 ms until it yields a value.
///
/// # Panics
/// If it has not after `timeout`; the message says what was awaited.
pub fn poll_until<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// The signal that killed a process, if one did.
pub fn killed_by(status: &ExitStatus) -> Option<i32> {
    status.signal()
}

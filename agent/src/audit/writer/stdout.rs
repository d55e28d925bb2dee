//! Audit records on standard output (part of the audit writer, layer L1):
//! written without ever holding the runtime's only thread in a write that
//! may never return (a pipe whose reader has stopped reading).

use std::fs::File;
use std::io::{self, Write};

/// What standard output is, for [`write`].
pub(super) enum StdoutKind {
    /// A regular file: a write returns.
    File,
    /// A pipe, opened again without blocking (`/proc/self/fd/1`: its own
    /// file description of the same pipe, so the shared one keeps its flags).
    Pipe(File),
    /// Anything else (a socket, a terminal), or a pipe that could not be
    /// opened again: a write may never return.
    Other,
}

impl StdoutKind {
    pub(super) fn of_stdout() -> Self {
        use rustix::fs::{FileType, Mode, OFlags, fstat, open};
        match fstat(std::io::stdout()).map(|stat| FileType::from_raw_mode(stat.st_mode)) {
            Ok(FileType::RegularFile) => Self::File,
            Ok(FileType::Fifo) => {
                let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
                open("/proc/self/fd/1", flags, Mode::empty()).map_or(Self::Other, |fd| Self::Pipe(File::from(fd)))
            }
            _ => Self::Other,
        }
    }
}

/// Writes a batch to standard output without ever holding the runtime's
/// only thread in a write that may never return (a pipe whose reader has
/// stopped): into a pipe without blocking as far as it takes, and the rest
/// after the runtime's other work was handed to another thread
/// (`block_in_place`), so the probes and SIGTERM go on. Handing the runtime
/// over for every batch cost 40 % of the cached fetch's requests/s; here it
/// happens only when the pipe is full, or for a socket or terminal.
pub(super) fn write(out: &std::io::Stdout, kind: &mut StdoutKind, buf: &[u8]) -> io::Result<()> {
    let written = match kind {
        StdoutKind::File => return write_all_flushed(out, buf),
        StdoutKind::Pipe(pipe) => write_without_blocking(pipe, buf)?,
        StdoutKind::Other => 0,
    };
    match &buf[written..] {
        [] => Ok(()),
        rest => off_the_runtime(|| write_all_flushed(out, rest)),
    }
}

/// Writes as much of `buf` as `pipe` takes now; how much that was.
pub(super) fn write_without_blocking(pipe: &mut File, buf: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < buf.len() {
        match pipe.write(&buf[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(written)
}

fn write_all_flushed(out: &std::io::Stdout, buf: &[u8]) -> io::Result<()> {
    let mut out = out.lock();
    out.write_all(buf)?;
    out.flush()
}

/// Runs `write` after handing the runtime's other work to another thread
/// (on a multi-thread runtime; a current-thread one, in tests, runs it in
/// place).
fn off_the_runtime<T>(write: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread { tokio::task::block_in_place(write) } else { write() }
}

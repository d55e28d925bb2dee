//! The relay of `--mask`: the command writes to pipes instead of the CLI's
//! stdout and stderr, and the CLI passes what it reads on, masked (client
//! leaf layer, part of `mask`).
//!
//! When stdout and stderr are the same file (`>log 2>&1`, or the one pipe
//! of a CI runner), the command gets one pipe for both, so their order is
//! kept. Each stream is relayed by its own task, which writes every chunk
//! as soon as it is masked. When the command has ended, the relay takes
//! what is left in its pipe (all the command wrote; at most the pipe's
//! size) without waiting for descendants that still hold the pipe, then
//! stops. A write the CLI cannot make (a reader that went away) ends that
//! stream's relay: the command then gets SIGPIPE, as it would without it.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::Arc;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::stat::fstat;
use nix::unistd::pipe2;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::unix::pipe::Receiver;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::debug;
use zeroize::Zeroizing;

use super::{Masker, Patterns};

/// The read ends of the command's pipes, until the command is started.
pub(crate) struct Prepared {
    patterns: Arc<Patterns>,
    stdout: Receiver,
    /// `None` when stderr shares the stdout pipe.
    stderr: Option<Receiver>,
}

/// The relay tasks of a started command.
pub(crate) struct Relay {
    ended: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Which of the CLI's streams a relay writes to.
#[derive(Clone, Copy)]
enum Out {
    Stdout,
    Stderr,
}

/// Bytes read from a pipe at a time, at most.
const CHUNK: usize = 256 * 1024;

/// The size asked for the command's pipes (Linux's largest unprivileged
/// one): a chatty command then hands over more per wake-up of the relay.
const PIPE_SIZE: i32 = 1024 * 1024;

/// What is taken from a pipe after the command ended when its size is not
/// known: Linux's largest unprivileged pipe.
const DEFAULT_PIPE_SIZE: usize = 1024 * 1024;

// === impl Prepared ===

impl Prepared {
    /// Gives `command` pipes for stdout and stderr (one for both when the
    /// CLI's own are the same file).
    ///
    /// # Errors
    /// If a pipe cannot be made or watched (must run inside the runtime).
    pub(crate) fn attach(command: &mut Command, patterns: Patterns) -> io::Result<Self> {
        let (stdout, writer) = pipe()?;
        let stderr = if same_file(io::stdout().as_fd(), io::stderr().as_fd()) {
            command.stderr(Stdio::from(writer.try_clone()?));
            None
        } else {
            let (reader, writer) = pipe()?;
            command.stderr(Stdio::from(writer));
            Some(Receiver::from_owned_fd(reader)?)
        };
        command.stdout(Stdio::from(writer));
        Ok(Self { patterns: Arc::new(patterns), stdout: Receiver::from_owned_fd(stdout)?, stderr })
    }

    /// Starts relaying; call once the command has started (and the
    /// `Command`, which holds the write ends, is gone).
    pub(crate) fn start(self) -> Relay {
        let (ended, watch) = watch::channel(false);
        let mut tasks = Vec::with_capacity(2);
        for (pipe, out) in [(Some(self.stdout), Out::Stdout), (self.stderr, Out::Stderr)] {
            let Some(pipe) = pipe else { continue };
            let masker = Masker::new(Arc::clone(&self.patterns));
            tasks.push(tokio::spawn(relay(pipe, out, masker, watch.clone())));
        }
        Relay { ended, tasks }
    }
}

// === impl Relay ===

impl Relay {
    /// The command has ended: passes on what is left in the pipes and
    /// waits for the relays to stop. Cancel-safe: dropped half-way, the
    /// relays are stopped with the rest of the output (see `Drop`).
    pub(crate) async fn finish(mut self) {
        // No receiver left means every relay has already stopped.
        let _ = self.ended.send(true);
        for task in &mut self.tasks {
            if let Err(err) = task.await {
                debug!(%err, "relay task failed");
            }
        }
    }
}

impl Drop for Relay {
    /// Stops relays still running (a write to a stdout that nobody reads),
    /// so that they let go of the pipes.
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Relays one pipe to `out` through `masker` until the pipe ends or the
/// command has ended and its output is drained.
async fn relay(mut pipe: Receiver, out: Out, mut masker: Masker, mut ended: watch::Receiver<bool>) {
    let result = match out {
        Out::Stdout => pass_on(&mut pipe, &mut tokio::io::stdout(), &mut masker, &mut ended).await,
        Out::Stderr => pass_on(&mut pipe, &mut tokio::io::stderr(), &mut masker, &mut ended).await,
    };
    if let Err(err) = result {
        // Dropping the pipe now gives the command SIGPIPE on its next write.
        debug!(%err, "stopped relaying the command's output");
    }
}

async fn pass_on<W: AsyncWrite + Unpin>(
    pipe: &mut Receiver,
    out: &mut W,
    masker: &mut Masker,
    ended: &mut watch::Receiver<bool>,
) -> io::Result<()> {
    // What is read may hold values: wiped when the relay ends.
    let mut buf = Zeroizing::new(vec![0; CHUNK]);
    let mut masked = Vec::with_capacity(CHUNK + 1024);
    loop {
        tokio::select! {
            biased;
            // `changed` fails only if the sender is gone: the run is over too.
            _ = ended.changed() => {
                drain(pipe, out, masker, &mut buf, &mut masked).await?;
                break;
            }
            read = pipe.read(&mut buf) => match read? {
                0 => break,
                n => {
                    masker.push(&buf[..n], &mut masked);
                    write(out, &mut masked).await?;
                }
            },
        }
    }
    masker.finish(&mut masked);
    write(out, &mut masked).await
}

/// Passes on what the pipe holds now, at most its size, without waiting.
async fn drain<W: AsyncWrite + Unpin>(
    pipe: &mut Receiver,
    out: &mut W,
    masker: &mut Masker,
    buf: &mut [u8],
    masked: &mut Vec<u8>,
) -> io::Result<()> {
    let fd = pipe.as_fd();
    let size = fcntl(fd, FcntlArg::F_GETPIPE_SZ).ok().and_then(|n| usize::try_from(n).ok());
    let mut left = size.unwrap_or(DEFAULT_PIPE_SIZE);
    while left > 0 {
        // A plain read: the runtime may not have seen the pipe readable yet.
        match nix::unistd::read(fd, buf) {
            Ok(0) | Err(nix::errno::Errno::EAGAIN) => break,
            Ok(n) => {
                left = left.saturating_sub(n);
                masker.push(&buf[..n], masked);
                write(out, masked).await?;
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(())
}

/// Writes and flushes `masked`, then empties it.
async fn write<W: AsyncWrite + Unpin>(out: &mut W, masked: &mut Vec<u8>) -> io::Result<()> {
    if !masked.is_empty() {
        out.write_all(masked).await?;
        out.flush().await?;
        masked.clear();
    }
    Ok(())
}

/// A pipe: (read end, write end), both closed on exec, of [`PIPE_SIZE`]
/// if the system allows (the default size otherwise).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = pipe2(OFlag::O_CLOEXEC)?;
    if let Err(errno) = fcntl(&read, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE)) {
        debug!(%errno, "keeping the default pipe size");
    }
    Ok((read, write))
}

/// Whether file descriptors `a` and `b` are the same file.
fn same_file(a: impl AsFd, b: impl AsFd) -> bool {
    match (fstat(a), fstat(b)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

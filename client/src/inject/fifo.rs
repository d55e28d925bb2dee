//! The named pipe of `--inject-as fifo` (client leaf layer, part of
//! `inject`): serve the secrets to exactly one reader, then remove the pipe.
//!
//! The content only ever sits in this process and in the kernel's pipe
//! buffer; no disk block holds it. One-read semantics: the first process
//! that opens the pipe for reading gets the whole content and then end of
//! file; the pipe is then removed, so a second open finds no file. A
//! reader that opens it with `O_NONBLOCK` before the CLI is ready reads an
//! empty file: open it the ordinary (blocking) way.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use zeroize::Zeroizing;

/// A pipe waiting for its reader, and what to send.
pub(crate) struct Fifo {
    path: PathBuf,
    content: Zeroizing<String>,
}

/// Why the content did not reach a reader whole.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The pipe could not be opened for writing.
    #[error("failed to open the named pipe {path} for writing")]
    Open {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The reader went away before it had read everything.
    #[error("the reader of the named pipe {path} closed it before reading all the secrets")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// How often to look for a reader. Opening a pipe for writing without
/// blocking fails (`ENXIO`) until a reader has opened it; a reader waits in
/// `open` for at most this long.
const READER_POLL: Duration = Duration::from_millis(5);

// === impl Fifo ===

impl Fifo {
    /// The pipe at `path` (already created, mode 0600) that will serve
    /// `content` once.
    pub(crate) fn new(path: PathBuf, content: Zeroizing<String>) -> Self {
        Self { path, content }
    }

    /// Waits for a reader, writes the content, closes the pipe and removes
    /// it. Cancel-safe: dropped before a reader came, nothing was written.
    ///
    /// # Errors
    /// [`Error::Open`] or [`Error::Write`]; the pipe is removed either way.
    pub(crate) async fn serve_once(self) -> Result<(), Error> {
        let result = self.write_to_reader().await;
        // One read: the next open must not find a pipe that nobody serves.
        let _ = std::fs::remove_file(&self.path);
        result
    }

    async fn write_to_reader(&self) -> Result<(), Error> {
        let name = || self.path.display().to_string();
        let mut sender = loop {
            match pipe::OpenOptions::new().open_sender(&self.path) {
                Ok(sender) => break sender,
                Err(e) if e.raw_os_error() == Some(nix::libc::ENXIO) => tokio::time::sleep(READER_POLL).await,
                Err(source) => return Err(Error::Open { path: name(), source }),
            }
        };
        sender.write_all(self.content.as_bytes()).await.map_err(|source| Error::Write { path: name(), source })?;
        sender.shutdown().await.map_err(|source| Error::Write { path: name(), source })
    }

    /// Where the pipe is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::inject::private_dir::PrivateDir;

    #[tokio::test]
    async fn serves_one_reader_then_the_pipe_is_gone() {
        let dir = PrivateDir::create(None).expect("dir");
        let path = dir.make_fifo("secrets.env").expect("fifo");
        let content = "A=\"1\"\n".repeat(30_000); // larger than a pipe buffer
        let fifo = Fifo::new(path.clone(), Zeroizing::new(content.clone()));
        let reader = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                let mut text = String::new();
                std::fs::File::open(&path).and_then(|mut f| f.read_to_string(&mut text)).map(|_| text)
            })
        };
        fifo.serve_once().await.expect("served");
        assert_eq!(reader.await.expect("joined").expect("read"), content);
        assert!(!path.exists(), "the pipe is removed after one read");
    }
}

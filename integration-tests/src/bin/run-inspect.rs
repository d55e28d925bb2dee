//! `run-inspect [--then-sleep]`: reports, as one JSON line on stdout, what
//! `run-with-secrets` gave it through `$VANTA_SECRETS_FILE`: the path, the
//! kind of file (`file`, `fifo`, `missing`), its mode, its directory and
//! the directory's mode, the content of one read, and the kind of file
//! found there after that read (for a pipe: after waiting up to 2 s for it to
//! be removed); also its pid and its parent's. With `--then-sleep` it then
//! sleeps (up to 60 s) to be signalled.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

fn kind(path: &Path) -> &'static str {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_fifo() => "fifo",
        Ok(meta) if meta.is_file() => "file",
        Ok(_) => "other",
        Err(_) => "missing",
    }
}

fn mode(path: &Path) -> Option<u32> {
    std::fs::symlink_metadata(path).ok().map(|m| m.permissions().mode() & 0o7777)
}

fn main() {
    let path = std::env::var_os("VANTA_SECRETS_FILE").expect("VANTA_SECRETS_FILE is set");
    let path = Path::new(&path);
    let dir = path.parent().expect("the secrets file is in a directory");
    let (before, file_mode, dir_mode) = (kind(path), mode(path), mode(dir));
    let listing: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let content = std::fs::read_to_string(path).ok();
    let deadline = Instant::now() + Duration::from_secs(2);
    while before == "fifo" && kind(path) == "fifo" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = serde_json::json!({
        "path": path.to_string_lossy(),
        "kind": before,
        "mode": file_mode,
        "dir": dir.to_string_lossy(),
        "dir_mode": dir_mode,
        "listing": listing,
        "content": content,
        "after_read": kind(path),
        "pid": std::process::id(),
        "ppid": nix::unistd::getppid().as_raw(),
    });
    println!("{report}");
    if std::env::args().nth(1).is_some_and(|a| a == "--then-sleep") {
        std::thread::sleep(Duration::from_secs(60));
    }
}

//! `report-secrets-file [--then-sleep]`: prints, as one JSON object on stdout,
//! where `$VANTA_SECRETS_FILE` is, its mode, its directory's mode and its
//! content; with `--then-sleep` then waits (up to 60 s) to be signalled.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> Option<u32> {
    std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o7777)
}

fn main() {
    let path = std::env::var_os("VANTA_SECRETS_FILE").expect("VANTA_SECRETS_FILE is set");
    let path = Path::new(&path);
    let dir = path.parent().expect("the secrets file is in a directory");
    let report = serde_json::json!({
        "path": path.to_string_lossy(),
        "mode": mode(path),
        "dir": dir.to_string_lossy(),
        "dir_mode": mode(dir),
        "content": std::fs::read_to_string(path).ok(),
    });
    println!("{report}");
    if std::env::args().nth(1).is_some_and(|a| a == "--then-sleep") {
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

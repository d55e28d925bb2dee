//! Where the programs under test live (harness).
//!
//! `vanta-agent` and `vanta-cli` come from `VANTA_AGENT_BIN` / `VANTA_CLI_BIN`,
//! else from the cargo target directory that holds the running test
//! executable (`target/debug/deps/it-…` → `target/debug/`), where
//! `cargo build --workspace` (`make test`) puts them. The helper binaries of
//! this crate sit there too. `sops` comes from `VANTA_TEST_SOPS`, else the
//! workspace's `.tools/bin/sops`, else `PATH`.
//!
//! Every lookup panics with what is missing and how to get it: a test that
//! cannot find its binaries must say so, not fail somewhere later.

use std::env;
use std::path::{Path, PathBuf};

// === target directory ===

/// The cargo profile directory (`target/debug`) that holds the test executable.
///
/// # Panics
/// If the test executable's path cannot be determined.
pub fn profile_dir() -> PathBuf {
    let exe = env::current_exe().expect("the test harness needs the path of the running test executable");
    // target/debug/deps/it-xxxx -> target/debug
    let deps = exe.parent().expect("the test executable lives in a directory");
    let dir = if deps.file_name().is_some_and(|n| n == "deps") { deps.parent() } else { Some(deps) };
    dir.expect("target/debug/deps has a parent").to_path_buf()
}

/// The workspace root (the directory with the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("integration-tests/ sits in the workspace root").to_path_buf()
}

// === the binaries under test ===

/// The `vanta-agent` binary.
///
/// # Panics
/// If it does not exist.
pub fn agent() -> PathBuf {
    product("VANTA_AGENT_BIN", "vanta-agent")
}

/// The `vanta-cli` binary.
///
/// # Panics
/// If it does not exist.
pub fn cli() -> PathBuf {
    product("VANTA_CLI_BIN", "vanta-cli")
}

fn product(var: &str, name: &str) -> PathBuf {
    if let Some(path) = env::var_os(var) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "{var}={} does not exist: point {var} at a built {name}", path.display());
        return path;
    }
    let path = profile_dir().join(name);
    assert!(
        path.is_file(),
        "{name} not found at {}: run `make test` (or `cargo build --workspace` before \
         `cargo test -p vanta-integration-tests`), or set {var}",
        path.display()
    );
    path
}

/// A helper binary of this crate (`print-env`, `exit-with`, …).
///
/// # Panics
/// If it has not been built.
pub fn helper(name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    assert!(
        path.is_file(),
        "helper binary {name} not found at {}: run `make test` (or \
         `cargo build -p vanta-integration-tests --bins`)",
        path.display()
    );
    path
}

// === sops and test data ===

/// The real `sops` executable.
///
/// # Panics
/// If none can be found.
pub fn sops() -> PathBuf {
    if let Some(path) = env::var_os("VANTA_TEST_SOPS") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "VANTA_TEST_SOPS={} does not exist", path.display());
        return path;
    }
    let local = workspace_root().join(".tools/bin/sops");
    if local.is_file() {
        return local;
    }
    find_on_path("sops").unwrap_or_else(|| {
        panic!(
            "sops not found (not at {}, not on PATH): run `scripts/install-tools.sh` \
             (`make test` does), or set VANTA_TEST_SOPS",
            local.display()
        )
    })
}

/// The first `name` on `PATH`, if any.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// The directory of upstream SOPS fixtures (a copy of the team's
/// `shared/testdata/sops-upstream`, kept in `integration-tests/fixtures/` so a
/// clone is self-contained), or `VANTA_TEST_UPSTREAM_DIR`.
///
/// # Panics
/// If it does not exist.
pub fn upstream_fixtures() -> PathBuf {
    let dir = env::var_os("VANTA_TEST_UPSTREAM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("integration-tests/fixtures/sops-upstream"));
    assert!(
        dir.join("example.enc.yaml").is_file(),
        "upstream SOPS fixtures not found in {}: restore integration-tests/fixtures/sops-upstream, \
         or set VANTA_TEST_UPSTREAM_DIR",
        dir.display()
    );
    dir
}

/// A `PATH` for child processes: the test's own `PATH`, or a sane default.
pub fn child_path() -> std::ffi::OsString {
    env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into())
}

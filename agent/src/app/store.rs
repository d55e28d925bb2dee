//! Opening the usage store the configuration names (part of `app`, layer
//! L4): SQLite with its file and directory made private first, or a shared
//! Redis; and saying which one once the agent is up.

use std::fs::Permissions;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

use super::settings::redis_target;
use crate::config::UsageStoreConfig;
use crate::usage::{Store, StoreTask};

/// Mode of a state directory the agent creates: only the agent's user.
const STATE_DIR_MODE: u32 = 0o700;
/// Mode of the usage store's files: only the agent's user.
const STATE_FILE_MODE: u32 = 0o600;

/// Opens the store and the task that owns its connection.
///
/// # Errors
/// A store that cannot be opened or reached, naming the flag to change.
pub(super) async fn open(store: &UsageStoreConfig) -> anyhow::Result<(Store, StoreTask)> {
    match store {
        UsageStoreConfig::Sqlite(path) => open_sqlite(path),
        UsageStoreConfig::Redis(redis) => {
            // Not the URL: it is the operator's to keep private.
            Store::open_redis(redis_target(redis)).await.context("failed to open the Redis usage store (--usage-store)")
        }
    }
}

/// Said once the agent is up (a start-up error stays one line): a store
/// created now knows no earlier use.
pub(super) fn say_which(store: &UsageStoreConfig, usage: &Store) {
    let store = store.describe();
    if usage.is_new() {
        tracing::warn!(
            %store,
            "created a new usage store: limited tokens issued before now are refused (see the operator guide, \"Usage limits\")"
        );
    } else {
        tracing::info!(%store, "usage store opened");
    }
}

fn open_sqlite(path: &Path) -> anyhow::Result<(Store, StoreTask)> {
    prepare_state_file(path)?;
    Store::open_sqlite(path).with_context(|| {
        format!("failed to open the usage store {} (set --state-path or VANTA_STATE_PATH; a corrupt store is never reset silently)", path.display())
    })
}

/// Creates the state directory 0700 and the database file 0600 whatever the
/// umask (an existing file is set to 0600 too); SQLite gives its `-wal` and
/// `-shm` files the database file's mode.
fn prepare_state_file(path: &Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(STATE_DIR_MODE)
            .create(parent)
            .and_then(|()| std::fs::set_permissions(parent, Permissions::from_mode(STATE_DIR_MODE)))
            .with_context(|| {
                format!(
                    "failed to create the state directory {} (set --state-path or VANTA_STATE_PATH)",
                    parent.display()
                )
            })?;
    }
    let not_a_file = || {
        anyhow::anyhow!(
            "the usage store {} is not a regular file (set --state-path or VANTA_STATE_PATH)",
            path.display()
        )
    };
    if std::fs::metadata(path).is_ok_and(|meta| !meta.is_file()) {
        return Err(not_a_file());
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(STATE_FILE_MODE)
        // A FIFO would block the open (and start-up) until a reader came.
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .with_context(|| format!("failed to create the usage store {} with mode 0600", path.display()))?;
    if !file.metadata().is_ok_and(|meta| meta.is_file()) {
        return Err(not_a_file());
    }
    std::fs::set_permissions(path, Permissions::from_mode(STATE_FILE_MODE))
        .with_context(|| format!("failed to create the usage store {} with mode 0600", path.display()))
}

//! Decrypted trees kept between requests, so most fetches run no sops.
//!
//! Correctness first: before a cached tree is served, the file is `stat`ed
//! and its fingerprint (device, inode, size, mtime, ctime) compared with the
//! one it was decrypted from; any change means a fresh decryption. A file
//! that fails to decrypt after a change stops being served at all. Entries
//! also expire after the TTL (0 disables the cache: one sops run per request).
//!
//! Concurrent misses for one environment share one sops run (single flight,
//! one async lock per environment); environments never wait for each other.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use vanta_shared::EnvName;

use super::{SecretSource, SopsCommand, SopsError, Tree};

/// A [`SecretSource`] that runs [`SopsCommand`] only when it must.
pub struct CachedSource {
    sops: SopsCommand,
    ttl: Duration,
    slots: Mutex<HashMap<EnvName, Arc<Slot>>>,
    counters: CacheCounters,
}

/// What the cache counts, for `/metrics`.
#[derive(Clone, Default)]
pub struct CacheCounters {
    /// sops runs started.
    pub runs: Counter,
    /// sops runs that failed or timed out.
    pub failures: Counter,
    /// Loads served from a cached decryption.
    pub hits: Counter,
    /// Loads that needed a decryption (with single flight, fewer runs).
    pub misses: Counter,
}

/// One environment's cache line.
#[derive(Default)]
struct Slot {
    /// What is served; read under a short std lock on every hit.
    current: Mutex<Option<Entry>>,
    /// Held while decrypting, so that concurrent misses wait for one run.
    refill: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Entry {
    tree: Arc<Tree>,
    fingerprint: Fingerprint,
    loaded: Instant,
}

/// What identifies one version of a file without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

// === impl CachedSource ===

impl CachedSource {
    /// Caches `sops`'s trees for `ttl`; `Duration::ZERO` turns caching off.
    pub fn new(sops: SopsCommand, ttl: Duration) -> Self {
        Self { sops, ttl, slots: Mutex::new(HashMap::new()), counters: CacheCounters::default() }
    }

    /// The counters, to register with the metrics.
    pub fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    /// Runs sops, counting the run and its failure.
    async fn decrypt(&self, env: &EnvName) -> Result<Tree, SopsError> {
        self.counters.runs.inc();
        let result = self.sops.decrypt(env).await;
        if result.is_err() {
            self.counters.failures.inc();
        }
        result
    }

    /// Drops every entry older than the TTL, so decrypted values of idle
    /// environments do not stay in memory.
    pub fn evict_expired(&self) {
        let Ok(slots) = self.slots.lock() else { return };
        for slot in slots.values() {
            if let Ok(mut current) = slot.current.lock()
                && current.as_ref().is_some_and(|e| e.loaded.elapsed() >= self.ttl)
            {
                *current = None;
            }
        }
    }

    fn slot(&self, env: &EnvName) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(slots.entry(env.clone()).or_default())
    }

    fn fresh(&self, slot: &Slot, fingerprint: Fingerprint) -> Option<Arc<Tree>> {
        let current = slot.current.lock().ok()?;
        let entry = current.as_ref()?;
        (entry.fingerprint == fingerprint && entry.loaded.elapsed() < self.ttl).then(|| Arc::clone(&entry.tree))
    }

    async fn refill(&self, env: &EnvName, slot: &Slot) -> Result<Arc<Tree>, SopsError> {
        let _single_flight = slot.refill.lock().await;
        // Whoever held the lock before us may have just loaded this version.
        let fingerprint = self.fingerprint(env)?;
        if let Some(tree) = self.fresh(slot, fingerprint) {
            return Ok(tree);
        }
        let decrypted = self.decrypt(env).await;
        let mut current = slot.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match decrypted {
            Ok(tree) => {
                let tree = Arc::new(tree);
                *current = Some(Entry { tree: Arc::clone(&tree), fingerprint, loaded: Instant::now() });
                Ok(tree)
            }
            Err(err) => {
                // Never fall back to an older version of a file that now fails.
                *current = None;
                Err(err)
            }
        }
    }

    fn fingerprint(&self, env: &EnvName) -> Result<Fingerprint, SopsError> {
        let meta = std::fs::metadata(self.sops.file_for(env)).map_err(|_| SopsError::NoFile)?;
        if !meta.is_file() {
            return Err(SopsError::NoFile);
        }
        let nanos = |secs: i64, ns: i64| i128::from(secs) * 1_000_000_000 + i128::from(ns);
        Ok(Fingerprint {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
        })
    }
}

impl SecretSource for CachedSource {
    fn check_ready(&self) -> Result<(), String> {
        self.sops.check_ready()
    }

    async fn load(&self, env: &EnvName) -> Result<Arc<Tree>, SopsError> {
        if self.ttl.is_zero() {
            self.counters.misses.inc();
            return self.decrypt(env).await.map(Arc::new);
        }
        let slot = self.slot(env);
        let fingerprint = match self.fingerprint(env) {
            Ok(fingerprint) => fingerprint,
            Err(err) => {
                if let Ok(mut current) = slot.current.lock() {
                    *current = None;
                }
                return Err(err);
            }
        };
        match self.fresh(&slot, fingerprint) {
            Some(tree) => {
                self.counters.hits.inc();
                Ok(tree)
            }
            None => {
                self.counters.misses.inc();
                self.refill(env, &slot).await
            }
        }
    }
}

#[cfg(test)]
mod tests;

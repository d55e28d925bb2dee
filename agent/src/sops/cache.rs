//! Decrypted trees kept between requests, so most fetches run no sops.
//!
//! Correctness first: a cached tree is served only while its file is
//! unchanged. An inotify watch on the files directory ([`watch`]) says
//! whether anything there changed since the file was last checked; if so
//! (or when the directory cannot be watched, or the watch cannot see every
//! change of the file: a symbolic link, a file with another hard link, a
//! file mounted onto its name), the file is `stat`ed and its fingerprint
//! (device, inode, size, mtime, ctime) compared with the one it was
//! decrypted from; any change means a fresh decryption. A change is seen by the first request after it.
//! A file that fails to decrypt after a change stops being served at all.
//! Entries also expire after the TTL (0 disables the cache: one sops run per
//! request).
//!
//! Concurrent misses for one environment share one sops run (single flight,
//! one async lock per environment); environments never wait for each other.
//! They share its failure too: requests that waited for a run that failed
//! answer with its error instead of each running sops again in turn (with a
//! hanging key service, N waiters would otherwise take N timeouts). A request
//! that arrives after the failure, or finds the file changed since, runs
//! sops again.
//!
//! The cache also remembers how the last attempt of each environment ended:
//! a failure is logged as one warning per environment and cause (again only
//! after [`WARN_EVERY`], or after a success), and readiness fails while every
//! environment tried so far failed, without running sops per probe.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use vanta_shared::EnvName;

use self::watch::DirWatch;
use super::failure::Cause;
use super::files::{EnvFile, Format};
use super::{SecretSource, SopsCommand, SopsError, Tree};

/// A [`SecretSource`] that runs [`SopsCommand`] only when it must.
pub struct CachedSource {
    sops: SopsCommand,
    ttl: Duration,
    slots: Mutex<HashMap<EnvName, Arc<Slot>>>,
    counters: CacheCounters,
    watch: DirWatch,
}

/// What the cache counts, for `/metrics`.
#[derive(Clone, Default)]
pub struct CacheCounters {
    /// sops processes started (counted by [`SopsCommand`]: a decryption
    /// may take two).
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
    /// Held while decrypting, so that concurrent misses wait for one run;
    /// holds the last run's failure, for the requests that waited for it.
    refill: tokio::sync::Mutex<Option<Failed>>,
    /// How many sops runs of this slot have finished (written under
    /// `refill`, read before waiting for it).
    finished: AtomicU64,
    /// How the last attempt ended, and the last warning logged.
    health: Mutex<Health>,
}

/// One environment's last outcome, for readiness and rate-limited warnings.
#[derive(Default)]
struct Health {
    /// `None`: never tried (or its file is gone); `Some(None)`: the last
    /// attempt succeeded; `Some(Some(cause))`: it failed.
    last: Option<Option<Cause>>,
    /// The cause last warned about, and when.
    warned: Option<(Cause, Instant)>,
}

#[derive(Clone)]
struct Entry {
    tree: Arc<Tree>,
    fingerprint: Fingerprint,
    loaded: Instant,
    /// The watch sees every change of the file ([`watch::sees_changes_of`]).
    watched: bool,
    /// The watch's generation when the fingerprint was last confirmed;
    /// `None`: check the file on every request.
    checked: Option<u64>,
}

/// A sops run that failed.
struct Failed {
    /// Its number in [`Slot::finished`]: requests that began waiting before
    /// it finished share its error.
    run: u64,
    /// The version of the file it tried to decrypt.
    fingerprint: Fingerprint,
    error: SopsError,
}

/// What identifies one version of a file without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    format: Format,
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

/// A failure already warned about is warned about again after this long.
const WARN_EVERY: Duration = Duration::from_secs(300);

// === impl CachedSource ===

impl CachedSource {
    /// Caches `sops`'s trees for `ttl`; `Duration::ZERO` turns caching off.
    pub fn new(sops: SopsCommand, ttl: Duration) -> Self {
        let watch = DirWatch::new(sops.files_dir());
        let counters = CacheCounters { runs: sops.runs().clone(), ..CacheCounters::default() };
        Self { sops, ttl, slots: Mutex::new(HashMap::new()), counters, watch }
    }

    /// The sops runner.
    pub fn command(&self) -> &SopsCommand {
        &self.sops
    }

    /// The counters, to register with the metrics.
    pub fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    /// Decrypts, counting a failure (the runs are counted by `SopsCommand`). `previous` is the tree
    /// last decrypted from this environment: sops' stderr is not logged if it
    /// holds any of its values.
    async fn decrypt(&self, file: &EnvFile, previous: Option<Arc<Tree>>) -> Result<Tree, SopsError> {
        let known = previous.as_deref().map(Tree::values).into_iter().flatten();
        let result = self.sops.decrypt_file(file, known).await;
        if result.is_err() {
            self.counters.failures.inc();
        }
        result
    }

    /// Why decryption looks broken: every environment tried so far failed
    /// on its last attempt. Runs no sops.
    ///
    /// # Errors
    /// The failing environments and their causes.
    pub fn check_decryption(&self) -> Result<(), String> {
        let Ok(slots) = self.slots.lock() else { return Ok(()) };
        let mut failing = Vec::new();
        for (env, slot) in slots.iter() {
            match slot.health.lock().map(|h| h.last) {
                Ok(Some(None)) => return Ok(()),
                Ok(Some(Some(cause))) => failing.push(format!("{env}: {cause}")),
                _ => {}
            }
        }
        if failing.is_empty() {
            return Ok(());
        }
        failing.sort();
        Err(format!("the last decryption of every environment tried failed ({})", failing.join(", ")))
    }

    /// Records how a load ended; logs a failure once per cause and
    /// environment (again after [`WARN_EVERY`] or a success in between).
    fn note(&self, env: &EnvName, slot: &Slot, result: Result<(), &SopsError>) {
        let mut health = slot.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let err = match result {
            Ok(()) => {
                *health = Health { last: Some(None), warned: None };
                return;
            }
            Err(err) => err,
        };
        let Some(cause) = err.cause() else {
            // No file: not an attempt to decrypt, and not a reason to be unready.
            health.last = None;
            return;
        };
        health.last = Some(Some(cause));
        if health.warned.is_some_and(|(c, at)| c == cause && at.elapsed() < WARN_EVERY) {
            return;
        }
        health.warned = Some((cause, Instant::now()));
        let check = err.hint().unwrap_or_default();
        let stderr = err.stderr().unwrap_or("(none)");
        tracing::warn!(env = %env, cause = %cause, error = %err, check = %check, sops_stderr = %stderr,
                       "failed to decrypt the environment's secrets file");
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

    /// Drops `env`'s slot, whose file does not exist, unless another
    /// request holds it. Any caller may mint a token for any name and fetch
    /// with it: a slot kept per name asked for would grow without bound. A
    /// missing file is no attempt to decrypt, so readiness loses nothing.
    fn forget_missing(&self, env: &EnvName, slot: Arc<Slot>) {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Clones are made under this lock, so the count cannot grow meanwhile.
        if slots.get(env).is_some_and(|kept| Arc::ptr_eq(kept, &slot)) && Arc::strong_count(&slot) == 2 {
            slots.remove(env);
        }
    }

    fn slot(&self, env: &EnvName) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(slots.entry(env.clone()).or_default())
    }

    /// The cached tree if nothing in the directory changed since its file
    /// was last checked (at watch generation `generation`); no `stat`.
    fn unchanged(&self, slot: &Slot, generation: Option<u64>) -> Option<Arc<Tree>> {
        let current = slot.current.lock().ok()?;
        let entry = current.as_ref()?;
        (generation.is_some() && entry.checked == generation && entry.loaded.elapsed() < self.ttl)
            .then(|| Arc::clone(&entry.tree))
    }

    /// The cached tree if it was decrypted from `fingerprint`; notes that the
    /// file was checked at watch generation `generation` (taken before the
    /// `stat`, so a change during it is seen next time).
    fn fresh(&self, slot: &Slot, fingerprint: Fingerprint, generation: Option<u64>) -> Option<Arc<Tree>> {
        let mut current = slot.current.lock().ok()?;
        let entry = current.as_mut()?;
        if entry.fingerprint != fingerprint || entry.loaded.elapsed() >= self.ttl {
            return None;
        }
        entry.checked = generation.filter(|_| entry.watched);
        Some(Arc::clone(&entry.tree))
    }

    async fn refill(&self, env: &EnvName, slot: &Slot, generation: Option<u64>) -> Result<Arc<Tree>, SopsError> {
        // Runs that finish after this are runs this request waited for.
        let seen = slot.finished.load(Ordering::Acquire);
        let mut last_failure = slot.refill.lock().await;
        // Whoever held the lock before us may have just loaded this version,
        let (file, fingerprint) = self.fingerprint(env)?;
        if let Some(tree) = self.fresh(slot, fingerprint, generation) {
            return Ok(tree);
        }
        // or just failed to.
        if let Some(failed) = last_failure.as_ref().filter(|f| f.run > seen && f.fingerprint == fingerprint) {
            return Err(failed.error.duplicate());
        }
        let run = slot.finished.load(Ordering::Relaxed) + 1;
        let result = self.run(&file, fingerprint, slot, generation).await;
        *last_failure = result.as_ref().err().map(|err| Failed { run, fingerprint, error: err.duplicate() });
        slot.finished.store(run, Ordering::Release);
        result
    }

    /// Decrypts `file` (at version `fingerprint`) and puts the outcome in
    /// `slot`; the caller holds the slot's single-flight lock.
    async fn run(
        &self,
        file: &EnvFile,
        fingerprint: Fingerprint,
        slot: &Slot,
        generation: Option<u64>,
    ) -> Result<Arc<Tree>, SopsError> {
        let watched = watch::sees_changes_of(self.sops.files_dir(), &file.path);
        let previous = slot.current.lock().ok().and_then(|c| c.as_ref().map(|e| Arc::clone(&e.tree)));
        let decrypted = self.decrypt(file, previous).await;
        let mut current = slot.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match decrypted {
            Ok(tree) => {
                let tree = Arc::new(tree);
                let checked = generation.filter(|_| watched);
                *current =
                    Some(Entry { tree: Arc::clone(&tree), fingerprint, loaded: Instant::now(), watched, checked });
                Ok(tree)
            }
            Err(err) => {
                // Never fall back to an older version of a file that now fails.
                *current = None;
                Err(err)
            }
        }
    }

    fn fingerprint(&self, env: &EnvName) -> Result<(EnvFile, Fingerprint), SopsError> {
        let file = self.sops.file_for(env)?;
        let meta = std::fs::metadata(&file.path).map_err(|_| SopsError::NoFile)?;
        if !meta.is_file() {
            return Err(SopsError::NoFile);
        }
        let nanos = |secs: i64, ns: i64| i128::from(secs) * 1_000_000_000 + i128::from(ns);
        let format = file.format;
        Ok((
            file,
            Fingerprint {
                format,
                dev: meta.dev(),
                ino: meta.ino(),
                size: meta.size(),
                mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
                ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
            },
        ))
    }

    /// Loads without recording the outcome.
    async fn load_unnoted(&self, env: &EnvName, slot: &Slot) -> Result<Arc<Tree>, SopsError> {
        if self.ttl.is_zero() {
            self.counters.misses.inc();
            let (file, _) = self.fingerprint(env)?;
            return self.decrypt(&file, None).await.map(Arc::new);
        }
        let generation = self.watch.generation();
        match self.current(env, slot, generation)? {
            Some(tree) => Ok(tree),
            None => {
                self.counters.misses.inc();
                self.refill(env, slot, generation).await
            }
        }
    }

    /// The cached tree if its file did not change (a hit), `None` if it must
    /// be decrypted; an error (and an emptied slot) if the file is gone.
    fn current(&self, env: &EnvName, slot: &Slot, generation: Option<u64>) -> Result<Option<Arc<Tree>>, SopsError> {
        if let Some(tree) = self.unchanged(slot, generation) {
            self.counters.hits.inc();
            return Ok(Some(tree));
        }
        let fingerprint = match self.fingerprint(env) {
            Ok((_, fingerprint)) => fingerprint,
            Err(err) => {
                if let Ok(mut current) = slot.current.lock() {
                    *current = None;
                }
                return Err(err);
            }
        };
        let tree = self.fresh(slot, fingerprint, generation);
        if tree.is_some() {
            self.counters.hits.inc();
        }
        Ok(tree)
    }
}

impl SecretSource for CachedSource {
    fn check_ready(&self) -> Result<(), String> {
        self.sops.check_ready()
    }

    fn check_decryption(&self) -> Result<(), String> {
        CachedSource::check_decryption(self)
    }

    fn readiness_warning(&self) -> Option<String> {
        self.sops.key_material().absent_warning()
    }

    fn cached(&self, env: &EnvName) -> Option<Arc<Tree>> {
        if self.ttl.is_zero() {
            return None;
        }
        let slot = self.slot(env);
        let current = self.current(env, &slot, self.watch.generation());
        if matches!(current, Err(SopsError::NoFile)) {
            self.forget_missing(env, slot);
        }
        current.ok().flatten()
    }

    async fn load(&self, env: &EnvName) -> Result<Arc<Tree>, SopsError> {
        let slot = self.slot(env);
        let result = self.load_unnoted(env, &slot).await;
        self.note(env, &slot, result.as_ref().map(drop));
        if matches!(result, Err(SopsError::NoFile)) {
            self.forget_missing(env, slot);
        }
        result
    }
}

mod watch;

#[cfg(test)]
mod tests;

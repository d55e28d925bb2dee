//! The cache against a fake sops: a shell script that logs each run and
//! prints the file (or fails when the file says so).

use std::path::{Path, PathBuf};

use super::*;

struct Fixture {
    dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs.log");
    let script = format!(
        "#!/bin/sh\necho run >> '{runs}'\nfor last; do :; done\n\
         if grep -q WAIT \"$last\"; then while [ ! -e '{release}' ]; do sleep 0.01; done; fi\n\
         grep -q BROKEN \"$last\" && exit 128\ncat \"$last\"\n",
        runs = runs.display(),
        release = dir.path().join("release").display()
    );
    write_program(&dir.path().join("fake-sops"), &script);
    let f = Fixture { dir };
    f.write("dev", "KEY: one\n");
    f
}

/// Writes the executable script `text` to `path` from a `sh` child: tests run
/// side by side and each sops run forks this process, and a concurrent fork
/// that inherited a write descriptor to the script would make running it
/// fail with "Text file busy" (ETXTBSY).
fn write_program(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 0755 \"$1\"", "sh"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sh");
    child.stdin.take().expect("piped").write_all(text.as_bytes()).expect("script");
    assert!(child.wait().expect("sh ends").success(), "cannot write {}", path.display());
}

impl Fixture {
    fn source(&self, ttl: Duration) -> CachedSource {
        let path_var = (std::ffi::OsString::from("PATH"), std::ffi::OsString::from("/usr/bin:/bin"));
        let sops = SopsCommand::new(self.bin(), self.dir.path().to_owned(), Duration::from_secs(5), vec![path_var]);
        CachedSource::new(sops, ttl)
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("fake-sops")
    }

    fn write(&self, env: &str, text: &str) {
        // A new file (new inode), as editors and `sops -i` leave it.
        let path = self.dir.path().join(format!("{env}.enc.yaml"));
        let tmp = self.dir.path().join("tmp");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, path).expect("rename");
    }

    fn runs(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("runs.log")).map(|t| t.lines().count()).unwrap_or(0)
    }
}

fn env(name: &str) -> EnvName {
    name.parse().expect("env")
}

async fn value(source: &CachedSource, name: &str) -> Result<String, SopsError> {
    let tree = source.load(&env(name)).await?;
    Ok(tree.get(&"KEY".parse().expect("key")).unwrap_or("<none>").to_owned())
}

#[tokio::test]
async fn hits_run_no_sops_and_changes_are_noticed() {
    let f = fixture();
    let source = f.source(Duration::from_secs(60));
    for _ in 0..5 {
        assert_eq!(value(&source, "dev").await.expect("load"), "one");
    }
    assert_eq!(f.runs(), 1);
    let c = source.counters();
    assert_eq!((c.hits.get(), c.misses.get(), c.runs.get(), c.failures.get()), (4, 1, 1, 0));
    f.write("dev", "KEY: two\n");
    assert_eq!(value(&source, "dev").await.expect("reload"), "two");
    assert_eq!(f.runs(), 2);
}

#[tokio::test]
async fn cached_answers_only_a_current_entry_and_never_runs_sops() {
    let f = fixture();
    let source = f.source(Duration::from_secs(60));
    assert!(source.cached(&env("dev")).is_none(), "nothing loaded yet");
    value(&source, "dev").await.expect("load");
    let key = "KEY".parse().expect("key");
    assert_eq!(source.cached(&env("dev")).expect("cached").get(&key), Some("one"));
    f.write("dev", "KEY: two\n");
    assert!(source.cached(&env("dev")).is_none(), "the file changed");
    assert_eq!(f.runs(), 1, "cached never runs sops");
    assert!(f.source(Duration::ZERO).cached(&env("dev")).is_none(), "no cache, nothing at hand");
}

#[tokio::test]
async fn in_place_writes_and_changes_behind_a_link_are_noticed_at_once() {
    let f = fixture();
    let source = f.source(Duration::from_secs(60));
    assert_eq!(value(&source, "dev").await.expect("load"), "one");
    assert_eq!(value(&source, "dev").await.expect("hit"), "one");
    // Same inode, as `sops set` or `cat >` leave it.
    std::fs::write(f.dir.path().join("dev.enc.yaml"), "KEY: second\n").expect("write in place");
    assert_eq!(value(&source, "dev").await.expect("reload"), "second");
    // A file linked from outside the watched directory: changes there raise
    // no event in it, so such a file is checked on every request.
    let outside = tempfile::tempdir().expect("tempdir");
    let target = outside.path().join("target.yaml");
    std::fs::write(&target, "KEY: linked\n").expect("target");
    std::os::unix::fs::symlink(&target, f.dir.path().join("linked.enc.yaml")).expect("symlink");
    assert_eq!(value(&source, "linked").await.expect("load"), "linked");
    assert_eq!(value(&source, "linked").await.expect("hit"), "linked");
    std::fs::write(&target, "KEY: changed behind the link\n").expect("change the target");
    assert_eq!(value(&source, "linked").await.expect("reload"), "changed behind the link");
}

#[tokio::test]
async fn a_file_hard_linked_from_elsewhere_is_checked_on_every_request() {
    let f = fixture();
    let source = f.source(Duration::from_secs(60));
    // The file's other name is in a directory the watch does not see: a
    // write through it raises an event there, not in the files directory.
    let outside = tempfile::tempdir().expect("tempdir");
    let other_name = outside.path().join("shared.yaml");
    std::fs::write(&other_name, "KEY: first\n").expect("write");
    std::fs::hard_link(&other_name, f.dir.path().join("linked.enc.yaml")).expect("hard link");
    assert_eq!(value(&source, "linked").await.expect("load"), "first");
    assert_eq!(value(&source, "linked").await.expect("hit"), "first");
    // Same inode, written through the other name.
    std::fs::write(&other_name, "KEY: second, a longer value\n").expect("write in place");
    assert_eq!(value(&source, "linked").await.expect("reload"), "second, a longer value");
    assert_eq!(f.runs(), 2);
}

#[tokio::test]
async fn a_file_that_now_fails_is_not_served_from_the_cache() {
    let f = fixture();
    let source = f.source(Duration::from_secs(60));
    value(&source, "dev").await.expect("load");
    f.write("dev", "BROKEN\n");
    assert!(matches!(value(&source, "dev").await, Err(SopsError::Decrypt { .. })));
    assert!(matches!(value(&source, "dev").await, Err(SopsError::Decrypt { .. })));
    std::fs::remove_file(f.dir.path().join("dev.enc.yaml")).expect("remove");
    assert!(matches!(value(&source, "dev").await, Err(SopsError::NoFile)));
}

#[tokio::test]
async fn ttl_zero_runs_sops_every_time_and_entries_expire() {
    let f = fixture();
    let off = f.source(Duration::ZERO);
    value(&off, "dev").await.expect("load");
    value(&off, "dev").await.expect("load");
    assert_eq!(f.runs(), 2);
    let short = f.source(Duration::from_millis(100));
    value(&short, "dev").await.expect("load");
    tokio::time::sleep(Duration::from_millis(150)).await;
    short.evict_expired();
    value(&short, "dev").await.expect("load");
    assert_eq!(f.runs(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_run_and_envs_do_not_wait_for_each_other() {
    let f = fixture();
    // `dev`'s sops run blocks until the test releases it.
    f.write("dev", "KEY: one\n# WAIT\n");
    f.write("other", "KEY: x\n");
    let source = Arc::new(f.source(Duration::from_secs(60)));
    let loads: Vec<_> = (0..20)
        .map(|_| {
            let source = Arc::clone(&source);
            tokio::spawn(async move { value(&source, "dev").await.expect("load") })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.runs() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(value(&source, "other").await.expect("other env"), "x");
    assert!(loads.iter().all(|l| !l.is_finished()), "dev is still blocked, other was served meanwhile");
    std::fs::write(f.dir.path().join("release"), b"").expect("release");
    for load in loads {
        assert_eq!(load.await.expect("join"), "one");
    }
    assert_eq!(f.runs(), 2, "one run for dev's 20 concurrent misses, one for other");
    assert!(Path::new(&f.bin()).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_waiting_for_a_run_that_fails_share_its_failure() {
    let f = fixture();
    // The run blocks until released, then fails.
    f.write("dev", "BROKEN\n# WAIT\n");
    let source = Arc::new(f.source(Duration::from_secs(60)));
    let loads: Vec<_> = (0..8)
        .map(|_| {
            let source = Arc::clone(&source);
            tokio::spawn(async move { value(&source, "dev").await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.runs() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let every load reach the single-flight lock before the run ends.
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::write(f.dir.path().join("release"), b"").expect("release");
    for load in loads {
        assert!(matches!(load.await.expect("join"), Err(SopsError::Decrypt { .. })));
    }
    assert_eq!(f.runs(), 1, "8 concurrent misses, one failed run");
    assert_eq!(source.counters().failures.get(), 1);
    // A request after the failure tries again, and sees a fixed file.
    assert!(value(&source, "dev").await.is_err());
    assert_eq!(f.runs(), 2);
    f.write("dev", "KEY: fixed\n");
    assert_eq!(value(&source, "dev").await.expect("fixed"), "fixed");
}

#[tokio::test]
async fn readiness_follows_the_last_attempt_of_each_environment() {
    let f = fixture();
    for ttl in [Duration::ZERO, Duration::from_secs(60)] {
        f.write("dev", "KEY: one\n");
        f.write("bad", "BROKEN\n");
        let source = f.source(ttl);
        assert_eq!(source.check_decryption(), Ok(()), "nothing tried yet");
        assert!(value(&source, "missing").await.is_err());
        assert_eq!(source.check_decryption(), Ok(()), "a missing file is not a failed decryption");
        assert!(value(&source, "bad").await.is_err());
        let problem = source.check_decryption().expect_err("only failures so far");
        assert!(problem.contains("bad: no_matching_key"), "{problem}");
        // What `/readyz` calls: the trait must answer the same.
        assert_eq!(SecretSource::check_decryption(&source), Err(problem));
        value(&source, "dev").await.expect("load");
        assert_eq!(source.check_decryption(), Ok(()), "one environment decrypts");
        f.write("dev", "BROKEN\n");
        assert!(value(&source, "dev").await.is_err());
        assert!(source.check_decryption().is_err(), "every environment's last attempt failed");
    }
}

#[tokio::test]
async fn names_without_a_file_keep_no_slot() {
    let f = fixture();
    for ttl in [Duration::ZERO, Duration::from_secs(60)] {
        let source = f.source(ttl);
        for i in 0..50 {
            let name = format!("missing-{i}");
            assert!(matches!(source.load(&env(&name)).await, Err(SopsError::NoFile)));
            assert!(source.cached(&env(&name)).is_none());
        }
        value(&source, "dev").await.expect("load");
        let kept: Vec<String> = source.slots.lock().expect("slots").keys().map(ToString::to_string).collect();
        assert_eq!(kept, ["dev"], "ttl {ttl:?}");
    }
}

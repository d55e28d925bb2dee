//! docs/API.md §4 and §7 on running sops: 500 when it cannot decrypt, 504 when
//! it hangs, 503 when the audit record cannot be written, and the environment
//! sops is given.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use vanta_integration_tests::jwt::TEST_JWT_KEY;
use vanta_integration_tests::{bins, staged};

use crate::common::{DEV_YAML, assert_error, dev_builder, dev_value};

/// Writes an executable `sh` script standing in for sops. It answers
/// `--version` like sops, in case the agent checks its sops at start-up.
pub(crate) fn fake_sops(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("fake-sops");
    let script = format!("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'sops 3.11.0'; exit 0; fi\n{body}\n");
    staged::write_program(&path, &script)
}

#[test]
fn a_file_the_agent_cannot_decrypt_is_500() {
    let builder = dev_builder().foreign_secrets("prod", DEV_YAML);
    fs::write(builder.paths().vault.join("broken.enc.yaml"), "not: a sops file\n").unwrap();
    let agent = builder.start();
    for env in ["prod", "broken"] {
        let response = agent.get_secret(env, "DATABASE_URL", &agent.mint_for(env, "*"));
        assert_error(&response, 500, "decryption_failed");
        assert!(!response.text().contains(dev_value("DATABASE_URL")));
    }
    // The readable environment is unaffected.
    assert_eq!(agent.secret_value("dev", "INT", &agent.mint_for("dev", "*")), "42");
}

#[test]
fn a_sops_that_hangs_is_killed_and_504() {
    let builder = dev_builder();
    let sops = fake_sops(&builder.paths().root, "exec sleep 30");
    let agent = builder.arg("--sops-bin").arg(&sops).args(["--sops-timeout-seconds", "1"]).start();
    let token = agent.mint_for("dev", "*");
    let started = Instant::now();
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &token), 504, "sops_timeout");
    assert!(started.elapsed() < Duration::from_secs(8), "answered after {:?}", started.elapsed());
    assert_eq!(agent.get("/healthz", None).status, 200, "the agent survives a hung sops");
}

#[test]
fn concurrent_fetches_waiting_for_one_hung_sops_share_its_504() {
    let builder = dev_builder();
    let log = builder.paths().root.join("sops-runs.log");
    let sops = fake_sops(&builder.paths().root, &format!("echo run >> '{}'\nexec sleep 30", log.display()));
    // Single flight is the cache's: on also in the cache-off pass of `make test`.
    let agent =
        builder.arg("--sops-bin").arg(&sops).args(["--sops-timeout-seconds", "2", "--cache-ttl-seconds", "60"]).start();
    let runs = || fs::read_to_string(&log).map(|t| t.lines().count()).unwrap_or(0);
    let before = runs();
    let token = agent.mint_for("dev", "*");
    let started = Instant::now();
    let answers: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..4).map(|_| s.spawn(|| (agent.get_secret("dev", "DATABASE_URL", &token), started.elapsed()))).collect();
        handles.into_iter().map(|h| h.join().expect("fetch thread")).collect()
    });
    for (response, elapsed) in &answers {
        assert_error(response, 504, "sops_timeout");
        // One timeout (2 s) and some slack; one run per waiter took 4, 6, 8 s.
        assert!(*elapsed < Duration::from_millis(3500), "answered after {elapsed:?}");
    }
    assert_eq!(runs() - before, 1, "four concurrent fetches, one sops run");
    // A fetch after the failure runs sops again.
    assert_error(&agent.get_secret("dev", "DATABASE_URL", &token), 504, "sops_timeout");
    assert_eq!(runs() - before, 2);
}

#[test]
fn an_unwritable_audit_log_is_503_and_serves_nothing() {
    let agent = dev_builder().args(["--audit-log", "/dev/full"]).start();
    let token = crate::common::self_signed("dev", "*");
    let response = agent.get_secret("dev", "DATABASE_URL", &token);
    assert_error(&response, 503, "audit_unavailable");
    assert!(!response.text().contains(dev_value("DATABASE_URL")));
}

#[test]
fn sops_gets_its_backend_variables_and_no_vanta_secret() {
    let builder = dev_builder().upstream("comments.enc.yaml", "comments");
    let out = builder.paths().root.join("sops-env.json");
    let print_env = bins::helper("print-env");
    let sops = fake_sops(&builder.paths().root, &format!("'{}' > '{}'\nexit 1", print_env.display(), out.display()));
    let agent = builder
        .env("SOPS_CUSTOM_SETTING", "passed")
        .env("AWS_PROFILE", "test-profile")
        .arg("--sops-bin")
        .arg(&sops)
        .start();
    let response = agent.get_secret("dev", "DATABASE_URL", &agent.mint_for("dev", "*"));
    assert_eq!(response.status, 500, "{}", response.text());
    let text = fs::read_to_string(&out).expect("the fake sops ran");
    assert!(!text.contains(TEST_JWT_KEY), "sops saw the JWT key");
    let env: Value = serde_json::from_str(&text).unwrap();
    let env = env.as_object().unwrap();
    assert!(env.keys().all(|k| !k.starts_with("VANTA_JWT")), "VANTA_JWT_* passed to sops: {env:?}");
    for key in ["PATH", "HOME", "SOPS_AGE_KEY_FILE", "GNUPGHOME", "SOPS_CUSTOM_SETTING", "AWS_PROFILE"] {
        assert!(env.contains_key(key), "{key} not passed to sops: {env:?}");
    }
    assert_eq!(env["SOPS_AGE_KEY_FILE"], agent.paths().age_keys.to_str().unwrap());
}

/// The agent blocks SIGXFSZ for itself (a file size limit must fail its
/// writes, not kill it); sops gets the signal as any program does: neither
/// blocked nor ignored.
#[test]
fn sops_runs_with_the_file_size_signal_at_its_default() {
    let builder = dev_builder();
    let out = builder.paths().root.join("sops-signals.txt");
    let sops = fake_sops(
        &builder.paths().root,
        &format!("grep -E '^Sig(Blk|Ign):' /proc/self/status > '{}'\nexit 1", out.display()),
    );
    let agent = builder.arg("--sops-bin").arg(&sops).start();
    assert_eq!(agent.get_secret("dev", "DATABASE_URL", &agent.mint_for("dev", "*")).status, 500);
    let text = fs::read_to_string(&out).expect("the fake sops ran");
    const SIGXFSZ_BIT: u64 = 1 << (25 - 1);
    for line in text.lines() {
        let (name, mask) = line.split_once(':').unwrap();
        let mask = u64::from_str_radix(mask.trim(), 16).unwrap();
        assert_eq!(mask & SIGXFSZ_BIT, 0, "{name} holds SIGXFSZ: {text}");
    }
    assert_eq!(text.lines().count(), 2, "{text}");
}

/// sops runs in the form every sops 3.x takes (`--decrypt`, the types as
/// flags, the file last), not 3.9's `decrypt` subcommand; a relative files
/// directory, even one named like an option, reaches sops as `./…`. The
/// wrapper records the arguments and hands them to the real sops.
#[test]
fn sops_is_run_as_every_sops_3_takes_it_and_never_sees_the_file_as_an_option() {
    let builder = dev_builder();
    let root = builder.paths().root.clone();
    std::os::unix::fs::symlink(&builder.paths().vault, root.join("-vault")).unwrap();
    let args = root.join("sops-args.txt");
    let body = format!("printf '%s\\n' \"$@\" > '{}'\nexec '{}' \"$@\"", args.display(), bins::sops().display());
    let sops = fake_sops(&root, &body);
    // Relative to the agent's working directory, its directory.
    let agent = builder.env("VANTA_SOPS_FILES_PATH", "-vault").arg("--sops-bin").arg(&sops).start();
    assert_eq!(agent.secret_value("dev", "INT", &agent.mint_for("dev", "*")), "42");
    let recorded = fs::read_to_string(&args).expect("the wrapper ran");
    let expected = ["--decrypt", "--input-type", "yaml", "--output-type", "yaml", "./-vault/dev.enc.yaml"];
    assert_eq!(recorded.lines().collect::<Vec<_>>(), expected);
}

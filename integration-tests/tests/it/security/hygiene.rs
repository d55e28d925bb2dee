//! Key hygiene and process hardening (operator guide, "Security model"): the
//! JWT key, the previous keys and the admin credential never reach sops, the
//! logs or the audit file; the agent cannot dump core and is not dumpable.
//!
//! `api/sops_runs.rs` checks the variables a failing fake sops sees; here a
//! wrapper records its environment and then runs the real sops, so the check
//! covers a successful decryption with every VANTA secret configured.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use vanta_integration_tests::agent::{GENERATE_PATH, TestAgent};
use vanta_integration_tests::{bins, jwt, process, staged, tls};

use crate::common::{dev_builder, dev_value};

const PREVIOUS: &str = "hygiene-previous-key-0123456789-abcdefghij";
const NOBODY: u32 = 65534;
const ADMIN: &str = "hygiene-admin-credential-0123456789-klmnopq";

/// A sops stand-in that saves its environment (NUL-separated) to
/// `<dir>/sops-env.<pid>` and then runs the real sops.
fn recording_sops(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("recording-sops");
    let script = format!(
        "#!/bin/sh\ncat /proc/self/environ > '{}/sops-env.'$$\nexec '{}' \"$@\"\n",
        dir.display(),
        bins::sops().display()
    );
    staged::write_program(&path, &script)
}

/// Every form of `secret` worth searching for: as is, base64, base64url.
fn forms(secret: &str) -> [String; 3] {
    [secret.to_owned(), STANDARD.encode(secret), URL_SAFE_NO_PAD.encode(secret)]
}

fn assert_clean(what: &str, text: &str) {
    for secret in [jwt::TEST_JWT_KEY, PREVIOUS, ADMIN] {
        for form in forms(secret) {
            assert!(!text.contains(&form), "{what} contains a key or the admin credential ({form})");
        }
    }
}

/// Uses every path that touches a key: minting on the socket and over TCP
/// (right and wrong admin credential), fetching with current- and
/// previous-key tokens, refusing forged ones.
fn exercise(agent: &TestAgent) {
    let token = agent.mint_for("dev", "*");
    assert_eq!(agent.secret_value("dev", "DATABASE_URL", &token), dev_value("DATABASE_URL"));
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": jwt::kid(PREVIOUS.as_bytes())});
    let old = jwt::sign_with_header(&header, &jwt::claims("dev", "*"), PREVIOUS.as_bytes());
    assert_eq!(agent.get_secret("dev", "INT", &old).status, 200);
    assert_eq!(
        agent.get_secret("dev", "INT", &jwt::sign_alg("HS512", PREVIOUS.as_bytes(), &jwt::claims("dev", "*"))).status,
        401
    );
    let addr = agent.tcp_addr();
    let body = json!({"subject": "tcp", "environment": "dev", "key_pattern": "*"}).to_string();
    for (credential, want) in [(ADMIN.to_owned(), 200), (format!("{ADMIN}x"), 403), (PREVIOUS.to_owned(), 403)] {
        let auth = format!("Bearer {credential}");
        let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        let response = tls::plain_request(addr, "POST", GENERATE_PATH, &headers, Some(body.as_bytes())).unwrap();
        assert_eq!(response.status, want, "{}", response.text());
        assert_clean("a TCP response", &response.text());
    }
}

#[test]
fn keys_and_the_admin_credential_never_reach_sops_logs_or_audit() {
    let builder = dev_builder();
    let root = builder.paths().root.clone();
    let sops = recording_sops(&root);
    let admin_file = root.join("admin-token");
    fs::write(&admin_file, ADMIN).unwrap();
    let agent = builder
        .env("VANTA_LOG", "trace")
        .env("VANTA_JWT_PREVIOUS_KEYS", PREVIOUS)
        .env("VANTA_ADMIN_TOKEN_FILE", &admin_file)
        .arg("--sops-bin")
        .arg(&sops)
        .args(["--listen-tcp", "127.0.0.1:0", "--insecure-tcp", "--cache-ttl-seconds", "0"])
        .start();
    exercise(&agent);
    agent.wait_audit_lines(6);
    let dumps: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("sops-env.")))
        .collect();
    assert!(dumps.len() >= 2, "sops ran for each fetch: {dumps:?}");
    for dump in dumps {
        let environ = fs::read(&dump).unwrap();
        let text = String::from_utf8_lossy(&environ);
        assert_clean("sops' environment", &text);
        let names: Vec<&str> = text.split('\0').filter_map(|v| v.split_once('=').map(|(k, _)| k)).collect();
        assert!(names.iter().all(|n| !n.starts_with("VANTA_")), "a VANTA_* variable reached sops: {names:?}");
        assert!(names.contains(&"SOPS_AGE_KEY_FILE"), "sops still gets its key file: {names:?}");
    }
    assert_clean("the audit log", &fs::read_to_string(&agent.paths().audit).unwrap());
    assert_clean("the agent's stdout", &agent.stdout_text());
    assert_clean("the agent's stderr", &agent.stderr_text());
    let cmdline = fs::read(format!("/proc/{}/cmdline", agent.pid())).unwrap();
    assert_clean("the agent's command line", &String::from_utf8_lossy(&cmdline));
}

#[test]
fn a_short_admin_credential_stops_start_up_without_printing_it() {
    let builder = dev_builder();
    let file = builder.paths().root.join("admin-token");
    let short = "short-admin-credential-31-bytes";
    assert_eq!(short.len(), 31);
    fs::write(&file, short).unwrap();
    let (finished, _agent) = builder.env("VANTA_ADMIN_TOKEN_FILE", &file).run_to_exit();
    assert_eq!(finished.code(), Some(2), "{}", finished.stderr_text());
    let output = format!("{}{}", finished.stdout_text(), finished.stderr_text());
    assert!(!output.contains(short), "the credential is printed: {output}");
}

/// One field of `/proc/<pid>/status`, e.g. `Uid`.
fn status_field(pid: u32, field: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(&format!("{field}:"))).expect("the field exists");
    line[field.len() + 1..].trim().to_owned()
}

/// Whether a process running as `uid` (`None`: as the test) can read the
/// first byte of `path`.
fn readable_as(uid: Option<u32>, path: &str) -> bool {
    let mut cmd = Command::new("head");
    cmd.args(["-c", "1", path]);
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    process::output_with_deadline(&mut cmd, process::DEADLINE).status.success()
}

/// The owner of `/proc/<pid>/environ` and whether `uid` can read it.
fn environ_access(pid: u32, uid: Option<u32>) -> (u32, bool) {
    let path = format!("/proc/{pid}/environ");
    (fs::metadata(&path).unwrap().uid(), readable_as(uid, &path))
}

#[test]
fn the_agent_cannot_dump_core_and_is_not_dumpable() {
    // A non-dumpable process has its /proc/<pid>/ files owned by root, and
    // other processes of its user cannot read them. Root reads everything, so
    // as root the agent and the reader run as `nobody`.
    let me = nix::unistd::getuid();
    let other = me.is_root().then_some(NOBODY);
    let builder = match other {
        Some(uid) => TestAgent::builder().run_as(uid, uid),
        None => TestAgent::builder(),
    };
    let agent = builder.start();
    let pid = agent.pid().as_raw().unsigned_abs();
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits.lines().find(|l| l.starts_with("Max core file size")).expect("a core limit line");
    let fields: Vec<&str> = core["Max core file size".len()..].split_whitespace().collect();
    assert_eq!(&fields[..2], ["0", "0"], "soft and hard core limits: {core}");
    let euid = status_field(pid, "Uid").split_whitespace().nth(1).unwrap().to_owned();
    assert_eq!(euid, other.unwrap_or(me.as_raw()).to_string(), "the agent runs as intended");
    // The control: an ordinary process of the same user is dumpable.
    let mut control = Command::new("sleep");
    control.arg("10").process_group(0);
    if let Some(uid) = other {
        control.uid(uid).gid(uid);
    }
    let mut control = control.spawn().unwrap();
    let control_access = environ_access(control.id(), other);
    process::kill_group(&control);
    let _ = control.wait();
    assert_eq!(control_access, (other.unwrap_or(me.as_raw()), true), "control: a dumpable process");
    assert_eq!(environ_access(pid, other), (0, false), "/proc/{pid}/environ: the agent is dumpable");
}

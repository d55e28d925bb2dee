//! The per-caller minting policy (operator guide, "Minting policy"): real
//! callers as different uids and from different executable paths, a caller
//! whose pid is reused, SIGHUP reload, start-up errors, and the audit fields
//! of `token_generate`. Tests that change uid need root (`make test` in the
//! container runs as root); without it they say so and stop.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use vanta_integration_tests::agent::{AgentBuilder, GENERATE_PATH, TestAgent};
use vanta_integration_tests::cli::Cli;
use vanta_integration_tests::process::{self, DEADLINE};
use vanta_integration_tests::staged::{self, Staged};
use vanta_integration_tests::{bins, tls};

use crate::common::{assert_cli_error_line, assert_error};

const PAYMENTS_UID: u32 = 10_001;
const SEARCH_UID: u32 = 10_002;

/// Whether the test may change uid; prints why it stops otherwise.
fn is_root(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("{test}: needs root to run callers as other uids; not run");
    }
    root
}

/// An agent on a socket every user can reach, with `policy` as its policy file.
fn policy_agent(staged: &Staged, policy: &str) -> TestAgent {
    policy_builder(staged, policy).start()
}

fn policy_builder(staged: &Staged, policy: &str) -> AgentBuilder {
    // A directory every user may enter, as an operator would create it (the
    // agent would make it 0751 for --socket-mode 0666 itself).
    let run = staged.path().join("run");
    fs::create_dir_all(&run).unwrap();
    staged::reachable(&run);
    let socket = run.join("agent.sock");
    let builder = TestAgent::builder().socket(&socket).args(["--socket-mode", "0666"]);
    let file = builder.paths().root.join("policy.toml");
    fs::write(&file, policy).unwrap();
    builder.arg("--policy-file").arg(&file)
}

fn policy_file(agent: &TestAgent) -> PathBuf {
    agent.paths().root.join("policy.toml")
}

fn generate(cli: &Cli, key_pattern: &str, extra: &[&str]) -> process::Finished {
    let mut args = vec!["token", "generate", "--subject", "svc", "--environment", "dev", "--key-pattern", key_pattern];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--output", "json"]);
    cli.run(&args)
}

/// The last `token_generate` record.
fn last_generate(agent: &TestAgent, count: usize) -> Value {
    let records = agent.wait_audit_lines(count);
    records.into_iter().rev().find(|r| r["event"] == "token_generate").expect("a token_generate record")
}

fn real(path: &Path) -> String {
    fs::canonicalize(path).unwrap().to_string_lossy().into_owned()
}

#[test]
fn each_caller_gets_exactly_the_rights_of_its_rule() {
    if !is_root("each_caller_gets_exactly_the_rights_of_its_rule") {
        return;
    }
    let staged = Staged::new();
    let payments_cli = staged.program_as(&bins::cli(), "payments/vanta-cli");
    let other_cli = staged.program_as(&bins::cli(), "other/vanta-cli");
    let policy = format!(
        "[[rule]]\nname = \"payments\"\nuids = [{PAYMENTS_UID}]\nexe = \"{}/payments/*\"\n\
         environments = [\"dev\"]\nkey_patterns = [\"DB_*\"]\nmax_ttl_minutes = 15\nmax_usage_limit = 10\n\n\
         [[rule]]\nname = \"search\"\nuids = [{SEARCH_UID}]\nenvironments = [\"dev\"]\nkey_patterns = [\"SEARCH_*\"]\n",
        real(staged.path())
    );
    let agent = policy_agent(&staged, &policy);
    let as_user = |program: &Path, uid: u32| Cli::new(agent.socket()).program(program).run_as(uid, uid);
    let mut audited = 0;
    let mut expect = |cli: &Cli, pattern: &str, extra: &[&str], uid: u32, exe: &Path, rule: Option<&str>, ok: bool| {
        let finished = generate(cli, pattern, extra);
        audited += 1;
        if ok {
            assert_eq!(finished.code(), Some(0), "{pattern} as {uid}: {}", finished.stderr_text());
        } else {
            let line = assert_cli_error_line(&finished);
            assert!(line.contains("403") || line.to_lowercase().contains("forbidden"), "{line}");
        }
        let record = last_generate(&agent, audited);
        assert_eq!(record["client"]["uid"], json!(uid), "{record}");
        assert!(record["client"]["pid"].as_u64().is_some_and(|p| p > 1), "{record}");
        assert_eq!(record["exe"], json!(real(exe)), "{record}");
        assert_eq!(record["rule"], json!(rule), "{record}");
        assert_eq!(record["outcome"], json!(if ok { "success" } else { "forbidden" }), "{record}");
    };
    let payments = as_user(&payments_cli, PAYMENTS_UID);
    expect(
        &payments,
        "DB_*",
        &["--usage-limit", "5", "--ttl", "15"],
        PAYMENTS_UID,
        &payments_cli,
        Some("payments"),
        true,
    );
    expect(&payments, "SEARCH_*", &["--usage-limit", "5"], PAYMENTS_UID, &payments_cli, Some("payments"), false);
    expect(&payments, "DB_*", &[], PAYMENTS_UID, &payments_cli, Some("payments"), false); // no usage limit
    expect(
        &payments,
        "DB_*",
        &["--usage-limit", "5", "--ttl", "16"],
        PAYMENTS_UID,
        &payments_cli,
        Some("payments"),
        false,
    );
    // The same uid from another executable path: the payments rule does not cover it.
    expect(&as_user(&other_cli, PAYMENTS_UID), "DB_*", &["--usage-limit", "5"], PAYMENTS_UID, &other_cli, None, false);
    let search = as_user(&other_cli, SEARCH_UID);
    expect(&search, "SEARCH_*", &[], SEARCH_UID, &other_cli, Some("search"), true);
    expect(&search, "DB_*", &[], SEARCH_UID, &other_cli, Some("search"), false);
    // Root is a caller like any other: no rule, refused.
    expect(&Cli::new(agent.socket()).program(&other_cli), "DB_*", &[], 0, &other_cli, None, false);
}

/// Writes `pid - 1` to `ns_last_pid` and starts `program` until it gets `pid`.
fn spawn_with_pid(program: &Path, pid: u32) -> Option<std::process::Child> {
    for _ in 0..200 {
        fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).ok()?;
        let mut child = Command::new(program).arg("60").spawn().unwrap();
        if child.id() == pid {
            return Some(child);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    None
}

/// Runs the hand-off caller (`extra`: its flags); returns its (exited) pid,
/// the trigger and the answer file.
fn hand_off(agent: &TestAgent, program: &Path, dir: &Path, extra: &[&str]) -> (u32, PathBuf, PathBuf) {
    let (trigger, out) = (dir.join("go"), dir.join("answer"));
    // Not through `process::output_with_deadline`: that kills the process
    // group on exit, and the child must outlive its parent (it stops by itself).
    let mut child = Command::new(program)
        .args(extra)
        .arg(agent.socket())
        .arg(&trigger)
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = process::collect(child.stdout.take());
    let status = process::wait_with_deadline(&mut child, DEADLINE).expect("the caller exits");
    assert!(status.success());
    let pid = String::from_utf8(process::join(stdout)).unwrap();
    (pid.trim().parse().unwrap(), trigger, out)
}

fn answer_status(trigger: &Path, out: &Path) -> String {
    fs::write(trigger, b"").unwrap();
    let text = process::poll_until(DEADLINE, "the handed-off request's answer", || fs::read_to_string(out).ok());
    text.lines().next().unwrap_or_default().to_owned()
}

/// A policy agent whose one rule covers the programs under `trusted/`; the
/// hand-off caller is staged under `attacker/`, and a program that can take
/// its pid under `trusted/`.
struct PidReuse {
    staged: Staged,
    attacker: PathBuf,
    trusted: PathBuf,
}

impl PidReuse {
    fn new() -> Self {
        let staged = Staged::new();
        let attacker = staged.program_as(&bins::helper("hand-off-connection"), "attacker/hand-off-connection");
        let trusted = staged.program_as(&bins::helper("sleep-secs"), "trusted/sleep-secs");
        Self { staged, attacker, trusted }
    }

    fn agent(&self, args: &[&str]) -> TestAgent {
        let policy = format!(
            "[[rule]]\nname = \"trusted\"\nexe = \"{}/trusted/*\"\nenvironments = [\"dev\"]\nkey_patterns = [\"*\"]\n",
            real(self.staged.path())
        );
        policy_builder(&self.staged, &policy).args(args).start()
    }

    /// Gives the exited caller's `pid` to a trusted program, runs `then`,
    /// and has the caller's request sent: the status line of its answer.
    fn answer_to_impostor(&self, pid: u32, trigger: &Path, out: &Path, then: impl FnOnce()) -> String {
        let mut impostor =
            spawn_with_pid(&self.trusted, pid).expect("the caller's pid can be given to another process");
        assert_eq!(fs::read_link(format!("/proc/{pid}/exe")).unwrap(), fs::canonicalize(&self.trusted).unwrap());
        then();
        let status = answer_status(trigger, out);
        let _ = impostor.kill();
        let _ = impostor.wait();
        status
    }
}

#[test]
fn a_caller_that_exited_or_whose_pid_was_reused_is_refused() {
    if !is_root("a_caller_that_exited_or_whose_pid_was_reused_is_refused") {
        return;
    }
    let scene = PidReuse::new();
    let agent = scene.agent(&[]);
    let work = tempfile::tempdir().unwrap();

    // The caller is gone when its request arrives: refused.
    fs::create_dir(work.path().join("a")).unwrap();
    let (_, trigger, out) = hand_off(&agent, &scene.attacker, &work.path().join("a"), &[]);
    assert!(answer_status(&trigger, &out).contains(" 403 "), "{}", fs::read_to_string(&out).unwrap());
    let record = last_generate(&agent, 1);
    assert!(record["error"].as_str().unwrap().contains("exited"), "{record}");
    assert_eq!((&record["rule"], &record["exe"]), (&Value::Null, &Value::Null), "{record}");

    // Its pid is given to a process the rule covers before the request arrives: refused.
    fs::create_dir(work.path().join("b")).unwrap();
    let (pid, trigger, out) = hand_off(&agent, &scene.attacker, &work.path().join("b"), &[]);
    let status = scene.answer_to_impostor(pid, &trigger, &out, || {});
    assert!(status.contains(" 403 "), "the impostor's rights were used: {}", fs::read_to_string(&out).unwrap());
    let record = last_generate(&agent, 2);
    assert!(record["error"].as_str().unwrap().contains("reused"), "{record}");
    assert_eq!(record["client"]["pid"], json!(pid), "{record}");
}

/// A caller that connects while the agent is at its connection cap waits in
/// the kernel's accept queue. If it exits and its pid is given to a process
/// a rule covers before the agent accepts, the connection still names the
/// caller that connected (`SO_PEERPIDFD`): refused, not attested as the
/// newcomer.
#[test]
fn a_caller_whose_pid_was_reused_before_its_connection_was_accepted_is_refused() {
    let test = "a_caller_whose_pid_was_reused_before_its_connection_was_accepted_is_refused";
    if !is_root(test) {
        return;
    }
    if !kernel_names_the_peer_process() {
        eprintln!("{test}: the kernel has no SO_PEERPIDFD (Linux 6.5); not run");
        return;
    }
    let scene = PidReuse::new();
    let agent = scene.agent(&["--max-connections", "1"]);
    let work = tempfile::tempdir().unwrap();

    // Holds the only place, so the caller's connection waits to be accepted.
    let mut holder = std::os::unix::net::UnixStream::connect(agent.socket()).unwrap();
    holder.write_all(b"GET /healthz HTTP/1.1\r\nHost: vanta\r\n\r\n").unwrap();
    holder.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut head = [0u8; 12];
    holder.read_exact(&mut head).expect("the holder is served");
    assert_eq!(&head, b"HTTP/1.1 200");

    let (pid, trigger, out) = hand_off(&agent, &scene.attacker, work.path(), &["--queued"]);
    let status = scene.answer_to_impostor(pid, &trigger, &out, || drop(holder));
    assert!(status.contains(" 403 "), "the impostor's rights were used: {}", fs::read_to_string(&out).unwrap());
    let record = last_generate(&agent, 1);
    let error = record["error"].as_str().unwrap();
    assert!(error.contains("exited") || error.contains("reused"), "{record}");
    assert_eq!((&record["rule"], &record["exe"]), (&Value::Null, &Value::Null), "{record}");
}

/// Whether the kernel gives the peer process of a Unix socket connection as
/// a pidfd (`SO_PEERPIDFD`, Linux 6.5).
fn kernel_names_the_peer_process() -> bool {
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    nix::sys::socket::getsockopt(&a, nix::sys::socket::sockopt::PeerPidfd).is_ok()
}

#[test]
fn sighup_reloads_a_good_policy_and_keeps_the_old_one_when_broken() {
    let me = nix::unistd::geteuid().as_raw();
    let staged = Staged::new();
    let rule = |envs: &str| {
        format!("[[rule]]\nname = \"me\"\nuids = [{me}]\nenvironments = [{envs}]\nkey_patterns = [\"*\"]\n")
    };
    let mut agent = policy_agent(&staged, &rule("\"dev\""));
    let ask = json!({"subject": "reload", "environment": "prod", "key_pattern": "*"});
    assert_error(&agent.generate(&ask), 403, "forbidden");

    fs::write(policy_file(&agent), rule("\"dev\", \"prod\"")).unwrap();
    agent.signal(Signal::SIGHUP);
    agent.wait_log_line("minting policy reloaded");
    assert_eq!(agent.generate(&ask).status, 200);

    fs::write(policy_file(&agent), "[[rule]]\nname = \"me\"\nuidz = [0]\n").unwrap();
    agent.signal(Signal::SIGHUP);
    let line = agent.wait_log_line("minting policy not reloaded");
    assert!(line.contains("line 3") && line.contains("unknown field `uidz`"), "{line}");
    assert_eq!(agent.generate(&ask).status, 200, "the previous policy stays in force");
    assert!(agent.stop().success());
}

#[test]
fn refused_token_requests_name_the_callers_exe_and_covering_rule() {
    // Refused after the caller was known (a body with a bad field; a revoke
    // its rule does not allow): the record still names who asked under
    // which rule, so "rule": null keeps meaning "no rule covered it".
    let me = nix::unistd::geteuid().as_raw();
    let staged = Staged::new();
    let policy =
        format!("[[rule]]\nname = \"minter\"\nuids = [{me}]\nenvironments = [\"dev\"]\nkey_patterns = [\"*\"]\n");
    let agent = policy_agent(&staged, &policy);
    let test_exe = real(&std::env::current_exe().unwrap());
    let bad_ttl = json!({"subject": "s", "environment": "dev", "key_pattern": "*", "ttl_minutes": 0});
    assert_error(&agent.generate(&bad_ttl), 422, "validation_error");
    let record = last_generate(&agent, 1);
    assert_eq!((&record["exe"], &record["rule"]), (&json!(test_exe), &json!("minter")), "{record}");

    let revoke =
        agent.request("POST", "/api/v1/vault/tokens/revoke", &[], Some(json!({"jti": "x"}).to_string().as_bytes()));
    assert_error(&revoke, 403, "forbidden");
    let records = agent.wait_audit_lines(2);
    let record = records.iter().rev().find(|r| r["event"] == "token_revoke").expect("a token_revoke record");
    assert_eq!((&record["exe"], &record["rule"]), (&json!(test_exe), &json!("minter")), "{record}");
    assert_eq!(record["outcome"], "forbidden", "{record}");
}

#[test]
fn a_broken_policy_or_one_next_to_mint_flags_stops_start_up() {
    let staged = Staged::new();
    let (finished, _agent) = policy_builder(&staged, "[[rule]]\nname = \"x\"\nenvironments = \"dev\"\n").run_to_exit();
    assert_eq!(finished.code(), Some(2), "{}", finished.stderr_text());
    let line = assert_cli_error_line(&finished);
    assert!(line.contains("policy.toml: line 3:") && line.contains("invalid type"), "{line}");

    let policy = "[[rule]]\nname = \"x\"\nenvironments = [\"dev\"]\nkey_patterns = [\"*\"]\n";
    let (finished, _agent) = policy_builder(&staged, policy).args(["--mint-allowed-uids", "0"]).run_to_exit();
    assert_eq!(finished.code(), Some(2), "{}", finished.stderr_text());
    assert!(assert_cli_error_line(&finished).contains("--policy-file"));
}

#[test]
fn policy_check_and_explain_show_the_rules_as_understood() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    fs::write(
        &file,
        "[[rule]]\nname = \"payments\"\nuids = [1001]\nexe = \"/usr/local/bin/payments-*\"\n\
         environments = [\"prod\"]\nkey_patterns = [\"DATABASE_*\"]\nmax_ttl_minutes = 15\n",
    )
    .unwrap();
    let run = |args: &[&str]| process::output_with_deadline(Command::new(bins::agent()).args(args), DEADLINE);
    let check = run(&["policy", "check", file.to_str().unwrap()]);
    assert_eq!(check.code(), Some(0), "{}", check.stderr_text());
    let text = check.stdout_text();
    assert!(text.contains("rule \"payments\"") && text.contains("exe matches /usr/local/bin/payments-*"), "{text}");
    let explain = |uid: &str, exe: &str| {
        let f = file.to_str().unwrap();
        run(&["policy", "explain", "--policy-file", f, "--uid", uid, "--exe", exe]).stdout_text()
    };
    assert!(explain("1001", "/usr/local/bin/payments-api").contains("covered by rule \"payments\""));
    assert!(explain("1001", "/usr/bin/python3").contains("refused: minting policy: no rule covers"));
    let pid = std::process::id().to_string();
    let by_pid = run(&["policy", "explain", "--policy-file", file.to_str().unwrap(), "--pid", &pid]);
    let me = real(&std::env::current_exe().unwrap());
    assert!(by_pid.stdout_text().contains(&format!("exe {me}")), "{}", by_pid.stdout_text());
    fs::write(&file, "[[rule]]\nname = \"x\"\n").unwrap();
    let broken = run(&["policy", "check", file.to_str().unwrap()]);
    assert_eq!(broken.code(), Some(2));
    assert!(assert_cli_error_line(&broken).contains("missing field `environments`"));
}

#[test]
fn a_mint_the_policy_refuses_is_explained_by_the_policy_not_by_a_token() {
    let me = nix::unistd::geteuid().as_raw();
    let staged = Staged::new();
    let policy = format!(
        "[[rule]]\nname = \"short\"\nuids = [{me}]\nenvironments = [\"dev\"]\nkey_patterns = [\"*\"]\nmax_ttl_minutes = 3\n"
    );
    let agent = policy_agent(&staged, &policy);
    let refused = generate(&Cli::new(agent.socket()), "*", &["--ttl", "4"]);
    let line = assert_cli_error_line(&refused);
    assert!(line.contains("403") && line.contains("minting policy"), "{line}");
    assert!(!line.contains("use a token whose"), "no token was involved: {line}");
    let plain = generate(&Cli::new(agent.socket()), "*", &[]);
    assert_eq!(plain.code(), Some(0), "no --ttl: the rule's 3 minutes: {}", plain.stderr_text());
    let minted: Value = serde_json::from_str(&plain.stdout_text()).unwrap();
    assert_eq!(minted["expires_in"], 180, "{minted}");
}

#[test]
fn policy_check_into_a_reader_that_has_gone_ends_without_a_panic() {
    // `vanta-agent policy check FILE | head -1`: the lines not read are lost,
    // and the command ends as any in a pipe does, not with a panic (101).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    fs::write(&file, "[[rule]]\nname = \"a\"\nuids = [1]\nenvironments = [\"dev\"]\nkey_patterns = [\"*\"]\n").unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut command = Command::new(bins::agent());
    command.args(["policy", "check", file.to_str().unwrap()]).stdout(writer).stderr(std::process::Stdio::null());
    let mut child = process::KillOnDrop(command.spawn().unwrap());
    let status = process::wait_with_deadline(&mut child.0, DEADLINE).expect("it ends");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn over_tcp_only_an_admin_token_rule_covers_and_only_with_the_credential() {
    let me = nix::unistd::geteuid().as_raw();
    let staged = Staged::new();
    let policy = format!(
        "[[rule]]\nname = \"me\"\nuids = [{me}]\nenvironments = [\"dev\"]\nkey_patterns = [\"*\"]\n\n\
         [[rule]]\nname = \"ci\"\nadmin_token = true\nenvironments = [\"dev\"]\nkey_patterns = [\"CI_*\"]\n"
    );
    let builder = policy_builder(&staged, &policy);
    let admin = "admin-credential-for-tcp-0123456789-abcdef";
    let file = builder.paths().root.join("admin-token");
    fs::write(&file, admin).unwrap();
    let agent =
        builder.env("VANTA_ADMIN_TOKEN_FILE", &file).args(["--listen-tcp", "127.0.0.1:0", "--insecure-tcp"]).start();
    let mint = |pattern: &str, auth: Option<&str>| {
        let body = json!({"subject": "ci", "environment": "dev", "key_pattern": pattern}).to_string();
        let bearer = auth.map(|a| format!("Bearer {a}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("Authorization", bearer));
        }
        tls::plain_request(agent.tcp_addr(), "POST", GENERATE_PATH, &headers, Some(body.as_bytes())).unwrap()
    };
    let cases =
        [("CI_*", None, 403, None), ("CI_*", Some(admin), 200, Some("ci")), ("*", Some(admin), 403, Some("ci"))];
    for (n, (pattern, auth, status, rule)) in cases.into_iter().enumerate() {
        assert_eq!(mint(pattern, auth).status, status, "{pattern} {auth:?}");
        let record = last_generate(&agent, n + 1);
        assert_eq!(
            (&record["client"], &record["rule"], &record["exe"]),
            (&json!("127.0.0.1"), &json!(rule), &Value::Null)
        );
    }
    // The socket is not covered by the admin rule: the local caller gets rule "me".
    assert_eq!(agent.generate(&json!({"subject": "me", "environment": "dev", "key_pattern": "*"})).status, 200);
    assert_eq!(last_generate(&agent, 4)["rule"], json!("me"));
}

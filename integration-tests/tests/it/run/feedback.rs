//! What `run-with-secrets` tells the user, and how it talks to the agent:
//! the stderr report (token source and expiry, environment, keys, mode),
//! `--quiet`, one-line errors before anything runs, several key patterns,
//! and all requests over one keep-alive connection.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use serde_json::json;
use vanta_integration_tests::cli::Cli;

use crate::run::support::{
    agent_with, app_agent, assert_code, assert_no_values, assert_refused, helper, json, path_arg, run_args,
};

#[test]
fn the_report_names_token_environment_keys_and_mode() {
    let agent = app_agent();
    // No --ttl: the agent's default lifetime, 15 minutes.
    let minted = Cli::new(agent.socket()).run(&run_args("API_KEYS/*", &[], &["true"]));
    assert_code(&minted, 0);
    let lines: Vec<String> = minted.stderr_text().lines().map(String::from).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "vanta-cli: token: self-minted for 'vanta-cli-run' (environment 'app', key pattern 'API_KEYS/*', \
             usage limit unlimited), expires in 900 s, until 20"
        ),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        "vanta-cli: injected 2 secrets from 'app' as environment variables: \
         API_KEYS_github (API_KEYS/github), API_KEYS_stripe (API_KEYS/stripe)"
    );
    let token = agent.mint_for("app", "*");
    let given = Cli::new(agent.socket()).env("VANTA_TOKEN", &token).run(&run_args("MARK", &[], &["true"]));
    assert_code(&given, 0);
    let stderr = given.stderr_text();
    assert!(
        stderr.starts_with(
            "vanta-cli: token: given (--token, VANTA_TOKEN, --token-file or VANTA_TOKEN_FILE), expires in "
        )
    );
    assert!(!stderr.contains(&token), "{stderr}");
    assert_no_values(&stderr, "stderr");
    let quiet = Cli::new(agent.socket()).run(&run_args("*", &["--quiet"], &["true"]));
    assert_code(&quiet, 0);
    assert_eq!(quiet.stderr_text(), "", "--quiet says nothing");
}

#[test]
fn failures_before_the_start_are_one_line_and_run_nothing() {
    let agent = agent_with(&[("A-B", "first"), ("A_B", "second"), ("C", "fine")]);
    let cli = Cli::new(agent.socket());
    let print = helper("print-env");
    let collision = assert_refused(&cli.run(&run_args("*", &[], &[&print])));
    assert!(collision.contains("keys 'A-B' and 'A_B' would both become the variable A_B"), "{collision}");

    let missing =
        assert_refused(&cli.run(&run_args("*", &["--key", "C", "--key", "NOPE", "--key", "GONE/x"], &[&print])));
    assert!(missing.contains("cannot fetch NOPE, GONE/x from 'app': "), "every missing key is listed: {missing}");
    let served = agent.audit_lines().iter().filter(|r| r["event"] == "secret_access").count();
    assert_eq!(served, 0, "no value left the agent for a run that could not start");

    let refused = assert_refused(&cli.clone().env("VANTA_TOKEN", "not.a.token").run(&run_args("*", &[], &[&print])));
    assert!(refused.contains("refused the request: 401"), "the agent's answer is quoted: {refused}");

    let dir = tempfile::tempdir().unwrap();
    let nobody = dir.path().join("nobody.sock");
    let unreachable = assert_refused(&Cli::new(&nobody).run(&run_args("*", &[], &[&print])));
    assert!(unreachable.contains(&path_arg(&nobody)), "names the socket: {unreachable}");
    assert!(unreachable.ends_with("(is vanta-agent running? set --socket or VANTA_AGENT_SOCKET)"), "{unreachable}");
}

#[test]
fn several_patterns_get_a_token_each_or_share_a_given_one() {
    let agent = app_agent();
    let print = helper("print-env");
    let names = [print.as_str(), "DB_USER", "API_KEYS_stripe", "MARK"];
    let patterns = ["--key-pattern", "API_KEYS/*"];
    let minted = Cli::new(agent.socket()).run(&run_args("DB_*", &patterns, &names));
    assert_code(&minted, 0);
    assert_eq!(
        json(&minted.stdout),
        json!({"DB_USER": "app-user-2m", "API_KEYS_stripe": "sk_live_stripe_77Q", "MARK": null})
    );
    let stderr = minted.stderr_text();
    assert!(stderr.contains("key pattern 'DB_*'") && stderr.contains("key pattern 'API_KEYS/*'"), "{stderr}");
    assert!(stderr.contains("injected 4 secrets"), "{stderr}");

    let wide = agent.mint_for("app", "*");
    let shared = Cli::new(agent.socket()).run(&run_args("DB_*", &[patterns[0], patterns[1], "--token", &wide], &names));
    assert_code(&shared, 0);
    assert_eq!(json(&shared.stdout), json(&minted.stdout));

    let narrow = agent.mint_for("app", "DB_*");
    let extra = [patterns[0], patterns[1], "--key", "DB_USER", "--key", "API_KEYS/stripe"];
    let line =
        assert_refused(&Cli::new(agent.socket()).env("VANTA_TOKEN", &narrow).run(&run_args("DB_*", &extra, &names)));
    assert!(line.contains("cannot fetch API_KEYS/stripe from 'app'"), "the token does not cover it: {line}");
}

#[test]
fn every_request_goes_over_one_connection() {
    let agent = app_agent();
    let dir = tempfile::tempdir().unwrap();
    let proxy = dir.path().join("proxy.sock");
    let connections = count_connections(&proxy, agent.socket());
    let finished = Cli::new(&proxy).run(&run_args("*", &["-q"], &[&helper("print-env"), "MARK"]));
    assert_code(&finished, 0);
    let records = agent.wait_audit_lines(6);
    let served = records.iter().filter(|r| r["event"] == "secret_access").count();
    assert_eq!(served, 5, "one mint, one listing, five values: {records:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 1, "all of them on one keep-alive connection");
}

/// A proxy on `listen` to `agent` that counts the connections it accepts.
fn count_connections(listen: &Path, agent: &Path) -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let listener = UnixListener::bind(listen).unwrap();
    let (counter, agent) = (Arc::clone(&count), agent.to_path_buf());
    thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            counter.fetch_add(1, Ordering::SeqCst);
            let upstream = UnixStream::connect(&agent).unwrap();
            pipe(client.try_clone().unwrap(), upstream.try_clone().unwrap());
            pipe(upstream, client);
        }
    });
    count
}

fn pipe(mut from: UnixStream, mut to: UnixStream) {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

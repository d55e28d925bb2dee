//! `run-with-secrets --inject-as env`: names (docs/API.md §6 mapping,
//! `--prefix`, `--key KEY=NAME`), values byte for byte, overrides reported,
//! dangerous names refused unless allowed, `--pristine`, and the token and
//! the secrets kept out of every argument list and of the command's
//! environment.

use std::fs;

use serde_json::{Value, json};
use vanta_integration_tests::cli::Cli;

use crate::run::support::{
    APP_VALUES, agent_with, app_agent, assert_code, assert_no_values, assert_refused, assert_usage_error, helper, json,
    run_args, wait_for_line,
};

#[test]
fn keys_become_variables_with_prefix_and_renames() {
    let agent = app_agent();
    let cli = Cli::new(agent.socket());
    let print = helper("print-env");
    let mapped = cli.run(&run_args("*", &[], &[&print]));
    assert_code(&mapped, 0);
    let env = json(&mapped.stdout);
    for (_, name, value) in APP_VALUES {
        assert_eq!(env[name], *value, "{name}");
    }
    let extra = ["--prefix", "APP_", "--key", "DB_URL", "--key", "API_KEYS/stripe=STRIPE_KEY"];
    let renamed =
        cli.run(&run_args("*", &extra, &[&print, "APP_DB_URL", "STRIPE_KEY", "APP_API_KEYS_stripe", "DB_URL"]));
    assert_code(&renamed, 0);
    assert_eq!(
        json(&renamed.stdout),
        json!({"APP_DB_URL": "postgres://app:pw-9f3k@db/app", "STRIPE_KEY": "sk_live_stripe_77Q",
               "APP_API_KEYS_stripe": null, "DB_URL": null})
    );
    let stderr = renamed.stderr_text();
    assert!(stderr.contains("as environment variables: APP_DB_URL (DB_URL), STRIPE_KEY (API_KEYS/stripe)"), "{stderr}");
}

#[test]
fn values_arrive_byte_for_byte() {
    let values = [
        ("NEWLINES", "line1\nline2\r\n\nline4\n"),
        ("QUOTES", r#"she said "hi" and 'bye' \" \\"#),
        ("EQUALS", "a=b==c=; x=1"),
        ("DOLLARS", "$HOME ${PATH} $(id) `id`"),
        ("UNICODE", "héllo wörld ✓ 日本語 🦀"),
        ("SPACES", "  padded  "),
        ("EMPTY", ""),
    ];
    let agent = agent_with(&values);
    let finished = Cli::new(agent.socket()).run(&run_args("*", &[], &[&helper("print-env")]));
    assert_code(&finished, 0);
    let env = json(&finished.stdout);
    for (name, value) in values {
        assert_eq!(env[name], value, "{name}");
    }
}

#[test]
fn existing_variables_are_overridden_and_named() {
    let agent = app_agent();
    let cli = Cli::new(agent.socket()).env("MARK", "old-mark").env("DB_USER", "old-user").env("KEEP", "kept");
    let finished = cli.run(&run_args("*", &[], &[&helper("print-env"), "MARK", "DB_USER", "KEEP"]));
    assert_code(&finished, 0);
    assert_eq!(json(&finished.stdout), json!({"MARK": "marker-value-8c", "DB_USER": "app-user-2m", "KEEP": "kept"}));
    let stderr = finished.stderr_text();
    assert!(stderr.contains("vanta-cli: overriding variables already set: DB_USER, MARK\n"), "{stderr}");
    assert!(!stderr.contains("old-"), "{stderr}");
    assert_no_values(&stderr, "stderr");
}

#[test]
fn dangerous_names_are_refused_unless_allowed() {
    let agent = agent_with(&[("PATH", "/evil"), ("LD_PRELOAD", "/tmp/evil.so"), ("SAFE", "ok")]);
    let cli = Cli::new(agent.socket());
    let print = helper("print-env");
    let refused = cli.run(&run_args("*", &[], &[&print]));
    let line = assert_refused(&refused);
    assert!(line.contains("refusing to inject LD_PRELOAD, PATH: "), "{line}");
    assert!(line.contains("--allow-dangerous-name"), "the error says how to opt in: {line}");
    let renamed = cli.run(&run_args("SAFE", &["--key", "SAFE=NODE_OPTIONS"], &[&print]));
    assert!(assert_refused(&renamed).contains("refusing to inject NODE_OPTIONS"));
    let allowed = ["--allow-dangerous-name", "PATH", "--key", "PATH", "--key", "SAFE"];
    // The command is named by its full path: the injected PATH cannot change it.
    let finished = cli.run(&run_args("*", &allowed, &[&print, "PATH", "SAFE", "LD_PRELOAD"]));
    assert_code(&finished, 0);
    assert_eq!(json(&finished.stdout), json!({"PATH": "/evil", "SAFE": "ok", "LD_PRELOAD": null}));
}

#[test]
fn pristine_keeps_only_the_allowlist() {
    let agent = app_agent();
    let cli = Cli::new(agent.socket()).env("LANG", "C.UTF-8").env("EXTRA", "x").env("SECRETISH", "y");
    let print = helper("print-env");
    let finished = cli.run(&run_args("DB_*", &["--pristine", "--keep-env", "EXTRA"], &[&print]));
    assert_code(&finished, 0);
    let env = json(&finished.stdout);
    let mut names: Vec<&str> = env.as_object().unwrap().keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["DB_URL", "DB_USER", "EXTRA", "HOME", "LANG", "PATH"]);
    assert!(finished.stderr_text().contains("pristine environment: only PATH, HOME, USER, LANG, TERM, TZ, EXTRA kept"));
}

#[test]
fn the_token_is_not_passed_on_unless_asked() {
    let agent = app_agent();
    let token = agent.mint_for("app", "*");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    fs::write(&token_file, format!("{token}\n")).unwrap();
    let print = helper("print-env");
    let names = [print.as_str(), "VANTA_TOKEN", "VANTA_TOKEN_FILE", "MARK"];
    let by_env = Cli::new(agent.socket()).env("VANTA_TOKEN", &token).run(&run_args("MARK", &[], &names));
    let by_file = Cli::new(agent.socket()).env("VANTA_TOKEN_FILE", &token_file).run(&run_args("MARK", &[], &names));
    for finished in [&by_env, &by_file] {
        assert_code(finished, 0);
        assert_eq!(
            json(&finished.stdout),
            json!({"VANTA_TOKEN": null, "VANTA_TOKEN_FILE": null, "MARK": "marker-value-8c"})
        );
        assert!(finished.stderr_text().contains("vanta-cli: token: given ("), "{}", finished.stderr_text());
    }
    let passed = Cli::new(agent.socket()).env("VANTA_TOKEN", &token).run(&run_args("MARK", &["--pass-token"], &names));
    assert_code(&passed, 0);
    assert_eq!(json(&passed.stdout)["VANTA_TOKEN"], Value::from(token.as_str()));
    let minted = Cli::new(agent.socket()).run(&run_args("MARK", &["--pass-token"], &names));
    assert!(assert_usage_error(&minted).contains("--pass-token passes on a given token, and none was given"));
}

#[test]
fn neither_secrets_nor_the_token_appear_in_any_argument_list() {
    let agent = app_agent();
    let token = agent.mint_for("app", "*");
    let cli = Cli::new(agent.socket()).env("VANTA_TOKEN", &token);
    let running = cli.spawn(&run_args("*", &[], &[&helper("run-trap")]));
    let ready = wait_for_line(&running, "ready");
    let child: u32 = ready.trim_start_matches("ready ").parse().unwrap();
    let status = fs::read_to_string(format!("/proc/{child}/status")).unwrap();
    let cli_pid = status.lines().find_map(|l| l.strip_prefix("PPid:")).unwrap().trim().to_owned();
    for pid in [child.to_string(), cli_pid] {
        let cmdline = String::from_utf8_lossy(&fs::read(format!("/proc/{pid}/cmdline")).unwrap()).into_owned();
        assert_no_values(&cmdline, "an argument list");
        assert!(!cmdline.contains(&token), "the token is in the arguments of {pid}");
    }
    let environ = String::from_utf8_lossy(&fs::read(format!("/proc/{child}/environ")).unwrap()).into_owned();
    assert!(!environ.contains(&token), "the token is in the command's environment");
    running.signal(nix::sys::signal::Signal::SIGTERM);
    assert_code(&running.wait(crate::run::support::WAIT), 0);
}

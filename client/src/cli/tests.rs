//! Unit tests of the clap definition (part of `cli`).

use clap::CommandFactory;

use super::*;

#[test]
fn clap_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn every_subcommand_has_examples() {
    let mut cli = Cli::command();
    cli.build();
    let token = cli.find_subcommand("token").expect("token subcommand");
    let token_subs = ["generate", "revoke"].map(|n| token.find_subcommand(n).expect(n));
    let top =
        ["get", "list", "run-with-secrets", "health", "completions", "man"].map(|n| cli.find_subcommand(n).expect(n));
    for cmd in token_subs.into_iter().chain(top) {
        let help = cmd.get_after_help().expect("after_help").to_string();
        assert!(help.starts_with("Examples:"), "{}", cmd.get_name());
    }
}

#[test]
fn run_takes_the_command_after_double_dash() {
    let args = run_args(&["--key-pattern", "*", "--", "printenv", "--flag"]).expect("valid");
    assert_eq!(args.command, ["printenv", "--flag"]);
    assert_eq!(args.ttl, None, "the agent's default");
    assert_eq!(args.inject_as, InjectAs::Env);
    assert_eq!(args.file_format, None);
}

/// A jti is random base64url and a subject any text: either may start
/// with `-` and must still be taken as the option's value.
#[test]
fn values_that_start_with_a_hyphen_are_taken_as_values() {
    let parse = |argv: &[&str]| Cli::try_parse_from(["vanta-cli"].iter().chain(argv)).map(|cli| cli.command);
    let Ok(Command::Token(TokenCommand::Revoke(revoke))) = parse(&["token", "revoke", "--jti", "-xQ2"]) else {
        panic!("--jti -xQ2 is refused");
    };
    assert_eq!(revoke.jti.as_deref(), Some("-xQ2"));
    let Ok(Command::Token(TokenCommand::Revoke(revoke))) = parse(&["token", "revoke", "--subject", "-ops"]) else {
        panic!("--subject -ops is refused");
    };
    assert_eq!(revoke.subject.as_deref(), Some("-ops"));
    let generate = ["token", "generate", "--subject", "-ops", "--environment", "dev", "--key-pattern", "*"];
    let Ok(Command::Token(TokenCommand::Generate(generate))) = parse(&generate) else {
        panic!("generate --subject -ops is refused");
    };
    assert_eq!(generate.subject, "-ops");
    let run = run_args(&["--key-pattern", "*", "--subject", "-ops", "--", "true"]).expect("valid");
    assert_eq!(run.subject, "-ops");
    // `--` still ends the options: it is never taken as a value.
    assert!(run_args(&["--key-pattern", "*", "--subject", "--", "true"]).is_err());
    assert!(parse(&["token", "revoke", "--jti", "--"]).is_err());
}

#[test]
fn the_agent_timeout_is_35_s_unless_set_and_at_least_1_s() {
    let parse = |argv: &[&str]| Cli::try_parse_from(["vanta-cli"].iter().chain(argv).chain(&["health"]));
    assert_eq!(parse(&[]).expect("valid").agent.agent_timeout_seconds, 35);
    assert_eq!(parse(&["--agent-timeout-seconds", "90"]).expect("valid").agent.agent_timeout_seconds, 90);
    for bad in ["0", "86401", "x"] {
        assert!(parse(&["--agent-timeout-seconds", bad]).is_err(), "{bad}");
    }
}

fn run_args(rest: &[&str]) -> Result<RunArgs, clap::Error> {
    let argv = ["vanta-cli", "run-with-secrets", "--environment", "dev"].iter().chain(rest);
    match Cli::try_parse_from(argv)?.command {
        Command::RunWithSecrets(args) => Ok(args),
        _ => panic!("wrong subcommand"),
    }
}

#[test]
fn run_takes_several_patterns_keys_and_names() {
    let args = run_args(&[
        "--key-pattern",
        "A_*",
        "--key-pattern",
        "B/*",
        "--key",
        "A_1",
        "--key",
        "B/x=BX",
        "--prefix",
        "APP_",
        "-q",
        "--",
        "true",
    ])
    .expect("valid");
    let patterns: Vec<&str> = args.key_patterns.iter().map(KeyPattern::as_str).collect();
    assert_eq!(patterns, ["A_*", "B/*"]);
    assert_eq!(args.keys[1].name.as_deref(), Some("BX"));
    assert_eq!(args.prefix.as_ref().map(VarPrefix::as_str), Some("APP_"));
    assert!(args.quiet);
}

#[test]
fn run_options_end_at_the_first_word_that_is_not_one() {
    let args = run_args(&["--key-pattern", "*", "sh", "-c", "exit 3", "--quiet"]).expect("valid");
    assert_eq!(args.command, ["sh", "-c", "exit 3", "--quiet"]);
    assert!(!args.quiet, "an option after the command is the command's");
    let err = run_args(&["--key-pattern", "*", "--enviroment", "x", "--", "true"]).err().expect("refused");
    assert_eq!(err.exit_code(), 2);
    let text = err.to_string();
    assert!(text.contains("unexpected argument '--enviroment'") && text.contains("'--environment'"), "{text}");
    let err = run_args(&["--key-pattern", "*", "--no-such-flag", "true"]).err().expect("refused");
    assert!(err.to_string().contains("'--no-such-flag'"), "{err}");
}

#[test]
fn watch_options() {
    let args = run_args(&["--key-pattern", "*", "--watch", "--", "true"]).expect("valid");
    assert_eq!((args.watch_interval, args.on_change, args.stop_timeout), (5, OnChange::Restart, 10));
    assert_eq!(args.stop_signal, nix::sys::signal::Signal::SIGTERM);
    let args = run_args(&[
        "--key-pattern",
        "*",
        "--watch",
        "--watch-interval",
        "60",
        "--on-change",
        "signal:HUP",
        "--stop-signal",
        "SIGINT",
        "--stop-timeout",
        "0",
        "--",
        "true",
    ])
    .expect("valid");
    assert_eq!(args.on_change, OnChange::Signal(nix::sys::signal::Signal::SIGHUP));
    assert_eq!((args.watch_interval, args.stop_timeout), (60, 0));
}

#[test]
fn run_usage_errors() {
    for bad in [
        &["--", "true"][..],
        &["--key-pattern", "*", "--key", "K=1X", "--", "true"],
        &["--key-pattern", "*", "--prefix", "A-", "--", "true"],
        &["--key-pattern", "*", "--keep-env", "X", "--", "true"],
        &["--key-pattern", "*", "--inject-as", "disk", "--", "true"],
        &["--key-pattern", "*"],
        &["--key-pattern", "*", "--watch-interval", "3", "--", "true"],
        &["--key-pattern", "*", "--on-change", "exit", "--", "true"],
        &["--key-pattern", "*", "--watch", "--on-change", "reload", "--", "true"],
        &["--key-pattern", "*", "--watch", "--stop-signal", "SIGNOPE", "--", "true"],
        &["--key-pattern", "*", "--watch", "--watch-interval", "0", "--", "true"],
    ] {
        let err = run_args(bad).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert_eq!(err.exit_code(), 2, "{bad:?}");
    }
}

/// Checked by `try_parse_args`, which knows where the token came from (the
/// VANTA_TOKEN cases are black-box tests: the environment is shared here).
#[test]
fn mint_flags_with_a_given_token_are_a_usage_error_naming_it() {
    let parse = |argv: &[&str]| Cli::try_parse_args(["vanta-cli"].iter().chain(argv));
    for (argv, flag, given) in [
        (
            &["run-with-secrets", "--environment", "dev", "--key-pattern", "*", "--token", "t", "--ttl", "3", "true"][..],
            "--ttl",
            "--token",
        ),
        (
            &[
                "run-with-secrets",
                "--environment",
                "dev",
                "--key-pattern",
                "*",
                "--subject",
                "s",
                "--token-file",
                "/f",
                "true",
            ],
            "--subject",
            "--token-file",
        ),
        (&["get", "--environment", "dev", "--token", "t", "--subject", "s", "K"], "--subject", "--token"),
    ] {
        let err = parse(argv).err().unwrap_or_else(|| panic!("{argv:?} accepted"));
        assert_eq!((err.kind(), err.exit_code()), (clap::error::ErrorKind::ArgumentConflict, 2), "{argv:?}");
        let want =
            format!("{flag} shapes the tokens vanta-cli mints, and none is minted when a token is given ({given})");
        assert!(err.to_string().contains(&want), "{argv:?}: {err}");
    }
    assert!(parse(&["run-with-secrets", "--environment", "dev", "--key-pattern", "*", "--ttl", "3", "true"]).is_ok());
    assert!(parse(&["get", "--environment", "dev", "--token", "t", "K"]).is_ok(), "the default subject is no flag");
}

#[test]
fn a_token_given_as_text_and_as_a_file_is_a_usage_error_naming_both() {
    let argv = ["vanta-cli", "get", "--environment", "dev", "--token", "t", "--token-file", "/f", "K"];
    let err = Cli::try_parse_args(argv).err().expect("refused");
    assert_eq!((err.kind(), err.exit_code()), (clap::error::ErrorKind::ArgumentConflict, 2));
    assert!(err.to_string().contains("a token was given twice (--token and --token-file)"), "{err}");
}

#[test]
fn socket_and_url_flags_together_are_a_usage_error() {
    for argv in [
        &["--socket", "/s.sock", "--url", "https://h:1", "health"][..],
        &["health", "--url", "https://h:1", "--socket", "/s.sock"],
    ] {
        let err = Cli::try_parse_args(["vanta-cli"].iter().chain(argv)).err().expect("refused");
        assert_eq!((err.kind(), err.exit_code()), (clap::error::ErrorKind::ArgumentConflict, 2), "{argv:?}");
    }
    let url = Cli::try_parse_args(["vanta-cli", "health", "--url", "https://h:1"]).expect("valid");
    assert_eq!(url.agent.endpoint().to_string(), "https://h:1");
    let socket = Cli::try_parse_args(["vanta-cli", "--socket", "/s.sock", "health", "--ready"]).expect("valid");
    assert_eq!(socket.agent.endpoint().to_string(), "/s.sock");
}

#[test]
fn plain_http_off_loopback_is_a_usage_error() {
    let err = Cli::try_parse_args(["vanta-cli", "--url", "http://vanta.internal:80", "health"]).err();
    let err = err.expect("refused");
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("only allowed to a loopback address"), "{err}");
}

#[test]
fn bad_names_are_usage_errors() {
    for bad in [["--environment", "../x"], ["--environment", ""]] {
        let err =
            Cli::try_parse_from(["vanta-cli", "get"].into_iter().chain(bad).chain(["KEY"])).err().expect("refused");
        assert_eq!(err.exit_code(), 2);
    }
}

#[test]
fn a_token_on_the_command_line_is_noticed_but_not_one_for_the_command() {
    let parse = |argv: &[&str]| Cli::try_parse_args(argv.iter().copied()).expect("valid").token_in_argv;
    assert!(parse(&["vanta-cli", "get", "--environment", "dev", "K", "--token", "t"]));
    assert!(parse(&[
        "vanta-cli",
        "run-with-secrets",
        "--environment",
        "dev",
        "--key-pattern",
        "*",
        "--token",
        "t",
        "--",
        "x"
    ]));
    assert!(!parse(&[
        "vanta-cli",
        "run-with-secrets",
        "--environment",
        "dev",
        "--key-pattern",
        "*",
        "--",
        "x",
        "--token",
        "t"
    ]));
    assert!(!parse(&["vanta-cli", "list", "--environment", "dev"]));
}

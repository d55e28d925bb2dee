use clap::Parser;

use super::sops::resolve_executable;
use super::*;

const KEY: &str = "0123456789abcdef0123456789abcdef-test";

struct Setup {
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("sops");
    std::fs::write(&bin, "#!/bin/sh\n").expect("fake sops");
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    Setup { dir }
}

impl Setup {
    fn args(&self, extra: &[&str]) -> Args {
        let files = self.dir.path().to_str().expect("utf-8 path");
        let sops = self.dir.path().join("sops");
        let mut argv = vec!["vanta-agent", "--sops-files-path", files, "--sops-bin", sops.to_str().expect("utf-8")];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).expect("flags parse")
    }

    fn config(&self, extra: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<_> = env.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect();
        Config::from_args(self.args(extra), &env)
    }
}

#[test]
fn defaults_follow_the_contract() {
    let s = setup();
    let c = s.config(&[], &[(KEY_VAR, KEY)]).expect("valid");
    assert_eq!(c.listen.socket.mode, 0o660);
    assert_eq!(c.sops.timeout, Duration::from_secs(10));
    assert_eq!((c.tokens.default_ttl_minutes, c.tokens.max_ttl_minutes), (15, 60));
    assert_eq!((c.tokens.issuer.as_str(), c.tokens.audience.as_str()), ("vanta-agent", "vanta-vault"));
    assert_eq!(c.audit, Audit { path: None, fsync: false });
    assert_eq!(c.tokens.key.expose_secret(), KEY.as_bytes());
}

#[test]
fn key_errors_never_show_the_key() {
    let s = setup();
    let short = "short-but-secret-value";
    let err = s.config(&[], &[(KEY_VAR, short)]).err().expect("too short").to_string();
    assert!(err.contains("22 bytes") && !err.contains(short), "{err}");
    assert!(matches!(s.config(&[], &[]), Err(ConfigError::Missing(_))));
    let both = s.config(&[], &[(KEY_VAR, KEY), (KEY_FILE_VAR, "/x")]);
    assert!(matches!(both, Err(ConfigError::Conflict(..))));
}

#[test]
fn key_file_drops_one_trailing_newline() {
    let s = setup();
    let path = s.dir.path().join("jwt.key");
    std::fs::write(&path, format!("{KEY}\n")).expect("write key");
    let c = s.config(&[], &[(KEY_FILE_VAR, path.to_str().expect("utf-8"))]).expect("valid");
    assert_eq!(c.tokens.key.expose_secret(), KEY.as_bytes());
    std::fs::write(&path, "short\n").expect("write key");
    let short = s.config(&[], &[(KEY_FILE_VAR, path.to_str().expect("utf-8"))]).err().expect("short").to_string();
    assert!(short.starts_with("VANTA_JWT_SECRET_KEY_FILE:") && short.contains("5 bytes"), "{short}");
    let missing = s.config(&[], &[(KEY_FILE_VAR, "/nonexistent/key")]);
    assert!(matches!(missing, Err(ConfigError::KeyFile { .. })));
}

#[test]
fn a_key_file_of_raw_bytes_is_taken_whole() {
    let s = setup();
    let path = s.dir.path().join("jwt.bin");
    // Not UTF-8 (0xff), and ending in a newline byte that is part of the key.
    let raw: Vec<u8> = (0u8..47).map(|i| i.wrapping_mul(37) ^ 0xff).chain([b'\n']).collect();
    std::fs::write(&path, &raw).expect("write key");
    let c = s.config(&[], &[(KEY_FILE_VAR, path.to_str().expect("utf-8"))]).expect("a binary key is a key");
    assert_eq!(c.tokens.key.expose_secret(), &raw[..]);
}

#[test]
fn a_previous_key_file_of_raw_bytes_is_one_key_so_a_binary_key_can_be_rotated() {
    let s = setup();
    let path = s.dir.path().join("old.bin");
    let raw: Vec<u8> = (0u8..48).map(|i| i.wrapping_mul(53) ^ 0xfe).collect();
    std::fs::write(&path, &raw).expect("write key");
    let c = s.config(&[], &[(KEY_VAR, KEY), (PREVIOUS_KEYS_FILE_VAR, path.to_str().expect("utf-8"))]).expect("valid");
    assert_eq!(c.tokens.previous_keys.len(), 1);
    assert_eq!(c.tokens.previous_keys[0].expose_secret(), &raw[..]);
}

#[test]
fn previous_keys_are_each_checked() {
    let s = setup();
    let two = format!("{KEY}1,\n{KEY}2\n");
    let c = s.config(&[], &[(KEY_VAR, KEY), (PREVIOUS_KEYS_VAR, &two)]).expect("valid");
    assert_eq!(c.tokens.previous_keys.len(), 2);
    assert!(s.config(&[], &[(KEY_VAR, KEY), (PREVIOUS_KEYS_VAR, "short")]).is_err());
}

#[test]
fn bad_values_are_refused() {
    let s = setup();
    let env = [(KEY_VAR, KEY)];
    for extra in [
        &["--socket-mode", "999"][..],
        &["--socket-mode", "rw"],
        &["--max-ttl-minutes", "0"],
        &["--default-ttl-minutes", "61"],
        &["--sops-timeout-seconds", "0"],
        &["--audit-log", ""],
        &["--issuer", ""],
        &["--sops-bin", "/nonexistent/sops"],
        &["--sops-files-path", "/nonexistent/dir"],
    ] {
        assert!(s.config(extra, &env).is_err(), "{extra:?}");
    }
    assert_eq!(s.config(&["--socket-mode", "0600"], &env).expect("valid").listen.socket.mode, 0o600);
}

#[test]
fn a_socket_path_no_client_could_connect_to_is_refused() {
    let s = setup();
    let env = [(KEY_VAR, KEY)];
    let longest = format!("/run/{}", "s".repeat(102));
    assert!(s.config(&["--socket", &longest], &env).is_ok(), "107 bytes fit sun_path with its NUL");
    let err = s.config(&["--socket", &format!("{longest}s")], &env).err().expect("108 bytes do not").to_string();
    assert!(err.contains("--socket") && err.contains("it is 108 bytes long"), "{err}");
    // A short name in a deep directory: the staging path beside it is longer.
    let deep = format!("/{}/a.sock", "d".repeat(99));
    let err = s.config(&["--socket", &deep], &env).err().expect("its staging path does not fit").to_string();
    assert!(err.contains("needs 113 bytes") && err.contains("at most 107"), "{err}");
}

#[test]
fn sops_gets_only_what_its_backends_need() {
    let s = setup();
    let env = [
        (KEY_VAR, KEY),
        ("VANTA_SOPS_AGE", "x"),
        ("PATH", "/bin"),
        ("SOPS_AGE_KEY_FILE", "/k"),
        ("AWS_PROFILE", "p"),
        ("GNUPGHOME", "/g"),
        ("DATABASE_PASSWORD", "nope"),
    ];
    let c = s.config(&[], &env).expect("valid");
    let mut names: Vec<_> = c.sops.env.iter().map(|(k, _)| k.to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["AWS_PROFILE", "GNUPGHOME", "PATH", "SOPS_AGE_KEY_FILE"]);
}

#[test]
fn tcp_listener_rules() {
    let s = setup();
    let env = [(KEY_VAR, KEY)];
    assert!(s.config(&[], &env).expect("valid").listen.tcp.is_none());
    let https = s.config(&["--listen-tcp", "0.0.0.0:8443", "--tls-cert", "c.pem", "--tls-key", "k.pem"], &env);
    assert!(https.expect("valid").listen.tcp.expect("tcp").tls.is_some());
    let plain = s.config(&["--listen-tcp", "127.0.0.1:8080", "--insecure-tcp"], &env).expect("valid");
    assert_eq!(plain.listen.tcp.expect("tcp").tls, None);
    for bad in [
        &["--listen-tcp", "0.0.0.0:8080", "--insecure-tcp"][..],
        &["--listen-tcp", "127.0.0.1:8443"],
        &["--listen-tcp", "127.0.0.1:8443", "--tls-cert", "c.pem"],
        &["--listen-tcp", "127.0.0.1:8443", "--tls-cert", "c", "--tls-key", "k", "--insecure-tcp"],
        &["--tls-cert", "c.pem", "--tls-key", "k.pem"],
        &["--max-tcp-connections", "8"],
    ] {
        assert!(s.config(bad, &env).is_err(), "{bad:?}");
    }
    let tcp = ["--listen-tcp", "127.0.0.1:8080", "--insecure-tcp"];
    let cap = |args: &[&str]| s.config(args, &env).expect("valid").listen.tcp.expect("tcp").max_connections;
    assert_eq!(cap(&tcp), 256, "the default");
    assert_eq!(cap(&[&tcp[..], &["--max-tcp-connections", "8"]].concat()), 8);
}

#[test]
fn admin_token_comes_from_a_file_and_is_checked() {
    let s = setup();
    let path = s.dir.path().join("admin");
    std::fs::write(&path, "short").expect("write");
    let env = [(KEY_VAR, KEY), (ADMIN_TOKEN_FILE_VAR, path.to_str().expect("utf-8"))];
    let tcp = ["--listen-tcp", "127.0.0.1:8080", "--insecure-tcp"];
    let err = s.config(&tcp, &env).err().expect("too short").to_string();
    assert!(!err.contains("short\"") && err.contains("5 bytes"), "{err}");
    std::fs::write(&path, format!("{KEY}\n")).expect("write");
    assert!(s.config(&tcp, &env).expect("valid").mint.admin_token.is_some());
    // Only TCP callers present it: without TCP it would be ignored.
    let err = s.config(&[], &env).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("VANTA_ADMIN_TOKEN_FILE applies to TCP callers only and needs --listen-tcp"), "{err}");
}

#[test]
fn sops_is_found_on_path() {
    let s = setup();
    let path_var = OsString::from(format!("/nonexistent:{}", s.dir.path().display()));
    assert_eq!(resolve_executable(Path::new("sops"), Some(&path_var)), Some(s.dir.path().join("sops")));
    assert_eq!(resolve_executable(Path::new("sops"), None), None);
}

#[test]
fn weak_keys_are_refused_with_how_to_make_one() {
    let s = setup();
    for weak in ["a".repeat(32), "ab".repeat(20), "0123456".repeat(6)] {
        let err = s.config(&[], &[(KEY_VAR, &weak)]).err().expect("weak key refused").to_string();
        assert!(err.contains("openssl rand -base64 48") && !err.contains(&weak), "{err}");
    }
    let eight = "01234567".repeat(5);
    assert!(s.config(&[], &[(KEY_VAR, &eight)]).is_ok(), "8 distinct bytes are enough");
}

#[test]
fn inline_key_material_is_named_but_key_files_are_not() {
    let s = setup();
    let env = [
        (KEY_VAR, KEY),
        ("SOPS_AGE_KEY", "AGE-SECRET-KEY-1XYZ"),
        ("SOPS_AGE_KEY_FILE", "/k"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
        ("AWS_ACCESS_KEY_ID", "x"),
        ("VAULT_TOKEN", "x"),
        ("SOPS_PGP_FP", "x"),
    ];
    let c = s.config(&[], &env).expect("valid");
    assert_eq!(c.sops.inline_key_vars(), ["SOPS_AGE_KEY", "AWS_SECRET_ACCESS_KEY", "VAULT_TOKEN"]);
}

#[test]
fn a_policy_file_excludes_the_mint_flags() {
    let s = setup();
    let env = [("VANTA_JWT_SECRET_KEY", KEY)];
    let alone = s.config(&["--policy-file", "/etc/vanta/policy.toml"], &env).expect("valid");
    assert!(matches!(alone.mint.rules, MintRules::File(p) if p == Path::new("/etc/vanta/policy.toml")));
    for flag in [
        "--mint-allowed-environments=dev",
        "--mint-allowed-key-patterns=A_*",
        "--mint-max-usage-limit=3",
        "--mint-allowed-uids=0",
    ] {
        let both = s.config(&["--policy-file", "/etc/vanta/policy.toml", flag], &env);
        assert!(matches!(both, Err(ConfigError::Conflict("--policy-file", _))), "{flag}");
    }
}

#[test]
fn each_flag_reaches_its_part() {
    let s = setup();
    let audit = s.dir.path().join("audit.jsonl");
    let flags = [
        "--socket=/run/v/a.sock",
        "--max-connections=7",
        "--listen-tcp=127.0.0.1:8080",
        "--insecure-tcp",
        "--max-tcp-connections=5",
        "--body-timeout-seconds=3",
        "--request-timeout-seconds=40",
        "--worker-threads=3",
        "--require-request-header",
        "--clock-leeway-seconds=9",
        "--default-ttl-minutes=4",
        "--max-ttl-minutes=8",
        "--sops-timeout-seconds=11",
        "--cache-ttl-seconds=12",
        "--usage-lease-seconds=13",
        "--mint-allowed-uids=1001,1002",
        "--mint-max-usage-limit=6",
        "--audit-fsync",
        "--log=debug",
        "--log-format=json",
    ];
    let audit_flag = format!("--audit-log={}", audit.display());
    let c = s.config(&[&flags[..], &[audit_flag.as_str()]].concat(), &[(KEY_VAR, KEY)]).expect("valid");
    let socket = &c.listen.socket;
    assert_eq!((socket.path.as_path(), socket.max_connections), (Path::new("/run/v/a.sock"), 7));
    let tcp = c.listen.tcp.expect("tcp listens");
    assert_eq!((tcp.addr.to_string().as_str(), tcp.tls, tcp.max_connections), ("127.0.0.1:8080", None, 5));
    let http = Http {
        require_request_header: true,
        body_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(40),
        worker_threads: Some(3),
    };
    assert_eq!(c.http, http);
    let t = &c.tokens;
    assert_eq!((t.clock_leeway, t.default_ttl_minutes, t.max_ttl_minutes), (Duration::from_secs(9), 4, 8));
    assert_eq!((c.sops.timeout, c.sops.cache_ttl), (Duration::from_secs(11), Duration::from_secs(12)));
    assert_eq!(c.usage.lease, Duration::from_secs(13));
    let MintRules::Flags(ceiling) = &c.mint.rules else { panic!("the --mint-* flags make the rules") };
    assert_eq!((ceiling.uids.as_deref(), ceiling.max_usage_limit), (Some(&[1001, 1002][..]), Some(6)));
    assert!(ceiling.environments.is_none() && ceiling.key_patterns.is_none());
    assert_eq!(c.audit, Audit { path: Some(audit), fsync: true });
    assert_eq!(c.log, Log { filter: "debug".into(), format: LogFormat::Json });
}

#[test]
fn numbers_outside_their_range_are_refused_naming_the_bound() {
    let s = setup();
    let env = [(KEY_VAR, KEY)];
    for (flag, value, problem) in [
        ("--max-connections", "18446744073709551615", "must be at most 1000000"),
        ("--max-tcp-connections", "1000001", "must be at most 1000000"),
        ("--worker-threads", "1025", "must be at most 1024"),
        ("--mint-max-usage-limit", "0", "must be at least 1"),
        ("--clock-leeway-seconds", "601", "must be at most 600"),
        ("--usage-lease-seconds", "86401", "must be at most 86400"),
    ] {
        let err = s.config(&[flag, value], &env).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with(flag) && err.ends_with(problem), "{flag} {value}: {err}");
    }
    let flags = [
        "--max-connections=1000000",
        "--max-tcp-connections=1000000",
        "--worker-threads=1024",
        "--mint-max-usage-limit=1",
        "--clock-leeway-seconds=600",
        "--clock-leeway-seconds=0",
        "--usage-lease-seconds=86400",
    ];
    for flag in flags {
        let tcp: &[&str] =
            if flag.starts_with("--max-tcp") { &["--listen-tcp", "127.0.0.1:8080", "--insecure-tcp"] } else { &[] };
        assert!(s.config(&[tcp, &[flag]].concat(), &env).is_ok(), "{flag} is the bound itself");
    }
}

// The leeway keeps a token acceptable after its expiry while its use count is
// kept only `PRUNE_GRACE_SECS` past expiry: the longest leeway must end well
// before (checked when the tests compile; `config` itself uses no other leaf).
const _: () = assert!(MAX_CLOCK_LEEWAY_SECS * 2 <= crate::usage::PRUNE_GRACE_SECS);

#[test]
fn secrets_in_the_environment_must_be_utf8_and_are_never_shown() {
    use std::os::unix::ffi::OsStrExt;
    let s = setup();
    // A valid key but for one byte that is not UTF-8 (a lossy reading would
    // have turned it into U+FFFD and accepted a different key).
    let bytes = [KEY.as_bytes(), b"\xff"].concat();
    let value = std::ffi::OsStr::from_bytes(&bytes).to_os_string();
    for (name, extra) in [
        (KEY_VAR, &[][..]),
        (PREVIOUS_KEYS_VAR, &[][..]),
        ("VANTA_USAGE_STORE_PASSWORD", &["--usage-store", "redis://r:6379/0"][..]),
    ] {
        let mut env = vec![(OsString::from(KEY_VAR), OsString::from(KEY))];
        env.retain(|(k, _)| k != name);
        env.push((OsString::from(name), value.clone()));
        let err = Config::from_args(s.args(extra), &env).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with(name) && err.contains("not valid UTF-8"), "{name}: {err}");
        assert!(!err.contains(KEY), "{name}: the value is shown: {err}");
    }
}

#[test]
fn the_sops_part_shows_the_names_of_its_variables_never_their_values() {
    let s = setup();
    let env = [(KEY_VAR, KEY), ("SOPS_AGE_KEY", "AGE-SECRET-KEY-1SECRETVALUE"), ("VAULT_TOKEN", "hvs.secret-token")];
    let shown = format!("{:?}", s.config(&[], &env).expect("valid").sops);
    assert!(shown.contains("SOPS_AGE_KEY") && shown.contains("VAULT_TOKEN"), "{shown}");
    assert!(!shown.contains("SECRETVALUE") && !shown.contains("secret-token"), "a value is shown: {shown}");
}

#[test]
fn settings_without_effect_are_refused_or_named() {
    let s = setup();
    let env = [(KEY_VAR, KEY)];
    let err = s.config(&["--audit-fsync"], &env).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(err, "--audit-fsync (VANTA_AUDIT_FSYNC): applies to an audit file only, not to --audit-log -");
    assert!(s.config(&[], &env).expect("valid").warnings.is_empty());
    // Images and manifests set VANTA_STATE_PATH for every store: a warning.
    for flags in [
        &["--state-path=/s/u.db", "--usage-store=redis://r:6379/0"][..],
        &["--state-path=/s/u.db", "--usage-store=sqlite:/x/u.db"],
    ] {
        let c = s.config(flags, &env).expect("valid");
        assert!(
            c.warnings.iter().any(|w| w.starts_with("--state-path (VANTA_STATE_PATH) is set but not read")),
            "{flags:?}"
        );
    }
}

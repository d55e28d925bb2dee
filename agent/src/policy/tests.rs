use std::path::PathBuf;

use super::*;

fn policy(text: &str) -> Policy {
    let rules = file::parse(text).unwrap_or_else(|(line, reason)| panic!("line {line:?}: {reason}"));
    Policy { rules, origin: Origin::File(PathBuf::from("test.toml")) }
}

fn caller() -> Caller {
    Caller {
        pid: Some(42),
        uid: 1001,
        gid: 1001,
        groups: vec![2000, 2001],
        user: Some("payments".into()),
        group_names: vec!["payments".into(), "vanta-users".into()],
        exe: Some("/usr/local/bin/payments-api".into()),
        exe_sha256: Some("ab".repeat(32)),
        cgroup: Some("/kubepods/besteffort/pod1234-5678/cri-containerd-abc".into()),
        foreign_user_namespace: false,
    }
}

const GRANT: &str = "environments = [\"prod\"]\nkey_patterns = [\"DATABASE_*\"]\n";

fn covered_by(selector: &str, who: &Caller) -> bool {
    let p = policy(&format!("[[rule]]\nname = \"r\"\n{selector}\n{GRANT}"));
    p.rule_for(Who::Local(who)).is_ok()
}

#[test]
fn every_selector_matches_and_misses() {
    let c = caller();
    let sha = "ab".repeat(32);
    let cases = [
        ("uids = [1001]", true),
        ("uids = [5, 1001]", true),
        ("uids = [1000]", false),
        ("gids = [1001]", true),
        ("gids = [2001]", true), // supplementary
        ("gids = [3000]", false),
        ("users = [\"payments\"]", true),
        ("users = [\"search\"]", false),
        ("groups = [\"vanta-users\"]", true),
        ("groups = [\"wheel\"]", false),
        ("exe = \"/usr/local/bin/payments-*\"", true),
        ("exe = \"/usr/bin/*\"", false),
        ("exe = \"/usr/local/bin/payments\"", false),
        (&format!("exe_sha256 = \"{sha}\"") as &str, true),
        (&format!("exe_sha256 = \"{}\"", sha.to_uppercase()), true),
        (&format!("exe_sha256 = \"{}\"", "cd".repeat(32)), false),
        ("cgroup = \"/kubepods/*/pod1234-5678/*\"", true),
        ("cgroup = \"/kubepods/*/pod9999/*\"", false),
        ("uids = [1001]\nexe = \"/usr/bin/*\"", false), // every selector must match
        ("uids = [1001]\ngroups = [\"payments\"]\ncgroup = \"/kubepods/*\"", true),
        ("", true),
    ];
    for (selector, want) in cases {
        assert_eq!(covered_by(selector, &c), want, "{selector}");
    }
}

#[test]
fn unknown_facts_never_match() {
    let bare = Caller { uid: 1001, gid: 1001, ..Caller::default() };
    for selector in ["users = [\"payments\"]", "groups = [\"payments\"]", "exe = \"*\"", "cgroup = \"*\""] {
        assert!(!covered_by(selector, &bare), "{selector}");
    }
    let sha = format!("exe_sha256 = \"{}\"", "ab".repeat(32));
    assert!(!covered_by(&sha, &bare));
}

#[test]
fn the_first_matching_rule_wins_and_nothing_else_is_covered() {
    let p = policy(&format!(
        "[[rule]]\nname = \"narrow\"\nuids = [1001]\nexe = \"/usr/local/bin/payments-*\"\n{GRANT}\
         [[rule]]\nname = \"broad\"\nuids = [1001, 1002]\n{GRANT}\
         [[rule]]\nname = \"admin\"\nadmin_token = true\n{GRANT}"
    ));
    let c = caller();
    assert_eq!(p.rule_for(Who::Local(&c)).map(|r| r.name.as_str()), Ok("narrow"));
    let other_exe = Caller { exe: Some("/tmp/x".into()), ..caller() };
    assert_eq!(p.rule_for(Who::Local(&other_exe)).map(|r| r.name.as_str()), Ok("broad"));
    let stranger = Caller { uid: 7, ..caller() };
    assert_eq!(p.rule_for(Who::Local(&stranger)).map(|r| r.name.as_str()), Err(Refusal::NoRule));
    assert_eq!(p.rule_for(Who::Unknown).map(|r| r.name.as_str()), Err(Refusal::NoRule));
    assert_eq!(p.rule_for(Who::Admin).map(|r| r.name.as_str()), Ok("admin"));
    assert_eq!(p.rule_for(Who::Remote).map(|r| r.name.as_str()), Err(Refusal::NotAdmin));
    let reordered = policy(&format!(
        "[[rule]]\nname = \"broad\"\nuids = [1001, 1002]\n{GRANT}\
         [[rule]]\nname = \"narrow\"\nuids = [1001]\n{GRANT}"
    ));
    assert_eq!(reordered.rule_for(Who::Local(&c)).map(|r| r.name.as_str()), Ok("broad"));
}

#[test]
fn grants_limit_environment_pattern_ttl_usage_and_revoke() {
    let p = policy(
        "[[rule]]\nname = \"payments\"\nuids = [1001]\nenvironments = [\"prod\"]\nkey_patterns = [\"DATABASE_*\"]\n\
         max_ttl_minutes = 15\nmax_usage_limit = 10\nmay_revoke = false\n",
    );
    let c = caller();
    let rule = p.rule_for(Who::Local(&c)).expect("covered");
    let (prod, dev): (EnvName, EnvName) = ("prod".parse().expect("env"), "dev".parse().expect("env"));
    let (db, star): (KeyPattern, KeyPattern) = ("DATABASE_URL".parse().expect("p"), "*".parse().expect("p"));
    let ask = |environment, key_pattern, ttl_minutes, usage_limit| MintAsk {
        environment,
        key_pattern,
        ttl_minutes,
        usage_limit,
    };
    assert_eq!(rule.check_mint(&ask(&prod, &db, 15, Some(10))), Ok(()));
    assert_eq!(rule.check_mint(&ask(&dev, &db, 15, Some(10))), Err(Refusal::Environment));
    assert_eq!(rule.check_mint(&ask(&prod, &star, 15, Some(10))), Err(Refusal::Pattern));
    assert_eq!(rule.check_mint(&ask(&prod, &db, 16, Some(10))), Err(Refusal::Ttl(15)));
    assert_eq!(rule.check_mint(&ask(&prod, &db, 15, None)), Err(Refusal::UsageLimit));
    assert_eq!(rule.check_mint(&ask(&prod, &db, 15, Some(11))), Err(Refusal::UsageLimit));
    assert_eq!(rule.check_revoke(), Err(Refusal::Revoke));
}

#[test]
fn the_flags_make_one_rule_for_every_caller() {
    let open = Policy::from_flags(FlagCeiling::default());
    let c = caller();
    for who in [Who::Local(&c), Who::Unknown, Who::Admin] {
        assert_eq!(open.rule_for(who).map(|r| r.name.as_str()), Ok(FLAGS_RULE));
    }
    assert_eq!(open.rule_for(Who::Remote).map(|r| r.name.as_str()), Err(Refusal::NotAdmin));
    assert!(!open.needs_attestation());
    let uids = Policy::from_flags(FlagCeiling { uids: Some(vec![1000]), ..FlagCeiling::default() });
    assert_eq!(uids.rule_for(Who::Local(&c)).map(|r| r.name.as_str()), Err(Refusal::NoRule));
    assert_eq!(uids.rule_for(Who::Unknown).map(|r| r.name.as_str()), Err(Refusal::NoRule));
}

#[test]
fn broken_files_say_the_line_and_the_reason() {
    let cases = [
        ("[[rule]]\nname = \"a\"\nuid = [1]\n", Some(3), "unknown field `uid`"),
        ("[[rule]]\nname = \"a\"\nuids = [1]\n", Some(1), "missing field `environments`"),
        ("[[rule]]\nname = \"a\"\nuids = [\n", Some(3), ""),
        (&format!("[[rule]]\nname = \"a\"\nuids = []\n{GRANT}") as &str, Some(1), "uids is empty"),
        (&format!("[[rule]]\nname = \"a\"\n{GRANT}\n[[rule]]\nname = \"a\"\n{GRANT}"), Some(6), "used twice"),
        (&format!("[[rule]]\nname = \"a\"\nexe_sha256 = \"xyz\"\n{GRANT}"), Some(1), "64 hex digits"),
        (&format!("[[rule]]\nname = \"a\"\nadmin_token = true\nuids = [1]\n{GRANT}"), Some(1), "takes no other"),
        ("[[rule]]\nname = \"a\"\nenvironments = [\"../x\"]\nkey_patterns = [\"*\"]\n", Some(3), ""),
        ("", None, "no [[rule]]"),
    ];
    for (text, line, reason) in cases {
        let (got_line, got_reason) = file::parse(text).err().unwrap_or_else(|| panic!("accepted: {text}"));
        assert_eq!(got_line, line, "{text}: {got_reason}");
        assert!(got_reason.contains(reason) && !got_reason.contains('\n'), "{text}: {got_reason}");
    }
}

#[test]
fn a_reload_with_a_broken_file_keeps_the_policy_in_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, format!("[[rule]]\nname = \"one\"\n{GRANT}")).expect("write");
    let live = LivePolicy::new(Policy::load(&path).expect("loads"));
    std::fs::write(&path, format!("[[rule]]\nname = \"two\"\n{GRANT}")).expect("write");
    assert!(matches!(live.reload(), Some(Ok(_))));
    assert_eq!(live.get().rules()[0].name, "two");
    std::fs::write(&path, "[[rule]]\nname = ").expect("write");
    let err = live.reload().expect("from a file").expect_err("broken");
    assert_eq!(err.line, Some(2));
    assert_eq!(live.get().rules()[0].name, "two");
    assert!(LivePolicy::new(Policy::from_flags(FlagCeiling::default())).reload().is_none());
}

#[test]
fn the_shipped_kubernetes_policy_loads() {
    let rules = file::parse(include_str!("../../../k8s/examples/per-node/policy.toml")).expect("valid policy");
    let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["payments", "search-indexer"]);
}

#[test]
fn in_another_user_namespace_only_the_executables_hash_counts() {
    // There the caller may have mounted any file at the rule's path.
    let foreign = Caller { foreign_user_namespace: true, ..caller() };
    assert!(covered_by("exe = \"/usr/local/bin/payments-*\"", &caller()));
    assert!(!covered_by("exe = \"/usr/local/bin/payments-*\"", &foreign));
    assert!(covered_by(&format!("exe_sha256 = \"{}\"", "ab".repeat(32)), &foreign));
    assert!(covered_by("uids = [1001]", &foreign), "other selectors are unaffected");
}

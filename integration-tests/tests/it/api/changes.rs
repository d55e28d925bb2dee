//! Change detection of cached secrets (operator guide, "Decryption and the
//! cache"): a file whose changes the directory's inotify watch cannot see
//! is checked on every fetch, and so is served fresh from the first fetch
//! after a change.

use std::fs;
use std::os::unix::fs::MetadataExt;

use vanta_integration_tests::fixtures;

use crate::common::dev_agent;

#[test]
fn a_write_through_another_hard_link_is_served_at_once() {
    let agent = dev_agent();
    let recipient = agent.age_key().recipient();
    // The file's other name lives in a directory the agent does not watch.
    let elsewhere = agent.paths().root.join("elsewhere");
    fs::create_dir(&elsewhere).expect("another directory");
    let other_name = fixtures::encrypt_yaml(recipient, "TOKEN: first-token-7a\n", &elsewhere, "prod");
    let in_vault = agent.paths().vault.join("prod.enc.yaml");
    fs::hard_link(&other_name, &in_vault).expect("hard link into the vault");
    let token = agent.mint_for("prod", "*");
    assert_eq!(agent.secret_value("prod", "TOKEN", &token), "first-token-7a");
    assert_eq!(agent.secret_value("prod", "TOKEN", &token), "first-token-7a", "cached");
    // Re-encrypt elsewhere, then copy the bytes into the other name in place
    // (truncate and write, no rename): the file in the vault keeps its inode.
    let scratch = tempfile::tempdir().expect("scratch");
    let rotated = fixtures::encrypt_yaml(recipient, "TOKEN: second-token-8b\n", scratch.path(), "prod");
    let inode = fs::metadata(&in_vault).expect("stat").ino();
    fs::write(&other_name, fs::read(&rotated).expect("read")).expect("write in place");
    assert_eq!(fs::metadata(&in_vault).expect("stat").ino(), inode, "same file");
    assert_eq!(agent.secret_value("prod", "TOKEN", &token), "second-token-8b");
}

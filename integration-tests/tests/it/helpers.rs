//! The helper binaries are part of the harness (and `make demo` uses
//! `age-keygen`): check that they do what the tests rely on.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use vanta_integration_tests::bins;
use vanta_integration_tests::process::{DEADLINE, output_with_deadline};

#[test]
fn age_keygen_writes_a_key_file_like_age_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key.txt");
    let finished = output_with_deadline(Command::new(bins::helper("age-keygen")).arg("-o").arg(&file), DEADLINE);
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr_text());
    assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let text = fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("# created: ") && lines[0].ends_with('Z'), "{text}");
    let recipient = lines[1].strip_prefix("# public key: ").expect("public key line");
    assert!(recipient.starts_with("age1") && lines[2].starts_with("AGE-SECRET-KEY-1"), "{text}");
    assert_eq!(finished.stderr_text(), format!("Public key: {recipient}\n"));
    let to_stdout = output_with_deadline(&mut Command::new(bins::helper("age-keygen")), DEADLINE);
    assert!(to_stdout.stdout_text().contains("AGE-SECRET-KEY-1"));
}

#[test]
fn an_age_keygen_key_decrypts_what_sops_encrypted_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key.txt");
    let keygen = output_with_deadline(Command::new(bins::helper("age-keygen")).arg("-o").arg(&key_file), DEADLINE);
    let stderr = keygen.stderr_text();
    let recipient = stderr.trim().strip_prefix("Public key: ").expect("public key on stderr");
    vanta_integration_tests::fixtures::encrypt_yaml(recipient, "K: v-123\n", dir.path(), "dev");
    let decrypted = output_with_deadline(
        Command::new(bins::sops())
            .env("SOPS_AGE_KEY_FILE", &key_file)
            .args(["decrypt", "--extract", "[\"K\"]"])
            .arg(dir.path().join("dev.enc.yaml")),
        DEADLINE,
    );
    assert_eq!(decrypted.stdout_text(), "v-123", "{}", decrypted.stderr_text());
}

#[test]
fn print_env_and_exit_with_behave() {
    let env = output_with_deadline(
        Command::new(bins::helper("print-env")).env_clear().env("A_B", "x\ny").args(["A_B", "MISSING"]),
        DEADLINE,
    );
    let json: serde_json::Value = serde_json::from_slice(&env.stdout).unwrap();
    assert_eq!(json, serde_json::json!({"A_B": "x\ny", "MISSING": null}));
    let exit = output_with_deadline(Command::new(bins::helper("exit-with")).arg("7"), DEADLINE);
    assert_eq!(exit.code(), Some(7));
}

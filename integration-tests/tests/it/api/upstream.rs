//! The upstream SOPS project's own fixtures (PGP-encrypted), served through a
//! private GNUPGHOME: real-world files the tests did not write themselves.

use serde_json::json;
use vanta_integration_tests::agent::TestAgent;
use vanta_integration_tests::fixtures;

use crate::common::{assert_error, ok_json};

const RSA_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIBPAIBAAJBAPTMNIyHuZtpLYc7VsHQtwOkWYobkUblmHWRmbXzlAX6K8tMf3Wf
ImcbNkqAKnELzFAPSBeEMhrBN0PyOC9lYlMCAwEAAQJBALXD4sjuBn1E7Y9aGiMz
bJEBuZJ4wbhYxomVoQKfaCu+kH80uLFZKoSz85/ySauWE8LgZcMLIBoiXNhDKfQL
vHECIQD6tCG9NMFWor69kgbX8vK5Y+QL+kRq+9HK6yZ9a+hsLQIhAPn4Ie6HGTjw
fHSTXWZpGSan7NwTkIu4U5q2SlLjcZh/AiEA78NYRRBwGwAYNUqzutGBqyXKUl4u
Erb0xAEyVV7e8J0CIQC8VBY8f8yg+Y7Kxbw4zDYGyb3KkXL10YorpeuZR4LuQQIg
bKGPkMM4w5blyE1tqGN0T7sJwEx+EUOgacRNqM2ljVA=
-----END RSA PRIVATE KEY-----
";

fn upstream_agent() -> TestAgent {
    TestAgent::builder()
        .upstream("example.enc.yaml", "example")
        .upstream("comments.enc.yaml", "comments")
        .upstream("no_mac.enc.yaml", "nomac")
        .start()
}

#[test]
fn the_readme_example_is_served() {
    let agent = upstream_agent();
    let token = agent.mint_for("example", "*");
    let cases = [
        ("myapp1", "t00m4nys3cr3tzupdated"),
        ("app2/db/user", "eve"),
        ("app2/db/password", "c4r1b0u"),
        ("app2/key", RSA_KEY),
        ("number", "1.234568e+09"),
        ("this/is/a/nested/value", "with something secret in it"),
        ("nested_unencrypted/this/is/all", "going to remain in clear text"),
    ];
    for (key, want) in cases {
        assert_eq!(agent.secret_value("example", key, &token), want, "{key}");
    }
    for key in ["an_array", "somebooleans", "somelist_unencrypted", "app2", "app2/db"] {
        assert_error(&agent.get_secret("example", key, &token), 404, "not_found");
    }
}

#[test]
fn the_readme_example_lists_its_leaves() {
    let agent = upstream_agent();
    let body = ok_json(&agent.list_keys("example", &agent.mint_for("example", "app2/*")));
    assert_eq!(body["keys"], json!(["app2/db/password", "app2/db/user", "app2/key"]));
}

#[test]
fn encrypted_comments_do_not_get_in_the_way() {
    let agent = upstream_agent();
    let token = agent.mint_for("comments", "*");
    assert_eq!(agent.secret_value("comments", "lorem", &token), "ipsum");
    assert_eq!(agent.secret_value("comments", "dolor", &token), "sit");
    assert_eq!(ok_json(&agent.list_keys("comments", &token))["keys"], json!(["dolor", "lorem"]));
}

#[test]
fn a_file_without_mac_is_refused() {
    let agent = upstream_agent();
    let response = agent.get_secret("nomac", "hello", &agent.mint_for("nomac", "*"));
    assert_error(&response, 500, "decryption_failed");
}

#[test]
fn the_upstream_age_identity_is_one_of_several_keys() {
    let upstream = fixtures::upstream_age_recipient();
    let agent = TestAgent::builder()
        .upstream_age_key()
        .secrets("mine", "MINE: mine-value-1\n")
        .secrets_to(&upstream, "theirs", "THEIRS: theirs-value-2\n")
        .start();
    assert_eq!(agent.secret_value("mine", "MINE", &agent.mint_for("mine", "*")), "mine-value-1");
    assert_eq!(agent.secret_value("theirs", "THEIRS", &agent.mint_for("theirs", "*")), "theirs-value-2");
}

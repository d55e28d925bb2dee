//! Unit tests of the client: request URIs, TLS set-up errors, the admin
//! credential (part of `agent_client`).

use std::path::Path;

use super::*;

fn target(endpoint: &str, admin: Option<&Path>) -> Target {
    let endpoint = match endpoint.parse() {
        Ok(url) => Endpoint::Url(url),
        Err(_) => Endpoint::Socket(endpoint.into()),
    };
    let timeout = std::time::Duration::from_secs(35);
    Target { endpoint, ca_cert: None, admin_token_file: admin.map(Path::to_path_buf), timeout }
}

#[test]
fn request_uris_name_the_url_or_a_fixed_host_on_the_socket() {
    let socket = AgentClient::new(&target("/a.sock", None)).expect("client");
    // hyperlocal's form: the socket path, hex-encoded, as the host.
    assert_eq!(socket.uri("/healthz").expect("uri").to_string(), "unix://2f612e736f636b:0/healthz");
    assert_eq!(socket.name(), "/a.sock");
    let tcp = AgentClient::new(&target("http://127.0.0.1:8080", None)).expect("client");
    assert_eq!(tcp.uri("/readyz").expect("uri").to_string(), "http://127.0.0.1:8080/readyz");
    assert_eq!(tcp.name(), "http://127.0.0.1:8080");
}

#[test]
fn a_bad_ca_file_names_the_agent_and_the_file() {
    let mut https = target("https://vanta.internal:8443", None);
    https.ca_cert = Some("/nonexistent/ca.pem".into());
    let Err(err) = AgentClient::new(&https) else { panic!("a missing CA file is an error") };
    assert_eq!(err.to_string(), "cannot set up TLS for the agent at https://vanta.internal:8443");
}

#[test]
fn the_admin_credential_is_read_for_tcp_only() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("admin");
    std::fs::write(&file, "admin-credential-0123456789-0123456789\n").expect("written");
    let socket = AgentClient::new(&target("/a.sock", Some(&file))).expect("client");
    assert!(socket.admin_credential().expect("nothing to read").is_none());
    let tcp = AgentClient::new(&target("http://127.0.0.1:1", Some(&file))).expect("client");
    let sent = tcp.admin_credential().expect("read").expect("sent over TCP");
    assert_eq!(sent.expose(), "admin-credential-0123456789-0123456789");
    std::fs::write(&file, "two words\n").expect("written");
    assert!(matches!(tcp.admin_credential(), Err(Error::AdminToken { .. })));
    let missing = AgentClient::new(&target("http://127.0.0.1:1", Some(&dir.path().join("no")))).expect("client");
    assert!(matches!(missing.admin_credential(), Err(Error::AdminTokenFile { .. })));
}

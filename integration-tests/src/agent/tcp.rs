//! The agent's optional TCP listener, seen from a test (harness).
//!
//! Tests start the agent with `--listen-tcp 127.0.0.1:0` and learn the bound
//! port from its `listening` log line on stderr (plain or JSON format), so
//! no port is ever guessed or raced for.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use super::TestAgent;
use crate::process;

// === impl TestAgent ===

impl TestAgent {
    /// The address of the TCP listener, from the agent's `listening` log
    /// line (it is logged before the socket answers, so it is there once
    /// the agent has started).
    ///
    /// # Panics
    /// If no such line appears within 5 s.
    pub fn tcp_addr(&self) -> SocketAddr {
        process::poll_until(Duration::from_secs(5), "the agent to log its TCP address", || {
            self.stderr_text().lines().rev().find_map(listening_addr)
        })
    }
}

/// The `addr` of a `listening` log line, in either log format.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let line = strip_ansi(line);
    if !line.contains("listening") {
        return None;
    }
    if let Ok(json) = serde_json::from_str::<Value>(&line) {
        return json["fields"]["addr"].as_str()?.parse().ok();
    }
    let rest = &line[line.find("addr=")? + "addr=".len()..];
    rest.split_whitespace().next()?.trim_matches('"').parse().ok()
}

/// `text` without ANSI colour sequences (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_address_in_both_log_formats() {
        let plain = "\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2mvanta_agent::app\u{1b}[0m\u{1b}[2m:\u{1b}[0m \
                     listening \u{1b}[3maddr\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:4242 \u{1b}[3mscheme\u{1b}[0m=\"https\"";
        assert_eq!(listening_addr(plain), Some("127.0.0.1:4242".parse().expect("an address")));
        let json = r#"{"level":"INFO","fields":{"message":"listening","addr":"127.0.0.1:9","scheme":"https"}}"#;
        assert_eq!(listening_addr(json), Some("127.0.0.1:9".parse().expect("an address")));
        assert_eq!(listening_addr("listening socket=/run/a.sock mode=660"), None);
    }
}

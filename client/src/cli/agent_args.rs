//! The global options that say where the agent is and how to reach it, and
//! the rule that picks the socket or the URL (top layer, part of `cli`).
//!
//! The rule, as the operator guide states it (`docs/VAULT_ACCESS_SYSTEM_README.md`,
//! "Over TCP: `--url`, HTTPS and the admin credential"): `--url` (or `VANTA_AGENT_URL`) selects TCP and the socket setting is ignored; a flag beats a variable,
//! so `--socket` given on the command line beats `VANTA_AGENT_URL`; `--url`
//! and `--socket` both on the command line are a usage error (exit 2).

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use vanta_shared::defaults::SOCKET_PATH;

use crate::endpoint::{AgentUrl, Endpoint};

/// Where the agent is, and what to trust and present over TCP.
#[derive(Args)]
#[command(next_help_heading = "Agent connection")]
pub struct AgentArgs {
    /// The agent's Unix socket (ignored when a URL is set).
    #[arg(long, env = "VANTA_AGENT_SOCKET", default_value = SOCKET_PATH, value_name = "PATH", global = true)]
    pub socket: PathBuf,

    /// Reach the agent's TCP listener instead of the socket:
    /// https://HOST[:PORT], or http://127.0.0.1:PORT for an agent started
    /// with --insecure-tcp (plain http:// only to a loopback address).
    #[arg(long, env = "VANTA_AGENT_URL", value_name = "URL", global = true)]
    pub url: Option<AgentUrl>,

    /// PEM file of the CA certificate(s) to trust for an https:// URL,
    /// instead of the system's trusted CAs.
    #[arg(long, env = "VANTA_CA_CERT", value_name = "FILE", global = true)]
    pub ca_cert: Option<PathBuf>,

    /// File holding the agent's admin credential, sent as a Bearer token
    /// when minting over TCP (the agent refuses TCP minting without it;
    /// not sent over the socket).
    #[arg(long, env = "VANTA_ADMIN_TOKEN_FILE", value_name = "FILE", global = true)]
    pub admin_token_file: Option<PathBuf>,

    /// Longest wait for one whole answer from the agent, connecting
    /// included: longer than the agent's --request-timeout-seconds (default
    /// 30), after which the agent answers 408 itself.
    #[arg(
        long,
        env = "VANTA_AGENT_TIMEOUT_SECONDS",
        value_name = "SECONDS",
        default_value_t = DEFAULT_AGENT_TIMEOUT_SECONDS,
        value_parser = clap::value_parser!(u64).range(1..=MAX_AGENT_TIMEOUT_SECONDS),
        global = true
    )]
    pub agent_timeout_seconds: u64,
}

/// The agent's default `--request-timeout-seconds` (30) and a margin.
const DEFAULT_AGENT_TIMEOUT_SECONDS: u64 = 35;
/// A day: any longer is a typo, not a wait.
const MAX_AGENT_TIMEOUT_SECONDS: u64 = 86_400;

/// Which transport the options select.
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    Socket,
    Url,
    /// `--socket` and `--url` both on the command line.
    Conflict,
}

// === impl AgentArgs ===

impl AgentArgs {
    /// The socket, or the URL when one is set.
    pub fn endpoint(&self) -> Endpoint {
        match &self.url {
            Some(url) => Endpoint::Url(url.clone()),
            None => Endpoint::Socket(self.socket.clone()),
        }
    }

    /// Applies the rule of the module docs to what clap parsed: drops a
    /// `VANTA_AGENT_URL` that a `--socket` flag beats.
    ///
    /// # Errors
    /// The message of the usage error when `--socket` and `--url` are both
    /// on the command line.
    pub(super) fn apply_rule(&mut self, matches: &ArgMatches) -> Result<(), &'static str> {
        let url = self.url.as_ref().and(matches.value_source("url"));
        match choose(matches.value_source("socket"), url) {
            Choice::Socket => self.url = None,
            Choice::Url => {}
            Choice::Conflict => {
                return Err("--socket and --url cannot be used together: give the Unix socket or the TCP URL");
            }
        }
        Ok(())
    }
}

fn choose(socket: Option<ValueSource>, url: Option<ValueSource>) -> Choice {
    let flag = |source: Option<ValueSource>| source == Some(ValueSource::CommandLine);
    match (flag(socket), url) {
        (_, None) => Choice::Socket,
        (true, Some(ValueSource::CommandLine)) => Choice::Conflict,
        (true, Some(_)) => Choice::Socket,
        (false, Some(_)) => Choice::Url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_selects_tcp_and_a_flag_beats_a_variable() {
        use ValueSource::{CommandLine as Flag, DefaultValue as Default, EnvVariable as Env};
        let cases = [
            (Some(Default), None, Choice::Socket),
            (Some(Env), None, Choice::Socket),
            (Some(Flag), None, Choice::Socket),
            (Some(Default), Some(Flag), Choice::Url),
            (Some(Default), Some(Env), Choice::Url),
            (Some(Env), Some(Flag), Choice::Url),
            (Some(Env), Some(Env), Choice::Url),
            (Some(Flag), Some(Env), Choice::Socket),
            (Some(Flag), Some(Flag), Choice::Conflict),
        ];
        for (socket, url, want) in cases {
            assert_eq!(choose(socket, url), want, "socket {socket:?}, url {url:?}");
        }
    }
}

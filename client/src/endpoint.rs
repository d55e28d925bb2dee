//! Where the agent is: its Unix socket, or the URL of its TCP listener
//! (client bottom layer, beside `vanta_shared`: plain validated data, no I/O;
//! used by `cli` to parse `--url` and by `agent_client` to connect).
//!
//! An [`AgentUrl`] is `https://HOST[:PORT]` or, mirroring the agent's rule
//! for `--insecure-tcp`, `http://` to a loopback host only (`127.0.0.0/8`,
//! `[::1]`, `localhost`): plain HTTP to any other host is refused here, before
//! anything is resolved or connected. No user, path, query or fragment.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use hyper::Uri;

/// The agent's socket or URL; shown in every error that names the agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix domain socket.
    Socket(PathBuf),
    /// A TCP listener.
    Url(AgentUrl),
}

/// A validated `http(s)://HOST:PORT` of the agent's TCP listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentUrl {
    scheme: Scheme,
    /// The host as written, without the brackets of an IPv6 address.
    host: String,
    port: u16,
}

/// HTTPS, or plain HTTP (loopback only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// TLS 1.2 or 1.3.
    Https,
    /// Plain HTTP, only to a loopback host.
    Http,
}

/// Why a string is not a usable agent URL.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not `scheme://host[:port]` at all.
    #[error("not a URL: expected https://HOST[:PORT], e.g. https://vanta.internal:8443")]
    Syntax,
    /// A scheme other than `http` or `https`.
    #[error("unsupported scheme '{0}': use https:// (or http:// to a loopback address)")]
    Scheme(String),
    /// A user, path, query or fragment.
    #[error("give only the scheme, host and port (no user, path, query or fragment)")]
    Extra,
    /// Port 0.
    #[error("port 0 is not a port to connect to")]
    PortZero,
    /// `http://` to a host that is not loopback.
    #[error("plain http:// is only allowed to a loopback address (127.0.0.1, [::1], localhost), not {0}: use https://")]
    PlainNotLoopback(String),
}

// === impl Endpoint ===

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Socket(path) => write!(f, "{}", path.display()),
            Self::Url(url) => write!(f, "{url}"),
        }
    }
}

// === impl AgentUrl ===

impl AgentUrl {
    /// HTTPS or plain HTTP.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host name or IP address, without IPv6 brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (443 or 80 when the URL gives none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }
}

impl FromStr for AgentUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uri: Uri = s.parse().map_err(|_| UrlError::Syntax)?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(UrlError::Syntax);
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            other => return Err(UrlError::Scheme(other.to_owned())),
        };
        let path_is_root = matches!(uri.path(), "" | "/");
        // `Uri` drops a fragment silently.
        if authority.as_str().contains('@') || !path_is_root || uri.query().is_some() || s.contains('#') {
            return Err(UrlError::Extra);
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        if host.is_empty() {
            return Err(UrlError::Syntax);
        }
        // `Uri` lets an unparsable port through as no port at all.
        let port = match (authority.as_str().strip_prefix(authority.host()), scheme) {
            (Some(""), Scheme::Https) => 443,
            (Some(""), Scheme::Http) => 80,
            (Some(rest), _) => rest
                .strip_prefix(':')
                .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse().ok())
                .ok_or(UrlError::Syntax)?,
            (None, _) => return Err(UrlError::Syntax),
        };
        if port == 0 {
            return Err(UrlError::PortZero);
        }
        if scheme == Scheme::Http && !is_loopback_host(&host) {
            return Err(UrlError::PlainNotLoopback(host));
        }
        Ok(Self { scheme, host, port })
    }
}

impl fmt::Display for AgentUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Https => "https",
            Scheme::Http => "http",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// A loopback IP address, or the name `localhost` (RFC 6761).
fn is_loopback_host(host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_with_and_without_port() {
        let cases = [
            ("https://vanta.internal:8443", "https://vanta.internal:8443", "vanta.internal", 8443),
            ("https://vanta.internal", "https://vanta.internal:443", "vanta.internal", 443),
            ("HTTPS://Vanta.Internal:8443/", "https://Vanta.Internal:8443", "Vanta.Internal", 8443),
            ("https://10.1.2.3:9000", "https://10.1.2.3:9000", "10.1.2.3", 9000),
            ("https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443", "2001:db8::1", 8443),
        ];
        for (text, shown, host, port) in cases {
            let url: AgentUrl = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((url.to_string().as_str(), url.host(), url.port()), (shown, host, port), "{text}");
            assert_eq!(url.scheme(), Scheme::Https, "{text}");
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in ["http://127.0.0.1:8080", "http://127.9.8.7:1", "http://[::1]:8080", "http://localhost:8080"] {
            let url: AgentUrl = ok.parse().unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(url.is_loopback() && url.scheme() == Scheme::Http, "{ok}");
        }
        assert_eq!("http://localhost".parse::<AgentUrl>().map(|u| u.port()), Ok(80));
        for (bad, host) in [
            ("http://vanta.internal:8080", "vanta.internal"),
            ("http://10.0.0.1:8080", "10.0.0.1"),
            ("http://0.0.0.0:8080", "0.0.0.0"),
            ("http://[2001:db8::1]:80", "2001:db8::1"),
            ("http://localhost.example.com", "localhost.example.com"),
        ] {
            assert_eq!(bad.parse::<AgentUrl>(), Err(UrlError::PlainNotLoopback(host.to_owned())), "{bad}");
        }
        let refused = "http://vanta.internal".parse::<AgentUrl>().expect_err("refused").to_string();
        assert!(refused.starts_with("plain http:// is only allowed to a loopback address"), "{refused}");
    }

    #[test]
    fn everything_else_is_refused() {
        let cases = [
            ("", UrlError::Syntax),
            ("vanta.internal:8443", UrlError::Syntax),
            ("/run/vanta/agent.sock", UrlError::Syntax),
            ("https://", UrlError::Syntax),
            ("https://h:notaport", UrlError::Syntax),
            ("https://h:", UrlError::Syntax),
            ("https://h:+1", UrlError::Syntax),
            ("https://h:70000", UrlError::Syntax),
            ("https://h:0", UrlError::PortZero),
            ("unix:///run/vanta/agent.sock", UrlError::Syntax),
            ("ftp://h:21", UrlError::Scheme("ftp".to_owned())),
            ("https://user:pw@h:8443", UrlError::Extra),
            ("https://h:8443/api", UrlError::Extra),
            ("https://h:8443/?x=1", UrlError::Extra),
            ("https://h:8443#frag", UrlError::Extra),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<AgentUrl>(), Err(want), "{text:?}");
        }
    }

    #[test]
    fn endpoints_show_the_socket_or_the_url() {
        assert_eq!(Endpoint::Socket("/run/vanta/agent.sock".into()).to_string(), "/run/vanta/agent.sock");
        let url = "https://vanta.internal:8443".parse().expect("valid");
        assert_eq!(Endpoint::Url(url).to_string(), "https://vanta.internal:8443");
    }
}

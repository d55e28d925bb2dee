//! The flags of `run-with-secrets` and the small types they parse into (top
//! layer, part of `cli`).
//!
//! Only syntax is checked here (a `--key` is `KEY` or `KEY=NAME`, a name or
//! prefix has the characters of a variable name); what depends on the keys
//! the agent has (collisions, dangerous names) is checked by `commands`.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::BoolishValueParser;
use clap::{Args, ValueEnum};
use nix::sys::signal::Signal;
use vanta_shared::defaults::RUN_SUBJECT;
use vanta_shared::{EnvName, KeyPath, KeyPattern};

use super::help::RUN_EXAMPLES;
use super::not_the_end_of_options;

/// `vanta-cli run-with-secrets`
#[derive(Args)]
#[command(after_help = RUN_EXAMPLES)]
pub struct RunArgs {
    /// The environment to read from.
    #[arg(long, value_name = "ENV")]
    pub environment: EnvName,

    /// Which keys to inject: every key a glob matches, or the --key ones
    /// (which must match one). Repeatable.
    #[arg(long = "key-pattern", value_name = "PATTERN", required = true)]
    pub key_patterns: Vec<KeyPattern>,

    /// Inject exactly this key (repeatable) instead of every matching key;
    /// KEY=NAME gives its variable an explicit name.
    #[arg(long = "key", value_name = "KEY[=NAME]")]
    pub keys: Vec<KeySpec>,

    /// Put PREFIX before every variable name derived from a key (not before
    /// the NAME of a KEY=NAME).
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<VarPrefix>,

    /// How the command receives the secrets.
    #[arg(long, value_enum, default_value_t = InjectAs::Env)]
    pub inject_as: InjectAs,

    /// Format of the file or pipe [default: dotenv] (file and fifo only).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub file_format: Option<FileFormat>,

    /// Where the private directory of the file or pipe is made (file and
    /// fifo only) [default: $TMPDIR or /tmp].
    #[arg(long, env = "VANTA_SECRETS_DIR", value_name = "DIR")]
    pub secrets_dir: Option<PathBuf>,

    /// Allow injecting NAME although it changes how programs run (PATH,
    /// LD_PRELOAD, NODE_OPTIONS...). Repeatable.
    #[arg(long = "allow-dangerous-name", value_name = "NAME")]
    pub allowed_dangerous: Vec<String>,

    /// Start the command with only the secrets and PATH, HOME, USER, LANG,
    /// TERM, TZ of this environment.
    #[arg(long)]
    pub pristine: bool,

    /// With --pristine, also keep this variable. Repeatable.
    #[arg(long = "keep-env", value_name = "NAME", requires = "pristine")]
    pub keep_env: Vec<String>,

    /// Token to use [default: mint short-lived ones]. Visible to other
    /// users in `ps`: prefer VANTA_TOKEN or --token-file.
    #[arg(long, env = "VANTA_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,

    /// Read the token from this file (surrounding whitespace is ignored).
    #[arg(long, env = "VANTA_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Pass the given token on to the command as VANTA_TOKEN (it is
    /// removed from the command's environment otherwise).
    #[arg(long)]
    pub pass_token: bool,

    /// Lifetime of the minted tokens, in minutes [default: the agent's
    /// default]. Not with a given token (nothing is minted then).
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(u32).range(1..))]
    pub ttl: Option<u32>,

    /// Subject of the minted tokens. Not with a given token.
    #[arg(long, default_value = RUN_SUBJECT, allow_hyphen_values = true, value_parser = not_the_end_of_options)]
    pub subject: String,

    /// Relay the command's stdout and stderr with every injected value of
    /// 6 bytes or more replaced by <concealed by vanta> (the command then
    /// writes to pipes, not to a terminal).
    #[arg(long, env = "VANTA_MASK", value_parser = BoolishValueParser::new())]
    pub mask: bool,

    /// Let the command write to stdout and stderr directly, unmasked (the
    /// default); wins over --mask and VANTA_MASK.
    #[arg(long)]
    pub no_mask: bool,
    /// Keep checking the secrets while the command runs, and act on a
    /// change (--on-change); the minted tokens are renewed.
    #[arg(long)]
    pub watch: bool,

    /// Seconds between two checks with --watch; each wait is up to 20 %
    /// longer, at random, so that a fleet does not poll in step.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = DEFAULT_WATCH_INTERVAL_SECS,
        value_parser = clap::value_parser!(u32).range(1..=86_400),
        requires = "watch"
    )]
    pub watch_interval: u32,

    /// What a change does with --watch: 'restart' the command with the new
    /// secrets; 'signal:NAME' (e.g. signal:SIGHUP) replaces the file and
    /// sends NAME (--inject-as file only); 'exit' stops the command and
    /// exits 75.
    #[arg(long, value_name = "ACTION", default_value = "restart", requires = "watch")]
    pub on_change: OnChange,

    /// Signal that stops the command on a restart or exit with --watch.
    #[arg(long, value_name = "SIGNAL", default_value = "SIGTERM", value_parser = parse_signal, requires = "watch")]
    pub stop_signal: Signal,

    /// Seconds to wait after the stop signal before SIGKILL, with --watch.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = DEFAULT_STOP_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u32).range(..=3_600),
        requires = "watch"
    )]
    pub stop_timeout: u32,

    /// Say nothing on stderr unless something fails.
    #[arg(long, short)]
    pub quiet: bool,

    /// The command to run and its arguments: from `--` or the first word
    /// that is not an option (an unknown option is a usage error).
    #[arg(value_name = "COMMAND", required = true, num_args = 1.., trailing_var_arg = true)]
    pub command: Vec<OsString>,
}

/// How `run-with-secrets` hands secrets to the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InjectAs {
    /// One environment variable per key.
    Env,
    /// A file (mode 0600, in a private directory) whose path is in
    /// VANTA_SECRETS_FILE.
    File,
    /// A named pipe whose path is in VANTA_SECRETS_FILE, readable once;
    /// the secrets never touch a disk.
    Fifo,
}

/// What `--watch` does when the secrets changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnChange {
    /// Stop the command and start it again with the new secrets.
    Restart,
    /// Replace the file's content, then send this signal.
    Signal(Signal),
    /// Stop the command and exit with [`EXIT_ON_CHANGE`].
    Exit,
}

/// The format of the secrets file or pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    /// NAME="value" lines, readable by python-dotenv and other dotenv parsers.
    Dotenv,
    /// One JSON object, {"NAME": "value", ...}.
    Json,
}

/// One `--key`: a key, and the variable name it was given, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// The key to fetch.
    pub key: KeyPath,
    /// The explicit variable name of `KEY=NAME`.
    pub name: Option<String>,
}

/// A `--prefix`: characters of a variable name, at least one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarPrefix(String);

/// Why a `--key`, `--prefix` or variable name is not usable.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    /// Not a key path.
    #[error("'{key}' is not a key: {reason}")]
    Key { key: String, reason: vanta_shared::key_path::KeyPathError },
    /// A NAME that is not `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("'{0}' is not a variable name: use letters, digits and '_', not starting with a digit")]
    Name(String),
    /// A prefix with other characters than `[A-Za-z0-9_]`.
    #[error("'{0}' is not a variable name prefix: use letters, digits and '_'")]
    Prefix(String),
}

/// Options of `run-with-secrets` that cannot be used together, found after
/// parsing (they depend on each other's values, or on a given token's
/// claims): usage errors, exit 2 like clap's.
#[derive(Debug, thiserror::Error)]
pub enum Misuse {
    /// `--on-change signal:` without `--inject-as file`.
    #[error(
        "--on-change signal:{signal} replaces the secrets file, so it needs --inject-as file ({why}); \
         use --on-change restart with --inject-as {inject_as}"
    )]
    SignalNeedsFile { signal: Signal, why: &'static str, inject_as: InjectAs },
    /// `--on-change signal:` with `--mask`: the relay keeps the old values.
    #[error(
        "--mask with --on-change signal:{signal} would go on masking the old values after a change; \
         use --on-change restart, which starts the masking again with the new values"
    )]
    SignalWithMask { signal: Signal },
    /// `--watch` with a given token that has a usage limit.
    #[error(
        "--watch reads the secrets again after every change, and the given token allows only {limit} uses: \
         give a token without a usage limit"
    )]
    WatchWithLimitedToken { limit: u64 },
    /// `--file-format` with `--inject-as env`.
    #[error("--file-format applies to --inject-as file and fifo, not env")]
    FileFormatWithEnv,
    /// `--ttl` or `--subject`, which shape minted tokens, with a given
    /// token (none is minted then). Checked by `Cli::try_parse_args`, which
    /// knows where the token came from: from VANTA_TOKEN it is easily
    /// given unawares.
    #[error(
        "{flag} shapes the tokens vanta-cli mints, and none is minted when a token is given ({given}): drop {flag}, \
         or the token"
    )]
    MintFlagWithGivenToken { flag: &'static str, given: &'static str },
    /// A token given both as text and as a file, from flags or variables:
    /// not a clap `conflicts_with`, whose message names `--token` even when
    /// the token came from `VANTA_TOKEN`.
    #[error("a token was given twice ({token} and {file}): give one of them")]
    TokenGivenTwice { token: &'static str, file: &'static str },
    /// `--pass-token` without a given token.
    #[error(
        "--pass-token passes on a given token, and none was given \
         (--token, VANTA_TOKEN, --token-file or VANTA_TOKEN_FILE)"
    )]
    PassTokenWithoutToken,
}

/// Seconds between two checks of `--watch`.
pub(super) const DEFAULT_WATCH_INTERVAL_SECS: u32 = 5;
/// Seconds between the stop signal and SIGKILL.
pub(super) const DEFAULT_STOP_TIMEOUT_SECS: u32 = 10;
/// Exit code of `--on-change exit` (EX_TEMPFAIL: "try again", for a
/// supervisor that starts the container again).
pub const EXIT_ON_CHANGE: u8 = 75;

// === impl InjectAs ===

impl fmt::Display for InjectAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Env => "env",
            Self::File => "file",
            Self::Fifo => "fifo",
        })
    }
}

// === impl OnChange ===

impl FromStr for OnChange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "restart" => Ok(Self::Restart),
            "exit" => Ok(Self::Exit),
            _ => match s.strip_prefix("signal:") {
                Some(name) => parse_signal(name).map(Self::Signal),
                None => Err(format!("'{s}' is not an action: use restart, signal:NAME (e.g. signal:SIGHUP) or exit")),
            },
        }
    }
}

/// A signal by name, `SIGHUP` or `HUP` (any case).
///
/// # Errors
/// A name Linux does not know, in words.
pub(super) fn parse_signal(name: &str) -> Result<Signal, String> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    full.parse().map_err(|_| format!("'{name}' is not a signal name (e.g. SIGHUP, SIGTERM, SIGUSR1)"))
}

// === impl FileFormat ===

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dotenv => "dotenv",
            Self::Json => "json",
        })
    }
}

// === impl KeySpec ===

impl FromStr for KeySpec {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, name) = match s.split_once('=') {
            Some((key, name)) => (key, Some(name)),
            None => (s, None),
        };
        let key = key.parse().map_err(|reason| NameError::Key { key: key.to_owned(), reason })?;
        let name = name.map(|n| if is_var_name(n) { Ok(n.to_owned()) } else { Err(NameError::Name(n.to_owned())) });
        Ok(Self { key, name: name.transpose()? })
    }
}

// === impl VarPrefix ===

impl VarPrefix {
    /// The prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for VarPrefix {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(NameError::Prefix(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

/// Whether `name` is a portable variable name, `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_may_carry_a_name() {
        let plain: KeySpec = "API_KEYS/stripe".parse().expect("valid");
        assert_eq!((plain.key.as_str(), plain.name), ("API_KEYS/stripe", None));
        let renamed: KeySpec = "API_KEYS/stripe=STRIPE_KEY".parse().expect("valid");
        assert_eq!((renamed.key.as_str(), renamed.name.as_deref()), ("API_KEYS/stripe", Some("STRIPE_KEY")));
        for bad in ["", "a//b", "K=", "K=1X", "K=A-B", "K=A=B", "=NAME"] {
            assert!(bad.parse::<KeySpec>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn on_change_actions_and_signal_names() {
        assert_eq!("restart".parse::<OnChange>(), Ok(OnChange::Restart));
        assert_eq!("exit".parse::<OnChange>(), Ok(OnChange::Exit));
        assert_eq!("signal:SIGHUP".parse::<OnChange>(), Ok(OnChange::Signal(Signal::SIGHUP)));
        assert_eq!("signal:usr1".parse::<OnChange>(), Ok(OnChange::Signal(Signal::SIGUSR1)));
        for bad in ["", "signal:", "signal:NOPE", "reload", "Restart"] {
            assert!(bad.parse::<OnChange>().is_err(), "{bad:?}");
        }
        assert_eq!(parse_signal("term"), Ok(Signal::SIGTERM));
    }

    #[test]
    fn prefixes_are_name_characters() {
        assert_eq!("APP_".parse::<VarPrefix>().expect("valid").as_str(), "APP_");
        assert!("1_".parse::<VarPrefix>().is_ok());
        for bad in ["", "A-", "A B", "É"] {
            assert!(bad.parse::<VarPrefix>().is_err(), "{bad:?}");
        }
    }
}

//! The command line: clap types for every flag, variable and subcommand (top
//! layer, read only by `main` and `commands`).
//!
//! Only this module knows flag names and environment variables. Names and
//! patterns are parsed into the validated `vanta_shared` types here, so a bad
//! `--environment` is a usage error (exit 2) before anything is contacted.
//! Tokens stay plain strings until `commands` checks them, because clap would
//! echo a refused value in its error message.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vanta_shared::defaults::{RUN_SUBJECT, SOCKET_PATH};
use vanta_shared::{EnvName, KeyPath, KeyPattern};

/// `vanta-cli`: mint scoped tokens, read secrets and run programs with their
/// secrets, through the local `vanta-agent`.
#[derive(Parser)]
#[command(name = "vanta-cli", version, about, after_help = MAIN_EXAMPLES)]
pub struct Cli {
    /// The agent's Unix socket.
    #[arg(
        long,
        env = "VANTA_AGENT_SOCKET",
        default_value = SOCKET_PATH,
        value_name = "PATH",
        global = true
    )]
    pub socket: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Mint access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print the value of one secret.
    #[command(long_about = GET_ABOUT)]
    Get(GetArgs),
    /// Run a command with secrets in its environment or in a .env file.
    #[command(long_about = RUN_ABOUT)]
    RunWithSecrets(RunArgs),
}

/// `vanta-cli token ...`
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Ask the agent for a token scoped to one environment and key pattern.
    #[command(after_help = GENERATE_EXAMPLES)]
    Generate(GenerateArgs),
}

/// `vanta-cli token generate`
#[derive(Args)]
pub struct GenerateArgs {
    /// Who the token is for (recorded in the audit log).
    #[arg(long)]
    pub subject: String,

    /// The environment the token may read from.
    #[arg(long, value_name = "ENV")]
    pub environment: EnvName,

    /// Which keys the token may read: a glob, '*' matches any run of
    /// characters including '/', '?' matches one character.
    #[arg(long, value_name = "PATTERN")]
    pub key_pattern: KeyPattern,

    /// Lifetime in minutes [default: the agent's default].
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(u32).range(1..))]
    pub ttl: Option<u32>,

    /// How many secret reads the token allows [default: unlimited].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub usage_limit: Option<u64>,

    /// What to print.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// How `token generate` prints the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A readable summary of the scope and expiry, then the token.
    Text,
    /// The agent's JSON answer, as received.
    Json,
    /// The bare token and a newline, for `TOKEN=$(...)`.
    Token,
}

/// `vanta-cli get`
#[derive(Args)]
#[command(after_help = GET_EXAMPLES)]
pub struct GetArgs {
    /// The environment to read from.
    #[arg(long, value_name = "ENV")]
    pub environment: EnvName,

    /// The key to read, e.g. DATABASE_URL or API_KEYS/stripe.
    #[arg(value_name = "KEY")]
    pub key: KeyPath,

    /// Token to use [default: mint a single-use token for KEY].
    #[arg(long, env = "VANTA_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,

    /// Subject of the token minted when no token is given.
    #[arg(long, default_value = RUN_SUBJECT, conflicts_with = "token")]
    pub subject: String,
}

/// `vanta-cli run-with-secrets`
#[derive(Args)]
#[command(after_help = RUN_EXAMPLES)]
pub struct RunArgs {
    /// The environment to read from.
    #[arg(long, value_name = "ENV")]
    pub environment: EnvName,

    /// Which keys to inject: every key the glob matches, or the --key ones
    /// (which must match it).
    #[arg(long, value_name = "PATTERN")]
    pub key_pattern: KeyPattern,

    /// Inject exactly this key (repeatable) instead of every matching key.
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<KeyPath>,

    /// How the command receives the secrets.
    #[arg(long, value_enum, default_value_t = InjectAs::Env)]
    pub inject_as: InjectAs,

    /// Token to use [default: mint a short-lived one]. Never passed on to
    /// the command.
    #[arg(long, env = "VANTA_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,

    /// Lifetime of the minted token, in minutes.
    #[arg(
        long,
        value_name = "MINUTES",
        default_value_t = DEFAULT_RUN_TTL_MINUTES,
        value_parser = clap::value_parser!(u32).range(1..),
        conflicts_with = "token"
    )]
    pub ttl: u32,

    /// Subject of the minted token.
    #[arg(long, default_value = RUN_SUBJECT, conflicts_with = "token")]
    pub subject: String,

    /// The command to run and its arguments.
    #[arg(
        value_name = "COMMAND",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,
}

/// How `run-with-secrets` hands secrets to the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InjectAs {
    /// One environment variable per key.
    Env,
    /// A .env file whose path is in VANTA_SECRETS_FILE.
    File,
}

/// Lifetime of the token `run-with-secrets` mints for itself.
pub const DEFAULT_RUN_TTL_MINUTES: u32 = 5;

const MAIN_EXAMPLES: &str = "\
Examples:
  vanta-cli token generate --subject ci --environment dev --key-pattern 'DATABASE_*'
  vanta-cli get --environment dev DATABASE_URL
  vanta-cli run-with-secrets --environment dev --key-pattern '*' -- ./server --port 8080";

const GENERATE_EXAMPLES: &str = "\
Examples:
  # A 10-minute token good for two reads of the database keys of 'dev':
  vanta-cli token generate --subject ci --environment dev \\
      --key-pattern 'DATABASE_*' --ttl 10 --usage-limit 2

  # Keep the bare token for later 'get' calls:
  export VANTA_TOKEN=$(vanta-cli token generate --subject ci \\
      --environment dev --key-pattern '*' --output token)";

const GET_ABOUT: &str = "\
Print the value of one secret.

The value is written to stdout byte for byte; a newline is added only when \
stdout is a terminal, so $(vanta-cli get ...) gives the exact value.

Without --token (or VANTA_TOKEN), vanta-cli first mints its own token for \
this one read: scoped to exactly KEY in the environment, valid for 1 minute, \
usable once, with the subject given by --subject.";

const GET_EXAMPLES: &str = "\
Examples:
  vanta-cli get --environment dev DATABASE_URL
  DB_URL=$(vanta-cli get --environment dev DATABASE_URL)
  VANTA_TOKEN=$TOKEN vanta-cli get --environment prod API_KEYS/stripe";

const RUN_ABOUT: &str = "\
Run a command with secrets in its environment or in a .env file.

Keys: without --key, every key of the environment that --key-pattern \
matches; with --key, exactly those keys (each must match the pattern). \
If any secret cannot be fetched, the command is not run.

Token: --token or VANTA_TOKEN if given. Otherwise vanta-cli mints one for \
--subject, scoped to the environment and --key-pattern, valid for --ttl \
minutes; with --key its usage limit is the number of keys, without it has \
none. VANTA_TOKEN is removed from the command's environment.

--inject-as env: each key becomes a variable named after it, with every \
character outside [A-Za-z0-9_] replaced by '_' (API_KEYS/stripe becomes \
API_KEYS_stripe). Two keys that give the same name are an error.

--inject-as file: the same names and values are written to secrets.env \
(mode 0600) in a new private directory (mode 0700) under $TMPDIR; its path \
is in VANTA_SECRETS_FILE. Values are double-quoted with \\\\, \\\", \\n and \\r \
escaped; a value holding $NAME or ${...} is single-quoted when it can be, so \
that parsers which expand variables leave it alone. python-dotenv \
(interpolate=False) reads every value back unchanged. The directory is \
removed when the command ends or vanta-cli is interrupted.

Signals: SIGTERM and SIGHUP are passed on to the command, and so is SIGINT \
unless stdin is a terminal (the terminal already sent it to the command).

Exit status: the command's; 128+N if it was killed by signal N; 127 if it \
was not found; 126 if it could not be executed; 1 if vanta-cli failed.";

const RUN_EXAMPLES: &str = "\
Examples:
  # Every key of 'dev' as environment variables:
  vanta-cli run-with-secrets --environment dev --key-pattern '*' -- ./server

  # Two keys, in a .env file read by the application:
  vanta-cli run-with-secrets --environment prod --key-pattern '*' \\
      --key DATABASE_URL --key API_KEYS/stripe --inject-as file \\
      -- python app.py";

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_has_examples() {
        let mut cli = Cli::command();
        cli.build();
        let token = cli.find_subcommand("token").expect("token subcommand");
        let generate = token.find_subcommand("generate").expect("generate subcommand");
        for cmd in
            [generate, cli.find_subcommand("get").expect("get"), cli.find_subcommand("run-with-secrets").expect("run")]
        {
            let help = cmd.get_after_help().expect("after_help").to_string();
            assert!(help.starts_with("Examples:"), "{}", cmd.get_name());
        }
    }

    #[test]
    fn run_takes_the_command_after_double_dash() {
        let cli = Cli::try_parse_from([
            "vanta-cli",
            "run-with-secrets",
            "--environment",
            "dev",
            "--key-pattern",
            "*",
            "--",
            "printenv",
            "--flag",
        ])
        .expect("valid");
        let Command::RunWithSecrets(args) = cli.command else {
            panic!("wrong subcommand");
        };
        assert_eq!(args.command, ["printenv", "--flag"]);
        assert_eq!(args.ttl, DEFAULT_RUN_TTL_MINUTES);
        assert_eq!(args.inject_as, InjectAs::Env);
    }

    #[test]
    fn bad_names_are_usage_errors() {
        for bad in [["--environment", "../x"], ["--environment", ""]] {
            let err =
                Cli::try_parse_from(["vanta-cli", "get"].into_iter().chain(bad).chain(["KEY"])).err().expect("refused");
            assert_eq!(err.exit_code(), 2);
        }
    }
}

//! The command line: clap types for every flag, variable and subcommand (top
//! layer, read only by `main` and `commands`).
//!
//! Only this module knows flag names and environment variables. Names and
//! patterns are parsed into the validated `vanta_shared` types here, so a bad
//! `--environment` is a usage error (exit 2) before anything is contacted.
//! Tokens stay plain strings until `commands` checks them, because clap would
//! echo a refused value in its error message.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vanta_shared::defaults::{RUN_SUBJECT, SOCKET_PATH};
use vanta_shared::{EnvName, KeyPath, KeyPattern};

mod help;
mod run_args;

use help::{COMPLETIONS_EXAMPLES, GENERATE_EXAMPLES, GET_ABOUT, GET_EXAMPLES, MAIN_EXAMPLES, MAN_EXAMPLES, RUN_ABOUT};
pub use run_args::{
    DEFAULT_RUN_TTL_MINUTES, FileFormat, InjectAs, KeySpec, NameError, RunArgs, VarPrefix, is_var_name,
};

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
    /// Run a command with secrets in its environment, a file or a pipe.
    #[command(long_about = RUN_ABOUT)]
    RunWithSecrets(RunArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write all pages to a directory.
    Man(ManArgs),
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

    /// Token to use [default: mint a single-use token for KEY]. Visible to
    /// other users in `ps`: prefer VANTA_TOKEN or --token-file.
    #[arg(long, env = "VANTA_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,

    /// Read the token from this file (surrounding whitespace is ignored).
    #[arg(long, env = "VANTA_TOKEN_FILE", value_name = "PATH", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,

    /// Subject of the token minted when no token is given.
    #[arg(long, default_value = RUN_SUBJECT, conflicts_with_all = ["token", "token_file"])]
    pub subject: String,
}

/// `vanta-cli completions`
#[derive(Args)]
#[command(after_help = COMPLETIONS_EXAMPLES)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells `completions` writes scripts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// `vanta-cli man`
#[derive(Args)]
#[command(after_help = MAN_EXAMPLES)]
pub struct ManArgs {
    /// Write vanta-cli.1 and one page per subcommand into DIR instead of
    /// printing the main page.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

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
        let top = ["get", "run-with-secrets", "completions", "man"].map(|n| cli.find_subcommand(n).expect(n));
        for cmd in std::iter::once(generate).chain(top) {
            let help = cmd.get_after_help().expect("after_help").to_string();
            assert!(help.starts_with("Examples:"), "{}", cmd.get_name());
        }
    }

    #[test]
    fn run_takes_the_command_after_double_dash() {
        let args = run_args(&["--key-pattern", "*", "--", "printenv", "--flag"]).expect("valid");
        assert_eq!(args.command, ["printenv", "--flag"]);
        assert_eq!(args.ttl, DEFAULT_RUN_TTL_MINUTES);
        assert_eq!(args.inject_as, InjectAs::Env);
        assert_eq!(args.file_format, None);
    }

    fn run_args(rest: &[&str]) -> Result<RunArgs, clap::Error> {
        let argv = ["vanta-cli", "run-with-secrets", "--environment", "dev"].iter().chain(rest);
        match Cli::try_parse_from(argv)?.command {
            Command::RunWithSecrets(args) => Ok(args),
            _ => panic!("wrong subcommand"),
        }
    }

    #[test]
    fn run_takes_several_patterns_keys_and_names() {
        let args = run_args(&[
            "--key-pattern",
            "A_*",
            "--key-pattern",
            "B/*",
            "--key",
            "A_1",
            "--key",
            "B/x=BX",
            "--prefix",
            "APP_",
            "-q",
            "--",
            "true",
        ])
        .expect("valid");
        let patterns: Vec<&str> = args.key_patterns.iter().map(KeyPattern::as_str).collect();
        assert_eq!(patterns, ["A_*", "B/*"]);
        assert_eq!(args.keys[1].name.as_deref(), Some("BX"));
        assert_eq!(args.prefix.as_ref().map(VarPrefix::as_str), Some("APP_"));
        assert!(args.quiet);
    }

    #[test]
    fn run_usage_errors() {
        for bad in [
            &["--", "true"][..],
            &["--key-pattern", "*", "--key", "K=1X", "--", "true"],
            &["--key-pattern", "*", "--prefix", "A-", "--", "true"],
            &["--key-pattern", "*", "--keep-env", "X", "--", "true"],
            &["--key-pattern", "*", "--token", "t", "--token-file", "/f", "--", "true"],
            &["--key-pattern", "*", "--token", "t", "--ttl", "3", "--", "true"],
            &["--key-pattern", "*", "--inject-as", "disk", "--", "true"],
            &["--key-pattern", "*"],
        ] {
            let err = run_args(bad).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
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

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

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use vanta_shared::defaults::RUN_SUBJECT;
use vanta_shared::{EnvName, KeyPath, KeyPattern};

mod agent_args;
mod help;
mod run_args;

pub use agent_args::AgentArgs;
use help::{
    COMPLETIONS_EXAMPLES, GENERATE_EXAMPLES, GET_ABOUT, GET_EXAMPLES, HEALTH_ABOUT, HEALTH_EXAMPLES, LIST_ABOUT,
    LIST_EXAMPLES, MAIN_EXAMPLES, MAN_EXAMPLES, REVOKE_EXAMPLES, RUN_ABOUT,
};
pub use run_args::{
    EXIT_ON_CHANGE, FileFormat, InjectAs, KeySpec, Misuse, NameError, OnChange, RunArgs, VarPrefix, is_var_name,
};

/// `vanta-cli`: mint scoped tokens, read secrets and run programs with their
/// secrets, through `vanta-agent` (its Unix socket, or its TCP listener).
// Parse with `Cli::try_parse_args`: it applies the rule that picks the socket
// or the URL, which the derived `Parser` methods do not.
#[derive(Parser)]
#[command(name = "vanta-cli", version, about, after_help = MAIN_EXAMPLES)]
pub struct Cli {
    /// Where the agent is.
    #[command(flatten)]
    pub agent: AgentArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// Whether a token was given with `--token` on the command line, where
    /// other local users can read it (set by `try_parse_args`).
    #[arg(skip)]
    pub token_in_argv: bool,
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
    /// List the keys of an environment that the token may read.
    #[command(long_about = LIST_ABOUT)]
    List(ListArgs),
    /// Run a command with secrets in its environment, a file or a pipe.
    #[command(long_about = RUN_ABOUT)]
    RunWithSecrets(RunArgs),
    /// Check that the agent answers (or is ready to serve); for probes.
    #[command(long_about = HEALTH_ABOUT)]
    Health(HealthArgs),
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
    /// Revoke one token (--jti) or every token of a subject issued up to
    /// now (--subject), at every agent on the same usage store.
    #[command(after_help = REVOKE_EXAMPLES)]
    Revoke(RevokeArgs),
}

/// A value that may start with `-` (`allow_hyphen_values`), but is not
/// `--`, which ends the options (so `--subject -- cmd` is not taken as the
/// subject `--`).
pub(super) fn not_the_end_of_options(value: &str) -> Result<String, String> {
    if value == "--" { Err("'--' ends the options: give a value before it".to_owned()) } else { Ok(value.to_owned()) }
}

/// `vanta-cli token revoke`
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct RevokeArgs {
    /// The `jti` of the token to revoke (in the agent's audit log).
    // A random jti starts with `-` once in 64.
    #[arg(long, value_name = "JTI", allow_hyphen_values = true, value_parser = not_the_end_of_options)]
    pub jti: Option<String>,

    /// Revoke every token of this subject issued up to now.
    #[arg(long, value_name = "NAME", allow_hyphen_values = true, value_parser = not_the_end_of_options)]
    pub subject: Option<String>,
}

/// `vanta-cli token generate`
#[derive(Args)]
pub struct GenerateArgs {
    /// Who the token is for (recorded in the audit log).
    #[arg(long, allow_hyphen_values = true, value_parser = not_the_end_of_options)]
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
    /// The bare token and a newline, for a shell's command substitution.
    // No `$(` here: clap_complete leaves it unescaped in fish's
    // double-quoted descriptions, where fish runs it.
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

    /// The token, or how to mint one.
    #[command(flatten)]
    pub token: TokenArgs,
}

/// `vanta-cli list`
#[derive(Args)]
#[command(after_help = LIST_EXAMPLES)]
pub struct ListArgs {
    /// The environment to list.
    #[arg(long, value_name = "ENV")]
    pub environment: EnvName,

    /// Show only the keys this glob matches [default: every key the token
    /// may read].
    #[arg(long, value_name = "PATTERN")]
    pub key_pattern: Option<KeyPattern>,

    /// What to print.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub output: ListFormat,

    /// The token, or how to mint one.
    #[command(flatten)]
    pub token: TokenArgs,
}

/// How `list` prints the keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// One key per line.
    Text,
    /// `{"environment": ENV, "keys": [...]}`.
    Json,
}

/// The token of `get` and `list`: given, or minted for this one call.
#[derive(Args)]
pub struct TokenArgs {
    /// Token to use [default: mint one for this call only]. Visible to
    /// other users in `ps`: prefer VANTA_TOKEN or --token-file.
    #[arg(long, env = "VANTA_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,

    /// Read the token from this file (surrounding whitespace is ignored).
    #[arg(long, env = "VANTA_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Subject of the token minted when no token is given.
    /// Not with a given token (see `Cli::try_parse_args`).
    #[arg(long, default_value = RUN_SUBJECT, allow_hyphen_values = true, value_parser = not_the_end_of_options)]
    pub subject: String,
}

/// `vanta-cli health`
#[derive(Args)]
#[command(after_help = HEALTH_EXAMPLES)]
pub struct HealthArgs {
    /// Ask GET /readyz (can the agent serve secrets: sops, audit log, usage
    /// store) instead of GET /healthz (does it answer at all).
    #[arg(long)]
    pub ready: bool,

    /// On success, print one line on stdout (`ok`, or the readiness
    /// checks); without it a success prints nothing.
    #[arg(long, short)]
    pub verbose: bool,
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

// === impl Cli ===

impl Cli {
    /// Parses `argv` and the environment, then applies the socket-or-URL
    /// rule of [`AgentArgs`].
    ///
    /// # Errors
    /// A usage error, formatted by clap (`exit()` prints it and exits 2),
    /// or the request for `--help`/`--version` (exit 0).
    pub fn try_parse_args<I, T>(argv: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Self::command();
        let matches = command.try_get_matches_from_mut(argv)?;
        let mut cli = Self::from_arg_matches(&matches).map_err(|err| err.format(&mut command))?;
        cli.agent.apply_rule(&matches).map_err(|message| command.error(ErrorKind::ArgumentConflict, message))?;
        if let Some(misuse) = token_given_twice(&matches).or_else(|| mint_flag_with_given_token(&matches)) {
            return Err(command.error(ErrorKind::ArgumentConflict, misuse));
        }
        cli.token_in_argv = token_in_argv(&matches);
        Ok(cli)
    }
}

/// `--ttl` or `--subject` given on the command line to the innermost
/// subcommand while a token is given too: nothing is minted, so the flag
/// would do nothing. Not a clap `conflicts_with`, whose message names
/// `--token` even when the token came from `VANTA_TOKEN`.
fn mint_flag_with_given_token(matches: &clap::ArgMatches) -> Option<Misuse> {
    let current = innermost(matches);
    let on_command_line = |id: &str| source(current, id) == Some(clap::parser::ValueSource::CommandLine);
    let flag = [("ttl", "--ttl"), ("subject", "--subject")].into_iter().find(|(id, _)| on_command_line(id))?.1;
    let given = TOKEN_ARGS.into_iter().find_map(|(id, flag, var)| named(current, id, flag, var))?;
    Some(Misuse::MintFlagWithGivenToken { flag, given })
}

/// `--token`/`VANTA_TOKEN` and `--token-file`/`VANTA_TOKEN_FILE` both
/// given to the innermost subcommand, each named as it was given.
fn token_given_twice(matches: &clap::ArgMatches) -> Option<Misuse> {
    let current = innermost(matches);
    let [(id, flag, var), (file_id, file_flag, file_var)] = TOKEN_ARGS;
    let token = named(current, id, flag, var)?;
    let file = named(current, file_id, file_flag, file_var)?;
    Some(Misuse::TokenGivenTwice { token, file })
}

/// The ways to give a token: argument id, flag, variable.
const TOKEN_ARGS: [(&str, &str, &str); 2] =
    [("token", "--token", "VANTA_TOKEN"), ("token_file", "--token-file", "VANTA_TOKEN_FILE")];

/// Where the argument `id` of `current` came from, if it has a value.
fn source(current: &clap::ArgMatches, id: &str) -> Option<clap::parser::ValueSource> {
    current.ids().any(|i| i.as_str() == id).then(|| current.value_source(id)).flatten()
}

/// The argument `id`, if given, named as it was: its variable when it came
/// from the environment, else its flag.
fn named(current: &clap::ArgMatches, id: &str, flag: &'static str, var: &'static str) -> Option<&'static str> {
    let from_env = source(current, id)? == clap::parser::ValueSource::EnvVariable;
    Some(if from_env { var } else { flag })
}

/// The matches of the innermost subcommand.
fn innermost(matches: &clap::ArgMatches) -> &clap::ArgMatches {
    let mut current = matches;
    while let Some((_, sub)) = current.subcommand() {
        current = sub;
    }
    current
}

/// Whether the innermost subcommand got `--token` from the command line
/// (not from `VANTA_TOKEN`).
fn token_in_argv(matches: &clap::ArgMatches) -> bool {
    source(innermost(matches), "token") == Some(clap::parser::ValueSource::CommandLine)
}

#[cfg(test)]
mod tests;

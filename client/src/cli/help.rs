//! The long help texts and examples of every subcommand (top layer, part of
//! `cli`). The operator guide's "vanta-cli" section
//! (`docs/VAULT_ACCESS_SYSTEM_README.md#vanta-cli`) says the same at length; keep them in step.

pub(super) const MAIN_EXAMPLES: &str = "\
Examples:
  vanta-cli token generate --subject ci --environment dev --key-pattern 'DATABASE_*'
  vanta-cli get --environment dev DATABASE_URL
  vanta-cli list --environment dev
  vanta-cli run-with-secrets --environment dev --key-pattern '*' -- ./server --port 8080
  vanta-cli health --ready
  vanta-cli completions bash > /etc/bash_completion.d/vanta-cli

  # The agent's HTTPS listener instead of its socket (minting needs the admin credential):
  vanta-cli --url https://vanta.internal:8443 --ca-cert ca.pem \\
      --admin-token-file /etc/vanta/admin-token get --environment dev DATABASE_URL";

pub(super) const GENERATE_EXAMPLES: &str = "\
Examples:
  # A 10-minute token good for two reads of the database keys of 'dev':
  vanta-cli token generate --subject ci --environment dev \\
      --key-pattern 'DATABASE_*' --ttl 10 --usage-limit 2

  # Keep the bare token for later 'get' calls:
  export VANTA_TOKEN=$(vanta-cli token generate --subject ci \\
      --environment dev --key-pattern '*' --output token)";

pub(super) const REVOKE_EXAMPLES: &str = "\
Examples:
  # One leaked token, by the jti of its token_generate audit record:
  vanta-cli token revoke --jti kQ3x9LZr0bT2vNw8yA1cEg

  # Every token of a subject issued up to now (a token minted in the same
  # second is refused too: mint new ones a second later):
  vanta-cli token revoke --subject ci";

pub(super) const GET_ABOUT: &str = "\
Print the value of one secret.

The value is written to stdout byte for byte; a newline is added only when \
stdout is a terminal, so $(vanta-cli get ...) gives the exact value.

Without a token (--token, VANTA_TOKEN, --token-file or VANTA_TOKEN_FILE), \
vanta-cli first mints its own token for this one read: scoped to exactly KEY \
in the environment, valid for 1 minute, usable once, with the subject given \
by --subject.";

pub(super) const GET_EXAMPLES: &str = "\
Examples:
  vanta-cli get --environment dev DATABASE_URL
  DB_URL=$(vanta-cli get --environment dev DATABASE_URL)
  VANTA_TOKEN_FILE=/var/run/vanta/token vanta-cli get --environment prod API_KEYS/stripe";

pub(super) const LIST_ABOUT: &str = "\
List the keys of an environment that the token may read.

Prints the key paths (never values), sorted, one per line, or as JSON with \
--output json; --key-pattern narrows the list. Listing is not a use of a \
limited token. Without a token (--token, VANTA_TOKEN, --token-file or \
VANTA_TOKEN_FILE), vanta-cli first mints its own: for --key-pattern (or \
every key) in the environment, valid for 1 minute, with the subject given \
by --subject.";

pub(super) const LIST_EXAMPLES: &str = "\
Examples:
  vanta-cli list --environment dev
  vanta-cli list --environment dev --key-pattern 'API_KEYS/*' --output json
  VANTA_TOKEN_FILE=/var/run/vanta/token vanta-cli list --environment prod";

pub(super) const RUN_ABOUT: &str = "\
Run a command with secrets in its environment, in a private file or in a \
named pipe.

Keys: without --key, every key of the environment that a --key-pattern \
matches; with --key, exactly those keys (each must match a pattern). All are \
fetched over one connection before the command starts; if any cannot be, \
the command is not run and the error lists them.

Token: the given one (--token, VANTA_TOKEN, --token-file, VANTA_TOKEN_FILE), \
or one minted per --key-pattern for --subject, valid for --ttl minutes; with \
--key its usage limit is its number of keys. The token is never passed to \
the command unless --pass-token.

--inject-as env: each key becomes a variable named after it, with every \
character outside [A-Za-z0-9_] replaced by '_' (API_KEYS/stripe becomes \
API_KEYS_stripe), after --prefix; --key KEY=NAME names it NAME. Two keys \
that give the same name are an error. Variables already set are overridden \
(stderr names them). PATH, HOME, LD_*, NODE_OPTIONS, PYTHONPATH and other \
variables that change how programs run are refused unless allowed with \
--allow-dangerous-name NAME.

--inject-as file: the same names and values in secrets.env (dotenv) or \
secrets.json (--file-format json), mode 0600, in a new directory (mode 0700) \
under --secrets-dir; the path is in VANTA_SECRETS_FILE. Values read back \
unchanged with python-dotenv (interpolate=False); its default \
(interpolate=True, load_dotenv) expands ${NAME} even in single quotes, other \
readers that interpolate (dotenvy, godotenv, docker compose) inside double \
quotes: for values with $ use --file-format json. The directory is removed \
when the command ends, however it ends, and when vanta-cli is interrupted; \
one left by a killed vanta-cli is removed by the next run in the same \
--secrets-dir.

--inject-as fifo: the same content through a named pipe (mode 0600) at \
VANTA_SECRETS_FILE: it can be read once, then it is removed; nothing is \
written to a disk.

Signals: SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 are passed on to the command; \
SIGINT and SIGQUIT too, unless stdin is a terminal and the command is in \
vanta-cli's process group (the terminal sent them to it already). vanta-cli \
reaps orphaned descendants while the command runs (it is a child \
subreaper), also as PID 1 of a container.

Exit status: the command's; 128+N if it was killed by signal N; 127 if it \
was not found; 126 if it could not be executed; 1 if vanta-cli failed \
before the command started (nothing was run).";

pub(super) const RUN_EXAMPLES: &str = "\
Examples:
  # Every key of 'dev' as environment variables:
  vanta-cli run-with-secrets --environment dev --key-pattern '*' -- ./server

  # Two keys, one renamed, in a .env file read by the application:
  vanta-cli run-with-secrets --environment prod --key-pattern '*' \\
      --key DATABASE_URL --key API_KEYS/stripe=STRIPE_KEY --inject-as file \\
      -- python app.py

  # JSON through a named pipe on a tmpfs, nothing else in the environment:
  vanta-cli run-with-secrets --environment prod --key-pattern 'APP_*' \\
      --inject-as fifo --file-format json --secrets-dir /dev/shm --pristine \\
      -- sh -c 'exec ./app --secrets-from \"$VANTA_SECRETS_FILE\"'

  # In CI: no injected value reaches the job log (VANTA_MASK=1 does the same):
  vanta-cli run-with-secrets --environment ci --key-pattern '*' --mask -- make deploy

  # Keep them current: replace the file and send SIGHUP when one changes:
  vanta-cli run-with-secrets --environment prod --key-pattern '*' \\
      --inject-as file --watch --on-change signal:SIGHUP -- nginx -g 'daemon off;'";

pub(super) const HEALTH_ABOUT: &str = "\
Check that the agent answers (or is ready to serve); for probes.

Asks GET /healthz, or GET /readyz with --ready, on the configured agent (the \
socket, or --url). Exit 0 on a 200, printing nothing (unless --verbose); \
exit 1 otherwise, with one line on stderr naming the agent and what failed: \
the connection error, or each failing readiness check (sops, audit, \
usage_store) and the agent's reason.";

pub(super) const HEALTH_EXAMPLES: &str = "\
Examples:
  vanta-cli health && echo 'the agent answers'
  vanta-cli health --ready --verbose
  vanta-cli --url https://vanta.internal:8443 --ca-cert ca.pem health --ready

  # Kubernetes exec probes, in a container that shares the agent's socket:
  livenessProbe:
    exec: {command: [vanta-cli, health]}
  readinessProbe:
    exec: {command: [vanta-cli, health, --ready]}";

pub(super) const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  vanta-cli completions bash > ~/.local/share/bash-completion/completions/vanta-cli
  vanta-cli completions zsh > \"${fpath[1]}/_vanta-cli\"
  vanta-cli completions fish > ~/.config/fish/completions/vanta-cli.fish";

pub(super) const MAN_EXAMPLES: &str = "\
Examples:
  vanta-cli man | man -l -
  vanta-cli man --out-dir /usr/local/share/man/man1";

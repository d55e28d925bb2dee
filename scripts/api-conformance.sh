#!/usr/bin/env bash
# API conformance: checks the real agent's answers against docs/openapi.yaml
# with Schemathesis (status codes, response schemas, content types, required
# response headers, no 5xx, auth not ignored).
#
# Expects target/debug/vanta-agent, vanta-cli and age-keygen (`make build`) and
# sops in .tools/bin (`make tools`). Installs Schemathesis into .tools/venv.
# Starts a throw-away agent on a free loopback port (plain HTTP,
# --insecure-tcp) and on a Unix socket in a temporary directory, mints a read
# token on the socket, and lets Schemathesis call the TCP listener with it
# (and with an admin credential for minting over TCP). Exits non-zero on any
# failure; the agent and the temporary directory are removed on exit.
#
# Knobs: VANTA_CONFORMANCE_MAX_EXAMPLES (default 100), VANTA_CONFORMANCE_SEED,
# VANTA_CONFORMANCE_CHECKS (Schemathesis check names, comma-separated, or all),
# VANTA_CONFORMANCE_SPEC (another spec file, e.g. to check that a broken one fails),
# VANTA_CONFORMANCE_KEEP=1 keeps the temporary directory (audit log, agent log).
# `--install-only` installs the Python tools and exits (for scripts/install-tools.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools="$root/.tools"
venv="$tools/venv"
# Pinned: the check names and config keys used below are Schemathesis 4's.
schemathesis_version="4.32.5"
validator_version="0.7.2"
agent="$root/target/debug/vanta-agent"
cli="$root/target/debug/vanta-cli"
age_keygen="$root/target/debug/age-keygen"
sops="${VANTA_TEST_SOPS:-$tools/bin/sops}"
max_examples="${VANTA_CONFORMANCE_MAX_EXAMPLES:-100}"
spec="${VANTA_CONFORMANCE_SPEC:-$root/docs/openapi.yaml}"
spec="$(cd "$(dirname "$spec")" && pwd)/$(basename "$spec")"

say() { echo "api-conformance: $*" >&2; }
die() { say "error: $*"; exit 1; }

# --- Schemathesis, project-local ---------------------------------------------
have_schemathesis=$("$venv/bin/schemathesis" --version 2>/dev/null || true)
have_validator=$("$venv/bin/python" -m pip show openapi-spec-validator 2>/dev/null || true)
if [[ "$have_schemathesis" != *"version $schemathesis_version"* ]] ||
   [[ "$have_validator" != *"Version: $validator_version"* ]]; then
  say "installing schemathesis $schemathesis_version and openapi-spec-validator $validator_version into $venv"
  # A venv whose pip does not run (e.g. made before python3-venv was
  # installed) is made again.
  "$venv/bin/python" -m pip --version >/dev/null 2>&1 || python3 -m venv --clear "$venv" ||
    die "python3 -m venv failed: install Python's venv module (Debian: apt-get install python3-venv)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "schemathesis==$schemathesis_version" "openapi-spec-validator==$validator_version" >&2
fi

[ "${1:-}" = --install-only ] && exit 0

for bin in "$agent" "$cli" "$age_keygen"; do
  [ -x "$bin" ] || die "$bin is missing; run 'make build' first"
done
[ -x "$sops" ] || die "sops not found at $sops; run 'make tools' first"

# The file itself must be a valid OpenAPI 3.1 document.
"$venv/bin/openapi-spec-validator" "$spec" >&2 || die "$spec is not a valid OpenAPI document"

# --- A throw-away vault and agent ----------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/vanta-conformance.XXXXXX")
agent_pid=""
cleanup() {
  local rc=$?
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
    kill -TERM "$agent_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  if [ "${VANTA_CONFORMANCE_KEEP:-0}" = 1 ]; then
    say "kept $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$work/vault"
"$age_keygen" -o "$work/age.txt" 2>/dev/null
recipient=$(sed -n 's/^# public key: //p' "$work/age.txt")
[ -n "$recipient" ] || die "no public key in $work/age.txt"
cat >"$work/plain.yaml" <<'YAML'
DATABASE_URL: postgres://app:s3cr3t@db.internal:5432/app
API_KEYS:
  stripe: sk_test_conformance
  sendgrid: SG.conformance
PORT: 5432
DEBUG: true
multi_line: |
  first line
  second line
nested:
  list: [1, 2, 3]
  empty: null
YAML
"$sops" encrypt --age "$recipient" --input-type yaml --output-type yaml "$work/plain.yaml" >"$work/vault/dev.enc.yaml"
rm -f "$work/plain.yaml"

head -c 48 /dev/urandom | base64 | tr -d '\n' >"$work/jwt.key"
head -c 48 /dev/urandom | base64 | tr -d '\n' >"$work/admin.token"
chmod 600 "$work/jwt.key" "$work/admin.token"

# A free loopback port: bind port 0, read it back, release it.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
base="http://127.0.0.1:$port"
socket="$work/agent.sock"

VANTA_JWT_SECRET_KEY_FILE="$work/jwt.key" \
VANTA_ADMIN_TOKEN_FILE="$work/admin.token" \
SOPS_AGE_KEY_FILE="$work/age.txt" \
VANTA_LOG="${VANTA_LOG:-warn}" \
  "$agent" \
    --socket "$socket" \
    --sops-files-path "$work/vault" \
    --sops-bin "$sops" \
    --audit-log "$work/audit.jsonl" \
    --state-path "$work/usage.db" \
    --listen-tcp "127.0.0.1:$port" --insecure-tcp \
    >"$work/agent.stdout" 2>"$work/agent.log" &
agent_pid=$!

ready=""
for _ in $(seq 100); do
  if ! kill -0 "$agent_pid" 2>/dev/null; then
    cat "$work/agent.log" >&2
    die "the agent exited during start-up"
  fi
  if [ -S "$socket" ] && python3 - "$port" <<'PY' 2>/dev/null; then
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
    ready=1
    break
  fi
  sleep 0.1
done
[ -n "$ready" ] || { cat "$work/agent.log" >&2; die "the agent did not become ready on $base"; }
say "agent up on $base and $socket"

# --- A read token, minted on the socket (minting over TCP needs the admin credential) ---
request='{"subject":"api-conformance","environment":"dev","key_pattern":"*","ttl_minutes":60}'
if command -v curl >/dev/null 2>&1; then
  token=$(curl -sS --fail-with-body --unix-socket "$socket" -H 'Content-Type: application/json' \
    --data "$request" http://localhost/api/v1/vault/tokens/generate |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
else
  token=$("$cli" --socket "$socket" token generate --subject api-conformance --environment dev \
    --key-pattern '*' --ttl 60 --output token)
fi
[ -n "$token" ] || die "could not mint a token on $socket"

# Sanity: the token reads on the TCP listener (otherwise every read is a 401
# and the run would prove little).
python3 - "$base" "$token" <<'PY' || die "the minted token does not read DATABASE_URL over TCP"
import json, sys, urllib.request
req = urllib.request.Request(f"{sys.argv[1]}/api/v1/vault/dev/DATABASE_URL",
                             headers={"Authorization": f"Bearer {sys.argv[2]}"})
with urllib.request.urlopen(req, timeout=5) as r:
    assert json.load(r)["value"].startswith("postgres://")
PY

# --- Schemathesis ------------------------------------------------------------
# Credentials go through the config file (per security scheme), not argv.
umask 077
cat >"$work/schemathesis.toml" <<TOML
[auth.openapi.jwt]
bearer = "$token"

[auth.openapi.adminCredential]
bearer = "$(cat "$work/admin.token")"
TOML

checks="${VANTA_CONFORMANCE_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,ignored_auth,unsupported_method}"
seed_args=()
# One worker: with several, Hypothesis's lambda descriptions run ast.parse in
# parallel threads, which trips a CPython 3.11.7 bug ("AST constructor
# recursion depth mismatch"). One worker still runs in seconds.
workers=1
[ -n "${VANTA_CONFORMANCE_SEED:-}" ] && seed_args=(--seed "$VANTA_CONFORMANCE_SEED")

say "schemathesis run $spec --url $base (max $max_examples examples per operation)"
set +e
# From the temporary directory: Schemathesis and Hypothesis keep state
# (.hypothesis/, .schemathesis/) in the working directory.
cd "$work"
"$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" --no-color run "$spec" \
  --url "$base" \
  --checks "$checks" \
  --max-examples "$max_examples" \
  --phases examples,coverage,fuzzing \
  --workers "$workers" \
  --request-timeout 15 \
  --generation-database none \
  --suppress-health-check too_slow,filter_too_much \
  --warnings off \
  "${seed_args[@]}"
rc=$?
set -e

if ! kill -0 "$agent_pid" 2>/dev/null; then
  cat "$work/agent.log" >&2
  die "the agent died during the run"
fi
if [ "$rc" -ne 0 ]; then
  say "FAILED (schemathesis exit $rc); agent log follows"
  tail -n 50 "$work/agent.log" >&2 || true
  exit "$rc"
fi
say "OK"

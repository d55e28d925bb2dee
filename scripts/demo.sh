#!/usr/bin/env bash
# `make demo`: the whole loop on a throw-away vault. Creates an age key and an
# encrypted environment with the real sops, starts vanta-agent on a private
# socket, mints a token, fetches a secret, runs a program with its secrets,
# shows the audit log, stops the agent and removes everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/debug"
sops="$root/.tools/bin/sops"
mkdir -p "$root/.demo"
demo=$(mktemp -d "$root/.demo/run.XXXXXX")
agent_pid=""

cleanup() {
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
    kill -TERM "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  rm -rf "$demo"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. a throw-away age key and an encrypted 'dev' environment (real sops)"
"$bin/age-keygen" -o "$demo/age.txt" 2>/dev/null
recipient=$(grep -o 'age1[0-9a-z]*' "$demo/age.txt" | head -n1)
mkdir -p "$demo/vault"
cat > "$demo/plain.yaml" <<'YAML'
DATABASE_URL: postgres://app:s3cr3t@db.internal:5432/app
API_KEYS:
    stripe: sk_test_demo_4242
    github: ghp_demo_token
LOG_LEVEL: debug
YAML
"$sops" encrypt --age "$recipient" --input-type yaml --output-type yaml "$demo/plain.yaml" > "$demo/vault/dev.enc.yaml"
rm "$demo/plain.yaml"
echo "encrypted to $recipient:"
sed -n '1,4p' "$demo/vault/dev.enc.yaml"

step "2. start vanta-agent on a private socket"
socket="$demo/run/agent.sock"
export VANTA_AGENT_SOCKET="$socket"
VANTA_JWT_SECRET_KEY=$(head -c 32 /dev/urandom | base64) \
SOPS_AGE_KEY_FILE="$demo/age.txt" \
  "$bin/vanta-agent" --sops-files-path "$demo/vault" --sops-bin "$sops" \
    --audit-log "$demo/audit.jsonl" --state-path "$demo/state/usage.db" 2> "$demo/agent.log" &
agent_pid=$!
for _ in $(seq 1 100); do
  [ -S "$socket" ] && break
  kill -0 "$agent_pid" 2>/dev/null || { cat "$demo/agent.log"; exit 1; }
  sleep 0.05
done
echo "agent pid $agent_pid listening on $socket"

step "3. mint a token for dev / DATABASE_* (vanta-cli token generate)"
"$bin/vanta-cli" token generate --subject demo-admin --environment dev --key-pattern 'DATABASE_*' --ttl 5
token=$("$bin/vanta-cli" token generate --subject demo-script --environment dev --key-pattern 'DATABASE_*' \
  --ttl 5 --usage-limit 2 --output token)

step "4. fetch one secret with it (vanta-cli get)"
# In VANTA_TOKEN, not --token: a flag's value shows in `ps` to other users.
VANTA_TOKEN=$token "$bin/vanta-cli" get --environment dev DATABASE_URL; echo
echo "and a key outside the token's scope is refused:"
VANTA_TOKEN=$token "$bin/vanta-cli" get --environment dev API_KEYS/stripe || echo "(exit code $?)"

step "5. run a program with every API_KEYS/* secret in its environment"
"$bin/vanta-cli" run-with-secrets --environment dev --key-pattern 'API_KEYS/*' -- \
  sh -c 'echo "child sees: API_KEYS_stripe has ${#API_KEYS_stripe} chars, API_KEYS_github has ${#API_KEYS_github} chars"'

step "6. ... or in a private 0600 .env file that is removed afterwards"
"$bin/vanta-cli" run-with-secrets --environment dev --key-pattern '*' --inject-as file -- \
  sh -c 'echo "child sees file $VANTA_SECRETS_FILE ($(stat -c %a "$VANTA_SECRETS_FILE")) with $(wc -l < "$VANTA_SECRETS_FILE") lines"'

step "7. the audit log: one JSON line per attempt, never a value or a token"
cat "$demo/audit.jsonl"
if grep -q -e 's3cr3t' -e 'sk_test_demo' -e "$token" "$demo/audit.jsonl"; then
  echo "a secret leaked into the audit log" >&2; exit 1
fi

step "8. stop the agent (SIGTERM): it drains, removes its socket, exits 0"
kill -TERM "$agent_pid"
wait "$agent_pid" && echo "agent exited 0"
agent_pid=""
[ ! -e "$socket" ] && echo "socket removed"
echo
echo "demo finished; the throw-away vault and key are deleted."

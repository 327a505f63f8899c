#!/usr/bin/env bash
# Miri over the core codec: runnable from anywhere, bash .ci/miri.sh
#
# The subset, and why:
# - `--no-default-features --features std,fast-crc`: the core without the
#   async layer (its tests need sockets and timers Miri cannot run), with
#   `fast-crc` so that crc32fast's unsafe (SIMD) code runs under Miri too;
#   heapless is exercised by the encoders and OwnedMessage. The crate itself
#   is `#![forbid(unsafe_code)]`.
# - `--lib`, minus `header_crc_matches_bytewise` (20,000 random headers:
#   9 minutes under Miri, and the fuzzers cover it against a reference).
# - `--test vectors` (every protocol vector, whole, byte by byte and in 50
#   random splits, through every decoder; ~2 min under Miri) and
#   `--test errors` (every error path, counters, owned messages; seconds).
# - Skipped: `properties` (proptest: thousands of cases, hours under
#   Miri), `no_alloc`/`net_alloc` (a counting global allocator; nothing
#   to learn under Miri), `net`, `cli`, `reliability_regressions` (async,
#   sockets, processes).
# - `-Zmiri-disable-isolation`: the vector tests read their JSON files.
# - `-Zmiri-ignore-leaks`: the tests' helper leaks each error code string
#   on purpose (`Box::leak` in tests/common); the library never allocates.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
installed="$(rustup +nightly component list --installed 2>/dev/null || true)"
if ! grep -q '^miri' <<<"$installed" || ! grep -q '^rust-src' <<<"$installed"; then
  rustup +nightly component add miri rust-src
fi

export MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-disable-isolation -Zmiri-ignore-leaks"
echo "miri subset: --no-default-features --features std,fast-crc --lib --test vectors --test errors"
cargo +nightly miri test --no-default-features --features std,fast-crc \
  --lib --test vectors --test errors -- --skip header_crc_matches_bytewise

#!/usr/bin/env bash
# Fuzz smoke runs: build the cargo-fuzz crate (fuzz/) and run every target
# for a short time from the committed seeds with the dictionary. Fails on
# any crash, failed assertion, leak or timeout. Runnable from anywhere:
#   bash .ci/fuzz.sh
#
# FUZZ_SECONDS (default 30) is the time per target in the default build,
# which is the no_std core with the small CRC tables. A second, shorter pass
# (FAST_CRC_SECONDS, default 10) builds with `--features fast-crc` (big
# tables, crc32fast) and runs the two targets that check both checksums
# against the bitwise reference: binary_stream (decoding) and round_trip
# (encoding). Budget on a 2-core machine: about 70 s of builds, 5 x 30 s
# and 3 x 10 s of fuzzing, about 4 minutes in all. typed_handler feeds
# arbitrary payloads to typed handlers (features postcard, embedded-io-async).
# A third pass (CONVERSATION_SECONDS, default 20) builds the fuzz crate's
# feature `net` (the host layer: std and async) and runs `conversation`,
# a whole server conversation through Router::serve against a model of
# §4-§6; about 1 minute more (its own build of the async dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FAST_CRC_SECONDS="${FAST_CRC_SECONDS:-10}"
CONVERSATION_SECONDS="${CONVERSATION_SECONDS:-20}"
# Longest input libFuzzer makes (its default would be 4096). A corpus grown
# at 4096 and cut to 2048 covers the same edges in every target
# (fuzz/README.md, "Speed"); inputs half as long run about 1.5x faster.
# In a 30 s run the corpus rarely gets that long anyway.
MAX_LEN="${MAX_LEN:-2048}"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

cd fuzz

# The seeds are made from tests/vectors: regenerate and insist they are the
# committed ones (skipped without python3 or outside a git checkout).
if command -v python3 >/dev/null 2>&1 && git rev-parse --git-dir >/dev/null 2>&1; then
  python3 gen_seeds.py
  if ! git diff --quiet -- seeds || [ -n "$(git ls-files --others --exclude-standard -- seeds)" ]; then
    echo "fuzz/seeds is out of date with tests/vectors: run python3 fuzz/gen_seeds.py and commit it" >&2
    exit 1
  fi
fi

# The fuzz crate's own tests (reference CRC check values, reference frame).
cargo +nightly test --lib --quiet

# run SECONDS "FEATURE ARGS" TARGET...
run() {
  local seconds=$1 features=$2
  shift 2
  # -a: debug assertions and overflow checks on. The targets of the run
  # only: `conversation` is built only with the feature `net`.
  local t corpus log label
  for t in "$@"; do
    # shellcheck disable=SC2086 # $features is zero to four words
    cargo +nightly fuzz build -a $features "$t"
  done
  label="$features"
  if [ "$features" = "-s none" ]; then
    label="(no_std core, small CRC tables, no ASan)"
  fi
  for t in "$@"; do
    # A scratch corpus, so the committed seeds never change.
    corpus="$(mktemp -d)"
    log="$(mktemp)"
    echo "--- $t $label: ${seconds}s"
    # shellcheck disable=SC2086
    if ! cargo +nightly fuzz run -a $features "$t" "$corpus" "seeds/$t" -- \
      -dict=msgwire.dict -max_len="$MAX_LEN" -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
      tail -n 80 "$log" >&2
      echo "fuzz target $t failed: the input is in fuzz/artifacts/$t" >&2
      exit 1
    fi
    grep -E '^#[0-9]+ +DONE|stat::number_of_executed_units' "$log" || true
    rm -rf "$corpus" "$log"
  done
}

# The default pass runs without AddressSanitizer (`-s none`): the code it
# fuzzes is the no_std core, which is `#![forbid(unsafe_code)]`, so ASan
# has no memory error to find there, and it made every execution about 3x
# slower (fuzz/README.md, "Speed"). The fast-crc pass keeps ASan: it runs
# crc32fast's unsafe SIMD code, and typed_handler, whose postcard and serde
# code is not msgwire's.
run "$FUZZ_SECONDS" "-s none" binary_stream text_stream structured round_trip typed_handler
run "$FAST_CRC_SECONDS" "--features fast-crc" binary_stream round_trip typed_handler
# msgwire's host layer is `forbid(unsafe_code)` too (the unsafe code this
# runs is async-channel's and futures-lite's, not what is fuzzed): no ASan.
run "$CONVERSATION_SECONDS" "-s none --features net" conversation
echo "fuzz smoke runs passed"

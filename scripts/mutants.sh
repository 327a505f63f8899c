#!/usr/bin/env bash
# Mutation testing (TESTING.md): changes one line of the codec or router at
# a time and checks that some test fails.
#
#   scripts/mutants.sh                  # every mutant, codec then router
#   scripts/mutants.sh codec|router|conversation|client   # one group
#   scripts/mutants.sh diff             # only mutants in the lines the last
#                                       # commit changed (CI); see below
#   extra arguments go to cargo mutants (e.g. -j 2, --iterate)
#
# Installs cargo-mutants when it is missing. Results in
# target/mutants-{codec,router}/mutants.out/; a missed mutant makes the
# script fail (exit 2; 3 for a timeout).
set -euo pipefail
cd "$(dirname "$0")/.."

CODEC_FILES=(src/decoder.rs src/text.rs src/encoder.rs src/frame.rs src/message.rs src/buffer.rs)
ROUTER_FILES=(src/net/router/mod.rs src/net/router/table.rs src/net/router/serve.rs
              src/net/events.rs src/net/framed/mod.rs src/net/framed/rx.rs
              src/net/framed/tx.rs src/net/io.rs)
CONVERSATION_FILES=(src/conversation/receiver.rs src/conversation/server.rs src/conversation/wire.rs
                    src/conversation/filter.rs src/conversation/hello.rs src/conversation/events.rs
                    src/conversation/client.rs src/embedded/mod.rs
                    src/embedded/handler.rs src/embedded/serve.rs
                    src/embedded/client.rs src/embedded/clock.rs
                    src/embedded/error.rs src/embedded/events.rs)
CLIENT_FILES=(src/net/client/mod.rs src/net/client/table.rs src/net/client/conn.rs
              src/net/client/reconnect.rs src/net/message.rs)

group="all"
case "${1:-}" in
  codec|router|conversation|client|all|diff) group=$1; shift ;;
esac

# `diff`: CI's step. Only the mutants in lines that HEAD changed against
# HEAD~1 in the files above; nothing to do (no HEAD~1 in a shallow clone,
# no change to those files) is a quick pass. Mutants are tested in place
# in the clone (CI's is throwaway) with --all-features, so the build that
# CI's test step left in target/ is reused.
if [ "$group" = diff ]; then
  if ! git rev-parse --verify -q HEAD~1 >/dev/null; then
    echo "mutants: no previous commit (shallow clone?): skipped"
    exit 0
  fi
  mkdir -p target
  git diff HEAD~1 -- "${CODEC_FILES[@]}" "${ROUTER_FILES[@]}" "${CONVERSATION_FILES[@]}" \
    "${CLIENT_FILES[@]}" > target/mutants.diff
  if [ ! -s target/mutants.diff ]; then
    echo "mutants: the last commit changes none of the mutated files: nothing to test"
    exit 0
  fi
fi

# cargo-mutants writes its results under target/, which a fresh clone has
# not made yet.
mkdir -p target

MUTANTS_VERSION=27.1.0
if ! cargo mutants --version >/dev/null 2>&1; then
  echo "installing cargo-mutants $MUTANTS_VERSION"
  cargo install --locked cargo-mutants --version "$MUTANTS_VERSION"
fi

# The copy cargo-mutants builds in has no ../shared beside it: the vector
# tests still run from tests/vectors/, only the text comparison is skipped.
export MSGWIRE_NO_SHARED=1
# The first failing test of a binary ends it (tests/common/watchdog.rs): a
# mutant is caught at its first failure, not after every test's deadline.
export MSGWIRE_TEST_FAIL_FAST=1
if [ "$group" != diff ]; then
  # Faster builds of each mutant: no debug info.
  export CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0
fi

# The test binaries that cover each group: only these are built for each
# mutant (the build is the slow part). tests/router.rs covers the
# conversation's Wire path into the async layer's send buffer.
CODEC_ARGS=(--lib --test=router
            --test=vectors --test=errors --test=rules --test=properties
            --test=no_alloc --test=fuzz_regressions --test=buffer_sizes)
ROUTER_ARGS=(--lib --test=router --test=net --test=net_alloc --test=reliability_regressions
             --test=events --test=framed --test=net_fuzz_regressions)
# The conversation core and its embedded driver (which needs its feature).
CONVERSATION_ARGS=(--lib --test=conversation --test=revision12 --test=embedded
                   --test=embedded_events --test=router --features=embedded-io-async)
# The async client: its stress and reconnect tests, the runtimes and logs
# it is checked on, and the owned frames (`src/net/message.rs`) the
# router and typed handlers also hand out.
CLIENT_ARGS=(--lib --test=client_stress --test=reconnect --test=net --test=runtimes
             --test=logging --test=events --test=router --test=typed)

EXTRA=("$@")
if [ "$group" = diff ]; then
  EXTRA+=(--in-diff target/mutants.diff --in-place --all-features)
  # A diff's mutants are in the files it touches only; each group's run
  # finds none in the other's files and passes.
fi

run() { # name, then files... -- cargo args...
  local name=$1 args=()
  shift
  while [ "$1" != "--" ]; do args+=(--file "$1"); shift; done
  shift
  for a in "$@"; do args+=("--cargo-arg=$a"); done
  local rc=0
  nice cargo mutants --no-shuffle --output "target/mutants-$name" "${args[@]}" "${EXTRA[@]}" || rc=$?
  # 3: some mutants made the tests hang (a loop that never ends): those
  # were noticed. But cargo-mutants gives 3 even when it also missed some
  # (3 wins over 2), so the verdict on missed mutants is its missed.txt.
  if [ "$rc" = 3 ]; then
    echo "($name: some mutants made the tests hang; counted as caught)"
    rc=0
  fi
  local missed="target/mutants-$name/mutants.out/missed.txt"
  if [ "$rc" = 0 ] && [ -s "$missed" ]; then
    echo "$name: missed mutants:" >&2
    cat "$missed" >&2
    rc=2
  fi
  return "$rc"
}

status=0
if [ "$group" = codec ] || [ "$group" = all ] || [ "$group" = diff ]; then
  run codec "${CODEC_FILES[@]}" -- "${CODEC_ARGS[@]}" || status=$?
fi
if [ "$group" = router ] || [ "$group" = all ] || [ "$group" = diff ]; then
  run router "${ROUTER_FILES[@]}" -- "${ROUTER_ARGS[@]}" || status=$?
fi
if [ "$group" = conversation ] || [ "$group" = all ] || [ "$group" = diff ]; then
  run conversation "${CONVERSATION_FILES[@]}" -- "${CONVERSATION_ARGS[@]}" || status=$?
fi
if [ "$group" = client ] || [ "$group" = all ] || [ "$group" = diff ]; then
  run client "${CLIENT_FILES[@]}" -- "${CLIENT_ARGS[@]}" || status=$?
fi
exit $status

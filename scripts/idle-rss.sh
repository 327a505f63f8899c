#!/usr/bin/env bash
# RSS of a msgwire server holding idle connections (BENCHMARKS.md, "Memory
# per connection"). Usage: scripts/idle-rss.sh [CONNECTIONS] (default 10000).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
# One descriptor per connection in each process, plus some.
want=$((n + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
cargo run --release --quiet --example idle-rss --features async -- "$n"

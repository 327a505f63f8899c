#!/usr/bin/env bash
# The record of the public API: docs/public-api.txt, one line per public
# item (every feature on), as cargo-public-api lists it from rustdoc's JSON.
#
#   bash scripts/public-api.sh          # check (CI): fails with a diff when
#   bash scripts/public-api.sh check    #   the API differs from the file
#   bash scripts/public-api.sh write    # after a deliberate API change:
#                                       #   rewrite the file, then commit it
#
# Installs what it needs when missing: a nightly toolchain (rustdoc's JSON
# output is nightly-only) and cargo-public-api $CPA_VERSION (cargo install,
# about 2-3 minutes on 2 cores). The rustdoc JSON is built in target/.
#
# The listing: `-sss` leaves out blanket impls (`impl<T> From<T> for T`),
# auto-trait impls (Send, Sync, Unpin, ...) and derived impls (Clone, Debug,
# PartialEq, ...), as the API was first counted; the tool orders the items
# itself (by path, each impl's items under it), the same on every machine,
# and prints no paths or versions. Items under `#[cfg(unix)]` are listed:
# the file describes the API as built on Linux, where CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# 0.52.0 reads rustdoc JSON format 57 (its rustdoc-types 0.57), the format
# of the machine's nightly (1.97.0-nightly, 2026-05-19). When nightly moves
# to another format the tool says so: bump this to a release that reads it.
CPA_VERSION=0.52.0
FILE=docs/public-api.txt

mode=${1:-check}
case "$mode" in
  check|write) ;;
  *) echo "usage: $0 [check|write]" >&2; exit 2 ;;
esac

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if [ "$(cargo-public-api --version 2>/dev/null)" != "cargo-public-api $CPA_VERSION" ]; then
  echo "installing cargo-public-api $CPA_VERSION"
  cargo install --locked cargo-public-api --version "$CPA_VERSION"
fi

mkdir -p target
new=target/public-api.txt
log=target/public-api.log
if ! cargo +nightly public-api --all-features -sss --color never >"$new" 2>"$log"; then
  cat "$log" >&2
  echo "public-api: cargo public-api $CPA_VERSION failed (see above)" >&2
  exit 2
fi
if [ ! -s "$new" ]; then
  cat "$log" >&2
  echo "public-api: empty listing" >&2
  exit 2
fi

if [ "$mode" = write ]; then
  cp "$new" "$FILE"
  echo "public-api: wrote $FILE ($(wc -l <"$FILE") lines)"
  exit 0
fi

if [ -f "$FILE" ] && cmp -s "$FILE" "$new"; then
  echo "public-api: the public API matches $FILE ($(wc -l <"$FILE") lines)"
  exit 0
fi
if [ -f "$FILE" ]; then
  diff -u --label "$FILE (committed)" --label "public API (this tree)" "$FILE" "$new" || true
else
  echo "public-api: $FILE is missing"
fi
echo "public-api: the public API changed; if that is deliberate, run 'bash scripts/public-api.sh write' and commit $FILE"
exit 1

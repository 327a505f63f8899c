#!/usr/bin/env bash
# Runs every shell line of the README and the docs/ pages as written, the
# way a newcomer would paste them on a fresh Debian machine, and fails on
# the first line that fails, hangs, or prints other than the `# ` comment
# lines written right under it say.
#
#   bash scripts/doc-commands.sh            # every page
#   bash scripts/doc-commands.sh docs/CLI.md
#
# With DOC_COMMANDS_TESTS_RAN=1 (set by .ci/run, whose own step runs it),
# the README's test command `cargo test --all-features` is not run again.
#
# Each ```sh block runs as one shell session, top to bottom (so `export`
# and `cmd &` carry to the lines after them, and `kill %1` finds its job).
# A line ending in `&` is a server: the script waits until it answers (TCP
# 127.0.0.1:7878) or a second has passed, and when the block ends every
# process it started is stopped, whatever happened. Each line has a time
# limit (20 minutes for cargo, which may build from cold; 60 s otherwise).
# ```text blocks are output, not commands, and are not run.
#
# The pages assume the `msgwire` program on PATH once docs/CLI.md has built
# it; the script puts target/release on PATH as that page's `export` does.
# Installs what the lines need (netcat-openbsd, socat) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ "$#" -gt 0 ]; then
  pages=("$@")
else
  pages=(README.md docs/CLI.md docs/HOST.md docs/EMBEDDED.md docs/FEATURES.md docs/PROTOCOL.md)
fi

install_missing() {
  local missing=()
  command -v nc >/dev/null || missing+=(netcat-openbsd)
  command -v socat >/dev/null || missing+=(socat)
  command -v timeout >/dev/null || missing+=(coreutils)
  [ "${#missing[@]}" -eq 0 ] && return
  echo "installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}
install_missing

export PATH="$root/target/release:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The helpers every generated block script starts with.
cat >"$work/prelude.sh" <<'EOF'
set -uo pipefail
# Every job the block started ends with the block.
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null' EXIT

# doc_run WHERE LIMIT: runs the command on stdin's first line with bash,
# then compares its stdout with the expected lines that follow, if any.
doc_run() {
  local where=$1 limit=$2 cmd expected out rc
  IFS= read -r cmd
  expected=$(cat)
  echo "+ $cmd"
  out=$(timeout "$limit" bash -o pipefail -c "$cmd" </dev/null)
  rc=$?
  printf '%s\n' "$out"
  if [ "$rc" -eq 124 ]; then
    echo "doc-commands: $where: still running after ${limit}s: $cmd" >&2
    exit 1
  elif [ "$rc" -ne 0 ]; then
    echo "doc-commands: $where: exit code $rc: $cmd" >&2
    exit 1
  fi
  if [ -n "$expected" ] && [ "$out" != "$expected" ]; then
    echo "doc-commands: $where: printed other than the page says: $cmd" >&2
    diff <(printf '%s\n' "$expected") <(printf '%s\n' "$out") >&2
    exit 1
  fi
}

# doc_ready LINE: after a background line, wait until a server answers.
doc_ready() {
  case "$1" in
    *serve*--serial* | *--serial*serve*) sleep 1 ;;
    *serve*)
      for _ in $(seq 1 300); do
        if (exec 3<>/dev/tcp/127.0.0.1/7878) 2>/dev/null; then return; fi
        sleep 0.1
      done
      echo "doc-commands: nothing answers on 127.0.0.1:7878 after: $1" >&2
      exit 1
      ;;
    *) sleep 1 ;;
  esac
}
EOF

# Writes each ```sh block of the pages into $work/blocks/NNN (lines as
# "LINENO<tab>TEXT"), and its page into NNN.page.
mkdir -p "$work/blocks"
count=0
for page in "${pages[@]}"; do
  count=$(awk -v page="$page" -v dir="$work/blocks" -v count="$count" '
    /^```sh[[:space:]]*$/ { inblock = 1; count++; file = sprintf("%s/%03d", dir, count)
                            print page > (file ".page"); close(file ".page"); next }
    /^```/ && inblock { inblock = 0; close(file); next }
    inblock { printf "%d\t%s\n", NR, $0 > file }
    END { print count }
  ' "$page")
done

if [ "$count" -eq 0 ]; then
  echo "doc-commands: no sh blocks in ${pages[*]}"
  exit 0
fi

ran=0
for page_file in "$work"/blocks/*.page; do
  block=${page_file%.page}
  page=$(cat "$page_file")
  script="$block.run.sh"
  cat "$work/prelude.sh" >"$script"
  # Each line: a comment right under a command is that command's expected
  # output; a line ending in `&` starts a server; `export`, `kill` and
  # `sleep` run in the block's own shell; anything else through doc_run.
  pending=""
  flush() {
    if [ -n "$pending" ]; then
      printf '%s\n' "$pending" "DOC_EOF" >>"$script"
      pending=""
    fi
  }
  while IFS=$'\t' read -r lineno line; do
    where="$page:$lineno"
    code=${line%%  #*}
    code=${code%% # *}
    if [[ "$line" =~ ^#\ ?(.*)$ ]]; then
      if [ -n "$pending" ]; then
        pending+=$'\n'"${BASH_REMATCH[1]}"
      fi
      continue
    fi
    flush
    if [[ -z "${line// /}" ]]; then
      continue
    elif [[ "$code" =~ \&[[:space:]]*$ ]]; then
      printf 'echo %q\n%s\ndoc_ready %q\n' "+ $line" "$line" "$line" >>"$script"
    elif [ "${DOC_COMMANDS_TESTS_RAN:-}" = 1 ] && [[ "$code" =~ ^cargo\ test\ --all-features[[:space:]]*$ ]]; then
      # .ci/run's own test step ran this very command just before.
      printf 'echo %q\n' "+ $line  (run by .ci/run's test step: not again)" >>"$script"
    elif [[ "$code" =~ ^(export|kill|sleep)[[:space:]] ]]; then
      printf 'echo %q\n%s || { echo %q >&2; exit 1; }\n' \
        "+ $line" "$code" "doc-commands: $where: failed: $code" >>"$script"
    else
      limit=60
      [[ "$code" =~ ^cargo[[:space:]] ]] && limit=1200
      printf "doc_run %q %s <<'DOC_EOF'\n" "$where" "$limit" >>"$script"
      pending=$line
    fi
  done <"$block"
  flush

  echo "=== $page, the block at line $(head -n1 "$block" | cut -f1)"
  # A session of its own, so that whatever it leaves behind is stopped.
  setsid bash "$script" &
  pid=$!
  (sleep 2400 && kill -TERM -- "-$pid" 2>/dev/null) &
  watchdog=$!
  rc=0
  wait "$pid" || rc=$?
  kill "$watchdog" 2>/dev/null || true
  wait "$watchdog" 2>/dev/null || true
  kill -TERM -- "-$pid" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    echo "doc-commands: FAILED ($page)" >&2
    exit 1
  fi
  ran=$((ran + 1))
done
echo "doc-commands: ${ran} block(s) of ${pages[*]} ran as written"

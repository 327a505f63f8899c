#!/usr/bin/env bash
# End-to-end proof of issue 14, item 3: the msgwire CLI over serial ports,
# without hardware.
#
# (1) A pseudo-terminal pair made by socat: `msgwire serve --serial A` on
#     one end, `msgwire send/ping/bench --serial B` on the other.
# (2) The firmware of issue 12 (firmware/, msgwire::embedded::serve) on
#     QEMU lm3s6965evb with its UART0 on a pty (`-serial pty`), driven by
#     `msgwire send/ping --serial /dev/pts/N`.
#
# Installs what it needs (socat and qemu-system-arm from Debian, the
# thumbv7m target), builds the CLI and the firmware, runs the checks (each
# prints PASS/FAIL and a name) and stops every background process on every
# path. The last line is "N passed, N failed"; the exit code is 1 if any
# check failed.
#
# Usage: bash scripts/serial-e2e.sh
# Env:   SERIAL_E2E_TIMEOUT  overall limit in seconds [default: 900; the
#                            checks take seconds, the first firmware build
#                            most of that]
#        QEMU_E2E_FIRMWARE   an ELF to boot instead of building firmware/
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

e2e_timeout=${SERIAL_E2E_TIMEOUT:-900}
# The tally, the time limit, cleanup on exit, setup and check helpers.
source scripts/lib/firmware.sh

# ------------------------------------------------------------------ setup
setup "install socat" apt_install socat socat
firmware_setup
setup "build the msgwire CLI (cli,serial)" cargo build --release --quiet --features cli,serial --bin msgwire
# In release, as docs/CLI.md builds it: CI built it already (doc-commands).
cli="$root/target/release/msgwire"

# Keeps a pty's slave open (without making it a controlling terminal) so
# that the master's owner (socat, QEMU) never sees a hang-up between two
# CLI runs, each of which opens and closes the port.
hold() {
    python3 -c 'import os, sys, time; os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY); time.sleep(3600)' "$1" \
        </dev/null >/dev/null 2>&1 &
    pids+=($!)
}

# bench: its answer count must be above 0.
bench_check() {
    local out n
    out=$(timeout 30 "$cli" bench "$@" 2>/dev/null)
    printf '%s\n' "$out"
    n=$(printf '%s\n' "$out" | sed -nE 's/^([0-9]+) answers, ([0-9]+) failed.*/\1 \2/p')
    [ -n "$n" ] || return 1
    echo "  info: bench over the pty pair: ${n%% *} answers, ${n##* } failed in 1 s"
    [ "${n%% *}" -gt 0 ] && [ "${n##* }" -eq 0 ]
}

# ---------------------------------------------- (1) pty pair through socat
a="$log_dir/ttyA"
b="$log_dir/ttyB"
pty_pair() {
    socat -d -d "pty,raw,echo=0,link=$a" "pty,raw,echo=0,link=$b" >"$log_dir/socat.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do
        [ -e "$a" ] && [ -e "$b" ] && return 0
        sleep 0.1
    done
    cat "$log_dir/socat.log"
    return 1
}
setup "socat pty pair" pty_pair
hold "$a"
hold "$b"
serve_serial() {
    "$cli" serve --serial "$a" --baud 115200 >"$log_dir/serve.log" 2>&1 &
    pids+=($!)
    serve_pid=$!
    for _ in $(seq 50); do
        grep -q '^serving ' "$log_dir/serve.log" && return 0
        kill -0 "$serve_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log_dir/serve.log"
    return 1
}
setup "msgwire serve --serial $a" serve_serial
echo "     pty pair $(readlink "$a") <-> $(readlink "$b")"

check "pty: send PING --serial B -> PONG id=1 ack" \
    cli_expect '^PONG id=1 ack$' send PING --serial "$b"
check "pty: send ECHO with a payload --checksum --id 3 -> same payload" \
    cli_expect '^ECHO id=3 over a pty: 0123456789$' send ECHO 'over a pty: 0123456789' --checksum --id 3 --serial "$b" --baud 9600
check "pty: ping -c 3 --interval 0" \
    cli_expect '^3 sent, 3 received, 0% loss' ping --serial "$b" -c 3 --interval 0
check "pty: bench --duration 1 -> answers > 0, none failed" \
    bench_check --serial "$b" --duration 1
check "pty: send EXIT ends the conversation" \
    cli_expect '^sent EXIT' send EXIT --serial "$b"
# serve drops what it read past an EXIT with that conversation (see
# serial::serve): give it a moment before the next one, as a person would.
sleep 0.3
check "pty: the next conversation, in text: PING hi -> PONG ack" \
    cli_expect '^PONG ack$' send PING hi --text --serial "$b"
check "pty: text EXIT, then binary again: PING --id 5 -> PONG id=5" \
    bash -c '"$1" send EXIT --text --serial "$2" >/dev/null && sleep 0.3 &&
             "$1" send PING --id 5 --serial "$2" | grep -Eq "^PONG id=5 ack$"' _ "$cli" "$b"
check "pty: serve logged two conversations ended by EXIT (and served a third)" \
    bash -c '[ "$(grep -c "^conversation ended: EXIT$" "$1")" -eq 2 ]' _ "$log_dir/serve.log"

# ------------------------------------------------- (2) QEMU with -serial pty
boot() {
    start_qemu -serial pty
    for _ in $(seq 50); do
        dev=$(sed -nE 's|.*char device redirected to (/dev/pts/[0-9]+).*|\1|p' "$log_dir/qemu.log" | head -1)
        [ -n "$dev" ] && return 0
        kill -0 "$qemu_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log_dir/qemu.log"
    return 1
}
setup "boot QEMU lm3s6965evb -serial pty" boot
dev=$(sed -nE 's|.*char device redirected to (/dev/pts/[0-9]+).*|\1|p' "$log_dir/qemu.log" | head -1)
echo "     QEMU pid $qemu_pid, UART0 on $dev"
hold "$dev"

check "qemu: send PING --serial $dev --id 7 -> PONG id=7 ack" \
    cli_expect '^PONG id=7 ack$' send PING --serial "$dev" --id 7
check "qemu: send ECHO with a payload -> same payload" \
    cli_expect '^ECHO id=1 hello over a pty$' send ECHO 'hello over a pty' --serial "$dev"
check "qemu: unknown kind -> ERROR unknown-kind with the request id" \
    cli_expect '^ERROR id=9 unknown-kind: FROB' send FROB x --id 9 --serial "$dev"
check "qemu: ping -c 3 --interval 0" \
    cli_expect '^3 sent, 3 received, 0% loss' ping --serial "$dev" -c 3 --interval 0

qemu_still_running

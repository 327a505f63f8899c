#!/usr/bin/env bash
# The black-box conformance check (blackbox/, written from PROTOCOL.md 1.2
# alone) against a running peer.
#
#   bash scripts/blackbox.sh [host] [CHECKER ARGS...]
#       builds `msgwire serve` and the checker, serves on a free loopback
#       port and runs every host group against it (basic, hello, filters,
#       events, text-sub, slow, limits, noise).
#   bash scripts/blackbox.sh device [CHECKER ARGS...]
#       builds the firmware of firmware/ (as scripts/qemu-e2e.sh does),
#       boots it on QEMU lm3s6965evb with UART0 on a pty, sets the pty raw
#       and runs the firmware group against it.
#   bash scripts/blackbox.sh selftest [CHECKER ARGS...]
#       runs the relay groups (events, text-sub, slow) against
#       blackbox/selftest/relay.py, a small model of a relaying server, to
#       show those checks can pass (a check of the checker, not of msgwire).
#
# CHECKER ARGS go to msgwire-blackbox (e.g. --groups hello,noise). Installs
# what it needs (qemu-system-arm from Debian and the thumbv7m target for
# device, python3 for selftest), stops everything it starts on every path,
# and exits with the checker's status (1 if a check failed, 2 on a usage
# error or the checker's own deadline).
#
# Env: QEMU_E2E_FIRMWARE  an ELF to boot instead of building firmware/
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=host
case "${1:-}" in
host | device | selftest)
    mode=$1
    shift
    ;;
esac

log_dir=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$log_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() {
    local name=$1
    shift
    if "$@" >"$log_dir/step.log" 2>&1; then
        echo "ok   $name"
    else
        tail -30 "$log_dir/step.log"
        echo "FAIL $name"
        exit 1
    fi
}

apt_updated=0
apt_install() { # COMMAND PACKAGE
    command -v "$1" >/dev/null && return 0
    if [ "$apt_updated" = 0 ]; then
        apt-get update || return 1
        apt_updated=1
    fi
    apt-get install -y --no-install-recommends "$2"
}

# Starts "$@" in the background, its output in $log_dir/server.log, and
# waits for its "listening on ADDR" line; sets `addr`.
start_server() {
    "$@" >"$log_dir/server.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do
        addr=$(sed -nE 's/^listening on ([0-9.]+:[0-9]+).*/\1/p' "$log_dir/server.log" | head -1)
        [ -n "$addr" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log_dir/server.log"
    return 1
}

step "build the checker (blackbox/)" cargo build --release --quiet --manifest-path blackbox/Cargo.toml
bb="$root/blackbox/target/release/msgwire-blackbox"

case $mode in
host)
    step "build msgwire serve" cargo build --release --quiet --features cli --bin msgwire
    step "start msgwire serve on a free port" start_server "$root/target/release/msgwire" serve --listen 127.0.0.1:0
    echo "     msgwire serve on $addr"
    # 300,000 events (12 MB): more than the loopback's socket buffers hold,
    # so the slow subscriber does lose events and its LAGGED arithmetic is
    # checked (20,000 fit in the buffers and nothing is lost). A --flood
    # given on the command line comes later and wins.
    timeout 120 "$bb" --to "$addr" --flood 300000 "$@"
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "--- the server's log (last 20 lines)"
        tail -20 "$log_dir/server.log"
    fi
    exit "$status"
    ;;

selftest)
    step "install python3" apt_install python3 python3
    step "start the model relay" start_server python3 blackbox/selftest/relay.py 0
    echo "     blackbox/selftest/relay.py on $addr"
    if [ $# -eq 0 ]; then
        set -- --groups events,text-sub,slow
    fi
    timeout 120 "$bb" --to "$addr" "$@"
    exit $?
    ;;

device)
    step "install qemu-system-arm" apt_install qemu-system-arm qemu-system-arm
    step "rustup target add thumbv7m-none-eabi" rustup target add thumbv7m-none-eabi
    if [ -n "${QEMU_E2E_FIRMWARE:-}" ]; then
        fw=$QEMU_E2E_FIRMWARE
        echo "ok   firmware given: $fw"
    else
        step "build firmware (release)" bash -c 'cd firmware && cargo build --release --quiet'
        fw="$root/firmware/target/thumbv7m-none-eabi/release/msgwire-firmware"
    fi
    # As scripts/qemu-e2e.sh boots it, but UART0 on a pty: the checker
    # talks to it as to a serial port.
    boot() {
        qemu-system-arm -M lm3s6965evb -display none -monitor none -kernel "$fw" \
            -serial pty >"$log_dir/qemu.log" 2>&1 &
        pids+=($!)
        for _ in $(seq 50); do
            pty=$(sed -nE 's|.*char device redirected to (/dev/pts/[0-9]+).*|\1|p' "$log_dir/qemu.log" | head -1)
            [ -n "$pty" ] && return 0
            sleep 0.1
        done
        cat "$log_dir/qemu.log"
        return 1
    }
    step "boot QEMU lm3s6965evb (UART0 on a pty)" boot
    # Hold the pty open for the whole run, so that QEMU never sees its
    # other side hang up (between stty and the checker), and so that the
    # raw settings stay.
    exec 3<>"$pty"
    step "stty -F $pty raw -echo 115200" stty -F "$pty" raw -echo 115200
    echo "     QEMU UART0 on $pty"
    timeout 120 "$bb" --serial "$pty" --device "$@"
    status=$?
    exec 3>&-
    exit "$status"
    ;;
esac

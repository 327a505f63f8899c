# shellcheck shell=bash
# What scripts/qemu-e2e.sh and scripts/serial-e2e.sh share: the PASS/FAIL
# tally and its last line ("N passed, N failed"), the overall time limit,
# stopping every background process on every path, the setup steps
# (installing qemu-system-arm and the thumbv7m target, building the
# firmware of firmware/), booting it on QEMU and the checks' helpers.
#
# Sourced, not run. Before sourcing: `set -uo pipefail`, the working
# directory at the repository's root, and
#   root         that directory
#   e2e_timeout  the overall limit in seconds
# Each script builds the CLI it needs and sets `cli` to it.

passed=0
failed=0
pids=()       # background processes stopped on exit, besides QEMU
qemu_pid=""
watchdog_pid=""
finished=0
log_dir=$(mktemp -d)

stop() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}
finish() {
    [ "$finished" = 1 ] && return
    finished=1
    # The watchdog first: a timeout while stopping the rest would cut the
    # loop below short.
    trap '' USR1 INT TERM
    if [ -n "$watchdog_pid" ]; then
        kill "$watchdog_pid" 2>/dev/null
        wait "$watchdog_pid" 2>/dev/null
    fi
    local pid
    for pid in "${pids[@]}" $qemu_pid; do
        stop "$pid"
    done
    rm -rf "$log_dir"
    echo "$passed passed, $failed failed"
}
on_exit() {
    finish
    [ "$failed" -eq 0 ] || exit 1
}
on_timeout() {
    echo "FAIL overall-timeout ($e2e_timeout s)"
    failed=$((failed + 1))
    exit 1
}
trap on_exit EXIT
trap on_timeout USR1
trap 'failed=$((failed + 1)); exit 1' INT TERM

# Overall limit: the watchdog signals this shell, whose trap stops the rest.
# (Its sleep is killed with it, and it holds none of our output open.)
(
    trap 'kill "$sleep_pid" 2>/dev/null; exit 0' TERM
    sleep "$e2e_timeout" &
    sleep_pid=$!
    wait "$sleep_pid" && kill -USR1 $$
) >/dev/null 2>&1 </dev/null &
watchdog_pid=$!

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }
# A step that must work for anything after it to make sense.
setup() {
    local name=$1
    shift
    if "$@" >"$log_dir/setup.log" 2>&1; then
        echo "ok   $name"
    else
        tail -30 "$log_dir/setup.log"
        fail "$name"
        exit 1
    fi
}

t0=$(date +%s)

# ------------------------------------------------------------------ setup
# apt_install COMMAND PACKAGE: installs PACKAGE from Debian unless COMMAND
# is there already (`apt-get update` once, before the first install).
apt_updated=0
apt_install() {
    command -v "$1" >/dev/null && return 0
    if [ "$apt_updated" = 0 ]; then
        apt-get update || return 1
        apt_updated=1
    fi
    apt-get install -y --no-install-recommends "$2"
}

# qemu-system-arm and the thumbv7m target, then the firmware: built from
# firmware/, or the ELF in $QEMU_E2E_FIRMWARE. Its path is left in `fw`.
firmware_setup() {
    # The checks' raw-socket and pty helpers are small python3 programs.
    setup "install python3" apt_install python3 python3-minimal
    setup "install qemu-system-arm" apt_install qemu-system-arm qemu-system-arm
    setup "rustup target add thumbv7m-none-eabi" rustup target add thumbv7m-none-eabi
    if [ -n "${QEMU_E2E_FIRMWARE:-}" ]; then
        fw=$QEMU_E2E_FIRMWARE
        echo "ok   firmware given: $fw"
    else
        setup "build firmware (release)" bash -c 'cd firmware && cargo build --release --quiet'
        fw="$root/firmware/target/thumbv7m-none-eabi/release/msgwire-firmware"
    fi
}

# Boots the firmware on QEMU lm3s6965evb in the background, its UART0 as
# the arguments say (`-serial ...`), its output in $log_dir/qemu.log; sets
# `qemu_pid` (stopped on exit).
start_qemu() {
    qemu-system-arm -M lm3s6965evb -display none -monitor none -kernel "$fw" \
        "$@" >"$log_dir/qemu.log" 2>&1 &
    qemu_pid=$!
}

# ----------------------------------------------------------------- checks
# A check: name, then a command; PASS if it exits 0.
check() {
    local name=$1
    shift
    if out=$("$@" 2>&1); then
        pass "$name"
        printf '%s\n' "$out" | grep '^  info: ' || true
    else
        fail "$name"
        printf '%s\n' "$out" | tail -15 | sed 's/^/  | /'
    fi
}
# Runs the CLI and checks its output matches an extended regex.
cli_expect() {
    local pattern=$1
    shift
    local out
    out=$(timeout 30 "$cli" "$@" 2>&1)
    printf '%s\n' "$out"
    printf '%s\n' "$out" | grep -Eq -- "$pattern"
}

# The last check of both scripts, then how long they ran.
qemu_still_running() {
    if kill -0 "$qemu_pid" 2>/dev/null; then
        pass "QEMU still running"
    else
        fail "QEMU still running"
    fi
    echo "     run time $(( $(date +%s) - t0 )) s"
}

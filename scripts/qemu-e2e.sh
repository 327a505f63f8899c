#!/usr/bin/env bash
# End-to-end proof of issue 12: msgwire's no_std `serve` loop (firmware/)
# on an emulated Cortex-M3 (QEMU lm3s6965evb), its UART0 on a loopback TCP
# port, driven from the host by the msgwire CLI and a raw-socket driver.
#
# Installs what it needs (qemu-system-arm from Debian, the thumbv7m target),
# builds the firmware and the CLI, boots QEMU, runs the checks (each prints
# PASS/FAIL and a name) and stops QEMU on every path. The last line is
# "N passed, N failed"; the exit code is 1 if any check failed.
#
# The firmware publishes an event `tick` every 100 ms (SysTick) to a peer
# that subscribed: the checks subscribe, count the ticks and their period,
# and unsubscribe.
#
# Usage: bash scripts/qemu-e2e.sh
# Env:   QEMU_E2E_TIMEOUT   overall limit in seconds [default: 900]
#        QEMU_E2E_FIRMWARE  an ELF to boot instead of building firmware/
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

e2e_timeout=${QEMU_E2E_TIMEOUT:-900}
# The tally, the time limit, cleanup on exit, setup and check helpers.
source scripts/lib/firmware.sh

# ------------------------------------------------------------------ setup
firmware_setup
setup "build the msgwire CLI" cargo build --release --quiet --features cli --bin msgwire

# In release, as docs/CLI.md builds it: CI built it already (doc-commands).
cli="$root/target/release/msgwire"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
listening() {
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' "$1" 2>/dev/null
}

boot() {
    local tries
    for tries in 1 2 3; do
        port=$(free_port)
        start_qemu -chardev "socket,id=u0,host=127.0.0.1,port=$port,server=on,wait=off,nodelay=on" \
            -serial chardev:u0
        for _ in $(seq 50); do
            if listening "$port"; then
                return 0
            fi
            kill -0 "$qemu_pid" 2>/dev/null || break
            sleep 0.2
        done
        kill "$qemu_pid" 2>/dev/null
        wait "$qemu_pid" 2>/dev/null
        qemu_pid=""
        cat "$log_dir/qemu.log"
    done
    return 1
}
setup "boot QEMU lm3s6965evb" boot
echo "     QEMU pid $qemu_pid, UART0 on 127.0.0.1:$port"
to="127.0.0.1:$port"

# --------------------------------------------------------- the raw driver
# python3 -c "$raw" PORT CHECK: speaks msgwire v1 over a socket, byte by byte.
raw=$(cat <<'PY'
import binascii, random, socket, struct, sys, threading, time, zlib

port, check = int(sys.argv[1]), sys.argv[2]

def frame(kind, payload=b"", id=0, flags=0, payload_len=None):
    kind = kind.encode()
    plen = len(payload) if payload_len is None else payload_len
    head = struct.pack("<BBBBII", 0xA5, 1, flags, len(kind), id, plen)
    f = head + struct.pack("<H", binascii.crc_hqx(head, 0xFFFF)) + kind + payload
    if flags & 1:
        f += struct.pack("<I", zlib.crc32(f))
    return f

class Reader:
    """Decodes answer frames on a thread of its own, with their arrival
    times. `lenient`: a bad header is skipped (the tail of an event frame
    the firmware was writing when this connection opened), not a failure."""
    def __init__(self, sock, lenient=False):
        self.sock, self.buf, self.frames, self.times = sock, b"", [], []
        self.lenient = lenient
        self.cond = threading.Condition()
        self.closed = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            with self.cond:
                if not data:
                    self.closed = True
                    self.cond.notify_all()
                    return
                self.buf += data
                self.parse()
                self.cond.notify_all()

    def parse(self):
        while True:
            i = self.buf.find(b"\xa5")
            if i < 0:
                self.buf = b""
                return
            self.buf = self.buf[i:]
            if len(self.buf) < 14:
                return
            magic, ver, flags, klen, id, plen, crc = struct.unpack("<BBBBIIH", self.buf[:14])
            if binascii.crc_hqx(self.buf[:12], 0xFFFF) != crc:
                if self.lenient and not self.frames:
                    self.buf = self.buf[1:]
                    continue
                raise SystemExit("FAIL: the firmware sent a bad header: %r" % self.buf[:14])
            n = 14 + klen + plen + (4 if flags & 1 else 0)
            if len(self.buf) < n:
                return
            kind = self.buf[14:14 + klen].decode()
            payload = self.buf[14 + klen:14 + klen + plen]
            self.frames.append((kind, id, flags, payload))
            self.times.append(time.time())
            self.buf = self.buf[n:]

    def wait(self, pred, timeout):
        end = time.time() + timeout
        with self.cond:
            while not pred(self.frames):
                left = end - time.time()
                if left <= 0 or self.closed:
                    return False
                self.cond.wait(left)
            return True

    def pong(self, id, timeout=10):
        return self.wait(lambda fs: any(f[0] == "PONG" and f[1] == id for f in fs), timeout)

def expect(cond, what):
    if not cond:
        print("  expected:", what)
        print("  got:", [(k, i, f, p[:60]) for k, i, f, p in r.frames][:20])
        sys.exit(1)

s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
if check != "exit-then-text":
    # After `SUB tick` ticks may be on their way when this connects.
    r = Reader(s, lenient=check == "events")

if check == "header-checksum":
    bad = bytearray(frame("PING", id=11))
    bad[12] ^= 0xFF                      # header CRC-16 wrong
    s.sendall(bytes(bad) + frame("PING", id=12))
    expect(r.pong(12), "PONG id 12 after the corrupt header")
    first = r.frames[0]
    expect(first[0] == "ERROR" and first[1] == 0 and first[3].startswith(b"header-checksum: "),
           "first answer ERROR header-checksum with id 0")
    expect(first[2] & 2, "RESPONSE flag on the ERROR")
    expect(not any(f[0] == "PONG" and f[1] == 11 for f in r.frames), "no PONG for the corrupt frame")

elif check == "too-large":
    # A trusted header claiming 1000 bytes (the firmware's max is ~256); the
    # claimed bytes are two good PING frames, which must be skipped unread.
    inner = frame("PING", id=666) * 2
    body = inner + b"z" * (1000 - len(inner))
    s.sendall(frame("ECHO", body, id=21) + frame("PING", id=22))
    expect(r.pong(22), "PONG id 22 after the too-large frame")
    first = r.frames[0]
    expect(first[0] == "ERROR" and first[1] == 21 and first[3].startswith(b"too-large: "),
           "first answer ERROR too-large with id 21")
    expect(not any(f[1] == 666 for f in r.frames), "the skipped bytes were not decoded")
    expect(len(r.frames) == 2, "exactly two answers")

elif check == "echo-checksum-raw":
    payload = bytes(range(256))[:200]
    s.sendall(frame("ECHO", payload, id=31, flags=1))
    expect(r.wait(lambda fs: fs, 10), "an answer")
    k, i, f, p = r.frames[0]
    expect(k == "ECHO" and i == 31 and p == payload and f & 2, "ECHO id 31, RESPONSE, same 200 bytes")

elif check == "flood":
    rng = random.Random(12)
    ids = list(range(1000, 1064))       # one PING after every 4 KiB: 256 KiB
    data = b"".join(rng.randbytes(4096) + frame("PING", id=i) for i in ids)
    t = time.time()
    s.sendall(data)
    ok = r.wait(lambda fs: sum(f[0] == "PONG" for f in fs) >= len(ids), 90)
    time.sleep(0.3)                      # let any duplicate arrive
    pongs = sorted(f[1] for f in r.frames if f[0] == "PONG")
    errors = sum(f[0] == "ERROR" for f in r.frames)
    print("  info: %d bytes in %.1f s, %d PONGs, %d ERRORs for the garbage"
          % (len(data), time.time() - t, len(pongs), errors))
    expect(ok and pongs == ids, "every PING id answered exactly once")

elif check == "events":
    # SUB tick: tick events (EVENT flag, id 0) every 100 ms, counters +1;
    # UNSUB tick: none after its answer.
    def answered(kind, id):
        return next((i for i, f in enumerate(r.frames) if f[0] == kind and f[1] == id), None)
    s.sendall(frame("SUB", b"tick", id=51))
    expect(r.wait(lambda fs: answered("SUB", 51) is not None, 10), "SUB answered, id 51")
    at = answered("SUB", 51)
    expect(r.frames[at][3] == b"tick" and r.frames[at][2] & 2, "SUB tick, RESPONSE")
    after = lambda fs: [f for f in fs[at + 1:] if f[0] == "tick"]
    expect(r.wait(lambda fs: len(after(fs)) >= 10, 5), "10 ticks within 5 s")
    ticks = [(t, f) for t, f in zip(r.times[at + 1:], r.frames[at + 1:]) if f[0] == "tick"]
    expect(all(f[2] == 4 and f[1] == 0 for _, f in ticks), "ticks are events: EVENT flag only, id 0")
    expect(not any(f[0] == "LAGGED" for f in r.frames), "no LAGGED for a reader that keeps up")
    counters = [int(f[3]) for _, f in ticks]
    expect(all(b == a + 1 for a, b in zip(counters, counters[1:])), "counters +1 each: %r" % counters)
    period = (ticks[-1][0] - ticks[0][0]) / (len(ticks) - 1)
    print("  info: %d ticks, counters %d..%d, every %.1f ms" % (len(ticks), counters[0], counters[-1], period * 1000))
    expect(0.06 < period < 0.16, "a tick about every 100 ms")
    s.sendall(frame("UNSUB", b"tick", id=52))
    expect(r.wait(lambda fs: answered("UNSUB", 52) is not None, 10), "UNSUB answered, id 52")
    at = answered("UNSUB", 52)
    time.sleep(0.6)                      # six ticks' time
    late = [f for f in r.frames[at + 1:] if f[0] == "tick"]
    print("  info: %d ticks between UNSUB and its answer, %d after"
          % (sum(f[0] == "tick" for f in r.frames[r.frames.index(ticks[-1][1]) + 1:at]), len(late)))
    expect(not late, "no tick after the UNSUB answer")

elif check == "noise":
    # Random bytes with several 0xA5 in them (each an untrusted header),
    # then a PING: one ERROR for the run of noise, then the PONG.
    rng = random.Random(22)
    noise = bytearray(b for b in rng.randbytes(400) if b != 0xA5)[:300]
    for i in (3, 40, 41, 100, 177, 250, 299):
        noise[i] = 0xA5
    s.sendall(bytes(noise) + frame("PING", id=61))
    expect(r.pong(61), "PONG id 61 after the noise")
    time.sleep(0.3)                      # let any extra ERROR arrive
    errors = [f for f in r.frames if f[0] == "ERROR"]
    expect(len(errors) == 1 and errors[0][1] == 0, "exactly one ERROR (id 0) for the noise")
    expect([f[0] for f in r.frames] == ["ERROR", "PONG"], "ERROR, then PONG")
    print("  info: %d noise bytes, 7 of them 0xA5: %s" % (len(noise), errors[0][3].split(b":")[0].decode()))

elif check == "exit-then-text":
    # Plain reads on this one: binary first, then text lines.
    def silent(secs):
        s.settimeout(secs)
        try:
            return s.recv(65536) == b""   # closed counts as silent too
        except socket.timeout:
            return True
    got = b""
    def line():
        global got
        s.settimeout(10)
        while b"\n" not in got:
            data = s.recv(65536)
            if not data:
                break
            got += data
        l, _, got = got.partition(b"\n")
        return l
    s.sendall(frame("EXIT", id=41))
    if not silent(0.5):
        sys.exit("  expected no answer to EXIT")
    # A new conversation: its first byte is not 0xA5, so it is text.
    s.sendall(b"PING:hi\n")
    l = line()
    if l != b"PONG:ack":
        sys.exit("  expected PONG:ack, got %r" % l)
    s.sendall(b"FROB:x\n")
    l = line()
    if not l.startswith(b"ERROR:unknown-kind: FROB"):
        sys.exit("  expected ERROR:unknown-kind: FROB, got %r" % l)

else:
    sys.exit("unknown check " + check)
PY
)
rawcheck() { timeout 120 python3 -c "$raw" "$port" "$1"; }

# ----------------------------------------------------------------- checks
payload200=$(head -c 200 < <(yes 'The quick brown fox jumps over the lazy dog 0123456789.' | tr -d '\n'))

check "send PING --id 7 -> PONG id=7 ack" \
    cli_expect '^PONG id=7 ack$' send PING --to "$to" --id 7
check "ping -c 3 --interval 0" \
    cli_expect '^3 sent, 3 received, 0% loss' ping --to "$to" -c 3 --interval 0
check "send ECHO <200 bytes> --checksum -> same payload" \
    cli_expect "^ECHO id=1 ${payload200}\$" send ECHO "$payload200" --checksum --to "$to"
check "ECHO 200 bytes with CRC-32 (raw): id, RESPONSE flag, payload" rawcheck echo-checksum-raw
check "HELLO (revision 1.2) -> rev=1.2 max=256" \
    cli_expect '^rev=1.2 max=256$' hello --to "$to"
check "SUB tick -> SUB tick (the filter kept)" \
    cli_expect '^SUB id=1 tick$' send SUB tick --to "$to"
check "SUB tick (raw): tick events every 100 ms, counters +1; UNSUB tick: none after its answer" \
    rawcheck events
check "noise with 7 stray 0xA5 -> exactly one ERROR, then the next PING answered" rawcheck noise
check "unknown kind -> ERROR unknown-kind with the request id" \
    cli_expect '^ERROR id=9 unknown-kind: FROB' send FROB x --id 9 --to "$to"
check "corrupt header -> ERROR header-checksum id 0, next PING answered" rawcheck header-checksum
check "too-large claim -> ERROR too-large with its id, bytes skipped, next PING answered" rawcheck too-large
check "256 KiB garbage with 64 PINGs: every PING answered once" rawcheck flood
check "binary EXIT: no answer; then text PING:hi -> PONG:ack, unknown kind -> ERROR line" rawcheck exit-then-text
check "text EXIT: ends the text conversation" \
    cli_expect '^sent EXIT' send EXIT --text --to "$to"
check "binary again after the text EXIT: PING --id 8 -> PONG id=8" \
    cli_expect '^PONG id=8 ack$' send PING --to "$to" --id 8

qemu_still_running

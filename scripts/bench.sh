#!/usr/bin/env bash
# Reproduces every figure of BENCHMARKS.md (issue 6):
#   1. the codec bench (bench/benches/codec.rs, divan), printed as Markdown
#      tables with the goals checked;
#   2. the network bench:
#      MSGWIRE_BENCH_SECS=2 cargo bench --manifest-path bench/Cargo.toml --bench net;
#   3. the flash size: scripts/size.sh;
#   4. scripts/idle-rss.sh, if present;
#   5. the events bench (issue 24): fan-out through msgwire serve's relay
#      beside mosquitto (bench/benches/events.rs). It installs Debian's
#      mosquitto if missing (apt-get install -y mosquitto), starts its own
#      instance on a free loopback port (a minimal config: listener, anonymous
#      clients, no persistence, TCP_NODELAY as msgwire sets it), runs
#      MSGWIRE_BENCH_SECS=2 MSGWIRE_BENCH_MQTT=127.0.0.1:PORT \
#        cargo bench --manifest-path bench/Cargo.toml --bench events
#      and stops exactly that mosquitto (its PID) at the end.
#
# Usage: scripts/bench.sh [codec|net|size|rss|events ...]
#        (default: codec net size rss events)
#        scripts/bench.sh table FILE   (tables from a saved codec bench output)
# The codec tables use divan's fastest sample (STAT=fastest, the default: on
# a shared machine the median carries other processes' load) or its median
# (STAT=median).
# Both benches live in bench/, a crate of their own (the peers they measure
# are not dependencies of msgwire), built in bench/target/.
# Raw outputs go to $OUT (default target/bench-results/).
# Runs under `nice -n -5` when allowed (the machine is shared).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="${OUT:-$root/target/bench-results}"
mkdir -p "$out"

nice_cmd=()
if nice -n -5 true 2>/dev/null; then nice_cmd=(nice -n -5); fi

# Markdown tables from divan's output of bench/benches/codec.rs.
codec_tables() {
    STAT="${STAT:-fastest}" python3 - "$1" <<'PY'
import os, re, sys

TIME = {"ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
RATE = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
leaf = re.compile(r"[├╰]─ (small|medium|large)/(plain|crc)\s")
rate = re.compile(r"([\d.]+) ([KMGT]?)(B|item)/s")

COL = {"fastest": 0, "slowest": 1, "median": 2, "mean": 3}[os.environ.get("STAT", "fastest")]
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
res, path = {}, []
for i, line in enumerate(lines):
    m = leaf.search(line)
    if m:
        cols = line[m.end():].split("│")
        t = cols[COL].split()
        ns = float(t[0]) * TIME[t[1]]
        byts = items = None
        for extra in lines[i + 1:i + 3]:
            r = rate.findall(extra)
            if len(r) >= 4:
                v, p, u = r[COL]
                if u == "B":
                    byts = float(v) * RATE[p]
                else:
                    items = float(v) * RATE[p]
        res[(path[0], path[1], m.group(1), m.group(2))] = (1e9 / items, byts / 1e6, ns)
        continue
    g = re.search(r"[├╰]─ (\w+)", line)
    if g:
        depth = len(line[:g.start()]) // 3
        path = path[:depth] + [g.group(1)]

ROWS = [
    ("decode", "msgwire_stream_4k", "msgwire stream decoder, 4 KiB reads (spare/commit)"),
    ("decode", "msgwire_stream_64b", "msgwire stream decoder, 64 B reads (spare/commit)"),
    ("decode", "msgwire_feed_4k", "msgwire stream decoder, 4 KiB `feed`"),
    ("decode", "msgwire_slice", "msgwire `decode_slice` loop"),
    ("decode", "ldc_4k", "tokio-util LengthDelimitedCodec, 4 KiB reads"),
    ("decode", "ldc_whole", "tokio-util LengthDelimitedCodec, whole buffer"),
    ("decode", "postcard_cobs_4k", "postcard CobsAccumulator, 4 KiB reads"),
    ("limit", "memcpy", "limit: `copy_from_slice` of the stream"),
    ("limit", "crc32fast", "limit: `crc32fast::hash` of every payload"),
    ("limit", "crc32fast_frame", "limit: `crc32fast::hash` of what the trailer covers"),
    ("encode", "msgwire", "encode: msgwire `Encoder::encode`"),
    ("encode", "msgwire_head", "encode: msgwire `encode_head` (no payload copy)"),
    ("encode", "ldc", "encode: tokio-util LengthDelimitedCodec"),
    ("encode", "postcard_cobs", "encode: postcard `to_slice_cobs`"),
]
BASE = {"decode": "msgwire_stream_4k", "limit": "msgwire_stream_4k", "encode": "msgwire"}

def get(group, name, size, crc):
    return res.get((group, name, size, crc))

for size, title in [("small", "Small frames: `PING`, 16-byte payload"),
                    ("medium", "Medium frames: `PING`, 1 KiB payload"),
                    ("large", "Large frames: `PING`, 64 KiB payload")]:
    print(f"### {title}\n")
    print("| contender | ns/frame | MB/s | ratio | ns/frame (crc) | MB/s (crc) | ratio (crc) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for group, name, label in ROWS:
        cells = []
        for crc in ("plain", "crc"):
            v = get(group, name, size, crc)
            base = get("decode" if group == "limit" else group, BASE[group], size, crc)
            if v is None:
                cells += ["n/a", "n/a", "n/a"]
                continue
            ratio = f"{v[0] / base[0]:.2f}×" if base else "n/a"
            cells += [f"{v[0]:.1f}" if v[0] < 1000 else f"{v[0]:,.0f}", f"{v[1]:,.0f}", ratio]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()

def ns(group, name, size, crc):
    v = get(group, name, size, crc)
    return v[0] if v else float("nan")

print("### Goals\n")
print("Small-frame goals are for frames without the checksum flag (the default);")
print("the rows marked *info* show the same frames with the checksum.\n")
print("| goal | measured | met |")
print("|---|---|---|")
def goal(text, measured, ok):
    print(f"| {text} | {measured} | {ok if isinstance(ok, str) else ('yes' if ok else '**no**')} |")
s = ns("decode", "msgwire_stream_4k", "small", "plain")
goal("small-frame decode ≤ 20 ns/frame (stream decoder, 4 KiB reads)", f"{s:.1f} ns", s <= 20)
sl = ns("decode", "msgwire_slice", "small", "plain")
goal("small-frame decode ≤ 20 ns/frame (`decode_slice`)", f"{sl:.1f} ns", sl <= 20)
for other in ("ldc_4k", "ldc_whole"):
    r = ns("decode", other, "small", "plain") / s
    goal(f"small-frame decode ≥ 2× faster than LengthDelimitedCodec (stream vs `{other}`)", f"{r:.2f}×", r >= 2)
sc = ns("decode", "msgwire_stream_4k", "small", "crc")
cf = ns("limit", "crc32fast_frame", "small", "crc")
goal("*info*: small frames with checksum, stream decoder", f"{sc:.1f} ns, of which {cf:.1f} ns is crc32fast over the 34 covered bytes", "—")
r = ns("decode", "ldc_4k", "small", "crc") / sc
goal("*info*: small frames with checksum vs LengthDelimitedCodec + crc32fast of the payload (`ldc_4k`)", f"{r:.2f}×", "—")
r = ns("decode", "msgwire_stream_4k", "large", "plain") / ns("limit", "memcpy", "large", "plain")
goal("large frames, no checksum, stream decoder within 1.25× of memcpy", f"{r:.2f}×", r <= 1.25)
r = ns("decode", "msgwire_slice", "large", "plain") / ns("limit", "memcpy", "large", "plain")
goal("large frames, no checksum, `decode_slice` within 1.25× of memcpy", f"{r:.2f}×", r <= 1.25)
c = ns("limit", "crc32fast", "large", "crc")
r = ns("decode", "msgwire_stream_4k", "large", "crc") / c
goal("large frames with checksum, stream decoder within 1.5× of crc32fast alone", f"{r:.2f}×", r <= 1.5)
r2 = ns("decode", "msgwire_stream_4k", "large", "crc") / (c + ns("limit", "memcpy", "large", "crc"))
goal("*info*: the same against memcpy + crc32fast (the read's copy plus the checksum)", f"{r2:.2f}×", "—")
r = ns("decode", "msgwire_slice", "large", "crc") / c
goal("large frames with checksum, `decode_slice` within 1.5× of crc32fast alone", f"{r:.2f}×", r <= 1.5)
for size in ("small", "medium", "large"):
    r = ns("encode", "ldc", size, "plain") / ns("encode", "msgwire", size, "plain")
    goal(f"encode ≥ as fast as LengthDelimitedCodec ({size})", f"LDC time / msgwire time = {r:.2f}", r >= 1)
PY
}

run_codec() {
    echo "== codec bench (cargo bench --manifest-path bench/Cargo.toml --bench codec)"
    "${nice_cmd[@]}" cargo bench --manifest-path bench/Cargo.toml --bench codec | tee "$out/codec.txt"
    codec_tables "$out/codec.txt" | tee "$out/codec.md"
}

run_net() {
    echo "== network bench"
    MSGWIRE_BENCH_SECS="${MSGWIRE_BENCH_SECS:-2}" "${nice_cmd[@]}" \
        cargo bench --manifest-path bench/Cargo.toml --bench net | tee "$out/net.txt"
}

run_size() {
    echo "== flash size"
    "$root/scripts/size.sh" | tee "$out/size.md"
}

# The events bench beside a mosquitto of its own, stopped by PID.
run_events() {
    echo "== events bench"
    if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
        echo "mosquitto missing: apt-get install -y mosquitto"
        DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto >/dev/null \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto >/dev/null; }
    fi
    local mosq
    mosq="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
    # Built first, so mosquitto does not sit through the compile.
    "${nice_cmd[@]}" cargo bench --manifest-path bench/Cargo.toml --bench events --no-run
    local port conf
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    conf="$out/mosquitto.conf"
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\nlog_dest stderr\nlog_type error\nlog_type warning\n' \
        "$port" >"$conf"
    "${nice_cmd[@]}" "$mosq" -c "$conf" 2>"$out/mosquitto.log" &
    mosq_pid=$!
    # Stop that instance, and only it, however this function ends.
    trap 'kill "$mosq_pid" 2>/dev/null; wait "$mosq_pid" 2>/dev/null || true' EXIT
    local up=0
    for _ in $(seq 50); do
        if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$port" 2>/dev/null; then
            up=1
            break
        fi
        sleep 0.1
    done
    [ "$up" = 1 ] || { echo "mosquitto did not listen on 127.0.0.1:$port:" >&2; cat "$out/mosquitto.log" >&2; exit 1; }
    echo "mosquitto $("$mosq" -h 2>/dev/null | head -1 | sed 's/^mosquitto version //') (pid $mosq_pid) on 127.0.0.1:$port"
    MSGWIRE_BENCH_SECS="${MSGWIRE_BENCH_SECS:-2}" MSGWIRE_BENCH_MQTT="127.0.0.1:$port" \
        MSGWIRE_BENCH_MQTT_PID="$mosq_pid" "${nice_cmd[@]}" \
        cargo bench --manifest-path bench/Cargo.toml --bench events | tee "$out/events.txt"
    kill "$mosq_pid" 2>/dev/null || true
    wait "$mosq_pid" 2>/dev/null || true
    trap - EXIT
}

run_rss() {
    if [ -x "$root/scripts/idle-rss.sh" ] || [ -f "$root/scripts/idle-rss.sh" ]; then
        echo "== idle RSS"
        bash "$root/scripts/idle-rss.sh" | tee "$out/idle-rss.txt"
    else
        echo "== idle RSS: scripts/idle-rss.sh not present, skipped"
    fi
}

if [ "${1:-}" = table ]; then
    codec_tables "${2:?saved codec bench output}"
    exit
fi

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(codec net size rss events)
for s in "${steps[@]}"; do
    case "$s" in
        codec) run_codec ;;
        net) run_net ;;
        size) run_size ;;
        rss) run_rss ;;
        events) run_events ;;
        *) echo "unknown step: $s" >&2; exit 2 ;;
    esac
done

#!/usr/bin/env bash
# Flash size of msgwire's streaming decoder + encoder on Cortex-M (issues 6
# and 16), against postcard's COBS framing doing the same job, and of the
# whole `serve` firmware (issue 12 item 5) with the RAM it needs.
#
# Builds embedded-size/ with opt-level "z", fat LTO, one codegen unit and
# panic = "abort":
#   firmware           UART loop + msgwire's Decoder and Encoder (msgwire
#                      without default features: the small CRC tables)
#   postcard-cobs      the same job with postcard's CobsAccumulator and
#                      to_slice_cobs, no checksum
#   postcard-cobs-crc  the same with a CRC-32 of the payload (crc crate,
#                      1-slice table)
#   serve              the same UART behind embedded-io-async, and
#                      msgwire::embedded::serve with the built-ins (codec,
#                      conversation core, text mode, ERROR answers), on a
#                      poll-loop block_on
#   serve-events       serve with events (issue 22): serve_with_events and
#                      an Events<8, 10> a polled timer publishes `tick` into
#   stub               the same UART loop with no codec
# and prints .text + .rodata of each, then for each codec
#   all of it       = binary - stub
#   without mem*    = binary - stub - the compiler-builtins memory routines
#                     (memcpy/memmove/memset/memclr) the binary links and the
#                     stub does not (the stub's own __aeabi_memclr4 is
#                     already gone with "- stub").
# then what serve adds to firmware (the conversation and the async loop),
# its largest symbols, and its RAM: the size of serve's future (stored by
# the binary in a section of its own, .msgwire_size, outside .text and
# .rodata), the .data + .bss of each binary, and the stack frame of
# _start (the future, the buffers and LLVM's temporaries; read from the
# `sub sp` of its prologue, Thumb-2 targets only).
#
# Installs what it needs (the targets and llvm-tools) through rustup.
# Usage: scripts/size.sh [target...]   (default: both targets); with
# thumbv7em, a line after the serve table says whether issue 22's goal
# (serve minus stub <= 9 KiB) is met.
set -euo pipefail

cd "$(dirname "$0")/../embedded-size"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(thumbv7em-none-eabihf thumbv6m-none-eabi)

if command -v rustup >/dev/null; then
    installed="$(rustup target list --installed)"
    for t in "${targets[@]}"; do
        grep -qx "$t" <<<"$installed" || rustup target add "$t" >&2
    done
    rustup component list --installed | grep -q '^llvm-tools' ||
        rustup component add llvm-tools >&2
fi

bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
size="$bin/llvm-size"
nm="$bin/llvm-nm"
[ -x "$size" ] || { echo "llvm-size missing: rustup component add llvm-tools" >&2; exit 1; }

# .text + .rodata of an ELF file, as "text rodata".
sections() {
    "$size" -A "$1" | awk '$1 == ".text" { t = $2 } $1 == ".rodata" { r = $2 }
        END { printf "%d %d\n", t, r }'
}

# Bytes of the compiler-builtins memory routines in an ELF file, each
# address counted once.
mem_routines() {
    "$nm" -S -C --radix=d "$1" |
        awk '$4 ~ /(^|::|_)mem(cpy|move|set|clr)/ && !seen[$1]++ { s += $2 }
        END { print s + 0 }'
}

# Names of those routines, for the notes.
mem_names() {
    "$nm" -S -C --radix=d "$1" |
        awk '$4 ~ /(^|::|_)mem(cpy|move|set|clr)/ { n = $4; sub(/.*::/, "", n); printf "%s %d, ", n, $2 }' |
        sed 's/, $//'
}

codecs=(firmware serve postcard-cobs postcard-cobs-crc)
declare -A all own memb events_all

echo "| target | binary | .text | .rodata | .text + .rodata | mem* routines |"
echo "|---|---|---:|---:|---:|---:|"
for t in "${targets[@]}"; do
    cargo build --quiet --release --target "$t"
    dir="target/$t/release"
    read -r st sr < <(sections "$dir/stub")
    smem=$(mem_routines "$dir/stub")
    for b in "${codecs[@]}" serve-events stub; do
        read -r bt br < <(sections "$dir/$b")
        bmem=$(mem_routines "$dir/$b")
        echo "| $t | $b | $bt | $br | $((bt + br)) | $bmem |"
        if [ "$b" = serve-events ]; then
            events_all[$t]=$((bt + br - st - sr))
        elif [ "$b" != stub ]; then
            all[$t.$b]=$((bt + br - st - sr))
            memb[$t.$b]=$((bmem - smem))
            own[$t.$b]=$((bt + br - st - sr - (bmem - smem)))
        fi
    done
done
echo
echo "Codec minus stub (bytes of .text + .rodata):"
echo
echo "| target | firmware minus stub | msgwire | msgwire serve | postcard COBS | postcard COBS + CRC-32 |"
echo "|---|---|---:|---:|---:|---:|"
for t in "${targets[@]}"; do
    echo "| $t | all of it, mem* routines included | ${all[$t.firmware]} | ${all[$t.serve]} | ${all[$t.postcard-cobs]} | ${all[$t.postcard-cobs-crc]} |"
    echo "| $t | without the mem* routines | ${own[$t.firmware]} | ${own[$t.serve]} | ${own[$t.postcard-cobs]} | ${own[$t.postcard-cobs-crc]} |"
    echo "| $t | (mem* routines) | ${memb[$t.firmware]} | ${memb[$t.serve]} | ${memb[$t.postcard-cobs]} | ${memb[$t.postcard-cobs-crc]} |"
done
echo
echo "What serve adds to firmware (conversation core, text mode, ERROR texts,"
echo "the async loop and its UART adapter), bytes of .text + .rodata:"
echo
echo "| target | serve minus stub | serve minus firmware | share of serve minus stub |"
echo "|---|---|---:|---:|"
for t in "${targets[@]}"; do
    a=$((all[$t.serve] - all[$t.firmware]))
    o=$((own[$t.serve] - own[$t.firmware]))
    echo "| $t | all of it: ${all[$t.serve]} | $a | $((100 * a / all[$t.serve])) % |"
    echo "| $t | without the mem* routines: ${own[$t.serve]} | $o | $((100 * o / own[$t.serve])) % |"
done
# Issue 22's goal: serve, with revision 1.2's conversation, in 9 KiB on
# thumbv7em (BENCHMARKS.md, "`serve` in 9 KiB").
goal=9216
if [ -n "${all[thumbv7em-none-eabihf.serve]:-}" ]; then
    s=${all[thumbv7em-none-eabihf.serve]}
    echo
    if [ "$s" -le "$goal" ]; then
        echo "Goal (issue 22): serve minus stub <= $goal B on thumbv7em: met ($s B, $((goal - s)) B to spare)."
    else
        echo "Goal (issue 22): serve minus stub <= $goal B on thumbv7em: NOT met ($s B, $((s - goal)) B over)."
    fi
fi
echo
for t in "${targets[@]}"; do
    for b in "${codecs[@]}" stub; do
        echo "mem* in $t $b: $(mem_names "target/$t/release/$b")"
    done
done

# A section's size in an ELF file (0 when absent).
section() {
    "$size" -A "$1" | awk -v s="$2" '$1 == s { n = $2 } END { print n + 0 }'
}

# The little-endian u32 the serve binary stores in .msgwire_size.
future_size() {
    local h
    h=$("$bin/llvm-objdump" -s -j .msgwire_size "$1" | awk '/^ [0-9a-f]+ [0-9a-f]+/ { h = $2 } END { print h }')
    echo $((0x${h:6:2}${h:4:2}${h:2:2}${h:0:2}))
}

# Bytes _start's prologue subtracts from sp (Thumb-2: `sub sp, #n`), or "?".
start_frame() {
    local v s=0 found=
    for v in $("$bin/llvm-objdump" -d --no-show-raw-insn --disassemble-symbols=_start "$1" |
        awk '/^ / && n++ < 8 && $2 ~ /^sub/ && $0 ~ /sp, #/ { v = $NF; sub(/^#/, "", v); print v }'); do
        s=$((s + v)) found=1
    done
    if [ -n "$found" ]; then echo "$s"; else echo "?"; fi
}

echo
echo "RAM beyond the caller's buffers (bytes):"
echo
echo "| target | serve future (size_of) | .data + .bss: stub / firmware / serve | _start stack frame: stub / firmware / serve |"
echo "|---|---:|---|---|"
for t in "${targets[@]}"; do
    dir="target/$t/release"
    statics="" frames=""
    for b in stub firmware serve; do
        statics+="$(($(section "$dir/$b" .data) + $(section "$dir/$b" .bss))) / "
        frames+="$(start_frame "$dir/$b") / "
    done
    echo "| $t | $(future_size "$dir/serve") | ${statics% / } | ${frames% / } |"
done
echo
echo "Events (issue 22): serve-events (serve_with_events, Events<8, 10>, a"
echo "timer that publishes) against serve, bytes of .text + .rodata, and RAM:"
echo
echo "| target | serve-events minus stub | minus serve | serve_with_events future | Events<8, 10> (.bss) |"
echo "|---|---:|---:|---:|---:|"
for t in "${targets[@]}"; do
    dir="target/$t/release"
    ev_bss=$(( $(section "$dir/serve-events" .data) + $(section "$dir/serve-events" .bss) ))
    echo "| $t | ${events_all[$t]} | $((events_all[$t] - all[$t.serve])) | $(future_size "$dir/serve-events") | $ev_bss |"
done
for b in firmware serve; do
    echo
    echo "Largest symbols of $b (${targets[0]}):"
    "$nm" --size-sort -S -C --radix=d "target/${targets[0]}/release/$b" | tail -12 |
        awk '{ printf "  %6d  %s %s\n", $2 + 0, $3, $4 }'
done

#!/usr/bin/env bash
# Flash size of msgwire's streaming decoder + encoder on Cortex-M (issues 6
# and 16), against postcard's COBS framing doing the same job.
#
# Builds embedded-size/ with opt-level "z", fat LTO, one codegen unit and
# panic = "abort":
#   firmware           UART loop + msgwire's Decoder and Encoder (msgwire
#                      without default features: the small CRC tables)
#   postcard-cobs      the same job with postcard's CobsAccumulator and
#                      to_slice_cobs, no checksum
#   postcard-cobs-crc  the same with a CRC-32 of the payload (crc crate,
#                      1-slice table)
#   stub               the same UART loop with no codec
# and prints .text + .rodata of each, then for each codec
#   all of it       = binary - stub
#   without mem*    = binary - stub - the compiler-builtins memory routines
#                     (memcpy/memmove/memset/memclr) the binary links and the
#                     stub does not (the stub's own __aeabi_memclr4 is
#                     already gone with "- stub").
#
# Installs what it needs (the targets and llvm-tools) through rustup.
# Usage: scripts/size.sh [target...]   (default: both targets)
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

codecs=(firmware postcard-cobs postcard-cobs-crc)
declare -A all own memb

echo "| target | binary | .text | .rodata | .text + .rodata | mem* routines |"
echo "|---|---|---:|---:|---:|---:|"
for t in "${targets[@]}"; do
    cargo build --quiet --release --target "$t"
    dir="target/$t/release"
    read -r st sr < <(sections "$dir/stub")
    smem=$(mem_routines "$dir/stub")
    for b in "${codecs[@]}" stub; do
        read -r bt br < <(sections "$dir/$b")
        bmem=$(mem_routines "$dir/$b")
        echo "| $t | $b | $bt | $br | $((bt + br)) | $bmem |"
        if [ "$b" != stub ]; then
            all[$t.$b]=$((bt + br - st - sr))
            memb[$t.$b]=$((bmem - smem))
            own[$t.$b]=$((bt + br - st - sr - (bmem - smem)))
        fi
    done
done
echo
echo "Codec minus stub (bytes of .text + .rodata):"
echo
echo "| target | firmware minus stub | msgwire | postcard COBS | postcard COBS + CRC-32 |"
echo "|---|---|---:|---:|---:|"
for t in "${targets[@]}"; do
    echo "| $t | all of it, mem* routines included | ${all[$t.firmware]} | ${all[$t.postcard-cobs]} | ${all[$t.postcard-cobs-crc]} |"
    echo "| $t | without the mem* routines | ${own[$t.firmware]} | ${own[$t.postcard-cobs]} | ${own[$t.postcard-cobs-crc]} |"
    echo "| $t | (mem* routines) | ${memb[$t.firmware]} | ${memb[$t.postcard-cobs]} | ${memb[$t.postcard-cobs-crc]} |"
done
echo
for t in "${targets[@]}"; do
    for b in "${codecs[@]}" stub; do
        echo "mem* in $t $b: $(mem_names "target/$t/release/$b")"
    done
done
echo
echo "Largest symbols of the firmware (${targets[0]}):"
"$nm" --size-sort -S -C --radix=d "target/${targets[0]}/release/firmware" | tail -10 |
    awk '{ printf "  %6d  %s %s\n", $2 + 0, $3, $4 }'

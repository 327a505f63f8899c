#!/usr/bin/env bash
# Flash size of msgwire's streaming decoder + encoder on Cortex-M (issue 6).
#
# Builds embedded-size/ (firmware = UART loop with msgwire's Decoder and
# Encoder; stub = the same loop without msgwire) with opt-level "z", fat LTO,
# one codegen unit and panic = "abort", msgwire without default features
# (1-slice CRC tables), and prints .text + .rodata of each, the
# compiler-builtins mem* routines (memcpy/memmove/memset that most firmware
# links anyway), and what msgwire itself adds:
#   msgwire = firmware - stub - mem* routines.
#
# Needs: rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi
#        rustup component add llvm-tools
# Usage: scripts/size.sh [target...]   (default: both targets)
set -euo pipefail

cd "$(dirname "$0")/../embedded-size"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(thumbv7em-none-eabihf thumbv6m-none-eabi)

bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
size="$bin/llvm-size"
nm="$bin/llvm-nm"
[ -x "$size" ] || { echo "llvm-size missing: rustup component add llvm-tools" >&2; exit 1; }

# .text + .rodata of an ELF file, as "text rodata".
sections() {
    "$size" -A "$1" | awk '$1 == ".text" { t = $2 } $1 == ".rodata" { r = $2 }
        END { printf "%d %d\n", t, r }'
}

# Bytes of the compiler-builtins memory routines in an ELF file.
mem_routines() {
    "$nm" -S -C --radix=d "$1" | awk '$4 ~ /(^|::|_)mem(cpy|move|set|clr)/ { s += $2 }
        END { print s + 0 }'
}

echo "| target | binary | .text | .rodata | .text + .rodata |"
echo "|---|---|---:|---:|---:|"
summary=()
for t in "${targets[@]}"; do
    cargo build --quiet --release --target "$t"
    dir="target/$t/release"
    read -r ft fr < <(sections "$dir/firmware")
    read -r st sr < <(sections "$dir/stub")
    mem=$(mem_routines "$dir/firmware")
    echo "| $t | firmware (UART loop + msgwire) | $ft | $fr | $((ft + fr)) |"
    echo "| $t | stub (UART loop, no msgwire) | $st | $sr | $((st + sr)) |"
    own=$((ft + fr - st - sr - mem))
    summary+=("| $t | $((ft + fr - st - sr)) | $mem | $own | $((own * 100 / 4096))% |")
done
echo
echo "| target | firmware - stub | of which mem* builtins | msgwire (code + tables) | of 4 KiB |"
echo "|---|---:|---:|---:|---:|"
printf '%s\n' "${summary[@]}"
echo
echo "Largest symbols of the firmware (${targets[0]}):"
"$nm" --size-sort -S -C --radix=d "target/${targets[0]}/release/firmware" | tail -8 |
    awk '{ printf "  %6d  %s %s\n", $2 + 0, $3, $4 }'

#!/usr/bin/env python3
"""Writes the fuzz seed corpus (fuzz/seeds/<target>/) from the protocol's
test vectors (tests/vectors/*.json). Run from anywhere: python3 fuzz/gen_seeds.py

Each target reads its own input format (see the target's module docs); this
script writes the vectors in those formats:
- binary_stream / text_stream: cfg byte (the vector's limit), chunk sizes
  (none = whole, and a second seed with sizes 1,2,3,5,7), the vector input;
- structured: the encode vectors as frames (tag 0), the decode vectors as
  garbage pieces (tag 1) between frames, and frames with a cut (tag 4);
- round_trip: each encode vector as a message.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "tests", "vectors")
SEEDS = os.path.join(HERE, "seeds")

# Must match the tables in fuzz_targets/*.rs.
BIN_MAXES = [0, 1, 8, 32, 64, 100, 255, 1024]
TEXT_MAX_LINES = [0, 1, 2, 5, 16, 64, 100, 255]
STRUCT_MAXES = [0, 1, 16, 64, 100, 255, 1024, 4000]
CHARSET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/"
SPLITS = bytes([1, 2, 3, 5, 7])


def load(name):
    with open(os.path.join(VECTORS, name)) as f:
        return json.load(f)


def write(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame_piece(kind, ident, flags, payload):
    """A structured-target tag-0 frame."""
    out = bytes([0, len(kind) - 1]) + bytes(CHARSET.index(c) for c in kind)
    out += struct.pack("<IBH", ident, flags, len(payload)) + payload
    return out


def main():
    binary = load("binary.json")
    text = load("text.json")
    encode = load("encode.json")

    for case in binary:
        cfg = BIN_MAXES.index(case["max_payload"])
        data = bytes.fromhex(case["input"])
        write("binary_stream", case["name"], bytes([cfg, 0]) + data)
        write("binary_stream", case["name"] + "-split", bytes([cfg, len(SPLITS)]) + SPLITS + data)

    for case in text:
        cfg = TEXT_MAX_LINES.index(case["max_line"])
        data = bytes.fromhex(case["input"])
        write("text_stream", case["name"], bytes([cfg, 0]) + data)
        write("text_stream", case["name"] + "-split", bytes([cfg, len(SPLITS)]) + SPLITS + data)

    frames = [
        (c["kind"].encode(), c["id"], c["flags"], bytes.fromhex(c["payload"]))
        for c in encode
        if c.get("mode") != "text"
    ]
    head = bytes([STRUCT_MAXES.index(1024), 0])
    write("structured", "encode-vectors", head + b"".join(frame_piece(*f) for f in frames))
    for case in binary:
        data = bytes.fromhex(case["input"])
        piece = bytes([1]) + struct.pack("<H", len(data)) + data
        seed = head + frame_piece(*frames[1]) + piece + frame_piece(*frames[2])
        write("structured", "around-" + case["name"], seed)
    # A frame cut in its payload, then an intact frame: swallowed by design.
    cut = bytes([4]) + struct.pack("<H", 16)
    write("structured", "cut-then-frame", head + frame_piece(*frames[1]) + cut + frame_piece(*frames[0]))

    for c in encode:
        kind = c["kind"].encode()
        payload = bytes.fromhex(c["payload"])
        ident, flags = c.get("id", 0), c.get("flags", 0)
        seed = bytes([len(kind), 0]) + kind + struct.pack("<IBHH", ident, flags, 1024, 300) + payload
        name = ("text-" if c.get("mode") == "text" else "") + kind.decode()[:12].replace("/", "_") + "-" + str(len(payload))
        write("round_trip", name, seed)


if __name__ == "__main__":
    main()

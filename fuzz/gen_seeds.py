#!/usr/bin/env python3
"""Writes the fuzz seed corpus (fuzz/seeds/<target>/) from the protocol's
test vectors (tests/vectors/*.json). Run from anywhere: python3 fuzz/gen_seeds.py

Each target reads its own input format (see the target's module docs); this
script writes the vectors in those formats:
- binary_stream / text_stream: cfg byte (the vector's limit), chunk sizes
  (none = whole, and a second seed with sizes 1,2,3,5,7), the vector input;
- structured: the encode vectors as frames (tag 0), the decode vectors as
  garbage pieces (tag 1) between frames, and frames with a cut (tag 4);
- round_trip: each encode vector as a message;
- conversation: hand-made conversations, one or more of each operation
  (not from the vectors; see `Conv` below and the target's module docs).
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


# conversation: must match fuzz_targets/conversation.rs.
WRITE_BUFFERS = [64, 128, 1024, 64 * 1024]
MAX_PAYLOADS = [16, 64, 256, 1024]
EVENT_BYTES = [32, 256, 4096, 256 * 1024]
CHUNKS = [0, 1, 7, 13]
REQUEST_KINDS = [b"PING", b"ECHO", b"APP", b"FAIL", b"FOO", b"sensor/temp", b"PONG"]
EVENT_KINDS = [b"tick", b"sensor/temp", b"sensor/hum", b"APP", b"a", b"sensor",
               b"s2345678901234567890123456789012", b"SUB", b"PING", b"FAIL"]
FILTERS = [b"*", b"sensor/*", b"tick", b"s*", b"sensor/temp", b"APP", b"", b"a*b",
           b"x" * 33, b"bad byte", b"sensor/**", b"s234567890123456789012345678901*",
           b"s2345678901234567890123456789012*", b"s2345678901234567890123456789012",
           b"*tick", b"a", b"sensor/h\xffm", b"LAGGED"]
TOKENS = [b"rev=1.2", b"rev=1.1", b"rev=2.0", b"rev=1.0", b"rev=01.02", b"rev=1.3",
          b"max=256", b"app=thermo", b"schema=0123456789abcdef", b"future=x",
          b"rev=1.2.3", b"rev=1", b"max=abc", b"=x", b"Rev=1.2",
          b"schema=0123456789ABCDEF", b"app=no*app", b"rev=1.99999999999999999999"]


class Conv:
    """An input of the conversation target: two config bytes, then
    operations (the target's module docs give the format)."""

    def __init__(self, relay=False, events=8, capacity=4, write_buffer=64 * 1024,
                 max_payload=1024, event_bytes=256 * 1024, chunk=0, exit=False):
        self.out = bytearray([
            int(relay) | (events - 1) << 1 | (capacity - 1) << 4
            | WRITE_BUFFERS.index(write_buffer) << 6,
            MAX_PAYLOADS.index(max_payload) | EVENT_BYTES.index(event_bytes) << 2
            | CHUNKS.index(chunk) << 4 | int(exit) << 6,
        ])

    @staticmethod
    def _id(ident):
        # None: a fresh id; 0: id 0; else that id.
        if ident is None:
            return bytes([1])
        if ident == 0:
            return bytes([0])
        return bytes([3]) + struct.pack("<I", ident)

    @staticmethod
    def _sel(table, item):
        if item in table:
            return bytes([table.index(item)])
        return bytes([0x80 | len(item)]) + item

    def request(self, kind, payload=b"", ident=None, flags=0):
        if kind in REQUEST_KINDS:
            k = bytes([REQUEST_KINDS.index(kind)])
        else:  # a fuzzed kind: each byte is an index into the charset
            k = bytes([0x80 | (len(kind) - 1)]) + bytes(CHARSET.index(c) for c in kind)
        self.out += bytes([0]) + k + self._id(ident) + bytes([flags, len(payload)]) + payload
        return self

    def sub(self, f, ident=None, unsub=False):
        self.out += bytes([3 if unsub else 2]) + self._id(ident) + self._sel(FILTERS, f)
        return self

    def unsub(self, f, ident=None):
        return self.sub(f, ident, unsub=True)

    def hello(self, tokens, ident=None):
        self.out += bytes([4]) + self._id(ident) + bytes([len(tokens)])
        for t in tokens:
            self.out += self._sel(TOKENS, t)
        return self

    def event(self, kind, payload=b"", flags=0, ident=None):
        v = flags | (4 if ident is not None else 0)
        self.out += bytes([5, EVENT_KINDS.index(kind), v])
        if ident is not None:
            self.out += struct.pack("<I", ident)
        self.out += bytes([len(payload)]) + payload
        return self

    def noise(self, data, step=0):
        self.out += bytes([6, len(data), step]) + data
        return self

    def publish(self, kind, payload=b""):
        self.out += bytes([7, EVENT_KINDS.index(kind), len(payload)]) + payload
        return self

    def read(self, n):
        self.out += bytes([8, n])
        return self

    def sync(self):
        self.out += bytes([9])
        return self


def conversation_seeds():
    seeds = {
        "requests": Conv().request(b"PING").request(b"ECHO", b"hello")
        .request(b"APP", b"abc").request(b"FAIL", b"x").request(b"FOO")
        .request(b"PING", ident=0).request(b"ECHO", b"same id", ident=7)
        .request(b"ECHO", b"crc", flags=1).request(b"PING", flags=2)
        .request(b"zz/top").sync(),
        "too-large": Conv(max_payload=16).request(b"ECHO", b"x" * 17)
        .request(b"PING").sync(),
        "hello": Conv().hello([b"rev=1.2", b"max=256"]).hello([b"rev=1.1", b"app=thermo"])
        .hello([b"rev=2.0"]).hello([]).hello([b"rev=1.2", b"rev=1.2"])
        .hello([b"max=256"]).hello([b"rev=01.02", b"future=x", b"schema=0123456789abcdef"])
        .hello([b"rev=1.2.3"]).hello([b"rev=1.99999999999999999999"]).sync(),
        "filters": Conv().sub(b"").sub(b"a*b").sub(b"x" * 33).sub(b"bad byte")
        .sub(b"sensor/**").sub(b"s2345678901234567890123456789012*")
        .sub(b"s234567890123456789012345678901*").sub(b"*tick").unsub(b"")
        .unsub(b"a*b").unsub(b"tick").sub(b"raw\x00filter").sync(),
        "sub-publish-unsub": Conv().sub(b"sensor/*").sync()
        .publish(b"sensor/temp", b"21.5").publish(b"tick").publish(b"sensor/hum", b"40")
        .read(8).sub(b"tick").publish(b"tick").unsub(b"sensor/*")
        .publish(b"sensor/temp").sync().unsub(b"").publish(b"tick").sync(),
        "slow-reader-lagged": Conv(events=1, capacity=1, write_buffer=64, event_bytes=32)
        .sub(b"*").sync()
        .publish(b"tick", b"1").publish(b"tick", b"2").publish(b"sensor/temp", b"3")
        .publish(b"tick", b"4").publish(b"tick", b"5").publish(b"tick", b"6")
        .publish(b"a", b"7").publish(b"tick", b"8").read(3)
        .publish(b"tick", b"9").publish(b"tick", b"10").request(b"PING").read(10)
        .publish(b"sensor/hum", b"11").sync(),
        "relay": Conv(relay=True, events=2, capacity=2).sub(b"*").sync()
        .event(b"tick", b"from the peer").publish(b"tick", b"from the server")
        .event(b"APP", b"handled").event(b"sensor/temp", b"x", flags=2, ident=9)
        .event(b"PING", b"not a request", flags=1).publish(b"SUB").unsub(b"*")
        .event(b"tick").sync(),
        "noise": Conv().noise(bytes(range(0, 200, 3)), step=5).request(b"PING")
        .noise(b"\xa5\x01\x00\x04" + bytes(20), step=0).noise(b"\xa5" * 30)
        .request(b"PING", ident=0).noise(b"garbage without magic").sync(),
        "noise-first": Conv().noise(b"noise", step=3).sub(b"*").publish(b"tick").sync(),
        "byte-at-a-time": Conv(chunk=1, capacity=1, write_buffer=128)
        .request(b"ECHO", b"one byte at a time").sub(b"tick").publish(b"tick")
        .request(b"APP", b"xyz").sync(),
        "chunks-7": Conv(chunk=7, capacity=2, write_buffer=64).sub(b"s*")
        .publish(b"sensor", b"p").request(b"PING").event(b"sensor/hum", b"e").sync(),
        "exit": Conv(exit=True, relay=True).sub(b"*").publish(b"tick")
        .request(b"PING").event(b"tick").read(1),
        "exit-slow-reader": Conv(exit=True, events=1, capacity=1, write_buffer=64)
        .sub(b"*").publish(b"tick").publish(b"tick").request(b"ECHO", b"y" * 60),
    }
    for name, conv in seeds.items():
        write("conversation", name, bytes(conv.out))


if __name__ == "__main__":
    main()
    conversation_seeds()

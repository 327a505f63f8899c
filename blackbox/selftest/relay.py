#!/usr/bin/env python3
"""A deliberately small model of a relaying msgwire server (PROTOCOL.md 1.2),
written from the spec for one purpose: to show that the checker's events,
text-sub and slow groups can pass, and that they catch what they should,
while `msgwire serve` does not relay yet. It is NOT msgwire and not a
reference: only what those groups (and the basics they lean on) need.

    python3 relay.py PORT [--queue N] [--answer-events] [--no-lagged] [--dup]
                          [--lagged-at-write] [--max N] [--tick MS]

PORT 0 picks a free port; the first line printed is "listening on ADDR".

--queue N         events kept waiting per conversation [default: 64]
--answer-events   a bug on purpose: answer event frames (ERROR unknown-kind)
--no-lagged       a bug on purpose: drop events without LAGGED
--dup             a bug on purpose: deliver once per matching filter
--max N           the max its HELLO answer advertises [default: 65536]
--tick MS         publish an event `tick` (decimal counter) every MS ms, as
                  the firmware is to do (for the checker's device group)
--lagged-at-write the other reading of "the next event that is delivered":
                  LAGGED written before the next event written out, which
                  may be one queued before the drops
"""
import asyncio
import struct
import sys
from collections import deque

CHECKSUM, RESPONSE, EVENT = 1, 2, 4


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def frame(kind, id, flags, payload=b""):
    head = struct.pack("<BBBBII", 0xA5, 1, flags, len(kind), id, len(payload))
    return head + struct.pack("<H", crc16(head)) + kind + payload


def is_kind(k):
    return 1 <= len(k) <= 32 and all(chr(c).isalnum() and c < 128 or c in b"_.-/" for c in k)


def is_filter(f):
    if f.endswith(b"*"):
        p = f[:-1]
        return len(p) <= 31 and (not p or is_kind(p))
    return is_kind(f)


def matches(f, kind):
    return kind.startswith(f[:-1]) if f.endswith(b"*") else kind == f


OPTS = {"queue": 64, "max": 65536, "tick": 0, "answer_events": False, "no_lagged": False, "dup": False, "lagged_at_write": False}
CONVS = set()


class Conv:
    def __init__(self, writer):
        self.w = writer
        self.mode = None
        self.filters = []
        self.out = deque()      # (is_event, bytes)
        self.waiting = 0        # events in self.out
        self.dropped = 0
        self.wake = asyncio.Event()

    def push(self, data, is_event=False):
        self.out.append((is_event, data))
        if is_event:
            self.waiting += 1
        self.wake.set()

    def answer(self, kind, id, payload):
        if self.mode == "text":
            self.push(kind + b":" + payload + b"\n")
        else:
            self.push(frame(kind, id, RESPONSE, payload))

    def encode_event(self, kind, payload):
        if self.mode == "text":
            return kind + b":" + payload + b"\n"
        return frame(kind, 0, EVENT, payload)

    def deliver(self, kind, payload):
        n = sum(matches(f, kind) for f in self.filters)
        if not n:
            return
        for _ in range(n if OPTS["dup"] else 1):
            if self.waiting >= OPTS["queue"]:
                self.dropped += 1
                continue
            if self.dropped and not OPTS["lagged_at_write"]:
                # LAGGED always fits: it is not counted as waiting.
                if not OPTS["no_lagged"]:
                    self.push(self.encode_event(b"LAGGED", str(self.dropped).encode()))
                self.dropped = 0
            self.push(self.encode_event(kind, payload), True)

    async def writer(self):
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.out:
                is_event, data = self.out.popleft()
                if is_event:
                    self.waiting -= 1
                    if OPTS["lagged_at_write"] and self.dropped:
                        self.w.write(self.encode_event(b"LAGGED", str(self.dropped).encode()))
                        self.dropped = 0
                self.w.write(data)
                await self.w.drain()

    def request(self, kind, id, payload):
        if kind == b"PING":
            self.answer(b"PONG", id, b"ack")
        elif kind == b"ECHO":
            self.answer(b"ECHO", id, payload)
        elif kind == b"HELLO":
            self.answer(b"HELLO", id, b"rev=1.2 max=%d" % OPTS["max"])
        elif kind in (b"SUB", b"UNSUB"):
            if kind == b"UNSUB" and payload == b"":
                self.filters.clear()
            elif not is_filter(payload):
                return self.answer(b"ERROR", id, b"bad-filter: not a filter")
            elif kind == b"SUB" and payload not in self.filters:
                self.filters.append(payload)
            elif kind == b"UNSUB" and payload in self.filters:
                self.filters.remove(payload)
            self.answer(kind, id, payload)
        else:
            self.answer(b"ERROR", id, b"unknown-kind: " + kind)

    def event(self, kind, payload):
        if OPTS["answer_events"]:
            self.answer(b"ERROR", 0, b"unknown-kind: " + kind)
        for c in list(CONVS):
            c.deliver(kind, payload)


async def serve(reader, writer):
    c = Conv(writer)
    CONVS.add(c)
    task = asyncio.ensure_future(c.writer())
    buf = b""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if c.mode is None:
                c.mode = "binary" if data[0] == 0xA5 else "text"
            buf += data
            if c.mode == "text":
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    line = line[:-1] if line.endswith(b"\r") else line
                    if line:
                        kind, _, payload = line.partition(b":")
                        c.request(kind, 0, payload)
                continue
            while True:
                i = buf.find(b"\xa5")
                if i < 0:
                    buf = b""
                    break
                buf = buf[i:]
                if len(buf) < 14:
                    break
                _, ver, flags, k, id, p, crc = struct.unpack("<BBBBIIH", buf[:14])
                if crc16(buf[:12]) != crc or ver != 1 or flags & 0xF8 or not 1 <= k <= 32:
                    buf = buf[1:]
                    continue
                n = 14 + k + p + (4 if flags & CHECKSUM else 0)
                if len(buf) < n:
                    break
                kind, payload = buf[14:14 + k], buf[14 + k:14 + k + p]
                buf = buf[n:]
                if flags & EVENT:
                    c.event(kind, payload)
                else:
                    c.request(kind, id, payload)
    finally:
        CONVS.discard(c)
        task.cancel()
        writer.close()


async def ticker():
    n = 0
    while True:
        await asyncio.sleep(OPTS["tick"] / 1000)
        n += 1
        for c in list(CONVS):
            c.deliver(b"tick", str(n).encode())


def main():
    args = sys.argv[1:]
    port = int(args.pop(0))
    while args:
        a = args.pop(0)
        if a in ("--queue", "--max", "--tick"):
            OPTS[a[2:]] = int(args.pop(0))
        else:
            OPTS[a[2:].replace("-", "_")] = True
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(serve, "127.0.0.1", port))
    if OPTS["tick"]:
        loop.create_task(ticker())
    host, port = server.sockets[0].getsockname()[:2]
    print("listening on %s:%d" % (host, port), OPTS, flush=True)
    loop.run_until_complete(server.serve_forever())


main()

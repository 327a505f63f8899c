//! Shared pieces of the msgwire fuzz targets.
//!
//! - Bitwise reference CRCs, written from the parameters in
//!   `docs/PROTOCOL.md` §2 (not from the crate's tables), so that every
//!   build (small or big tables) is checked against the same reference.
//! - Executable models of §2.1 (binary stream decoding) and §3 (text line
//!   decoding), written from the spec text and independent of the crate's
//!   decoders: the fuzz targets compare the crate with them.
//! - Drivers that feed the crate's decoders in chunks through both of their
//!   input paths (`spare`/`commit` and `feed`) and check the invariants the
//!   spec and the API docs promise after every call.
//! - A byte cursor for the structured targets' input formats (simple enough
//!   that `gen_seeds.py` can write seeds for them).

use std::cell::RefCell;

use msgwire::{
    decode_slice, DecodeError, Message, Stats, Status, StreamDecoder, TextStreamDecoder,
};

/// `0xA5`, the first byte of every binary frame.
pub const MAGIC: u8 = 0xA5;
/// Fixed header length.
pub const HEADER_LEN: usize = 14;
/// Header, longest kind and trailer: a decoder for payloads up to `max`
/// never holds more than `max + MAX_OVERHEAD` bytes (§2.1).
pub const MAX_OVERHEAD: usize = 14 + 32 + 4;
/// The bytes a kind may have (§1).
pub const KIND_CHARSET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/";

// ---------------------------------------------------------------------------
// Reference checksums, from the spec's parameters.
//
// The bitwise forms below are the reference. The fuzz targets use tables
// built from them at compile time (`const fn`, one entry per byte value):
// the same function of the input, eight times fewer steps. The tests check
// table against bitwise on random data; neither uses the crate's CRC code.

/// CRC-16/IBM-3740 bit by bit: poly 0x1021, init 0xFFFF, not reflected,
/// xorout 0.
pub fn ref_crc16_bitwise(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// CRC-32/ISO-HDLC (zlib) bit by bit: reflected poly 0xEDB88320, init and
/// xorout 0xFFFFFFFF.
pub fn ref_crc32_bitwise(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xFFFF_FFFF;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `CRC16_TABLE[i]`: the bitwise CRC-16 step run over the 8 bits of `i << 8`.
const CRC16_TABLE: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
};

/// `CRC32_TABLE[i]`: the bitwise CRC-32 step run over the 8 bits of `i`.
const CRC32_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
};

/// CRC-16/IBM-3740 (equal to [`ref_crc16_bitwise`], one table step a byte).
pub fn ref_crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc = (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)];
    }
    crc
}

/// CRC-32/ISO-HDLC (equal to [`ref_crc32_bitwise`], one table step a byte).
pub fn ref_crc32(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xFFFF_FFFF;
    for &b in data {
        crc = (crc >> 8) ^ CRC32_TABLE[usize::from(crc as u8 ^ b)];
    }
    !crc
}

/// `KIND_BYTE[b]`: whether `b` is in [`KIND_CHARSET`] (a lookup instead of
/// a scan of the 66 bytes).
const KIND_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < KIND_CHARSET.len() {
        t[KIND_CHARSET[i] as usize] = true;
        i += 1;
    }
    t
};

/// Whether `b` is one of the bytes a kind may have (§1).
pub fn ref_kind_byte(b: u8) -> bool {
    KIND_BYTE[usize::from(b)]
}

/// Whether `b` is a valid kind: 1..=32 bytes of the charset.
pub fn ref_kind_ok(b: &[u8]) -> bool {
    (1..=32).contains(&b.len()) && b.iter().all(|&c| ref_kind_byte(c))
}

/// A binary frame with any header fields (the header CRC always right),
/// built without the crate: for frames the crate's encoder refuses to make.
/// `kind_len` and `payload_len` are written as given, whatever the lengths
/// of `kind` and `payload`; the trailer is added when flag bit 0 is set.
#[allow(clippy::too_many_arguments)]
pub fn raw_frame(
    version: u8,
    flags: u8,
    kind_len: u8,
    kind: &[u8],
    id: u32,
    payload_len: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + kind.len() + payload.len() + 4);
    raw_frame_into(
        &mut out,
        version,
        flags,
        kind_len,
        kind,
        id,
        payload_len,
        payload,
    );
    out
}

/// [`raw_frame`] appended to `out` (so a caller can reuse one buffer).
#[allow(clippy::too_many_arguments)]
pub fn raw_frame_into(
    out: &mut Vec<u8>,
    version: u8,
    flags: u8,
    kind_len: u8,
    kind: &[u8],
    id: u32,
    payload_len: u32,
    payload: &[u8],
) {
    let start = out.len();
    out.extend_from_slice(&[MAGIC, version, flags, kind_len]);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&payload_len.to_le_bytes());
    let crc = ref_crc16(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    if flags & 1 != 0 {
        let crc = ref_crc32(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
    }
}

/// §2.1 step 2 on the 14 bytes of a header that starts with `0xA5`: the
/// code of the first check that fails, in the protocol's order, or `None`
/// when the header is trusted.
pub fn untrusted_code(h: &[u8]) -> Option<&'static str> {
    let k = h[3];
    if ref_crc16(&h[..12]) != u16::from_le_bytes([h[12], h[13]]) {
        Some("header-checksum")
    } else if h[1] != 1 {
        Some("unsupported-version")
    } else if h[2] & !7 != 0 {
        Some("reserved-flags")
    } else if k == 0 || k > 32 {
        Some("invalid-kind-length")
    } else {
        None
    }
}

/// If `buf[p..]` starts with `0xA5` and 14 bytes that form a trusted header
/// (checksum, version, flags and kind length all v1's, §2.1 step 2), the
/// frame length that header claims: the decoder believes it (§2.1 step 3)
/// whatever the payload limit.
pub fn trusted_span(buf: &[u8], p: usize) -> Option<u64> {
    let h = buf.get(p..p.checked_add(HEADER_LEN)?)?;
    if h[0] != MAGIC || untrusted_code(h).is_some() {
        return None;
    }
    let k = u64::from(h[3]);
    let len = u64::from(u32::from_le_bytes([h[8], h[9], h[10], h[11]]));
    let trailer = if h[2] & 1 != 0 { 4 } else { 0 };
    Some(14 + k + len + trailer)
}

// ---------------------------------------------------------------------------
// Events.

/// One decoder event, comparable. It borrows its kind and payload (from
/// the input for the models, from the decoder's buffer for the crate's
/// events), so that recording and comparing events allocates nothing.
/// Errors keep their id: §4 says the id of a frame whose header was trusted
/// (§2.1 step 3) is reported with its error, and an untrusted header's error
/// has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ev<'a> {
    /// A frame (or text line).
    Frame {
        /// Kind bytes.
        kind: &'a [u8],
        /// Correlation id.
        id: u32,
        /// Flag bits.
        flags: u8,
        /// Payload.
        payload: &'a [u8],
    },
    /// An error event: the protocol's code, and the id if the header held.
    Error {
        /// `header-checksum`, `too-large` …
        code: &'static str,
        /// The frame's id when its header was trusted.
        id: Option<u32>,
    },
}

impl<'a> Ev<'a> {
    /// From a crate decoder event.
    pub fn of(event: Result<Message<'a>, DecodeError>) -> Ev<'a> {
        match event {
            Ok(m) => Ev::Frame {
                kind: m.kind.as_bytes(),
                id: m.id,
                flags: m.flags.bits(),
                payload: m.payload,
            },
            Err(e) => Ev::Error {
                code: e.code(),
                id: e.id,
            },
        }
    }

    /// A frame event.
    pub fn frame(kind: &'a [u8], id: u32, flags: u8, payload: &'a [u8]) -> Ev<'a> {
        Ev::Frame {
            kind,
            id,
            flags,
            payload,
        }
    }

    /// An error event.
    pub fn error(code: &'static str, id: Option<u32>) -> Ev<'a> {
        Ev::Error { code, id }
    }

    /// Bytes a binary frame event took on the wire.
    pub fn wire_len(&self) -> u64 {
        match self {
            Ev::Frame {
                kind,
                flags,
                payload,
                ..
            } => 14 + kind.len() as u64 + payload.len() as u64 + if flags & 1 != 0 { 4 } else { 0 },
            Ev::Error { .. } => 0,
        }
    }
}

/// What every emitted binary frame must satisfy (§1, §2): a valid kind,
/// only defined flag bits, a payload within the limit.
pub fn check_binary_event(ev: &Ev<'_>, max_payload: u32) {
    if let Ev::Frame {
        kind,
        flags,
        payload,
        ..
    } = ev
    {
        assert!(ref_kind_ok(kind), "emitted kind {kind:?} is not valid");
        assert_eq!(flags & !7, 0, "emitted frame has reserved flag bits");
        assert!(
            payload.len() as u64 <= u64::from(max_payload),
            "emitted payload {} over max {max_payload}",
            payload.len()
        );
    }
}

/// What every emitted text message must satisfy (§3): a valid kind, id 0,
/// no flags, no `\n` in the payload, the line within the limit.
pub fn check_text_event(ev: &Ev<'_>, max_line: usize) {
    match ev {
        Ev::Frame {
            kind,
            id,
            flags,
            payload,
        } => {
            assert!(ref_kind_ok(kind), "emitted kind {kind:?} is not valid");
            assert_eq!((*id, *flags), (0, 0), "text message with id or flags");
            assert!(!payload.contains(&b'\n'), "payload holds a newline");
            assert!(
                kind.len() + 1 + payload.len() <= max_line,
                "emitted line longer than max_line {max_line}"
            );
        }
        Ev::Error { id, .. } => assert_eq!(*id, None, "text error with an id"),
    }
}

// ---------------------------------------------------------------------------
// Spec models.

/// §2.1 applied literally to a finished stream: every event with the offset
/// of the `0xA5` it starts at.
pub fn binary_model(input: &[u8], max_payload: u32) -> Vec<(usize, Ev<'_>)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    loop {
        // 1. Scan: anything but 0xA5 is dropped silently.
        let Some(off) = input[pos..].iter().position(|&b| b == MAGIC) else {
            return out;
        };
        pos += off;
        // 2. Header: wait for 14 bytes (the stream ending first emits nothing).
        let Some(h) = input.get(pos..pos + HEADER_LEN) else {
            return out;
        };
        // The checksum, then the shape: a header that fails one costs its
        // 0xA5 byte only, and its error carries no id.
        if let Some(code) = untrusted_code(h) {
            out.push((pos, Ev::error(code, None)));
            pos += 1;
            continue;
        }
        // 3. Trusted header: the frame length is believed.
        let flags = h[2];
        let k = h[3];
        let id = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let p = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        let len = 14 + u64::from(k) + u64::from(p) + if flags & 1 != 0 { 4 } else { 0 };
        let refused = (p > max_payload).then_some("too-large");
        let end = pos as u64 + len;
        if let Some(code) = refused {
            // Emitted at once, then the frame is skipped as it arrives.
            out.push((pos, Ev::error(code, Some(id))));
            if end >= input.len() as u64 {
                return out;
            }
            pos = end as usize;
            continue;
        }
        // 4. Body, once the whole frame is there.
        if end > input.len() as u64 {
            return out;
        }
        let end = end as usize;
        let kind_end = pos + 14 + usize::from(k);
        let payload_end = kind_end + p as usize;
        let ev = if flags & 1 != 0
            && ref_crc32(&input[pos..payload_end]).to_le_bytes() != input[payload_end..end]
        {
            Ev::error("payload-checksum", Some(id))
        } else if !input[pos + 14..kind_end].iter().all(|&b| ref_kind_byte(b)) {
            Ev::error("invalid-kind", Some(id))
        } else {
            Ev::frame(
                &input[pos + 14..kind_end],
                id,
                flags,
                &input[kind_end..payload_end],
            )
        };
        out.push((pos, ev));
        pos = end;
    }
}

/// §3 applied literally to a finished stream.
pub fn text_model(input: &[u8], max_line: usize) -> Vec<Ev<'_>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < input.len() {
        let rest = &input[pos..];
        let line = match rest.iter().position(|&b| b == b'\n') {
            Some(i) if i <= max_line => {
                pos += i + 1;
                &rest[..i]
            }
            Some(i) => {
                // Too long: reported, the rest dropped through its `\n`.
                out.push(Ev::error("line-too-long", None));
                pos += i + 1;
                continue;
            }
            // Too long with no `\n` yet: reported at once, the rest dropped.
            None if rest.len() > max_line => {
                out.push(Ev::error("line-too-long", None));
                break;
            }
            // An unfinished line emits nothing.
            None => break,
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            out.push(Ev::error("missing-separator", None));
            continue;
        };
        if !ref_kind_ok(&line[..colon]) {
            out.push(Ev::error("invalid-kind", None));
            continue;
        }
        out.push(Ev::frame(&line[..colon], 0, 0, &line[colon + 1..]));
    }
    out
}

// ---------------------------------------------------------------------------
// Drivers.

/// Chunk sizes, cycled; an empty list means "everything at once".
#[derive(Clone, Debug)]
pub struct Sizes(pub Vec<usize>);

impl Sizes {
    /// Sizes from fuzz bytes: 0 means "all that is left", else the byte.
    pub fn from_bytes(b: &[u8]) -> Sizes {
        Sizes(
            b.iter()
                .map(|&s| if s == 0 { usize::MAX } else { usize::from(s) })
                .collect(),
        )
    }

    /// All at once.
    pub fn whole() -> Sizes {
        Sizes(Vec::new())
    }

    /// One byte at a time.
    pub fn bytes() -> Sizes {
        Sizes(vec![1])
    }

    fn get(&self, i: usize) -> usize {
        if self.0.is_empty() {
            usize::MAX
        } else {
            self.0[i % self.0.len()]
        }
    }
}

/// Calls `f` with a buffer of `len` zero bytes, for a decoder to own
/// (`StreamDecoder::from_buffer(buf, ..)`): what `vec![0u8; len]` gives,
/// without a fresh allocation per run. The memory is one thread-local
/// `Vec` reused across runs and executions, zeroed again before each use,
/// so every run starts from the same all-zero buffer of exactly `len` bytes
/// (not nestable: a second call inside `f` panics).
pub fn with_zeroed<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|v| {
        if v.len() < len {
            v.resize(len, 0);
        }
        let buf = &mut v[..len];
        buf.fill(0);
        f(buf)
    })
}

/// How to hand bytes to a decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Write into `spare()`, then `commit(n)`.
    SpareCommit,
    /// `feed(&chunk)`.
    Feed,
}

/// Final counters of one run. Its events are not kept: they were compared
/// with the expected ones as they came (see [`Expect`]).
#[derive(Debug)]
pub struct Run {
    /// Counters at the end.
    pub stats: Stats,
    /// Bytes still buffered at the end.
    pub buffered: usize,
}

/// Checks a decoder's events, as they come, against the expected list (the
/// spec model's). Asserting "every run equals the model" is the same as
/// collecting each run's events and asserting "every run equals the first
/// run, and the first run equals the model", without keeping any of them.
#[derive(Debug)]
pub struct Expect<'e, 'a> {
    want: &'e [Ev<'a>],
    next: usize,
    what: &'e str,
}

impl<'e, 'a> Expect<'e, 'a> {
    /// Expects exactly `want`, in order; `what` names the run in failures.
    pub fn new(want: &'e [Ev<'a>], what: &'e str) -> Self {
        Expect {
            want,
            next: 0,
            what,
        }
    }

    /// The next event is `got`.
    pub fn event(&mut self, got: Ev<'_>) {
        match self.want.get(self.next) {
            Some(w) if *w == got => {}
            w => panic!(
                "{}: event {} is {got:?}, the expected (spec model) one is {w:?}",
                self.what, self.next
            ),
        }
        self.next += 1;
    }

    /// No event is missing.
    pub fn finish(&self) {
        assert_eq!(
            self.next,
            self.want.len(),
            "{}: {} events, the spec model has {} (next: {:?})",
            self.what,
            self.next,
            self.want.len(),
            self.want.get(self.next)
        );
    }
}

/// [`check_binary_event`] on each event of a list (done once on the spec
/// model's events: every run's events are asserted equal to them).
pub fn check_binary_events(events: &[Ev<'_>], max_payload: u32) {
    for ev in events {
        check_binary_event(ev, max_payload);
    }
}

/// [`check_text_event`] on each event of a list.
pub fn check_text_events(events: &[Ev<'_>], max_line: usize) {
    for ev in events {
        check_text_event(ev, max_line);
    }
}

/// The input side both stream decoders share, for [`feed_in_chunks`].
pub trait Chunked {
    /// `spare`: where the next bytes go.
    fn spare(&mut self) -> &mut [u8];
    /// `commit`: `n` bytes were written into the spare space.
    fn commit(&mut self, n: usize);
    /// `feed`: copies what fits, returns how much.
    fn feed(&mut self, bytes: &[u8]) -> usize;
    /// Bytes held.
    fn buffered(&self) -> usize;
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Chunked for StreamDecoder<B> {
    fn spare(&mut self) -> &mut [u8] {
        StreamDecoder::spare(self)
    }
    fn commit(&mut self, n: usize) {
        StreamDecoder::commit(self, n)
    }
    fn feed(&mut self, bytes: &[u8]) -> usize {
        StreamDecoder::feed(self, bytes)
    }
    fn buffered(&self) -> usize {
        StreamDecoder::buffered(self)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Chunked for TextStreamDecoder<B> {
    fn spare(&mut self) -> &mut [u8] {
        TextStreamDecoder::spare(self)
    }
    fn commit(&mut self, n: usize) {
        TextStreamDecoder::commit(self, n)
    }
    fn feed(&mut self, bytes: &[u8]) -> usize {
        TextStreamDecoder::feed(self, bytes)
    }
    fn buffered(&self) -> usize {
        TextStreamDecoder::buffered(self)
    }
}

/// Gives `input` to `dec` in chunks of `sizes`, through `path`, calling
/// `drain` first and after every call; checks that a drained decoder
/// always takes bytes and never holds more than `cap`.
pub fn feed_in_chunks<D: Chunked>(
    dec: &mut D,
    input: &[u8],
    sizes: &Sizes,
    path: Path,
    cap: usize,
    drain: &mut impl FnMut(&mut D),
) {
    let mut rest = input;
    let mut i = 0;
    drain(dec);
    while !rest.is_empty() {
        let want = sizes.get(i).min(rest.len());
        i += 1;
        match path {
            Path::SpareCommit => {
                let spare = dec.spare();
                assert!(!spare.is_empty(), "no spare space after draining");
                let n = want.min(spare.len());
                spare[..n].copy_from_slice(&rest[..n]);
                dec.commit(n);
                rest = &rest[n..];
                assert!(dec.buffered() <= cap);
                drain(dec);
            }
            Path::Feed => {
                let mut chunk = &rest[..want];
                rest = &rest[want..];
                while !chunk.is_empty() {
                    let n = dec.feed(chunk);
                    assert!(n > 0, "feed took nothing from a drained decoder");
                    assert!(n <= chunk.len());
                    chunk = &chunk[n..];
                    assert!(dec.buffered() <= cap);
                    drain(dec);
                }
            }
        }
    }
}

/// Feeds `input` to a binary decoder in chunks, draining it after each,
/// and checks after every call what the spec and the API promise. The
/// events must be `expected`, in order (`what` names the run in failures).
/// Validity of each event (`check_binary_event`) is checked on `expected`
/// by the caller, once for all runs.
pub fn run_binary<B: AsRef<[u8]> + AsMut<[u8]>>(
    dec: &mut StreamDecoder<B>,
    input: &[u8],
    sizes: &Sizes,
    path: Path,
    expected: &[Ev<'_>],
    what: &str,
) -> Run {
    let max = dec.max_payload();
    let cap = dec.capacity();
    assert!(cap >= max as usize + MAX_OVERHEAD);
    let mut events = Expect::new(expected, what);
    let mut drain = |dec: &mut StreamDecoder<B>| {
        while let Some(ev) = dec.decode() {
            events.event(Ev::of(ev));
            assert!(dec.buffered() <= cap);
        }
        // Waiting for more: what is held is the start of one frame (a
        // partial header, or a frame whose trusted length is at most
        // max + 50), so less than max + 50 bytes.
        assert!(
            dec.buffered() < max as usize + MAX_OVERHEAD,
            "holds {} bytes waiting, max_payload {max}",
            dec.buffered()
        );
    };
    feed_in_chunks(dec, input, sizes, path, cap, &mut drain);
    events.finish();
    let stats = *dec.stats();
    check_binary_stats(&stats, expected, input.len() as u64, dec.buffered());
    Run {
        stats,
        buffered: dec.buffered(),
    }
}

/// The counters agree with the events, and every byte is accounted for:
/// discarded, skipped, part of an emitted frame, or still buffered (bytes
/// of a refused frame still to arrive are not counted yet).
pub fn check_binary_stats(stats: &Stats, events: &[Ev<'_>], fed: u64, buffered: usize) {
    let frames = events
        .iter()
        .filter(|e| matches!(e, Ev::Frame { .. }))
        .count() as u64;
    assert_eq!(stats.frames, frames);
    assert_eq!(stats.refused_total(), events.len() as u64 - frames);
    let frame_bytes: u64 = events.iter().map(Ev::wire_len).sum();
    assert_eq!(
        stats.discarded_bytes + stats.skipped_bytes + frame_bytes + buffered as u64,
        fed,
        "bytes not accounted for: {stats:?}"
    );
}

/// Drives the one-shot decoder over the whole input as a stream reader
/// would: drop what it consumed, stop when it needs more (or when a refused
/// frame runs past the end). Its events must be `expected`. Checks its
/// `Partial` hints on the way.
pub fn run_slice(input: &[u8], max: u32, expected: &[Ev<'_>]) {
    let mut events = Expect::new(expected, "decode_slice loop");
    let mut pos = 0usize;
    while pos < input.len() {
        let buf = &input[pos..];
        match decode_slice(buf, max) {
            Ok(Status::Complete { message, consumed }) => {
                assert!(consumed > 0 && consumed <= buf.len());
                let ev = Ev::of(Ok(message));
                assert!(consumed as u64 >= ev.wire_len());
                events.event(ev);
                pos += consumed;
            }
            Ok(Status::Partial { skipped, needed }) => {
                assert!(skipped <= buf.len() && needed > 0);
                // The skipped bytes are garbage: without them, the same.
                assert_eq!(
                    decode_slice(&buf[skipped..], max),
                    Ok(Status::Partial { skipped: 0, needed })
                );
                break;
            }
            Err(e) => {
                assert!(e.consumed > 0);
                events.event(Ev::of(Err(e.error)));
                match usize::try_from(e.consumed) {
                    Ok(n) if n < buf.len() => pos += n,
                    _ => break,
                }
            }
        }
    }
    events.finish();
}

/// Checks `decode_slice`'s promise that after `Partial { needed }` nothing
/// is decided until `needed` more bytes follow: every prefix of `input`
/// at a cut gives `Partial` again up to `needed - 1` bytes later.
pub fn check_slice_hint(input: &[u8], cut: usize, max: u32) {
    let cut = cut.min(input.len());
    if let Ok(Status::Partial { needed, .. }) = decode_slice(&input[..cut], max) {
        let later = cut.saturating_add(needed - 1).min(input.len());
        assert!(
            matches!(
                decode_slice(&input[..later], max),
                Ok(Status::Partial { .. })
            ),
            "decided with fewer than `needed` more bytes"
        );
    }
}

/// Feeds `input` to a text decoder in chunks, draining after each, and
/// checks the invariants. The events must be `expected`, in order; validity
/// (`check_text_event`) is checked on `expected` by the caller.
pub fn run_text<B: AsRef<[u8]> + AsMut<[u8]>>(
    dec: &mut TextStreamDecoder<B>,
    input: &[u8],
    sizes: &Sizes,
    path: Path,
    cap: usize,
    expected: &[Ev<'_>],
    what: &str,
) -> Run {
    let max_line = dec.max_line();
    assert!(cap > max_line);
    let mut events = Expect::new(expected, what);
    let mut drain = |dec: &mut TextStreamDecoder<B>| {
        while let Some(ev) = dec.decode() {
            events.event(Ev::of(ev));
            assert!(dec.buffered() <= cap);
        }
        // Waiting for more: at most one unfinished line of <= max_line.
        assert!(
            dec.buffered() <= max_line,
            "holds {} bytes waiting, max_line {max_line}",
            dec.buffered()
        );
    };
    feed_in_chunks(dec, input, sizes, path, cap, &mut drain);
    events.finish();
    let stats = *dec.stats();
    let frames = expected
        .iter()
        .filter(|e| matches!(e, Ev::Frame { .. }))
        .count() as u64;
    assert_eq!(stats.frames, frames);
    assert_eq!(stats.refused_total(), expected.len() as u64 - frames);
    Run {
        stats,
        buffered: dec.buffered(),
    }
}

// ---------------------------------------------------------------------------
// Input cursor for the structured formats: reads from the front, yields
// zeros once the data runs out (so every input is a valid program).

/// A byte cursor over fuzz input.
#[derive(Debug)]
pub struct Cursor<'a>(pub &'a [u8]);

impl<'a> Cursor<'a> {
    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// Four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_crc_check_values() {
        assert_eq!(ref_crc16(b"123456789"), 0x29B1);
        assert_eq!(ref_crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(ref_crc16_bitwise(b"123456789"), 0x29B1);
        assert_eq!(ref_crc32_bitwise(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn table_crcs_equal_bitwise() {
        // Every length 0..=300 over pseudo-random bytes (xorshift), and
        // every single byte value.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let data: Vec<u8> = (0..300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for n in 0..=data.len() {
            assert_eq!(ref_crc16(&data[..n]), ref_crc16_bitwise(&data[..n]));
            assert_eq!(ref_crc32(&data[..n]), ref_crc32_bitwise(&data[..n]));
        }
        for b in 0..=255u8 {
            assert_eq!(ref_crc16(&[b]), ref_crc16_bitwise(&[b]));
            assert_eq!(ref_crc32(&[b]), ref_crc32_bitwise(&[b]));
        }
    }

    #[test]
    fn expect_accepts_exactly_the_list() {
        let want = [Ev::frame(b"A", 1, 0, b"x"), Ev::error("too-large", Some(2))];
        let mut e = Expect::new(&want, "test");
        e.event(Ev::frame(b"A", 1, 0, b"x"));
        e.event(Ev::error("too-large", Some(2)));
        e.finish();
    }

    #[test]
    #[should_panic(expected = "event 0 is")]
    fn expect_refuses_a_different_event() {
        let want = [Ev::frame(b"A", 1, 0, b"x")];
        Expect::new(&want, "test").event(Ev::frame(b"A", 1, 0, b"y"));
    }

    #[test]
    #[should_panic(expected = "event 1 is")]
    fn expect_refuses_an_extra_event() {
        let want = [Ev::error("header-checksum", None)];
        let mut e = Expect::new(&want, "test");
        e.event(Ev::error("header-checksum", None));
        e.event(Ev::error("header-checksum", None));
    }

    #[test]
    #[should_panic(expected = "1 events, the spec model has 2")]
    fn expect_refuses_a_missing_event() {
        let want = [
            Ev::error("header-checksum", None),
            Ev::error("header-checksum", None),
        ];
        let mut e = Expect::new(&want, "test");
        e.event(Ev::error("header-checksum", None));
        e.finish();
    }

    #[test]
    fn kind_byte_table_is_the_charset() {
        for b in 0..=255u8 {
            assert_eq!(ref_kind_byte(b), KIND_CHARSET.contains(&b));
        }
    }

    #[test]
    fn raw_frame_matches_a_vector() {
        // `ping-empty-payload` from tests/vectors/binary.json.
        let f = raw_frame(1, 0, 4, b"PING", 0, 0, b"");
        assert_eq!(
            f,
            [0xa5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x0a, b'P', b'I', b'N', b'G']
        );
    }
}

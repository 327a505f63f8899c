//! Shared helpers for the integration tests: the vector files, the one
//! owned event type (a decoded frame or a refusal, and an answer read from
//! a server), drivers that feed decoders in chunks, hand-made frames with
//! reference checksums written from the protocol text, and (with `async`)
//! the server-and-client fixture in [`net`].
#![allow(dead_code)]

#[cfg(feature = "async")]
pub mod net;
pub mod watchdog;

use msgwire::{decode_slice, DecodeError, Decoder, Error, Flags, Message, Status, TextDecoder};
use serde_json::Value;

/// One decoder event, or one answer read from a server, in a comparable,
/// owned form.
#[derive(Clone, PartialEq, Eq)]
pub enum Ev {
    Frame {
        kind: String,
        id: u32,
        flags: u8,
        payload: Vec<u8>,
    },
    Error(&'static str),
}

impl Ev {
    /// A frame without flags.
    pub fn frame(kind: &str, id: u32, payload: impl AsRef<[u8]>) -> Ev {
        Ev::Frame {
            kind: kind.into(),
            id,
            flags: 0,
            payload: payload.as_ref().to_vec(),
        }
    }

    /// An answer: a frame with the `RESPONSE` flag alone.
    pub fn answer(kind: &str, id: u32, payload: impl AsRef<[u8]>) -> Ev {
        Ev::Frame {
            kind: kind.into(),
            id,
            flags: Flags::RESPONSE.bits(),
            payload: payload.as_ref().to_vec(),
        }
    }

    /// The parts of a frame; panics on a refusal.
    fn parts(&self) -> (&str, u32, &[u8]) {
        match self {
            Ev::Frame {
                kind, id, payload, ..
            } => (kind, *id, payload),
            Ev::Error(code) => panic!("a refusal ({code}), not a frame"),
        }
    }

    pub fn kind(&self) -> &str {
        self.parts().0
    }

    pub fn id(&self) -> u32 {
        self.parts().1
    }

    pub fn payload(&self) -> &[u8] {
        self.parts().2
    }

    pub fn of(event: Result<Message<'_>, DecodeError>) -> Ev {
        match event {
            Ok(m) => Ev::Frame {
                kind: m.kind.as_str().to_owned(),
                id: m.id,
                flags: m.flags.bits(),
                payload: m.payload.to_vec(),
            },
            Err(e) => Ev::Error(e.code()),
        }
    }

    /// An event as the vector files write it.
    pub fn from_json(v: &Value) -> Ev {
        if let Some(f) = v.get("frame") {
            Ev::Frame {
                kind: f["kind"].as_str().expect("kind").to_owned(),
                id: f["id"].as_u64().expect("id") as u32,
                flags: f["flags"].as_u64().expect("flags") as u8,
                payload: unhex(f["payload"].as_str().expect("payload")),
            }
        } else {
            let code = v["error"].as_str().expect("error code");
            Ev::Error(Box::leak(code.to_owned().into_boxed_str()))
        }
    }
}

/// Payloads shown as text (escaped), so that a failed comparison reads.
impl std::fmt::Debug for Ev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ev::Frame {
                kind,
                id,
                flags,
                payload,
            } => write!(
                f,
                "Frame({kind} id={id} flags={flags} b\"{}\")",
                payload.escape_ascii()
            ),
            Ev::Error(code) => write!(f, "Error({code})"),
        }
    }
}

/// Every error the crate reports, each once.
pub const ALL_ERRORS: [Error; 12] = [
    Error::HeaderChecksum,
    Error::UnsupportedVersion,
    Error::ReservedFlags,
    Error::InvalidKindLength,
    Error::TooLarge,
    Error::PayloadChecksum,
    Error::InvalidKind,
    Error::MissingSeparator,
    Error::LineTooLong,
    Error::BufferTooSmall,
    Error::InvalidTextPayload,
    Error::Capacity,
];

pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

pub fn load(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("vector file");
    serde_json::from_str::<Value>(&text)
        .expect("json")
        .as_array()
        .expect("array")
        .clone()
}

/// Capacity used for binary vector decoders: every vector's max fits.
pub const BIN_CAP: usize = 4096;
/// Capacity used for text vector decoders.
pub const TEXT_CAP: usize = 1024;

/// Feeds `input` to a streaming binary decoder in chunks of the given sizes
/// (cycled), reading through `spare`/`commit`, and collects the events.
pub fn stream_events(input: &[u8], max: u32, sizes: &[usize]) -> Vec<Ev> {
    let mut dec = Decoder::<BIN_CAP>::with_max_payload(max).expect("max fits");
    let mut out = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let want = sizes[i % sizes.len()].max(1);
        i += 1;
        let spare = dec.spare();
        let n = want.min(rest.len()).min(spare.len());
        assert!(n > 0, "decoder has no spare space");
        spare[..n].copy_from_slice(&rest[..n]);
        dec.commit(n);
        rest = &rest[n..];
        while let Some(ev) = dec.decode() {
            out.push(Ev::of(ev));
        }
        // §2.1: a decoder never holds more than `14 + 32 + max + 4` bytes;
        // once `decode` says `None`, less than one whole frame is left.
        assert!(
            dec.buffered() < max as usize + 50,
            "{} bytes held with max {max}",
            dec.buffered()
        );
    }
    out
}

/// The two streaming decoders as [`feed_chunks`] drives them.
pub trait Feed {
    /// `feed`: takes what it can of `bytes`, returns how much.
    fn feed_some(&mut self, bytes: &[u8]) -> usize;
    /// `decode`: the next event, owned.
    fn next_event(&mut self) -> Option<Ev>;
}

impl<const N: usize> Feed for Decoder<N> {
    fn feed_some(&mut self, bytes: &[u8]) -> usize {
        self.feed(bytes)
    }

    fn next_event(&mut self) -> Option<Ev> {
        self.decode().map(Ev::of)
    }
}

impl<const N: usize> Feed for TextDecoder<N> {
    fn feed_some(&mut self, bytes: &[u8]) -> usize {
        let n = self.feed(bytes);
        // Nothing taken with nothing held would loop forever: fail instead.
        assert!(n > 0 || self.buffered() > 0);
        n
    }

    fn next_event(&mut self) -> Option<Ev> {
        self.decode().map(Ev::of)
    }
}

/// Gives `input` to `dec` through `feed` in chunks of the given sizes
/// (cycled), decoding after every call, and collects the events.
pub fn feed_chunks(dec: &mut impl Feed, input: &[u8], sizes: &[usize]) -> Vec<Ev> {
    let mut out = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let want = sizes[i % sizes.len()].max(1).min(rest.len());
        i += 1;
        let mut chunk = &rest[..want];
        rest = &rest[want..];
        while !chunk.is_empty() {
            let n = dec.feed_some(chunk);
            chunk = &chunk[n..];
            while let Some(ev) = dec.next_event() {
                out.push(ev);
            }
        }
    }
    out
}

/// The same through `feed`, which skips refused frames without copying.
pub fn feed_events(input: &[u8], max: u32, sizes: &[usize]) -> Vec<Ev> {
    let mut dec = Decoder::<BIN_CAP>::with_max_payload(max).expect("max fits");
    feed_chunks(&mut dec, input, sizes)
}

/// Drives the one-shot decoder over the whole input.
pub fn slice_events(input: &[u8], max: u32) -> Vec<Ev> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < input.len() {
        match decode_slice(&input[pos..], max) {
            Ok(Status::Complete { message, consumed }) => {
                out.push(Ev::of(Ok(message)));
                pos += consumed;
            }
            Ok(Status::Partial { .. }) => break,
            Err(e) => {
                // A refusal always consumes something, or no caller could
                // go on: fail here instead of looping forever.
                assert!(e.consumed > 0, "decode_slice consumed nothing");
                out.push(Ev::of(Err(e.error)));
                pos = pos.saturating_add(usize::try_from(e.consumed).unwrap_or(usize::MAX));
            }
        }
    }
    out
}

/// Feeds `input` to a text decoder in chunks of the given sizes (cycled).
pub fn text_events(input: &[u8], max_line: usize, sizes: &[usize]) -> Vec<Ev> {
    let mut dec = TextDecoder::<TEXT_CAP>::with_max_line(max_line).expect("max fits");
    feed_chunks(&mut dec, input, sizes)
}

/// A small deterministic generator for split points.
pub struct XorShift(pub u64);

impl XorShift {
    /// A generator from any seed (0 included), its bits spread.
    pub fn seeded(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn sizes(&mut self, n: usize, max: u64) -> Vec<usize> {
        (0..n).map(|_| (self.next() % max) as usize + 1).collect()
    }
}

/// Encodes one binary frame, as the crate's encoder makes it.
pub fn frame(kind: &str, id: u32, flags: Flags, payload: &[u8]) -> Vec<u8> {
    let m = Message::new(msgwire::Kind::new(kind).expect("kind"), payload)
        .with_id(id)
        .with_flags(flags);
    let mut out = vec![0; msgwire::encoded_len(&m).expect("len")];
    msgwire::encode(&m, &mut out).expect("encode");
    out
}

/// Encodes one binary frame (no flags).
pub fn encode_frame(kind: &str, id: u32, payload: &[u8]) -> Vec<u8> {
    frame(kind, id, Flags::EMPTY, payload)
}

/// Reads binary frames from a blocking socket until `n` are decoded;
/// panics on a refused frame or an early close.
pub fn read_frames(s: &mut std::net::TcpStream, n: usize) -> Vec<Ev> {
    use std::io::Read;
    let mut dec = Decoder::<70_000>::new();
    let mut out = Vec::new();
    while out.len() < n {
        let got = s.read(dec.spare()).expect("read");
        assert!(got > 0, "server closed after {} of {n} frames", out.len());
        dec.commit(got);
        while let Some(ev) = dec.decode() {
            out.push(Ev::of(Ok(ev.expect("valid answer"))));
        }
    }
    out
}

/// Polls `cond` (cheap; it may also drive something by hand) every
/// 200 µs until it holds; panics with `what` once `limit` has passed, so a
/// broken rule fails instead of hanging. The condition decides, not the
/// sleep: it only spaces the polls.
pub fn wait_until(limit: std::time::Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// Bitwise CRC-16/IBM-3740, written from the protocol text, for hand-made
/// headers (independent of the crate's table-driven one: this is the
/// reference the tests check it against).
pub fn header_crc(data: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
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

/// Bitwise CRC-32/ISO-HDLC, written from the protocol text, for hand-made
/// payload trailers (independent of the crate's, like [`header_crc`]).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
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

/// A frame with any header fields, a correct header CRC, and `body` after
/// the header (kind, payload, trailer as the caller wants them).
pub fn raw(
    version: u8,
    flags: u8,
    kind_len: u8,
    id: u32,
    payload_len: u32,
    body: &[u8],
) -> Vec<u8> {
    let mut f = vec![0xA5, version, flags, kind_len];
    f.extend_from_slice(&id.to_le_bytes());
    f.extend_from_slice(&payload_len.to_le_bytes());
    let crc = header_crc(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    f.extend_from_slice(body);
    f
}

/// `frame` with its header CRC made right again after a test changed the
/// header's fields (a reserved flag, a claimed length).
pub fn fix_header_crc(frame: &mut [u8]) {
    let crc = header_crc(&frame[..12]);
    frame[12..14].copy_from_slice(&crc.to_le_bytes());
}

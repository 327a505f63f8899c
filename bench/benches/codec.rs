//! Codec benchmarks (divan), side by side in one run: the same frames for
//! every contender.
//!
//! Frames: kind `PING`, payloads of 16 B (`small`), 1 KiB (`medium`) and
//! 64 KiB (`large`), without (`plain`) and with (`crc`) the checksum. Each
//! iteration works through a stream of at most 256 KiB of frames (small:
//! 7 710 frames, 6 898 with the checksum; medium: 251 / 250; large: 3), so
//! the working set stays in L2 and the codec, not DRAM, is measured. Divan's `item/s` counter counts
//! frames, its byte counter counts payload bytes (the same figure for every
//! contender, so MB/s compares directly).
//!
//! Contenders:
//!
//! - `decode::msgwire_stream_4k` / `_64b`: the streaming decoder as a real
//!   reader uses it, reading at most 4 KiB / 64 B at a time into
//!   `spare()` then `commit`; `decode::msgwire_feed_4k` uses `feed`;
//!   `decode::msgwire_slice`: `decode_slice` looping over the whole buffer.
//! - `decode::ldc_4k` / `ldc_whole`: tokio-util's `LengthDelimitedCodec`
//!   over a `BytesMut` that receives 4 KiB at a time / holds the whole
//!   stream. Its frames are the payload alone (4-byte length prefix: no
//!   kind, no id); with `crc`, the payload is followed by its CRC-32
//!   (`crc32fast`), checked after decoding.
//! - `decode::postcard_cobs_4k`: postcard's `CobsAccumulator` fed 4 KiB at
//!   a time, each frame a COBS-encoded postcard `(kind, id, payload)` tuple
//!   (plus a `crc32fast` CRC-32 of the payload with `crc`, checked after
//!   decoding) — the same information as a msgwire frame, in the framing an
//!   embedded Rust user would pick.
//! - `limit::memcpy`: `copy_from_slice` of the msgwire stream;
//!   `limit::crc32fast`: `crc32fast::hash` over every payload;
//!   `limit::crc32fast_frame` (`crc` only): over what a msgwire trailer
//!   covers (header, kind, payload).
//! - `encode::msgwire` (`Encoder::encode` into a reused buffer),
//!   `encode::msgwire_head` (`encode_head` only: the vectored-write path,
//!   the payload is not copied), `encode::ldc` (`Encoder<Bytes>` into a
//!   reused `BytesMut`), `encode::postcard_cobs` (`to_slice_cobs` into a
//!   reused buffer).
//!
//! Every measured body hands its results to `divan::black_box` and checks
//! the frame count and payload bytes once per pass.
//!
//! Run from the repository root:
//! `cargo bench --manifest-path bench/Cargo.toml --bench codec` (divan
//! filters work: `... --bench codec -- decode::msgwire`).

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use divan::counter::{BytesCount, ItemsCount};
use divan::{black_box, Bencher};
use msgwire::{Encoder, Flags, Kind, Message, Status, StreamDecoder};
use postcard::accumulator::{CobsAccumulator, FeedResult};
use tokio_util::codec::{Decoder as _, Encoder as _, LengthDelimitedCodec};

fn main() {
    divan::Divan::default()
        .sample_count(1000)
        .max_time(Duration::from_secs(1))
        .config_with_args()
        .main();
}

/// About how many wire bytes one pass works through.
const STREAM_BYTES: usize = 256 * 1024;
/// The largest payload, and every decoder's limit.
const MAX_PAYLOAD: usize = 64 * 1024;
/// The COBS accumulator holds one encoded frame: payload, tuple fields and
/// one COBS byte per 254.
const COBS_BUF: usize = MAX_PAYLOAD + MAX_PAYLOAD / 254 + 64;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Case {
    payload: usize,
    checksum: bool,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = match self.payload {
            16 => "small",
            1024 => "medium",
            _ => "large",
        };
        let crc = if self.checksum { "crc" } else { "plain" };
        write!(f, "{size}/{crc}")
    }
}

const CASES: [Case; 6] = [
    Case {
        payload: 16,
        checksum: false,
    },
    Case {
        payload: 16,
        checksum: true,
    },
    Case {
        payload: 1024,
        checksum: false,
    },
    Case {
        payload: 1024,
        checksum: true,
    },
    Case {
        payload: MAX_PAYLOAD,
        checksum: false,
    },
    Case {
        payload: MAX_PAYLOAD,
        checksum: true,
    },
];

/// One case's frames, in every contender's framing.
struct Data {
    case: Case,
    frames: usize,
    payload: &'static [u8],
    /// msgwire frames, ids 0..frames.
    wire: Vec<u8>,
    /// `LengthDelimitedCodec` frames: payload (and its CRC-32 with `crc`).
    ldc: Vec<u8>,
    /// postcard COBS frames, each ending in 0.
    cobs: Vec<u8>,
}

impl Data {
    fn payload_bytes(&self) -> u64 {
        (self.frames * self.case.payload) as u64
    }

    fn flags(&self) -> Flags {
        if self.case.checksum {
            Flags::CHECKSUM
        } else {
            Flags::EMPTY
        }
    }

    fn message(&self, id: u32) -> Message<'static> {
        Message::new(Kind::PING, self.payload)
            .with_id(id)
            .with_flags(self.flags())
    }

    fn build(case: Case) -> Data {
        // Pseudo-random payload bytes (xorshift): about one zero in 256,
        // which is what COBS has to escape.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let payload: Vec<u8> = (0..case.payload)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let payload: &'static [u8] = Box::leak(payload.into_boxed_slice());
        let mut d = Data {
            case,
            frames: 0,
            payload,
            wire: Vec::new(),
            ldc: Vec::new(),
            cobs: Vec::new(),
        };
        let one = msgwire::encoded_len(&d.message(0)).unwrap();
        d.frames = (STREAM_BYTES / one).max(1);
        let crc = crc32fast::hash(payload);
        let mut cobs_buf = vec![0u8; COBS_BUF];
        for id in 0..d.frames as u32 {
            let start = d.wire.len();
            d.wire.resize(start + one, 0);
            msgwire::encode(&d.message(id), &mut d.wire[start..]).unwrap();

            let ldc_len = payload.len() + if case.checksum { 4 } else { 0 };
            d.ldc.extend_from_slice(&(ldc_len as u32).to_be_bytes());
            d.ldc.extend_from_slice(payload);
            if case.checksum {
                d.ldc.extend_from_slice(&crc.to_le_bytes());
            }

            let enc = if case.checksum {
                postcard::to_slice_cobs(&("PING", id, payload, crc), &mut cobs_buf)
            } else {
                postcard::to_slice_cobs(&("PING", id, payload), &mut cobs_buf)
            };
            d.cobs.extend_from_slice(enc.unwrap());
        }
        d
    }
}

fn data(case: Case) -> &'static Data {
    static DATA: [OnceLock<Data>; 6] = [const { OnceLock::new() }; 6];
    let i = CASES.iter().position(|&c| c == case).unwrap();
    DATA[i].get_or_init(|| Data::build(case))
}

/// Divan's counters for one pass over a case's stream.
fn counted<'a, 'b>(bencher: Bencher<'a, 'b>, d: &Data) -> Bencher<'a, 'b> {
    bencher
        .counter(ItemsCount::new(d.frames))
        .counter(BytesCount::new(d.payload_bytes()))
}

/// What one pass decoded: frames and payload bytes, checked against the
/// case once per pass.
#[derive(Default)]
struct Tally {
    frames: usize,
    bytes: usize,
}

impl Tally {
    #[inline]
    fn add(&mut self, payload: &[u8]) {
        self.frames += 1;
        self.bytes += payload.len();
        black_box(payload);
    }

    fn check(self, d: &Data) {
        assert_eq!(
            (self.frames, self.bytes),
            (d.frames, d.frames * d.case.payload)
        );
    }
}

// ------------------------------------------------------------------ decode

mod decode {
    use super::*;

    /// The streaming decoder, reading at most `read` bytes at a time into
    /// `spare()`, as a reader over a socket does.
    fn msgwire_stream(bencher: Bencher<'_, '_>, case: Case, read: usize) {
        let d = data(case);
        let mut dec = StreamDecoder::boxed(MAX_PAYLOAD as u32);
        counted(bencher, d).bench_local(|| {
            let mut t = Tally::default();
            let mut rest = black_box(&d.wire[..]);
            while !rest.is_empty() {
                let spare = dec.spare();
                let n = spare.len().min(read).min(rest.len());
                spare[..n].copy_from_slice(&rest[..n]);
                dec.commit(n);
                rest = &rest[n..];
                while let Some(event) = dec.decode() {
                    let m = event.unwrap();
                    black_box((m.kind, m.id, m.flags));
                    t.add(m.payload);
                }
            }
            t.check(d);
        });
    }

    #[divan::bench(args = CASES)]
    fn msgwire_stream_4k(bencher: Bencher<'_, '_>, case: Case) {
        msgwire_stream(bencher, case, 4096);
    }

    #[divan::bench(args = CASES)]
    fn msgwire_stream_64b(bencher: Bencher<'_, '_>, case: Case) {
        msgwire_stream(bencher, case, 64);
    }

    #[divan::bench(args = CASES)]
    fn msgwire_feed_4k(bencher: Bencher<'_, '_>, case: Case) {
        let d = data(case);
        let mut dec = StreamDecoder::boxed(MAX_PAYLOAD as u32);
        counted(bencher, d).bench_local(|| {
            let mut t = Tally::default();
            for chunk in black_box(&d.wire[..]).chunks(4096) {
                let mut chunk = chunk;
                while !chunk.is_empty() {
                    let n = dec.feed(chunk);
                    chunk = &chunk[n..];
                    while let Some(event) = dec.decode() {
                        let m = event.unwrap();
                        black_box((m.kind, m.id, m.flags));
                        t.add(m.payload);
                    }
                }
            }
            t.check(d);
        });
    }

    #[divan::bench(args = CASES)]
    fn msgwire_slice(bencher: Bencher<'_, '_>, case: Case) {
        let d = data(case);
        counted(bencher, d).bench_local(|| {
            let mut t = Tally::default();
            let mut buf = black_box(&d.wire[..]);
            while let Ok(Status::Complete { message, consumed }) =
                msgwire::decode_slice(buf, MAX_PAYLOAD as u32)
            {
                black_box((message.kind, message.id, message.flags));
                t.add(message.payload);
                buf = &buf[consumed..];
            }
            assert!(buf.is_empty());
            t.check(d);
        });
    }

    /// `LengthDelimitedCodec` frames carry the payload (and its CRC-32).
    #[inline]
    fn ldc_frame(t: &mut Tally, frame: &[u8], checksum: bool) {
        if checksum {
            let (payload, crc) = frame.split_at(frame.len() - 4);
            assert_eq!(crc32fast::hash(payload).to_le_bytes(), crc);
            t.add(payload);
        } else {
            t.add(frame);
        }
    }

    fn ldc_codec() -> LengthDelimitedCodec {
        LengthDelimitedCodec::builder()
            .max_frame_length(MAX_PAYLOAD + 4)
            .new_codec()
    }

    #[divan::bench(args = CASES)]
    fn ldc_4k(bencher: Bencher<'_, '_>, case: Case) {
        let d = data(case);
        let mut codec = ldc_codec();
        let mut buf = BytesMut::with_capacity(8192);
        counted(bencher, d).bench_local(|| {
            let mut t = Tally::default();
            for chunk in black_box(&d.ldc[..]).chunks(4096) {
                buf.extend_from_slice(chunk);
                while let Some(frame) = codec.decode(&mut buf).unwrap() {
                    ldc_frame(&mut t, &frame, case.checksum);
                }
            }
            t.check(d);
        });
    }

    #[divan::bench(args = CASES)]
    fn ldc_whole(bencher: Bencher<'_, '_>, case: Case) {
        let d = data(case);
        let mut codec = ldc_codec();
        counted(bencher, d)
            .with_inputs(|| BytesMut::from(&d.ldc[..]))
            .bench_local_values(|mut buf| {
                let mut t = Tally::default();
                while let Some(frame) = codec.decode(&mut buf).unwrap() {
                    ldc_frame(&mut t, &frame, case.checksum);
                }
                t.check(d);
                buf
            });
    }

    #[divan::bench(args = CASES)]
    fn postcard_cobs_4k(bencher: Bencher<'_, '_>, case: Case) {
        let d = data(case);
        let mut acc: Box<CobsAccumulator<COBS_BUF>> = Box::default();
        counted(bencher, d).bench_local(|| {
            let mut t = Tally::default();
            for chunk in black_box(&d.cobs[..]).chunks(4096) {
                let mut window = chunk;
                while !window.is_empty() {
                    window = if case.checksum {
                        match acc.feed_ref::<(&str, u32, &[u8], u32)>(window) {
                            FeedResult::Consumed => break,
                            FeedResult::Success { data, remaining } => {
                                let (kind, id, payload, crc) = data;
                                assert_eq!(crc32fast::hash(payload), crc);
                                black_box((kind, id));
                                t.add(payload);
                                remaining
                            }
                            FeedResult::OverFull(_) | FeedResult::DeserError(_) => {
                                panic!("postcard refused a frame")
                            }
                        }
                    } else {
                        match acc.feed_ref::<(&str, u32, &[u8])>(window) {
                            FeedResult::Consumed => break,
                            FeedResult::Success { data, remaining } => {
                                let (kind, id, payload) = data;
                                black_box((kind, id));
                                t.add(payload);
                                remaining
                            }
                            FeedResult::OverFull(_) | FeedResult::DeserError(_) => {
                                panic!("postcard refused a frame")
                            }
                        }
                    };
                }
            }
            t.check(d);
        });
    }
}

// ------------------------------------------------------------------ limits

mod limit {
    use super::*;

    /// Copying the msgwire stream once: what any reader pays at the least.
    #[divan::bench(args = CASES)]
    fn memcpy(bencher: Bencher<'_, '_>, case: Case) {
        let d = data(case);
        let mut dst = vec![0u8; d.wire.len()];
        counted(bencher, d).bench_local(|| {
            dst.copy_from_slice(black_box(&d.wire[..]));
            black_box(&mut dst);
        });
    }

    /// `crc32fast::hash` over every payload: the checksum's own cost.
    #[divan::bench(args = CASES)]
    fn crc32fast(bencher: Bencher<'_, '_>, case: Case) {
        let d = data(case);
        counted(bencher, d).bench_local(|| {
            let mut acc = 0u32;
            for _ in 0..d.frames {
                acc ^= crc32fast::hash(black_box(d.payload));
            }
            black_box(acc);
        });
    }

    /// `crc32fast::hash` over the bytes a msgwire trailer covers (header,
    /// kind and payload of every frame): the checksum's own cost for the
    /// same frames.
    #[divan::bench(args = CASES[..].iter().copied().filter(|c| c.checksum))]
    fn crc32fast_frame(bencher: Bencher<'_, '_>, case: Case) {
        let d = data(case);
        let one = d.wire.len() / d.frames;
        counted(bencher, d).bench_local(|| {
            let mut acc = 0u32;
            for frame in black_box(&d.wire[..]).chunks_exact(one) {
                acc ^= crc32fast::hash(&frame[..one - 4]);
            }
            black_box(acc);
        });
    }
}

// ------------------------------------------------------------------ encode

mod encode {
    use super::*;

    #[divan::bench(args = CASES)]
    fn msgwire(bencher: Bencher<'_, '_>, case: Case) {
        let d = data(case);
        let enc = Encoder::new();
        let mut out = vec![0u8; d.wire.len()];
        counted(bencher, d).bench_local(|| {
            let mut pos = 0;
            for id in 0..d.frames as u32 {
                pos += enc
                    .encode(&black_box(d.message(id)), &mut out[pos..])
                    .unwrap();
            }
            assert_eq!(pos, d.wire.len());
            black_box(&mut out);
        });
    }

    /// Header, kind and trailer only: what a vectored writer encodes.
    #[divan::bench(args = CASES)]
    fn msgwire_head(bencher: Bencher<'_, '_>, case: Case) {
        let d = data(case);
        let enc = Encoder::new();
        counted(bencher, d).bench_local(|| {
            let mut total = 0;
            for id in 0..d.frames as u32 {
                let m = black_box(d.message(id));
                let head = enc.encode_head(&m).unwrap();
                total += head.frame_len(m.payload.len());
                black_box(&head);
            }
            assert_eq!(total, d.wire.len());
        });
    }

    /// `Encoder<Bytes>`: length prefix and payload. It has no checksum, so
    /// only the `plain` cases are measured.
    #[divan::bench(args = CASES[..].iter().copied().filter(|c| !c.checksum))]
    fn ldc(bencher: Bencher<'_, '_>, case: Case) {
        let d = data(case);
        let mut codec = LengthDelimitedCodec::builder()
            .max_frame_length(MAX_PAYLOAD)
            .new_codec();
        let payload = Bytes::from_static(d.payload);
        let mut dst = BytesMut::with_capacity(d.ldc.len());
        counted(bencher, d).bench_local(|| {
            dst.clear();
            for _ in 0..d.frames {
                codec.encode(black_box(payload.clone()), &mut dst).unwrap();
            }
            assert_eq!(dst.len(), d.ldc.len());
            black_box(&mut dst);
        });
    }

    /// `to_slice_cobs` of `(kind, id, payload)` (and the payload's CRC-32,
    /// computed here, with `crc`).
    #[divan::bench(args = CASES)]
    fn postcard_cobs(bencher: Bencher<'_, '_>, case: Case) {
        let d = data(case);
        let mut out = vec![0u8; d.cobs.len() + COBS_BUF];
        counted(bencher, d).bench_local(|| {
            let mut pos = 0;
            let payload = black_box(d.payload);
            for id in 0..d.frames as u32 {
                let buf = &mut out[pos..];
                let n = if case.checksum {
                    let crc = crc32fast::hash(payload);
                    postcard::to_slice_cobs(&("PING", id, payload, crc), buf)
                } else {
                    postcard::to_slice_cobs(&("PING", id, payload), buf)
                }
                .unwrap()
                .len();
                pos += n;
            }
            assert_eq!(pos, d.cobs.len());
            black_box(&mut out);
        });
    }
}

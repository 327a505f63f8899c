//! Valid frames made by the crate's encoder, mixed with damage, through the
//! stream decoder: resync must recover every intact frame the spec
//! guarantees, and nothing else may change.
//!
//! Input (read by `msgwire_fuzz::Cursor`, zeros past the end): `cfg` (bits
//! 0-2 pick the payload limit), `n` (mod 16) chunk sizes, then pieces until
//! the input runs out, each a tag byte (mod 5) and its fields:
//! - 0 frame: `klen` (1 + mod 32), kind bytes (mapped into the charset),
//!   id u32, flags (& 7), payload length u16 (mod 2048), payload;
//! - 1 garbage: length u16 (mod 1024), bytes;
//! - 2 damaged frame: a frame as in 0, then `d` (mod 4) damages, each an op
//!   (mod 3: flip bit / truncate / insert a byte), position u16, argument u8;
//! - 3 fake header: version, flags, kind_len, id u32, payload_len u16, with
//!   a correct header CRC, then a body as garbage (length u16 mod 1024);
//! - 4 cut: truncate everything so far at position u16 (mod length + 1),
//!   then go on concatenating.
//!
//! # What "intact" and "guaranteed" mean
//!
//! A frame is *intact* when its bytes in the final stream are exactly what
//! the encoder wrote and its payload fits the decoder's limit.
//!
//! §2.1 gives the decoder one state besides scanning: inside a frame whose
//! header was trusted, whose claimed length (`14 + K + P (+4)`) is then
//! believed. Since revision 1.1 a header is trusted only when its CRC-16
//! holds *and* its version, reserved flags and kind length are v1's; one
//! that fails any of the four costs its `0xA5` byte and nothing else. Any
//! `0xA5` followed by 13 bytes passing all four checks is such a header (a
//! *hazard*): in garbage, in a fake header, in a truncated frame, or inside
//! a payload. A hazard that the scan reaches swallows its claimed length
//! (a real too-large frame, or one refused on its body), which may cover the
//! following intact frames. So the guarantee is:
//!
//! > An intact frame starting at `s` is emitted if no trusted header
//! > `p < s` that the scan can reach claims a length reaching past `s`
//! > (`p + len > s`).
//!
//! In particular no header that failed a check, however long its claim,
//! can cost an intact frame.
//!
//! "Can reach" is over-approximated as "not strictly inside an earlier
//! guaranteed intact frame" (those are consumed whole, so nothing inside
//! them is scanned); every other hazard counts, even if in fact it is itself
//! swallowed. The target asserts:
//! 1. every guaranteed intact frame is emitted, in order (as a subsequence
//!    of the events, and at its own offset in the spec model);
//! 2. when the stream holds no hazard but the intact frames' own headers
//!    (and whatever lies inside them), the events are exactly: each intact
//!    frame, and for every other `0xA5` with 13 bytes after it the error of
//!    the first §2.1 step-2 check it fails (with no id), in stream order;
//! 3. the decoder's events equal the spec model's (fed in the fuzzed
//!    chunks, both input paths), with all of `run_binary`'s invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgwire::{Flags, Kind, Message, StreamDecoder};
use msgwire_fuzz::{
    binary_model, check_binary_events, raw_frame_into, ref_crc16, run_binary, trusted_span,
    untrusted_code, with_zeroed, Cursor, Ev, Path, Sizes, KIND_CHARSET, MAGIC,
};

const MAXES: [u32; 8] = [0, 1, 16, 64, 100, 255, 1024, 4000];

/// A frame made by the crate's encoder, and the message it holds.
struct Made<'a> {
    kind: [u8; 32],
    klen: usize,
    id: u32,
    flags: u8,
    payload: &'a [u8],
}

/// Reads a message from `c`, appends the crate's encoding of it to
/// `stream` and the reference encoding (`raw_frame`) to the cleared
/// `reference`, and asserts they are the same bytes. The frame is
/// `stream[start..]`, `start` being `stream.len()` on entry.
fn make_frame<'a>(c: &mut Cursor<'a>, stream: &mut Vec<u8>, reference: &mut Vec<u8>) -> Made<'a> {
    let klen = 1 + usize::from(c.u8() % 32);
    let mut kind = [0u8; 32];
    for b in &mut kind[..klen] {
        *b = KIND_CHARSET[usize::from(c.u8()) % KIND_CHARSET.len()];
    }
    let id = c.u32();
    let flags = c.u8() & 7;
    let plen = usize::from(c.u16() % 2048);
    let payload = c.bytes(plen);
    let kind_str = core::str::from_utf8(&kind[..klen]).expect("charset is ASCII");
    let m = Message::new(Kind::new(kind_str).expect("valid kind"), payload)
        .with_id(id)
        .with_flags(Flags::from_bits(flags).expect("defined bits"));
    let start = stream.len();
    let len = msgwire::encoded_len(&m).expect("payload fits u32");
    stream.resize(start + len, 0);
    let n = msgwire::encode(&m, &mut stream[start..]).expect("buffer sized by encoded_len");
    assert_eq!(n, len);
    // The encoder's checksums agree with the reference.
    reference.clear();
    raw_frame_into(
        reference,
        1,
        flags,
        klen as u8,
        &kind[..klen],
        id,
        payload.len() as u32,
        payload,
    );
    assert_eq!(
        &stream[start..],
        &reference[..],
        "encoder output differs from the spec"
    );
    Made {
        kind,
        klen,
        id,
        flags,
        payload,
    }
}

impl Made<'_> {
    fn ev(&self) -> Ev<'_> {
        Ev::frame(&self.kind[..self.klen], self.id, self.flags, self.payload)
    }
}

struct Intact<'a> {
    start: usize,
    end: usize,
    frame: Made<'a>,
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor(data);
    let max = MAXES[usize::from(c.u8() & 7)];
    let n = usize::from(c.u8() % 16);
    let sizes = Sizes::from_bytes(c.bytes(n));

    let mut stream: Vec<u8> = Vec::new();
    // The reference encoding of the last frame made (reused buffer).
    let mut reference: Vec<u8> = Vec::new();
    let mut intact: Vec<Intact> = Vec::new();
    let mut pieces = 0;
    while !c.is_empty() && pieces < 64 {
        pieces += 1;
        match c.u8() % 5 {
            0 => {
                let start = stream.len();
                let f = make_frame(&mut c, &mut stream, &mut reference);
                if f.payload.len() <= max as usize {
                    intact.push(Intact {
                        start,
                        end: stream.len(),
                        frame: f,
                    });
                }
            }
            1 => {
                let len = usize::from(c.u16() % 1024);
                stream.extend_from_slice(c.bytes(len));
            }
            2 => {
                let start = stream.len();
                let f = make_frame(&mut c, &mut stream, &mut reference);
                // The damage, in place on the frame's bytes `stream[start..]`.
                for _ in 0..c.u8() % 4 {
                    let (op, pos, arg) = (c.u8() % 3, usize::from(c.u16()), c.u8());
                    let len = stream.len() - start;
                    match op {
                        0 if len != 0 => stream[start + pos % len] ^= 1 << (arg % 8),
                        1 if len != 0 => stream.truncate(start + pos % len),
                        _ => stream.insert(start + pos % (len + 1), arg),
                    }
                }
                // Damage that cancels out leaves an intact frame (`reference`
                // still holds the frame's bytes as encoded).
                if stream[start..] == reference[..] && f.payload.len() <= max as usize {
                    intact.push(Intact {
                        start,
                        end: stream.len(),
                        frame: f,
                    });
                }
            }
            3 => {
                let h = stream.len();
                stream.extend_from_slice(&[MAGIC, c.u8(), c.u8(), c.u8()]);
                stream.extend_from_slice(&c.u32().to_le_bytes());
                stream.extend_from_slice(&u32::from(c.u16()).to_le_bytes());
                let crc = ref_crc16(&stream[h..]);
                stream.extend_from_slice(&crc.to_le_bytes());
                let len = usize::from(c.u16() % 1024);
                stream.extend_from_slice(c.bytes(len));
            }
            _ => {
                let cut = usize::from(c.u16()) % (stream.len() + 1);
                stream.truncate(cut);
                intact.retain(|f| f.end <= cut);
            }
        }
    }

    // Every header the decoder could trust: (offset, claimed length).
    // (`trusted_span` is `None` unless `stream[p]` is `0xA5`, so only those
    // offsets are tried.)
    let hazards: Vec<(usize, u64)> = stream
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == MAGIC)
        .filter_map(|(p, _)| trusted_span(&stream, p).map(|len| (p, len)))
        .collect();

    // The intact frames §2.1 guarantees (see the module docs).
    let mut guaranteed: Vec<&Intact> = Vec::new();
    for f in &intact {
        let inside_guaranteed = |p: usize| guaranteed.iter().any(|g| g.start < p && p < g.end);
        let shadowed = hazards.iter().any(|&(p, len)| {
            p < f.start && p as u64 + len > f.start as u64 && !inside_guaranteed(p)
        });
        if !shadowed {
            guaranteed.push(f);
        }
    }

    // The spec model's events are the reference: both runs are checked
    // against them as their events come, and they are checked for validity
    // once. Equal to the model, the runs' events are these events, so 1 and
    // 2 below are checked on them.
    let model = binary_model(&stream, max);
    let events: Vec<Ev> = model.iter().map(|&(_, e)| e).collect();
    check_binary_events(&events, max);
    // Each run owns a fresh zeroed buffer of `max + 50` bytes (`with_zeroed`).
    let cap = max as usize + 50;
    for (path, what) in [
        (Path::SpareCommit, "fuzzed chunks, spare/commit"),
        (Path::Feed, "fuzzed chunks, feed"),
    ] {
        with_zeroed(cap, |buf| {
            let mut dec = StreamDecoder::from_buffer(buf, max).expect("fits");
            run_binary(&mut dec, &stream, &sizes, path, &events, what)
        });
    }

    // 1. Every guaranteed frame comes out, in order, at its own offset.
    let mut rest = events.iter();
    for g in &guaranteed {
        let ev = g.frame.ev();
        assert!(
            rest.any(|e| *e == ev),
            "intact frame at {} not recovered",
            g.start
        );
        assert!(
            model.iter().any(|(p, e)| *p == g.start && *e == ev),
            "model lost the intact frame at {}",
            g.start
        );
    }

    // 2. No foreign hazard: the events are known exactly.
    let in_guaranteed = |p: usize| guaranteed.iter().any(|g| g.start <= p && p < g.end);
    let foreign = hazards.iter().any(|&(p, _)| !in_guaranteed(p));
    if !foreign {
        assert_eq!(guaranteed.len(), intact.len());
        let mut want = Vec::new();
        let mut p = 0;
        let mut next = guaranteed.iter().peekable();
        while p < stream.len() {
            if let Some(g) = next.peek().filter(|g| g.start == p) {
                want.push(g.frame.ev());
                p = g.end;
                next.next();
            } else {
                if stream[p] == MAGIC && p + 14 <= stream.len() {
                    let code = untrusted_code(&stream[p..p + 14])
                        .expect("every trusted header is a hazard inside a guaranteed frame");
                    want.push(Ev::error(code, None));
                }
                p += 1;
            }
        }
        assert_eq!(events, want, "unexpected events without foreign headers");
    }
});

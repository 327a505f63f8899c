//! Property tests: encode→decode is the identity, and the event sequence
//! does not depend on how the bytes are split.

mod common;

use common::*;
use msgwire::{Decoder, Encoder, Flags, Kind, Message, TextDecoder, TextEncoder};
use proptest::prelude::*;

const KIND_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/";

fn kind_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(KIND_CHARS), 1..=32)
        .prop_map(|b| String::from_utf8(b).expect("ascii"))
}

#[derive(Clone, Debug)]
struct Msg {
    kind: String,
    id: u32,
    flags: u8,
    payload: Vec<u8>,
}

impl Msg {
    fn message(&self) -> Message<'_> {
        Message::new(Kind::new(&self.kind).expect("valid"), &self.payload)
            .with_id(self.id)
            .with_flags(Flags::from_bits(self.flags).expect("flags"))
    }

    fn ev(&self) -> Ev {
        Ev::Frame {
            kind: self.kind.clone(),
            id: self.id,
            flags: self.flags,
            payload: self.payload.clone(),
        }
    }
}

fn msg_strategy() -> impl Strategy<Value = Msg> {
    (
        kind_strategy(),
        any::<u32>(),
        0u8..4,
        proptest::collection::vec(any::<u8>(), 0..600),
    )
        .prop_map(|(kind, id, flags, payload)| Msg {
            kind,
            id,
            flags,
            payload,
        })
}

fn encode_all(msgs: &[Msg]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        let msg = m.message();
        let mut buf = vec![0; msgwire::encoded_len(&msg).expect("len")];
        let n = msgwire::encode(&msg, &mut buf).expect("encode");
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Pieces of a byte stream that exercise the decoder: valid frames, frames
/// with a flipped bit, truncated frames, raw garbage, lone magic bytes.
#[derive(Clone, Debug)]
enum Piece {
    Frame(Msg),
    Flipped(Msg, usize, u8),
    Truncated(Msg, usize),
    Garbage(Vec<u8>),
    Magic,
}

fn piece_strategy() -> impl Strategy<Value = Piece> {
    prop_oneof![
        4 => msg_strategy().prop_map(Piece::Frame),
        1 => (msg_strategy(), any::<usize>(), 0u8..8).prop_map(|(m, i, b)| Piece::Flipped(m, i, b)),
        1 => (msg_strategy(), any::<usize>()).prop_map(|(m, i)| Piece::Truncated(m, i)),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Piece::Garbage),
        1 => Just(Piece::Magic),
    ]
}

fn render(pieces: &[Piece]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        match p {
            Piece::Frame(m) => out.extend(encode_all(std::slice::from_ref(m))),
            Piece::Flipped(m, i, bit) => {
                let mut b = encode_all(std::slice::from_ref(m));
                let i = i % b.len();
                b[i] ^= 1 << bit;
                out.extend(b);
            }
            Piece::Truncated(m, i) => {
                let b = encode_all(std::slice::from_ref(m));
                out.extend_from_slice(&b[..i % b.len()]);
            }
            Piece::Garbage(g) => out.extend_from_slice(g),
            Piece::Magic => out.push(0xA5),
        }
    }
    out
}

fn splits() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..200, 1..20)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn binary_round_trip(msgs in proptest::collection::vec(msg_strategy(), 1..8), sizes in splits()) {
        let wire = encode_all(&msgs);
        let want: Vec<Ev> = msgs.iter().map(Msg::ev).collect();
        prop_assert_eq!(&slice_events(&wire, 1024), &want);
        prop_assert_eq!(&stream_events(&wire, 1024, &sizes), &want);
        // The header-only path produces the same bytes.
        for m in &msgs {
            let msg = m.message();
            let head = Encoder::new().encode_head(&msg).expect("head");
            let joined = [head.as_bytes(), &m.payload, head.trailer()].concat();
            prop_assert_eq!(joined, encode_all(std::slice::from_ref(m)));
        }
    }

    #[test]
    fn text_round_trip(kind in kind_strategy(), payload in proptest::collection::vec(any::<u8>(), 0..300), sizes in splits()) {
        let kind = Kind::new(&kind).expect("valid");
        let enc = TextEncoder::new();
        let mut buf = vec![0; 400];
        match enc.encode(kind, &payload, &mut buf) {
            Ok(n) => {
                let want = vec![Ev::Frame { kind: kind.as_str().to_owned(), id: 0, flags: 0, payload: payload.clone() }];
                prop_assert_eq!(text_events(&buf[..n], 512, &sizes), want);
            }
            Err(e) => {
                prop_assert_eq!(e, msgwire::Error::InvalidTextPayload);
                prop_assert!(payload.contains(&b'\n') || payload.last() == Some(&b'\r'));
            }
        }
    }

    #[test]
    fn binary_split_invariance(pieces in proptest::collection::vec(piece_strategy(), 0..12), sizes in splits(), max in 0u32..700) {
        let wire = render(&pieces);
        let whole = stream_events(&wire, max, &[usize::MAX]);
        prop_assert_eq!(&slice_events(&wire, max), &whole);
        prop_assert_eq!(&stream_events(&wire, max, &sizes), &whole);
        prop_assert_eq!(&stream_events(&wire, max, &[1]), &whole);
        prop_assert_eq!(&feed_events(&wire, max, &sizes), &whole);
        // Every frame handed out respects the limits.
        for ev in &whole {
            if let Ev::Frame { kind, payload, flags, .. } = ev {
                prop_assert!(Kind::new(kind).is_ok());
                prop_assert!(payload.len() <= max as usize);
                prop_assert!(*flags <= 3);
            }
        }
        // Intact frames separated from damage by non-magic garbage are
        // always recovered: with only valid frames and clean garbage,
        // every frame comes out.
        let clean: Vec<Piece> = pieces.iter().filter_map(|p| match p {
            Piece::Frame(m) if m.payload.len() <= max as usize => Some(Piece::Frame(m.clone())),
            Piece::Garbage(g) => Some(Piece::Garbage(g.iter().map(|&b| if b == 0xA5 { 0 } else { b }).collect())),
            _ => None,
        }).collect();
        let want: Vec<Ev> = clean.iter().filter_map(|p| match p { Piece::Frame(m) => Some(m.ev()), _ => None }).collect();
        prop_assert_eq!(stream_events(&render(&clean), max, &sizes), want);
    }

    #[test]
    fn text_split_invariance(bytes in proptest::collection::vec(prop_oneof![
        6 => proptest::sample::select(b"PING:ab\r\n ECHO/x".to_vec()),
        1 => any::<u8>(),
    ], 0..400), sizes in splits(), max_line in 1usize..80) {
        let whole = text_events(&bytes, max_line, &[usize::MAX]);
        prop_assert_eq!(&text_events(&bytes, max_line, &sizes), &whole);
        prop_assert_eq!(&text_events(&bytes, max_line, &[1]), &whole);
        prop_assert_eq!(&reference_text(&bytes, max_line), &whole);
    }
}

/// A direct reading of PROTOCOL.md §3 over the whole input.
fn reference_text(input: &[u8], max_line: usize) -> Vec<Ev> {
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        let nl = rest.iter().position(|&b| b == b'\n');
        let line_len = nl.unwrap_or(rest.len());
        if line_len > max_line {
            out.push(Ev::Error("line-too-long"));
            match nl {
                Some(i) => rest = &rest[i + 1..],
                None => break,
            }
            continue;
        }
        let Some(i) = nl else { break };
        let mut line = &rest[..i];
        rest = &rest[i + 1..];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if line.is_empty() {
            continue;
        }
        let Some(c) = line.iter().position(|&b| b == b':') else {
            out.push(Ev::Error("missing-separator"));
            continue;
        };
        let kind = &line[..c];
        let ok =
            !kind.is_empty() && kind.len() <= 32 && kind.iter().all(|b| KIND_CHARS.contains(b));
        if !ok {
            out.push(Ev::Error("invalid-kind"));
            continue;
        }
        out.push(Ev::Frame {
            kind: String::from_utf8(kind.to_vec()).expect("ascii"),
            id: 0,
            flags: 0,
            payload: line[c + 1..].to_vec(),
        });
    }
    out
}

#[test]
fn decoders_hold_no_more_than_capacity() {
    // A stream of frames far larger than the buffer is refused and skipped,
    // and the decoder keeps working after it.
    let big = vec![0x5Au8; 100_000];
    let mut wire = encode_all(&[Msg {
        kind: "BIG".into(),
        id: 9,
        flags: 1,
        payload: big,
    }]);
    wire.extend(encode_all(&[Msg {
        kind: "PING".into(),
        id: 1,
        flags: 0,
        payload: b"x".to_vec(),
    }]));
    let mut dec = Decoder::<128>::new();
    let mut events = Vec::new();
    for chunk in wire.chunks(4096) {
        let mut chunk = chunk;
        while !chunk.is_empty() {
            let n = dec.feed(chunk);
            chunk = &chunk[n..];
            while let Some(ev) = dec.decode() {
                events.push(
                    ev.map(|m| m.kind.as_str().to_owned())
                        .map_err(|e| (e.error, e.id)),
                );
            }
            // Less than a whole frame's worth once `decode` says `None`
            // (`buffered() <= capacity` would always hold), and nothing of
            // the refused frame's body buffered while it is skipped.
            assert!(dec.buffered() < 128, "{}", dec.buffered());
            if dec.skipping() > 0 {
                assert_eq!(dec.buffered(), 0, "skipped bytes were buffered");
            }
        }
    }
    assert_eq!(
        events,
        vec![
            Err((msgwire::Error::TooLarge, Some(9))),
            Ok("PING".to_owned())
        ]
    );
    assert_eq!(dec.stats().skipped_bytes, 14 + 3 + 100_000 + 4);

    let mut text = TextDecoder::<16>::new();
    let mut line = vec![b'x'; 10_000];
    line.extend_from_slice(b"\nPING:ok\n");
    let mut got = Vec::new();
    let mut rest = &line[..];
    while !rest.is_empty() {
        let n = text.feed(rest);
        rest = &rest[n..];
        while let Some(ev) = text.decode() {
            got.push(ev.map(|m| m.payload.to_vec()).map_err(|e| e.error));
        }
        // At most a partial line of `max_line` (15) bytes is held.
        assert!(text.buffered() <= 15, "{}", text.buffered());
    }
    assert_eq!(
        got,
        vec![Err(msgwire::Error::LineTooLong), Ok(b"ok".to_vec())]
    );
}

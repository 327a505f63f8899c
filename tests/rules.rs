//! Rules of `docs/PROTOCOL.md` (§2.1, §3) that a one-line change to a
//! decoder could break while every other test still passes. Each test
//! names the rule and the kind of change it catches (mutation testing,
//! `TESTING.md`).

mod common;

use common::{
    crc32, encode_frame, feed_chunks, feed_events, frame, raw, slice_events, stream_events,
    text_events, Ev, XorShift, ALL_ERRORS,
};
use msgwire::{
    decode_slice, Decoder, Error, Flags, Kind, Message, Stats, StreamDecoder, TextDecoder,
    TextStreamDecoder,
};

/// A frame with a payload checksum over `kind ++ payload` (kind bytes
/// unchecked), its trailer either right or `trailer_ok == false` flipped.
fn checked(kind: &[u8], id: u32, payload: &[u8], trailer_ok: bool) -> Vec<u8> {
    let mut body = kind.to_vec();
    body.extend_from_slice(payload);
    let mut f = raw(1, 1, kind.len() as u8, id, payload.len() as u32, &body);
    let mut crc = crc32(&f);
    if !trailer_ok {
        crc ^= 1;
    }
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

/// Every decoder agrees on `input`: whole, one byte at a time, in random
/// splits, through `spare`/`commit`, `feed` and `decode_slice`.
fn all_decoders(input: &[u8], max: u32) -> Vec<Ev> {
    let whole = stream_events(input, max, &[input.len().max(1)]);
    let mut rng = XorShift(0x5eed ^ input.len() as u64);
    for sizes in [vec![1], vec![7, 1, 13], rng.sizes(16, 40)] {
        assert_eq!(
            stream_events(input, max, &sizes),
            whole,
            "spare/commit {sizes:?}"
        );
        assert_eq!(feed_events(input, max, &sizes), whole, "feed {sizes:?}");
    }
    assert_eq!(slice_events(input, max), whole, "decode_slice");
    whole
}

/// §2.1 step 4: the trailer is checked before the kind's charset. Catches
/// swapping the two checks (no vector has a frame wrong in both ways).
#[test]
fn body_checks_run_in_protocol_order() {
    let cases: [(&str, Vec<u8>, Ev); 4] = [
        (
            "bad kind and bad trailer",
            checked(b"PI G", 1, b"xy", false),
            Ev::Error("payload-checksum"),
        ),
        (
            "bad kind, good trailer",
            checked(b"PI G", 2, b"xy", true),
            Ev::Error("invalid-kind"),
        ),
        (
            "good kind, bad trailer",
            checked(b"PING", 3, b"xy", false),
            Ev::Error("payload-checksum"),
        ),
        (
            "good kind, good trailer",
            checked(b"PING", 4, b"xy", true),
            Ev::Frame {
                kind: "PING".into(),
                id: 4,
                flags: 1,
                payload: b"xy".to_vec(),
            },
        ),
    ];
    for (name, frame, want) in cases {
        assert_eq!(all_decoders(&frame, 100), [want], "{name}");
        // The id of a trusted frame comes with its body error.
        if let Err(e) = decode_slice(&frame, 100) {
            assert!(e.error.id.is_some(), "{name}");
            assert_eq!(e.consumed, frame.len() as u64, "{name}");
        }
    }
}

/// §2.1 steps 3 and 4: a refused frame's bytes are consumed whole, never
/// scanned. The skipped bodies here are made of valid frames, so a decoder
/// that rescanned them (or skipped too little) would emit those frames.
#[test]
fn skipped_bodies_are_not_scanned_for_frames() {
    let inner: Vec<u8> = (100..110u32)
        .flat_map(|id| encode_frame("PING", id, b"inner"))
        .collect();
    let after = encode_frame("ECHO", 7, b"after");
    let mut too_large = raw(1, 0, 4, 1, inner.len() as u32, b"BLOB");
    too_large.extend_from_slice(&inner);
    let bad_trailer = checked(b"BLOB", 2, &inner, false);
    let bad_kind = {
        let mut body = b"BL B".to_vec();
        body.extend_from_slice(&inner);
        raw(1, 0, 4, 3, inner.len() as u32, &body)
    };
    let cases = [
        (too_large, 20, "too-large"),
        (bad_trailer, 1000, "payload-checksum"),
        (bad_kind, 1000, "invalid-kind"),
    ];
    for (frame, max, code) in cases {
        let mut input = frame.clone();
        input.extend_from_slice(&after);
        assert_eq!(
            all_decoders(&input, max),
            [Ev::Error(code), Ev::frame("ECHO", 7, b"after")],
            "{code}"
        );
        let mut dec = Decoder::<2048>::with_max_payload(max).expect("fits");
        assert_eq!(dec.feed(&input), input.len());
        while dec.decode().is_some() {}
        let s = dec.stats();
        assert_eq!(
            (s.frames, s.skipped_bytes, s.discarded_bytes),
            (1, frame.len() as u64, 0),
            "{code}"
        );
    }
}

/// The decoder the server uses holds exactly `max + 50` bytes
/// (`StreamDecoder::boxed`). A frame of that very size after a small one
/// completes only if the decoder moves its bytes to the front in time:
/// catches a broken compaction rule in `spare` (the other tests use larger
/// buffers, where the frame fits anyway).
#[test]
fn a_largest_frame_after_a_small_one_completes_in_a_buffer_of_max_plus_50() {
    const MAX: u32 = 1000;
    let kind = "K".repeat(32);
    let payload: Vec<u8> = (0..MAX).map(|i| (i % 251) as u8).collect();
    let big = frame(&kind, 2, Flags::CHECKSUM, &payload);
    assert_eq!(big.len(), MAX as usize + 50, "the largest frame");
    let mut input = encode_frame("PING", 1, b"");
    input.extend_from_slice(&big);
    input.extend(encode_frame("PING", 3, b"x"));

    // Reads as a socket gives them: as much as the spare space takes, or a
    // fixed chunk.
    for chunk in [usize::MAX, 1, 7, 64, 999, 1049] {
        let mut boxed = StreamDecoder::boxed(MAX);
        assert_eq!(boxed.capacity(), MAX as usize + 50);
        let mut array = Decoder::<{ MAX as usize + 50 }>::new();
        assert_eq!(array.max_payload(), MAX);
        let got_boxed = read_all(&mut boxed, &input, chunk);
        let got_array = read_all(&mut array, &input, chunk);
        assert_eq!(got_boxed, [1, 2, 3], "boxed, chunk {chunk}");
        assert_eq!(got_array, [1, 2, 3], "array, chunk {chunk}");
    }
}

/// Reads `input` through `spare`/`commit` in chunks of at most `chunk`
/// bytes; returns the ids of the frames decoded. Fails if the decoder
/// ever has no spare space while bytes remain.
fn read_all<B: AsRef<[u8]> + AsMut<[u8]>>(
    dec: &mut StreamDecoder<B>,
    input: &[u8],
    chunk: usize,
) -> Vec<u32> {
    let mut ids = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let spare = dec.spare();
        let n = spare.len().min(rest.len()).min(chunk);
        assert!(n > 0, "no spare space with {} bytes left", rest.len());
        spare[..n].copy_from_slice(&rest[..n]);
        dec.commit(n);
        rest = &rest[n..];
        while let Some(ev) = dec.decode() {
            ids.push(ev.expect("valid frame").id);
        }
    }
    ids
}

/// What one input costs in the counters.
struct Counted {
    name: &'static str,
    input: Vec<u8>,
    /// The one refusal reason, if any.
    refused: Option<Error>,
    frames: u64,
    discarded: u64,
    skipped: u64,
}

/// Every refusal reason counted under its own reason and no other, and the
/// bytes it costs counted as discarded (scanning) or skipped (a refused
/// frame or line), exactly. Catches a counter bumped under the wrong
/// reason, not bumped, or bytes counted in the wrong field.
#[test]
fn counters_by_reason_binary() {
    let ping = encode_frame("PING", 0, b"");
    let with_ping = |mut v: Vec<u8>| {
        v.extend_from_slice(&ping);
        v
    };
    let mut bad_crc = ping.clone();
    bad_crc[13] ^= 1;
    let cases = [
        Counted {
            name: "garbage",
            input: with_ping(b"noise".to_vec()),
            refused: None,
            frames: 1,
            discarded: 5,
            skipped: 0,
        },
        Counted {
            name: "header-checksum",
            input: with_ping(bad_crc),
            refused: Some(Error::HeaderChecksum),
            frames: 1,
            // The 0xA5, then the other 17 bytes scanned as garbage.
            discarded: 18,
            skipped: 0,
        },
        Counted {
            name: "unsupported-version",
            input: with_ping(raw(2, 0, 4, 9, 0, b"")),
            refused: Some(Error::UnsupportedVersion),
            frames: 1,
            discarded: 14,
            skipped: 0,
        },
        Counted {
            name: "reserved-flags",
            input: with_ping(raw(1, 0x80, 4, 9, 0, b"")),
            refused: Some(Error::ReservedFlags),
            frames: 1,
            discarded: 14,
            skipped: 0,
        },
        Counted {
            name: "invalid-kind-length",
            input: with_ping(raw(1, 0, 33, 9, 0, b"")),
            refused: Some(Error::InvalidKindLength),
            frames: 1,
            discarded: 14,
            skipped: 0,
        },
        Counted {
            name: "too-large",
            input: with_ping(raw(1, 0, 4, 9, 101, &[b'Z'; 105])),
            refused: Some(Error::TooLarge),
            frames: 1,
            discarded: 0,
            skipped: 14 + 105,
        },
        Counted {
            name: "payload-checksum",
            input: with_ping(checked(b"PING", 9, b"abc", false)),
            refused: Some(Error::PayloadChecksum),
            frames: 1,
            discarded: 0,
            skipped: 14 + 7 + 4,
        },
        Counted {
            name: "invalid-kind",
            input: with_ping(raw(1, 0, 4, 9, 3, b"P NGabc")),
            refused: Some(Error::InvalidKind),
            frames: 1,
            discarded: 0,
            skipped: 14 + 7,
        },
    ];
    for c in &cases {
        for chunk in [c.input.len(), 1] {
            let mut dec = Decoder::<256>::with_max_payload(100).expect("fits");
            feed_chunks(&mut dec, &c.input, &[chunk]);
            check_counts(c, dec.stats(), chunk);
        }
    }
}

/// The same for text lines (§3). An overlong line is refused with an
/// error, so all of it, up to and including its `\n`, is *skipped*, as a
/// too-large frame's bytes are (docs/PROTOCOL.md, appendix, "Counters").
#[test]
fn counters_by_reason_text() {
    let cases = [
        Counted {
            name: "blank lines",
            input: b"\n\r\nA:1\n".to_vec(),
            refused: None,
            frames: 1,
            discarded: 3,
            skipped: 0,
        },
        Counted {
            name: "missing-separator",
            input: b"PING\nA:1\n".to_vec(),
            refused: Some(Error::MissingSeparator),
            frames: 1,
            discarded: 0,
            skipped: 5,
        },
        Counted {
            name: "invalid-kind",
            input: b"P G:x\r\nA:1\n".to_vec(),
            refused: Some(Error::InvalidKind),
            frames: 1,
            discarded: 0,
            skipped: 7,
        },
        Counted {
            name: "line-too-long",
            input: b"PING:0123456789abcdef\nA:1\n".to_vec(),
            refused: Some(Error::LineTooLong),
            frames: 1,
            discarded: 0,
            skipped: 22,
        },
        Counted {
            name: "line-too-long, the next line longer than the buffer",
            input: [&b"PING:"[..], &[b'z'; 300], b"\nA:1\n"].concat(),
            refused: Some(Error::LineTooLong),
            frames: 1,
            discarded: 0,
            skipped: 306,
        },
    ];
    for c in &cases {
        for chunk in [c.input.len(), 1, 5] {
            let mut dec = TextDecoder::<64>::with_max_line(8).expect("fits");
            feed_chunks(&mut dec, &c.input, &[chunk]);
            check_counts(c, dec.stats(), chunk);
        }
    }
    // The limit itself: 8 bytes pass, 9 do not (a `\r` counts).
    assert_eq!(
        text_events(b"ABCD:xyz\nABCD:xy\r\nABCD:xyz\r\n", 8, &[1]),
        [
            Ev::frame("ABCD", 0, b"xyz"),
            Ev::frame("ABCD", 0, b"xy"),
            Ev::Error("line-too-long"),
        ]
    );
}

fn check_counts(c: &Counted, s: &Stats, chunk: usize) {
    for e in ALL_ERRORS {
        let want = u64::from(c.refused == Some(e));
        assert_eq!(
            s.refused(e),
            want,
            "{}: refused({e:?}), chunk {chunk}",
            c.name
        );
    }
    assert_eq!(
        s.refused_total(),
        u64::from(c.refused.is_some()),
        "{}",
        c.name
    );
    assert_eq!(
        (s.frames, s.discarded_bytes, s.skipped_bytes),
        (c.frames, c.discarded, c.skipped),
        "{}: (frames, discarded, skipped), chunk {chunk}",
        c.name
    );
}

/// A text decoder over a boxed buffer behaves as the array one.
#[test]
fn boxed_text_decoder_counts_alike() {
    let input = b"PING:0123456789abcdef\nA:1\n";
    let mut boxed = TextStreamDecoder::boxed(8);
    let mut array = TextDecoder::<9>::new();
    for dec_stats in [
        {
            let mut rest = &input[..];
            while !rest.is_empty() {
                let n = boxed.feed(rest);
                rest = &rest[n..];
                while boxed.decode().is_some() {}
            }
            *boxed.stats()
        },
        {
            let mut rest = &input[..];
            while !rest.is_empty() {
                let n = array.feed(rest);
                rest = &rest[n..];
                while array.decode().is_some() {}
            }
            *array.stats()
        },
    ] {
        assert_eq!(
            (
                dec_stats.frames,
                dec_stats.skipped_bytes,
                dec_stats.refused(Error::LineTooLong)
            ),
            (1, 22, 1)
        );
    }
}

/// `feed` drops the bytes of a frame being skipped without buffering them
/// (§2.1 step 3, "never buffered"), however many come at once, and in the
/// right order after bytes committed through `spare`. Catches a broken
/// fast path in `feed`.
#[test]
fn feed_skips_without_buffering_in_stream_order() {
    let header = raw(1, 0, 4, 1, u32::MAX - 8, b"");
    let mut dec = Decoder::<64>::new();
    assert_eq!(dec.feed(&header), 14);
    assert!(matches!(dec.decode(), Some(Err(e)) if e.error == Error::TooLarge));
    let left = dec.skipping();
    // 100 kB at once into a 64-byte decoder: all taken, none buffered.
    let body = vec![0xA5u8; 100_000];
    assert_eq!(dec.feed(&body), body.len());
    assert_eq!((dec.buffered(), dec.skipping()), (0, left - 100_000));
    assert_eq!(dec.stats().skipped_bytes, 14 + 100_000);
    assert!(dec.decode().is_none());

    // Body bytes committed through `spare`, then the rest of the body and
    // a frame through `feed` without a `decode` between: the committed
    // bytes are skipped first, so the frame after the body is whole.
    let mut dec = Decoder::<64>::with_max_payload(5).expect("fits");
    let frame = raw(1, 0, 4, 2, 10, b"BLOB");
    dec.feed(&frame);
    assert!(matches!(dec.decode(), Some(Err(e)) if e.error == Error::TooLarge && e.id == Some(2)));
    assert_eq!(dec.skipping(), 10);
    dec.spare()[..4].copy_from_slice(&[0; 4]);
    dec.commit(4);
    let mut rest = vec![0u8; 6];
    rest.extend(encode_frame("PING", 3, b"ok"));
    assert_eq!(dec.feed(&rest), rest.len());
    let got: Vec<Ev> = std::iter::from_fn(|| dec.decode().map(Ev::of)).collect();
    assert_eq!(got, [Ev::frame("PING", 3, b"ok")]);
    assert_eq!(dec.stats().skipped_bytes, 14 + 4 + 10);
}

/// `clear` forgets the frame being waited for, not only the bytes: after
/// a partial header of a long frame the decoder waits for that frame's
/// length before looking again; once cleared, a short frame decodes as
/// soon as it is in.
#[test]
fn clear_forgets_the_frame_being_waited_for() {
    let mut dec = Decoder::<256>::new();
    let long = encode_frame("PING", 1, &[7; 150]);
    assert_eq!(dec.feed(&long[..20]), 20);
    assert!(dec.decode().is_none());
    dec.clear();
    assert_eq!((dec.buffered(), dec.skipping()), (0, 0));
    let short = encode_frame("PING", 2, b"");
    assert_eq!(dec.feed(&short), short.len());
    assert!(matches!(dec.decode(), Some(Ok(m)) if m.id == 2));
    assert!(dec.decode().is_none());
}

/// The small accessors and trait impls of the codec's types, each checked
/// against a value it could get wrong.
#[test]
fn accessors_and_trait_impls() {
    // Decoders' Debug: what a log shows.
    // A frame first, so that the buffered bytes do not start at 0.
    let mut dec = Decoder::<64>::with_max_payload(10).expect("fits");
    dec.feed(&encode_frame("PING", 1, b""));
    dec.feed(&encode_frame("PING", 2, b"")[..5]);
    assert!(matches!(dec.decode(), Some(Ok(_))));
    assert!(dec.decode().is_none());
    assert_eq!(
        format!("{dec:?}"),
        format!(
            "StreamDecoder {{ capacity: 64, buffered: 5, skipping: 0, max_payload: 10, stats: {:?} }}",
            dec.stats()
        )
    );
    let mut text = TextDecoder::<16>::with_max_line(15).expect("fits");
    text.feed(b"A:1\nPING:abc");
    assert!(matches!(text.decode(), Some(Ok(_))));
    assert!(text.decode().is_none());
    assert_eq!(
        format!("{text:?}"),
        format!(
            "TextStreamDecoder {{ capacity: 16, buffered: 8, discarding: false, max_line: 15, stats: {:?} }}",
            text.stats()
        )
    );

    // Text decoder: the limit may be the whole capacity minus one, and the
    // accessors say what was set and held.
    assert!(TextDecoder::<9>::with_max_line(8).is_ok());
    assert_eq!(
        TextDecoder::<9>::with_max_line(9).map(|_| ()),
        Err(Error::Capacity)
    );
    assert_eq!(text.max_line(), 15);
    assert_eq!(text.buffered(), 8);
    text.spare()[..4].copy_from_slice(b"def\n");
    text.commit(4);
    assert_eq!(text.buffered(), 12);
    assert!(matches!(text.decode(), Some(Ok(m)) if m.payload == b"abcdef"));
    text.feed(b"PING:partial");
    text.clear();
    assert_eq!(text.buffered(), 0);
    text.feed(b"A:1\n");
    assert!(matches!(text.decode(), Some(Ok(m)) if m.kind == "A" && m.payload == b"1"));
    // `clear` also ends the dropping of an overlong line.
    text.feed(&[b'x'; 16]);
    assert!(matches!(text.decode(), Some(Err(e)) if e.error == Error::LineTooLong));
    text.clear();
    text.feed(b"B:2\n");
    assert!(matches!(text.decode(), Some(Ok(m)) if m.kind == "B"));

    // Kind: formatting and comparisons.
    let k = Kind::new("sensor/temp").expect("kind");
    assert_eq!(format!("{k:?}"), "\"sensor/temp\"");
    assert_eq!(format!("[{k:>12}]"), "[ sensor/temp]");
    assert_eq!(AsRef::<str>::as_ref(&k), "sensor/temp");
    assert!(k == *"sensor/temp" && k != *"sensor/tem");
    assert!(k == "sensor/temp" && k != "x");

    // Flags: set operations with overlapping bits.
    let both = Flags::CHECKSUM | Flags::RESPONSE;
    assert_eq!(Flags::CHECKSUM.union(Flags::CHECKSUM), Flags::CHECKSUM);
    assert_eq!(both.difference(Flags::CHECKSUM), Flags::RESPONSE);
    assert_eq!(Flags::RESPONSE.difference(Flags::CHECKSUM), Flags::RESPONSE);
    assert!(Flags::EMPTY.is_empty() && !Flags::RESPONSE.is_empty());
    let mut f = Flags::CHECKSUM;
    f |= Flags::RESPONSE;
    assert_eq!(f, both);

    // Message and Encoder accessors.
    let m = Message::new(Kind::PING, b"");
    assert!(!m.is_response() && m.with_flags(Flags::RESPONSE).is_response());
    assert_eq!(msgwire::Encoder::with_max_payload(77).max_payload(), 77);
    assert_eq!(msgwire::TextEncoder::with_max_line(78).max_line(), 78);
    // encode_to_vec appends and returns the length of what it appended.
    let mut v = heapless::Vec::<u8, 32>::new();
    v.extend_from_slice(b"x").expect("room");
    let n = msgwire::TextEncoder::new().encode_to_vec(Kind::PING, b"hi", &mut v);
    assert_eq!(n, Ok(8));
    assert_eq!(&v[..], b"xPING:hi\n");
}

//! Every error code, the ids that error events carry, and the counters.

use msgwire::{
    decode_slice, DecodeError, Decoder, Encoder, Error, Flags, Kind, Message, OwnedMessage,
    SliceError, Status, TextDecoder, TextEncoder,
};

mod common;

use common::{raw, ALL_ERRORS};

fn ping() -> Vec<u8> {
    raw(1, 0, 4, 0, 0, b"PING")
}

/// Decodes `input` whole with a limit of `max` and returns the first event
/// as (error, id) and the decoder for its counters.
fn first_error(input: &[u8], max: u32) -> (DecodeError, Decoder<2048>) {
    let mut dec = Decoder::<2048>::with_max_payload(max).expect("fits");
    assert_eq!(dec.feed(input), input.len());
    let e = match dec.decode() {
        Some(Err(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    };
    (e, dec)
}

#[test]
fn header_checksum() {
    let mut f = ping();
    f[13] ^= 1;
    let (e, dec) = first_error(&f, 100);
    assert_eq!(
        (e.error, e.id, e.code()),
        (Error::HeaderChecksum, None, "header-checksum")
    );
    assert_eq!(dec.stats().refused(Error::HeaderChecksum), 1);
    // Only the 0xA5 was dropped; the other 17 bytes are rescanned.
    assert_eq!(dec.buffered(), f.len() - 1);
}

#[test]
fn untrusted_header_errors_carry_no_id_and_cost_one_byte() {
    // Revision 1.1, §2.1 step 2: a header with a good CRC-16 but a bad
    // version, reserved flag or kind length is not trusted.
    let cases: [(Vec<u8>, Error); 4] = [
        (raw(2, 0, 4, 11, 3, b"PINGabc"), Error::UnsupportedVersion),
        (raw(1, 0x08, 4, 11, 3, b"PINGabc"), Error::ReservedFlags),
        (raw(1, 0, 0, 11, 3, b"abc"), Error::InvalidKindLength),
        (raw(1, 0, 33, 11, 0, &[b'K'; 33]), Error::InvalidKindLength),
    ];
    for (frame, want) in cases {
        let mut input = frame.clone();
        input.extend(ping());
        let (e, dec) = first_error(&input, 100);
        assert_eq!((e.error, e.id), (want, None), "{want:?}");
        assert_eq!(dec.stats().skipped_bytes, 0, "{want:?}");
        assert_eq!(dec.stats().discarded_bytes, 1, "{want:?}");
        assert_eq!(dec.stats().refused(want), 1);
        assert_eq!(
            dec.buffered(),
            input.len() - 1,
            "{want:?}: one byte dropped"
        );
        assert!(
            matches!(decode_slice(&input, 100), Err(e) if (e.error.error, e.error.id, e.consumed) == (want, None, 1)),
            "{want:?}: decode_slice"
        );
    }
}

/// The failure revision 1.1 fixes: stray CRC-valid headers whose claimed
/// span covers good frames (here up to 4 GiB) used to swallow them.
#[test]
fn untrusted_headers_do_not_swallow_the_frames_behind_them() {
    let good: Vec<Vec<u8>> = (1..=5u32)
        .map(|id| raw(1, 0, 4, id, 2, b"PINGhi"))
        .collect();
    for (stray, want) in [
        (raw(2, 0, 4, 9, 60, b""), Error::UnsupportedVersion),
        (raw(1, 0, 0, 9, u32::MAX, b""), Error::InvalidKindLength),
    ] {
        let mut input = stray.clone();
        for f in &good {
            input.extend_from_slice(f);
        }
        // The stream decoder, one byte at a time.
        let mut dec = Decoder::<2048>::with_max_payload(100).expect("fits");
        let mut events = Vec::new();
        for &b in &input {
            assert_eq!(dec.feed(&[b]), 1);
            while let Some(ev) = dec.decode() {
                events.push(ev.map(|m| m.id).map_err(|e| (e.error, e.id)));
            }
        }
        let mut expect = vec![Err((want, None))];
        expect.extend((1..=5u32).map(Ok));
        assert_eq!(events, expect, "{want:?}: stream");
        assert_eq!(dec.skipping(), 0);
        // decode_slice, dropping what each call consumed.
        let mut events = Vec::new();
        let mut rest = &input[..];
        loop {
            match decode_slice(rest, 100) {
                Ok(Status::Complete { message, consumed }) => {
                    events.push(Ok(message.id));
                    rest = &rest[consumed..];
                }
                Ok(Status::Partial { .. }) => break,
                Err(e) => {
                    events.push(Err((e.error.error, e.error.id)));
                    rest = &rest[e.consumed as usize..];
                }
            }
        }
        assert_eq!(events, expect, "{want:?}: decode_slice");
        assert!(rest.is_empty());
    }
}

#[test]
fn checks_run_in_protocol_order() {
    // Version beats flags beats kind length beats size.
    let (e, _) = first_error(&raw(9, 0xFF, 0, 1, u32::MAX, b""), 10);
    assert_eq!(e.error, Error::UnsupportedVersion);
    let (e, _) = first_error(&raw(1, 0xFF, 0, 1, u32::MAX, b""), 10);
    assert_eq!(e.error, Error::ReservedFlags);
    let (e, _) = first_error(&raw(1, 0, 0, 1, u32::MAX, b""), 10);
    assert_eq!(e.error, Error::InvalidKindLength);
    let (e, _) = first_error(&raw(1, 0, 4, 1, u32::MAX, b""), 10);
    assert_eq!(e.error, Error::TooLarge);
}

#[test]
fn too_large_is_reported_at_once_and_skipped_as_it_arrives() {
    // 4 GB announced: reported from the header alone.
    let header = raw(1, 1, 4, 42, u32::MAX, b"");
    let (e, dec) = first_error(&header, 1000);
    assert_eq!((e.error, e.id), (Error::TooLarge, Some(42)));
    assert_eq!(dec.skipping(), 4 + u64::from(u32::MAX) + 4);
    assert_eq!(dec.buffered(), 0);
    assert_eq!(
        format!("{e}"),
        "too-large: payload is longer than the maximum (frame id 42)"
    );
}

#[test]
fn body_errors() {
    // Bad trailer.
    let mut f = raw(1, 1, 4, 5, 2, b"DATAhi");
    f.extend_from_slice(&[0, 0, 0, 0]);
    let (e, dec) = first_error(&f, 100);
    assert_eq!(
        (e.error, e.id, e.code()),
        (Error::PayloadChecksum, Some(5), "payload-checksum")
    );
    assert_eq!(dec.buffered(), 0);
    assert_eq!(dec.stats().skipped_bytes, f.len() as u64);
    // Bad kind byte.
    let (e, _) = first_error(&raw(1, 0, 4, 6, 0, b"PI G"), 100);
    assert_eq!(
        (e.error, e.id, e.code()),
        (Error::InvalidKind, Some(6), "invalid-kind")
    );
}

#[test]
fn text_errors() {
    let mut dec = TextDecoder::<64>::with_max_line(8).expect("fits");
    dec.feed(b"PING\n:x\nP G:x\nPING:123456789\nok:1\n");
    let mut got = Vec::new();
    while let Some(ev) = dec.decode() {
        got.push(
            ev.map(|m| m.kind.as_str().to_owned())
                .map_err(|e| (e.error, e.id)),
        );
    }
    assert_eq!(
        got,
        vec![
            Err((Error::MissingSeparator, None)),
            Err((Error::InvalidKind, None)),
            Err((Error::InvalidKind, None)),
            Err((Error::LineTooLong, None)),
            Ok("ok".to_owned()),
        ]
    );
    let s = dec.stats();
    assert_eq!(s.refused(Error::MissingSeparator), 1);
    assert_eq!(s.refused(Error::InvalidKind), 2);
    assert_eq!(s.refused(Error::LineTooLong), 1);
    assert_eq!(s.refused_total(), 4);
    assert_eq!(s.frames, 1);
    assert_eq!(Error::MissingSeparator.code(), "missing-separator");
    assert_eq!(Error::LineTooLong.code(), "line-too-long");
}

#[test]
fn counters_add_up() {
    let mut input = b"garbage".to_vec();
    input.extend(ping());
    input.push(0xA5); // a lone magic byte: header-checksum once 14 bytes follow
    input.extend(b"xxxxxxxxxxxxx");
    input.extend(raw(1, 0, 4, 3, 500, &[b'Z'; 504])); // too large for 100
    input.extend(ping());
    let mut dec = Decoder::<2048>::with_max_payload(100).expect("fits");
    dec.feed(&input);
    let mut codes = Vec::new();
    while let Some(ev) = dec.decode() {
        codes.push(ev.map(|m| m.kind.as_str().to_owned()).map_err(|e| e.code()));
    }
    assert_eq!(
        codes,
        vec![
            Ok("PING".into()),
            Err("header-checksum"),
            Err("too-large"),
            Ok("PING".into())
        ]
    );
    let s = *dec.stats();
    assert_eq!(s.frames, 2);
    assert_eq!(s.discarded_bytes, 7 + 1 + 13);
    assert_eq!(s.skipped_bytes, 14 + 504);
    assert_eq!(s.refused(Error::HeaderChecksum), 1);
    assert_eq!(s.refused(Error::TooLarge), 1);
    assert_eq!(s.refused(Error::BufferTooSmall), 0);
    assert_eq!(s.refused_total(), 2);
    // `clear` forgets bytes, keeps counters.
    dec.feed(&ping()[..5]);
    dec.clear();
    assert_eq!((dec.buffered(), dec.stats().frames), (0, 2));
}

#[test]
fn one_shot_decoder_reports_what_to_drop() {
    let mut input = b"zz".to_vec();
    input.extend(raw(1, 0, 4, 8, 60_000, b"BIGG"));
    match decode_slice(&input, 100) {
        Err(SliceError { error, consumed }) => {
            assert_eq!((error.error, error.id), (Error::TooLarge, Some(8)));
            assert_eq!(consumed, 2 + 14 + 4 + 60_000);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decode_slice(b"abc", 100),
        Ok(Status::Partial {
            skipped: 3,
            needed: 14
        })
    );
    let f = ping();
    assert_eq!(
        decode_slice(&f[..16], 100),
        Ok(Status::Partial {
            skipped: 0,
            needed: 2
        })
    );
    let mut bad = f.clone();
    bad[2] = 0x10; // breaks the header CRC
    assert_eq!(
        decode_slice(&bad, 100).map_err(|e| (e.error.error, e.consumed)),
        Err((Error::HeaderChecksum, 1))
    );
}

#[test]
fn encoder_refuses_what_the_decoder_refuses() {
    let mut out = [0u8; 128];
    let enc = Encoder::with_max_payload(3);
    let m = Message::new(Kind::PING, b"four");
    assert_eq!(enc.encode(&m, &mut out), Err(Error::TooLarge));
    assert_eq!(enc.encoded_len(&m), Err(Error::TooLarge));
    assert_eq!(enc.encode_head(&m), Err(Error::TooLarge));
    assert_eq!(Decoder::<53>::MAX_PAYLOAD, 3);
    assert_eq!(
        Decoder::<53>::with_max_payload(4).map(|_| ()),
        Err(Error::Capacity)
    );
    assert_eq!(
        Encoder::new().encode(&m, &mut out[..21]),
        Err(Error::BufferTooSmall)
    );
    assert_eq!(Encoder::new().encode(&m, &mut out[..22]), Ok(22));
    let mut v = heapless::Vec::<u8, 20>::new();
    assert_eq!(
        Encoder::new().encode_to_vec(&m, &mut v),
        Err(Error::BufferTooSmall)
    );
    assert!(v.is_empty());

    assert_eq!(Kind::new(""), Err(Error::InvalidKind));
    assert_eq!(Kind::new(&"K".repeat(33)), Err(Error::InvalidKind));
    assert!(Kind::new(&"K".repeat(32)).is_ok());
    assert_eq!(Kind::from_bytes(b"P:"), Err(Error::InvalidKind));
    assert_eq!(Flags::from_bits(4), Ok(Flags::EVENT));
    assert_eq!(Flags::from_bits(8), Err(Error::ReservedFlags));

    let t = TextEncoder::with_max_line(6);
    assert_eq!(t.encode(Kind::PING, b"x", &mut out), Ok(7));
    assert_eq!(
        t.encode(Kind::PING, b"xy", &mut out),
        Err(Error::LineTooLong)
    );
    assert_eq!(
        t.encode(Kind::PING, b"\n", &mut out),
        Err(Error::InvalidTextPayload)
    );
    assert_eq!(
        t.encode(Kind::PING, b"\r", &mut out),
        Err(Error::InvalidTextPayload)
    );
    assert_eq!(
        TextEncoder::new().encode(Kind::PING, b"x", &mut out[..6]),
        Err(Error::BufferTooSmall)
    );
    assert_eq!(
        TextDecoder::<8>::with_max_line(8).map(|_| ()),
        Err(Error::Capacity)
    );
}

#[test]
fn owned_messages_and_display() {
    let m = Message::new(Kind::ECHO, b"abc")
        .with_id(3)
        .with_flags(Flags::RESPONSE);
    let o = OwnedMessage::<4>::from_message(&m).expect("fits");
    assert_eq!(o.as_message(), m);
    assert_eq!(
        (o.kind(), o.id(), o.flags(), o.payload()),
        (Kind::ECHO, 3, Flags::RESPONSE, &b"abc"[..])
    );
    assert_eq!(OwnedMessage::<2>::from_message(&m), Err(Error::TooLarge));
    assert_eq!(
        format!("{:?}", Flags::CHECKSUM | Flags::RESPONSE),
        "Flags(CHECKSUM | RESPONSE)"
    );
    assert_eq!(
        Error::HeaderChecksum.to_string(),
        "header-checksum: header CRC-16 does not match"
    );
    let codes: std::collections::HashSet<_> = ALL_ERRORS.iter().map(|e| e.code()).collect();
    assert_eq!(codes.len(), ALL_ERRORS.len(), "codes are distinct");
    for e in ALL_ERRORS {
        assert!(e.to_string().starts_with(&format!("{}: ", e.code())));
    }
}

// `boxed` needs the allocator (`std`).
#[cfg(feature = "std")]
#[test]
fn boxed_and_borrowed_buffers() {
    let mut dec = msgwire::StreamDecoder::boxed(10);
    assert_eq!((dec.capacity(), dec.max_payload()), (60, 10));
    dec.feed(&ping());
    assert!(matches!(dec.decode(), Some(Ok(m)) if m.kind == "PING"));
    let mut storage = [0u8; 60];
    assert!(msgwire::StreamDecoder::from_buffer(&mut storage[..], 11).is_err());
    let mut dec = msgwire::StreamDecoder::from_buffer(&mut storage[..], 10).expect("fits");
    dec.feed(&raw(1, 0, 4, 1, 11, b"PINGxxxxxxxxxxx"));
    assert!(matches!(dec.decode(), Some(Err(e)) if e.error == Error::TooLarge));

    let mut text = msgwire::TextStreamDecoder::boxed(5);
    let mut input = &b"A:1234\nA:123\n"[..];
    let mut got = Vec::new();
    while !input.is_empty() {
        let n = text.feed(input);
        input = &input[n..];
        while let Some(ev) = text.decode() {
            got.push(ev.map(|m| m.payload.to_vec()).map_err(|e| e.error));
        }
    }
    assert_eq!(got, vec![Err(Error::LineTooLong), Ok(b"123".to_vec())]);
    assert!(msgwire::TextStreamDecoder::from_buffer([0u8; 5], 5).is_err());
}

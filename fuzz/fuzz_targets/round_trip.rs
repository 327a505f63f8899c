//! Any message through encode and decode, in both framings: what the
//! encoders accept comes back unchanged, and they refuse exactly what the
//! decoders (with the same limit) would refuse or alter.
//!
//! Input (by `msgwire_fuzz::Cursor`): `klen` (mod 40, so 0 and 33..39 occur),
//! `mode` (bit 0: map the kind into the charset; bit 1: clear reserved
//! flags; bit 2: replace `\n` in the payload), kind bytes, id u32, flags,
//! payload limit u16, line limit u16 (mod 5000), then the payload (the
//! rest of the input).
//!
//! Binary: the frame is also built by the reference encoder
//! (`raw_frame`, any kind and flags) and given to `decode_slice`; the
//! encoder succeeds iff the decoder accepts it, the bytes are identical
//! (so the CRC tables of this build agree with the spec), and a refusal
//! has the code of the first failing check in §2.1 order. Text: the line
//! `kind ':' payload '\n'` is fed to a `TextStreamDecoder` with the same
//! limit (its events must equal the §3 model's); the encoder succeeds iff
//! that gives back exactly the message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgwire::{
    decode_slice, Encoder, Error, Flags, Kind, Message, OwnedMessage, Status, StreamDecoder,
    TextEncoder, TextStreamDecoder,
};
use msgwire_fuzz::{
    check_binary_events, check_text_events, raw_frame, ref_kind_ok, run_binary, run_text,
    text_model, with_zeroed, Cursor, Ev, Path, Sizes, KIND_CHARSET,
};

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor(data);
    let klen = usize::from(c.u8() % 40);
    let mode = c.u8();
    let mut kind = c.bytes(klen).to_vec();
    if mode & 1 != 0 {
        for b in &mut kind {
            *b = KIND_CHARSET[usize::from(*b) % KIND_CHARSET.len()];
        }
    }
    let id = c.u32();
    let mut flags = c.u8();
    if mode & 2 != 0 {
        flags &= 7;
    }
    let max = u32::from(c.u16());
    let max_line = usize::from(c.u16() % 5000);
    let mut payload = c.bytes(usize::MAX).to_vec();
    if mode & 4 != 0 {
        for b in &mut payload {
            if *b == b'\n' {
                *b = b' ';
            }
        }
    }

    let kind_ok = ref_kind_ok(&kind);
    let flags_ok = flags & !7 == 0;
    let parsed = Kind::from_bytes(&kind);
    assert_eq!(
        parsed.is_ok(),
        kind_ok,
        "Kind::from_bytes disagrees with §1"
    );
    if let Err(e) = parsed {
        assert_eq!(e, Error::InvalidKind);
    }
    if let Ok(s) = core::str::from_utf8(&kind) {
        assert_eq!(Kind::new(s).is_ok(), kind_ok);
    }
    let parsed_flags = Flags::from_bits(flags);
    assert_eq!(parsed_flags.is_ok(), flags_ok);

    // ---- binary framing
    let raw = raw_frame(
        1,
        flags,
        kind.len() as u8,
        &kind,
        id,
        payload.len() as u32,
        &payload,
    );
    let decoded = decode_slice(&raw, max);
    let encoded = match (parsed, parsed_flags) {
        (Ok(k), Ok(f)) => {
            let m = Message::new(k, &payload).with_id(id).with_flags(f);
            let enc = Encoder::with_max_payload(max);
            let mut out = vec![0u8; raw.len() + 8];
            Some((m, enc.encode(&m, &mut out).map(|n| out[..n].to_vec())))
        }
        _ => None,
    };
    let encode_ok = matches!(encoded, Some((_, Ok(_))));
    let decode_ok = matches!(decoded, Ok(Status::Complete { .. }));
    assert_eq!(
        encode_ok, decode_ok,
        "encoder and decoder disagree: {decoded:?}"
    );

    match decoded {
        Err(e) => {
            // The first failing check, in §2.1 order.
            let want = if !flags_ok {
                Error::ReservedFlags
            } else if kind.is_empty() || kind.len() > 32 {
                Error::InvalidKindLength
            } else if payload.len() as u64 > u64::from(max) {
                Error::TooLarge
            } else {
                Error::InvalidKind
            };
            assert_eq!(e.error.error, want);
            // Revision 1.1: flags and kind length are checked before the
            // header is trusted; such an error has no id and costs 1 byte.
            let trusted = matches!(want, Error::TooLarge | Error::InvalidKind);
            assert_eq!(e.error.id, trusted.then_some(id));
            let consumed = if trusted { raw.len() as u64 } else { 1 };
            assert_eq!(e.consumed, consumed);
            if let Some((_, Err(enc_err))) = encoded {
                assert_eq!(enc_err, Error::TooLarge, "only the size can fail here");
                assert_eq!(want, Error::TooLarge);
            }
        }
        Ok(Status::Complete { message, consumed }) => {
            let Some((m, Ok(bytes))) = encoded else {
                unreachable!("checked above")
            };
            assert_eq!(consumed, raw.len());
            assert_eq!(message, m, "decoded message differs");
            assert_eq!(bytes, raw, "encoder output differs from the spec");
            check_binary_encoders(&m, &bytes, max);
            // The stream decoder gives it back too.
            // A fresh zeroed buffer of `max + 50` bytes (`with_zeroed`).
            let want = [Ev::frame(&kind, id, flags, &payload)];
            check_binary_events(&want, max);
            with_zeroed(max as usize + 50, |buf| {
                let mut dec = StreamDecoder::from_buffer(buf, max).expect("fits");
                run_binary(
                    &mut dec,
                    &bytes,
                    &Sizes::whole(),
                    Path::Feed,
                    &want,
                    "stream decoder",
                )
            });
            // An owned copy holds the same message.
            match OwnedMessage::<4096>::from_message(&m) {
                Ok(o) => assert_eq!(o.as_message(), m),
                Err(e) => assert!(e == Error::TooLarge && payload.len() > 4096),
            }
        }
        Ok(Status::Partial { .. }) => panic!("a whole frame reported as partial"),
    }

    // ---- text framing
    let mut line = kind.clone();
    line.push(b':');
    line.extend_from_slice(&payload);
    line.push(b'\n');
    // The decoder's events must be the §3 model's (checked as they come);
    // so "decodes back" is read off the model's events. A fresh zeroed
    // buffer of `max_line + 1` bytes (`with_zeroed`).
    let model = text_model(&line, max_line);
    check_text_events(&model, max_line);
    with_zeroed(max_line + 1, |buf| {
        let mut dec = TextStreamDecoder::from_buffer(buf, max_line).expect("fits");
        run_text(
            &mut dec,
            &line,
            &Sizes::whole(),
            Path::Feed,
            max_line + 1,
            &model,
            "text stream decoder",
        )
    });
    let decode_back = model == [Ev::frame(&kind, 0, 0, &payload)];
    let text_enc = TextEncoder::with_max_line(max_line);
    match parsed {
        Err(_) => assert!(!decode_back, "decoder accepted an invalid kind"),
        Ok(k) => {
            let mut out = vec![0u8; line.len()];
            let res = text_enc.encode(k, &payload, &mut out);
            assert_eq!(
                res.is_ok(),
                decode_back,
                "text encoder and decoder disagree: {res:?}"
            );
            match res {
                Ok(n) => {
                    assert_eq!(&out[..n], &line[..], "text encoding differs");
                    assert_eq!(text_enc.encoded_len(k, &payload), Ok(n));
                    let mut v = heapless::Vec::<u8, 8192>::new();
                    v.extend_from_slice(b"x").expect("fits");
                    if let Ok(m) = text_enc.encode_to_vec(k, &payload, &mut v) {
                        assert_eq!((m, &v[1..]), (n, &line[..]));
                    }
                    let mut short = vec![0u8; n - 1];
                    assert_eq!(
                        text_enc.encode(k, &payload, &mut short),
                        Err(Error::BufferTooSmall)
                    );
                }
                Err(e) => {
                    let bad_payload = payload.contains(&b'\n') || payload.last() == Some(&b'\r');
                    let want = if bad_payload {
                        Error::InvalidTextPayload
                    } else {
                        Error::LineTooLong
                    };
                    assert_eq!(e, want);
                    if want == Error::LineTooLong {
                        assert!(kind.len() + 1 + payload.len() > max_line);
                    }
                }
            }
            // Without a limit, only the payload can be refused.
            let unlimited = TextEncoder::new().encoded_len(k, &payload);
            let bad_payload = payload.contains(&b'\n') || payload.last() == Some(&b'\r');
            assert_eq!(unlimited.is_err(), bad_payload);
        }
    }
});

/// The other ways to encode give the same bytes; a buffer one byte short is
/// refused and left untouched.
fn check_binary_encoders(m: &Message<'_>, bytes: &[u8], max: u32) {
    let enc = Encoder::with_max_payload(max);
    assert_eq!(enc.encoded_len(m), Ok(bytes.len()));
    assert_eq!(msgwire::encoded_len(m), Ok(bytes.len()));
    let mut plain = vec![0u8; bytes.len()];
    assert_eq!(msgwire::encode(m, &mut plain), Ok(bytes.len()));
    assert_eq!(plain, bytes);

    let head = enc.encode_head(m).expect("accepted by encode");
    let mut joined = head.as_bytes().to_vec();
    joined.extend_from_slice(m.payload);
    joined.extend_from_slice(head.trailer());
    assert_eq!(joined, bytes, "encode_head parts differ");
    assert_eq!(head.frame_len(m.payload.len()), bytes.len());

    let mut v = heapless::Vec::<u8, 8192>::new();
    v.extend_from_slice(b"xy").expect("fits");
    match enc.encode_to_vec(m, &mut v) {
        Ok(n) => assert_eq!((n, &v[2..]), (bytes.len(), bytes)),
        Err(e) => {
            assert_eq!(e, Error::BufferTooSmall);
            assert!(bytes.len() + 2 > 8192);
            assert_eq!(&v[..], b"xy", "failed encode_to_vec changed the vec");
        }
    }

    let mut short = vec![0x5Au8; bytes.len() - 1];
    assert_eq!(enc.encode(m, &mut short), Err(Error::BufferTooSmall));
    assert!(
        short.iter().all(|&b| b == 0x5A),
        "failed encode wrote bytes"
    );
}

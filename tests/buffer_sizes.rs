//! The buffer-size helpers (`frame::buffer_for_payload`,
//! `buffer_for_line`): a buffer of that size takes exactly the limit
//! asked for, the largest frame or line at the limit decodes in it, and one
//! byte more is refused.

use msgwire::buffer_for_line;
use msgwire::frame::{buffer_for_payload, MAX_OVERHEAD};
use msgwire::{Decoder, Encoder, Error, Flags, Kind, Message, TextDecoder, MAX_KIND_LEN};

/// A 32-byte kind (the longest) and the CRC-32 trailer: the largest frame
/// a payload of `len` bytes can make.
fn largest_frame(len: usize) -> Vec<u8> {
    let kind = "K".repeat(MAX_KIND_LEN);
    let payload = vec![0x5a; len];
    let msg = Message::new(Kind::new(&kind).expect("kind"), &payload)
        .with_id(9)
        .with_flags(Flags::CHECKSUM);
    let mut wire = vec![0; len + MAX_OVERHEAD];
    let n = Encoder::new().encode(&msg, &mut wire).expect("encode");
    assert_eq!(
        n,
        buffer_for_payload(len),
        "the largest frame fills the buffer"
    );
    wire.truncate(n);
    wire
}

/// Feeds `wire` to a decoder of `N` bytes and returns each event as the
/// payload length or the error.
fn decode_all<const N: usize>(wire: &[u8]) -> Vec<Result<usize, Error>> {
    let mut dec = Decoder::<N>::new();
    let mut events = Vec::new();
    for chunk in wire.chunks(7) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let n = dec.feed(rest);
            rest = &rest[n..];
            while let Some(event) = dec.decode() {
                events.push(event.map(|m| m.payload.len()).map_err(|e| e.error));
            }
        }
    }
    events
}

#[test]
fn buffer_for_payload_holds_the_largest_frame_at_the_limit() {
    assert_eq!(buffer_for_payload(0), MAX_OVERHEAD);
    assert_eq!(buffer_for_payload(256), 306);
    assert_eq!(buffer_for_payload(usize::MAX), usize::MAX);

    const P: usize = 100;
    assert_eq!(
        Decoder::<{ buffer_for_payload(P) }>::MAX_PAYLOAD as usize,
        P
    );
    assert_eq!(
        decode_all::<{ buffer_for_payload(P) }>(&largest_frame(P)),
        [Ok(P)]
    );
    assert_eq!(
        decode_all::<{ buffer_for_payload(P) }>(&largest_frame(P + 1)),
        [Err(Error::TooLarge)]
    );
    // One byte less of buffer and the limit drops with it.
    assert_eq!(
        Decoder::<{ buffer_for_payload(P) - 1 }>::MAX_PAYLOAD as usize,
        P - 1
    );
}

#[test]
fn buffer_for_line_holds_the_longest_line_at_the_limit() {
    assert_eq!(buffer_for_line(0), 1);
    assert_eq!(buffer_for_line(usize::MAX), usize::MAX);

    const L: usize = 20;
    assert_eq!(TextDecoder::<{ buffer_for_line(L) }>::MAX_LINE, L);
    let longest = format!("ECHO:{}\n", "x".repeat(L - 5));
    let mut dec = TextDecoder::<{ buffer_for_line(L) }>::new();
    assert_eq!(dec.feed(longest.as_bytes()), longest.len());
    let m = dec.decode().expect("a line").expect("decodes");
    assert_eq!(m.payload.len(), L - 5);

    let over = format!("ECHO:{}\n", "x".repeat(L - 4));
    let mut dec = TextDecoder::<{ buffer_for_line(L) }>::new();
    let mut rest = over.as_bytes();
    let mut events = Vec::new();
    while !rest.is_empty() {
        let n = dec.feed(rest);
        rest = &rest[n..];
        while let Some(e) = dec.decode() {
            events.push(e.map(|m| m.payload.len()).map_err(|e| e.error));
        }
    }
    assert_eq!(events, [Err(Error::LineTooLong)]);
}

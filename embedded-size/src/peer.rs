//! The postcard peer of `firmware` (issue 16): the same job with postcard's
//! COBS framing, what a firmware author would weigh msgwire against. Shared
//! by `postcard-cobs` (no checksum) and `postcard-cobs-crc` (a CRC-32 of the
//! payload in every frame, the `crc` crate with its 1-slice table).
//!
//! A frame is the COBS encoding of the postcard tuple
//! `(kind: &str, id: u32, payload: &[u8])`, or with the checksum
//! `(kind, id, payload, crc32(payload))`: the fields a msgwire frame
//! carries except the flags. Bytes are read from the UART into a local
//! buffer and fed to a `CobsAccumulator<250>`, which decodes borrowed from
//! its buffer. Answers, through `to_slice_cobs` and the UART: `PING` gets
//! `PONG` with `ack`, any other frame is echoed, and a frame postcard
//! refuses (longer than the buffer, not a valid tuple or its `kind` not
//! UTF-8, or, with the checksum, a wrong CRC) gets `ERROR` with a code.

use crc::{Crc, Table, CRC_32_ISO_HDLC};
use postcard::accumulator::{CobsAccumulator, FeedResult};

use crate::{uart_read, uart_write};

/// CRC-32/ISO-HDLC (zlib's), the checksum msgwire's trailer uses.
static CRC32: Crc<u32, Table<1>> = Crc::<u32, Table<1>>::new(&CRC_32_ISO_HDLC);

/// Sends one answer; an answer too long for `out` is dropped (it cannot
/// happen: a payload that fits the accumulator fits `out`).
#[inline(always)]
fn answer<const CRC: bool>(out: &mut [u8], kind: &str, id: u32, payload: &[u8]) {
    let framed = if CRC {
        postcard::to_slice_cobs(&(kind, id, payload, CRC32.checksum(payload)), out)
    } else {
        postcard::to_slice_cobs(&(kind, id, payload), out)
    };
    if let Ok(bytes) = framed {
        uart_write(bytes);
    }
}

/// The firmware's loop, with (`CRC`) or without the payload checksum.
#[inline(always)]
pub fn run<const CRC: bool>() -> ! {
    let mut acc = CobsAccumulator::<250>::new();
    let mut rx = [0u8; 250];
    let mut out = [0u8; 260];
    loop {
        let n = uart_read(&mut rx);
        let mut window = &rx[..n];
        while !window.is_empty() {
            window = if CRC {
                match acc.feed_ref::<(&str, u32, &[u8], u32)>(window) {
                    FeedResult::Consumed => break,
                    FeedResult::OverFull(rest) => {
                        answer::<CRC>(&mut out, "ERROR", 0, b"too-long");
                        rest
                    }
                    FeedResult::DeserError(rest) => {
                        answer::<CRC>(&mut out, "ERROR", 0, b"malformed");
                        rest
                    }
                    FeedResult::Success {
                        data: (kind, id, payload, crc),
                        remaining,
                    } => {
                        if crc != CRC32.checksum(payload) {
                            answer::<CRC>(&mut out, "ERROR", id, b"checksum");
                        } else if kind == "PING" {
                            answer::<CRC>(&mut out, "PONG", id, b"ack");
                        } else {
                            answer::<CRC>(&mut out, kind, id, payload);
                        }
                        remaining
                    }
                }
            } else {
                match acc.feed_ref::<(&str, u32, &[u8])>(window) {
                    FeedResult::Consumed => break,
                    FeedResult::OverFull(rest) => {
                        answer::<CRC>(&mut out, "ERROR", 0, b"too-long");
                        rest
                    }
                    FeedResult::DeserError(rest) => {
                        answer::<CRC>(&mut out, "ERROR", 0, b"malformed");
                        rest
                    }
                    FeedResult::Success {
                        data: (kind, id, payload),
                        remaining,
                    } => {
                        if kind == "PING" {
                            answer::<CRC>(&mut out, "PONG", id, b"ack");
                        } else {
                            answer::<CRC>(&mut out, kind, id, payload);
                        }
                        remaining
                    }
                }
            };
        }
    }
}

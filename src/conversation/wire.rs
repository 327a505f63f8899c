//! One path from a message to its bytes on the wire, in either framing,
//! as slices to write in order: the payload is borrowed, never copied.
//! Answers, requests and events all go out through it.

use super::receiver::Framing;
use crate::frame::{HEADER_LEN, TRAILER_LEN};
use crate::{Encoder, Error, Message, TextEncoder};

/// A message's bytes on the wire as four slices, written in order: binary
/// header, kind, payload, trailer (empty without `CHECKSUM`), or kind,
/// `:`, payload, `\n`. The payload is the message's own slice.
///
/// # Examples
///
/// ```
/// use msgwire::conversation::{Framing, Wire};
/// use msgwire::{Kind, Message};
///
/// let m = Message::new(Kind::PING, b"hello");
/// let text = Wire::new(&m, Framing::Text)?;
/// assert_eq!(text.parts().concat(), b"PING:hello\n");
///
/// let binary = Wire::new(&m.with_id(7), Framing::Binary)?;
/// let mut whole = vec![0; binary.len()];
/// msgwire::encode(&m.with_id(7), &mut whole)?;
/// assert_eq!(binary.parts().concat(), whole);
/// # Ok::<(), msgwire::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Wire<'a> {
    /// The binary header; `None` in text mode.
    header: Option<[u8; HEADER_LEN]>,
    kind: &'a [u8],
    payload: &'a [u8],
    /// The CRC-32 trailer of a binary frame with a checksum.
    trailer: Option<[u8; TRAILER_LEN]>,
}

impl<'a> Wire<'a> {
    /// `m` in `framing`: its id, flags and checksum in binary, its kind and
    /// payload only in text (§3).
    ///
    /// # Errors
    ///
    /// What the encoder of `framing` refuses: [`Error::TooLarge`] (a
    /// payload over 4 GiB), [`Error::InvalidTextPayload`] (a text payload
    /// with `\n` or a final `\r`).
    pub fn new(m: &Message<'a>, framing: Framing) -> Result<Self, Error> {
        match framing {
            Framing::Binary => {
                let (header, trailer) = Encoder::new().encode_header(m)?;
                Ok(Wire {
                    header: Some(header),
                    kind: m.kind.as_bytes(),
                    payload: m.payload,
                    trailer,
                })
            }
            Framing::Text => {
                TextEncoder::new().encoded_len(m.kind, m.payload)?;
                Ok(Wire {
                    header: None,
                    kind: m.kind.as_bytes(),
                    payload: m.payload,
                    trailer: None,
                })
            }
        }
    }

    /// The four slices, in the order they go on the wire.
    pub fn parts(&self) -> [&[u8]; 4] {
        match &self.header {
            Some(header) => [
                header,
                self.kind,
                self.payload,
                self.trailer.as_ref().map_or(&[][..], |t| &t[..]),
            ],
            None => [self.kind, b":", self.payload, b"\n"],
        }
    }

    /// The length of the whole message on the wire.
    pub fn len(&self) -> usize {
        self.parts().iter().map(|p| p.len()).sum()
    }

    /// Whether the message has no bytes (never: a kind is never empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `m` in `framing` to `out`, as [`Wire::new`] then
    /// [`Wire::append_to`] would, but with the binary header computed
    /// and stored where it goes: it is never built in one place and
    /// copied (a header just stored in pieces and read back whole stalls
    /// the CPU on store forwarding). The host's send path, per message.
    ///
    /// # Errors
    ///
    /// As [`Wire::new`]; nothing is appended then.
    #[cfg(feature = "std")]
    #[inline]
    pub(crate) fn append(
        m: &Message<'_>,
        framing: Framing,
        out: &mut std::vec::Vec<u8>,
    ) -> Result<(), Error> {
        match framing {
            Framing::Binary => {
                let payload_len = Encoder::new().check(m)?;
                let checksum = m.flags.contains(crate::Flags::CHECKSUM);
                let start = out.len();
                let trailer = if checksum { TRAILER_LEN } else { 0 };
                out.reserve(HEADER_LEN + m.kind.len() + m.payload.len() + trailer);
                // A valid kind has 1..=32 bytes.
                crate::frame::append_header(out, m.flags, m.kind.len() as u8, m.id, payload_len);
                out.extend_from_slice(m.kind.as_bytes());
                out.extend_from_slice(m.payload);
                if checksum {
                    let crc = crate::crc::crc32(&out[start..]);
                    out.extend_from_slice(&crc.to_le_bytes());
                }
                Ok(())
            }
            Framing::Text => Wire::new(m, framing).map(|w| w.append_to(out)),
        }
    }

    /// Appends the message to `out` (the payload copied once, nothing
    /// zeroed first): the host's send buffers.
    #[cfg(feature = "std")]
    #[inline]
    pub(crate) fn append_to(&self, out: &mut std::vec::Vec<u8>) {
        // The fixed-size parts are copied as arrays (no call to `memcpy`
        // for 14, 4 or 1 bytes), the others as slices.
        match (&self.header, &self.trailer) {
            (Some(header), trailer) => {
                out.reserve(self.len());
                // Fixed-size: two moves, not a call.
                let at = out.len();
                out.resize(at + HEADER_LEN, 0);
                if let Some(h) = out.get_mut(at..at + HEADER_LEN) {
                    h.copy_from_slice(header);
                }
                out.extend_from_slice(self.kind);
                out.extend_from_slice(self.payload);
                if let Some(trailer) = trailer {
                    out.extend_from_slice(trailer);
                }
            }
            (None, _) => {
                out.reserve(self.len());
                out.extend_from_slice(self.kind);
                out.push(b':');
                out.extend_from_slice(self.payload);
                out.push(b'\n');
            }
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::{Flags, Kind};
    use std::vec::Vec;

    /// `append` writes what `new` then `append_to` write, after what the
    /// buffer held, in both framings, with and without a checksum; a text
    /// payload it cannot carry appends nothing.
    #[test]
    fn append_is_new_then_append_to() {
        let payloads: [&[u8]; 3] = [b"", b"21.5", &[0xA5; 300]];
        for framing in [Framing::Binary, Framing::Text] {
            for flags in [Flags::EMPTY, Flags::CHECKSUM | Flags::RESPONSE] {
                for (i, payload) in payloads.into_iter().enumerate() {
                    let m = Message::new(Kind::lit("sensor/temp"), payload)
                        .with_id(0x0102_0304 + i as u32)
                        .with_flags(flags);
                    let mut want = b"before".to_vec();
                    Wire::new(&m, framing)
                        .expect("encodes")
                        .append_to(&mut want);
                    let mut got = b"before".to_vec();
                    Wire::append(&m, framing, &mut got).expect("encodes");
                    assert_eq!(got, want, "{framing:?} {flags:?} {i}");
                }
            }
        }
        let mut out = Vec::new();
        let bad = Message::new(Kind::PING, b"a\nb");
        assert!(Wire::append(&bad, Framing::Text, &mut out).is_err());
        assert!(out.is_empty());
    }
}

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

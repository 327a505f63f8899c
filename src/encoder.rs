//! Binary frame encoder (`docs/PROTOCOL.md` §2).

use crate::crc::Crc32;
use crate::frame::{check_payload_len, write_header, HEADER_LEN, MAX_OVERHEAD, TRAILER_LEN};
use crate::message::MAX_KIND_LEN;
use crate::{Error, Flags, Message};

/// Encodes messages as binary frames, refusing what a decoder with the same
/// payload limit would refuse.
///
/// The kind and the flags are valid by construction ([`Kind`](crate::Kind),
/// [`Flags`]); the encoder checks the payload length against its limit
/// with the same function the decoder uses.
///
/// # Examples
///
/// ```
/// use msgwire::{Encoder, Error, Kind, Message};
///
/// let enc = Encoder::with_max_payload(4);
/// let mut out = [0u8; 64];
/// let n = enc.encode(&Message::new(Kind::PING, b"hi"), &mut out)?;
/// assert_eq!(n, 14 + 4 + 2);
/// assert_eq!(enc.encode(&Message::new(Kind::PING, b"too long"), &mut out), Err(Error::TooLarge));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoder {
    max_payload: u32,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder whose only limit is the wire's own (`u32::MAX` bytes).
    pub const fn new() -> Self {
        Encoder {
            max_payload: u32::MAX,
        }
    }

    /// An encoder that refuses payloads longer than `max_payload`, like a
    /// [`Decoder`](crate::Decoder) with that limit.
    pub const fn with_max_payload(max_payload: u32) -> Self {
        Encoder { max_payload }
    }

    /// The payload limit.
    pub const fn max_payload(&self) -> u32 {
        self.max_payload
    }

    /// The encoded length of `m`, in bytes.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] when the payload is over the limit.
    pub fn encoded_len(&self, m: &Message<'_>) -> Result<usize, Error> {
        self.check(m)?;
        Ok(Self::len_unchecked(m))
    }

    /// Header + kind + payload + trailer; cannot overflow once the payload
    /// fits in a `u32` and a slice (it is at most the slice's length + 50,
    /// and a slice never spans the whole address space).
    fn len_unchecked(m: &Message<'_>) -> usize {
        let trailer = if m.flags.contains(Flags::CHECKSUM) {
            TRAILER_LEN
        } else {
            0
        };
        (HEADER_LEN + m.kind.len() + trailer).saturating_add(m.payload.len())
    }

    pub(crate) fn check(&self, m: &Message<'_>) -> Result<u32, Error> {
        let len = u64::try_from(m.payload.len()).map_err(|_| Error::TooLarge)?;
        check_payload_len(len, self.max_payload)?;
        // `check_payload_len` bounded `len` by a u32.
        u32::try_from(len).map_err(|_| Error::TooLarge)
    }

    /// Encodes `m` at the start of `out` and returns the number of bytes
    /// written. The payload is copied once, into `out`; see
    /// [`Encoder::encode_head`] to avoid even that.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] when the payload is over the limit;
    /// [`Error::BufferTooSmall`] when `out` is shorter than
    /// [`Encoder::encoded_len`]. Nothing is written then.
    pub fn encode(&self, m: &Message<'_>, out: &mut [u8]) -> Result<usize, Error> {
        let payload_len = self.check(m)?;
        let total = Self::len_unchecked(m);
        let out = out.get_mut(..total).ok_or(Error::BufferTooSmall)?;
        let (head, rest) = out.split_at_mut(HEADER_LEN);
        let head: &mut [u8; HEADER_LEN] = head.try_into().map_err(|_| Error::BufferTooSmall)?;
        let k = m.kind.len();
        // A valid kind has 1..=32 bytes.
        write_header(head, m.flags, k as u8, m.id, payload_len);
        rest[..k].copy_from_slice(m.kind.as_bytes());
        rest[k..k + m.payload.len()].copy_from_slice(m.payload);
        if m.flags.contains(Flags::CHECKSUM) {
            let body = total - TRAILER_LEN;
            let crc = crate::crc::crc32(&out[..body]);
            out[body..].copy_from_slice(&crc.to_le_bytes());
        }
        Ok(total)
    }

    /// Appends the encoding of `m` to a `heapless::Vec` and returns the
    /// number of bytes appended.
    ///
    /// # Errors
    ///
    /// As [`Encoder::encode`]; on error `out` is left as it was.
    pub fn encode_to_vec<const N: usize>(
        &self,
        m: &Message<'_>,
        out: &mut heapless::Vec<u8, N>,
    ) -> Result<usize, Error> {
        let total = self.encoded_len(m)?;
        let old = out.len();
        let new_len = old.checked_add(total).ok_or(Error::BufferTooSmall)?;
        out.resize(new_len, 0).map_err(|_| Error::BufferTooSmall)?;
        let written = self.encode(m, &mut out[old..]);
        if written.is_err() {
            out.truncate(old);
        }
        written
    }

    /// Encodes everything of `m` but its payload: the header and kind, and
    /// the trailer when `m` has [`Flags::CHECKSUM`]. Write
    /// `head.as_bytes()`, then `m.payload` straight from its buffer, then
    /// `head.trailer()` (a vectored write does it in one call): a large
    /// payload is never copied.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] when the payload is over the limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use msgwire::{Encoder, Flags, Kind, Message};
    ///
    /// let payload = [7u8; 1000];
    /// let m = Message::new(Kind::new("blob")?, &payload).with_flags(Flags::CHECKSUM);
    /// let head = Encoder::new().encode_head(&m)?;
    /// let mut joined = Vec::new();
    /// joined.extend_from_slice(head.as_bytes());
    /// joined.extend_from_slice(&payload);
    /// joined.extend_from_slice(head.trailer());
    ///
    /// let mut whole = vec![0; joined.len()];
    /// msgwire::encode(&m, &mut whole)?;
    /// assert_eq!(joined, whole);
    /// # Ok::<(), msgwire::Error>(())
    /// ```
    pub fn encode_head(&self, m: &Message<'_>) -> Result<Head, Error> {
        let payload_len = self.check(m)?;
        let mut head = Head {
            bytes: [0; HEADER_LEN + MAX_KIND_LEN],
            len: (HEADER_LEN + m.kind.len()) as u8,
            trailer: [0; TRAILER_LEN],
            has_trailer: m.flags.contains(Flags::CHECKSUM),
        };
        let (h, kind) = head.bytes.split_at_mut(HEADER_LEN);
        let h: &mut [u8; HEADER_LEN] = h.try_into().map_err(|_| Error::BufferTooSmall)?;
        write_header(h, m.flags, m.kind.len() as u8, m.id, payload_len);
        kind[..m.kind.len()].copy_from_slice(m.kind.as_bytes());
        if head.has_trailer {
            let mut crc = Crc32::new();
            crc.update(head.as_bytes());
            crc.update(m.payload);
            head.trailer = crc.finalize().to_le_bytes();
        }
        Ok(head)
    }

    /// The 14-byte header of `m` and, with [`Flags::CHECKSUM`], its
    /// trailer: [`Encoder::encode_head`] without the kind copied behind the
    /// header, so without the 46-byte buffer that holds both (zeroed first:
    /// a `memclr` a firmware would link for it alone). The frame is the
    /// header, the kind, the payload, the trailer: the conversation's
    /// [`Wire`](crate::conversation::Wire).
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] when the payload is over the limit.
    pub(crate) fn encode_header(
        &self,
        m: &Message<'_>,
    ) -> Result<([u8; HEADER_LEN], Option<[u8; TRAILER_LEN]>), Error> {
        let payload_len = self.check(m)?;
        let mut header = [0; HEADER_LEN];
        // A valid kind has 1..=32 bytes.
        write_header(&mut header, m.flags, m.kind.len() as u8, m.id, payload_len);
        let trailer = if m.flags.contains(Flags::CHECKSUM) {
            let mut crc = Crc32::new();
            crc.update(&header);
            crc.update(m.kind.as_bytes());
            crc.update(m.payload);
            Some(crc.finalize().to_le_bytes())
        } else {
            None
        };
        Ok((header, trailer))
    }
}

/// The parts of a binary frame around its payload, from
/// [`Encoder::encode_head`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    bytes: [u8; HEADER_LEN + MAX_KIND_LEN],
    len: u8,
    trailer: [u8; TRAILER_LEN],
    has_trailer: bool,
}

impl Head {
    /// The header and the kind: what goes before the payload.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The CRC-32 trailer (4 bytes), or an empty slice without
    /// [`Flags::CHECKSUM`]: what goes after the payload.
    pub fn trailer(&self) -> &[u8] {
        if self.has_trailer {
            &self.trailer
        } else {
            &[]
        }
    }

    /// Total length of the frame this head belongs to, given its payload
    /// length.
    pub fn frame_len(&self, payload_len: usize) -> usize {
        self.as_bytes().len() + payload_len + self.trailer().len()
    }
}

/// The encoded length of `m` with no payload limit but the wire's.
///
/// # Errors
///
/// [`Error::TooLarge`] when the payload is longer than `u32::MAX`.
pub fn encoded_len(m: &Message<'_>) -> Result<usize, Error> {
    Encoder::new().encoded_len(m)
}

/// Encodes `m` into `out` with no payload limit but the wire's; see
/// [`Encoder::encode`].
///
/// # Errors
///
/// [`Error::TooLarge`], [`Error::BufferTooSmall`].
pub fn encode(m: &Message<'_>, out: &mut [u8]) -> Result<usize, Error> {
    Encoder::new().encode(m, out)
}

/// Bytes of frame overhead beyond the payload for a kind of `kind_len`
/// bytes: at most [`MAX_OVERHEAD`].
pub const fn overhead(kind_len: usize, checksum: bool) -> usize {
    HEADER_LEN + kind_len + if checksum { TRAILER_LEN } else { 0 }
}

const _: () = assert!(overhead(MAX_KIND_LEN, true) == MAX_OVERHEAD);

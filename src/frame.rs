//! Binary frame layout (`docs/PROTOCOL.md` §2): constants, and the header
//! checks shared by the decoder and the encoder.

use crate::crc::{crc16_header, HEADER_CRC_LEN};
use crate::message::MAX_KIND_LEN;
use crate::{Error, Flags};

/// First byte of every binary frame.
pub const MAGIC: u8 = 0xA5;
/// The protocol version this crate speaks.
pub const VERSION: u8 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 14;
/// Length of the CRC-32 trailer present with [`Flags::CHECKSUM`].
pub const TRAILER_LEN: usize = 4;
/// The most bytes a frame adds to its payload: header, longest kind, trailer.
/// A decoder for payloads up to `max` holds at most `max + MAX_OVERHEAD` bytes.
pub const MAX_OVERHEAD: usize = HEADER_LEN + MAX_KIND_LEN + TRAILER_LEN;

/// The buffer a binary decoder needs to take payloads of up to
/// `max_payload` bytes: `max_payload` + [`MAX_OVERHEAD`] (50: the header,
/// the longest kind and the CRC-32 trailer). Use it for the `N` of a
/// [`Decoder`](crate::Decoder) and for the receive buffer of
/// `msgwire::embedded::serve` or its client, so that the limit is the
/// number you think in, not arithmetic. Saturates at `usize::MAX`.
///
/// # Examples
///
/// ```
/// use msgwire::frame::buffer_for_payload;
/// use msgwire::Decoder;
///
/// const MAX_PAYLOAD: usize = 256;
/// let dec = Decoder::<{ buffer_for_payload(MAX_PAYLOAD) }>::new();
/// assert_eq!(dec.max_payload() as usize, MAX_PAYLOAD);
///
/// // A device's receive buffer for `msgwire::embedded::serve`.
/// let buf = [0u8; buffer_for_payload(MAX_PAYLOAD)];
/// assert_eq!(buf.len(), 306);
/// ```
pub const fn buffer_for_payload(max_payload: usize) -> usize {
    max_payload.saturating_add(MAX_OVERHEAD)
}

/// A header whose CRC-16 holds (its shape not yet checked).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    pub(crate) version: u8,
    pub(crate) flags: u8,
    pub(crate) kind_len: u8,
    pub(crate) id: u32,
    pub(crate) payload_len: u32,
}

impl Header {
    /// Parses 14 header bytes; `None` when the header checksum fails.
    #[inline]
    pub(crate) fn parse(b: &[u8; HEADER_LEN]) -> Option<Header> {
        let stored = u16::from_le_bytes([b[12], b[13]]);
        if crc16_header(b.first_chunk::<HEADER_CRC_LEN>()?) != stored {
            return None;
        }
        Some(Header {
            version: b[1],
            flags: b[2],
            kind_len: b[3],
            id: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            payload_len: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
        })
    }

    /// Whether a CRC-32 trailer follows (flag bit 0, the same in every version).
    #[inline]
    pub(crate) fn has_trailer(&self) -> bool {
        self.flags & Flags::CHECKSUM.bits() != 0
    }

    /// The whole frame's length, as the trusted header states it.
    #[inline]
    pub(crate) fn frame_len(&self) -> u64 {
        let trailer = if self.has_trailer() {
            TRAILER_LEN as u64
        } else {
            0
        };
        HEADER_LEN as u64 + u64::from(self.kind_len) + u64::from(self.payload_len) + trailer
    }

    /// The shape checks of §2.1 step 2 after the checksum, in the order the
    /// protocol gives: only a header that passes them is trusted.
    #[inline]
    pub(crate) fn check_shape(&self) -> Result<(), Error> {
        if self.version != VERSION {
            return Err(Error::UnsupportedVersion);
        }
        Flags::from_bits(self.flags)?;
        if self.kind_len == 0 || usize::from(self.kind_len) > MAX_KIND_LEN {
            return Err(Error::InvalidKindLength);
        }
        Ok(())
    }
}

/// The payload limit, shared by the decoder (which refuses) and the encoder
/// (which will not produce what a decoder with the same limit refuses).
#[inline]
pub(crate) fn check_payload_len(len: u64, max_payload: u32) -> Result<(), Error> {
    if len > u64::from(max_payload) {
        Err(Error::TooLarge)
    } else {
        Ok(())
    }
}

/// Writes a complete header, checksum included: the host build's
/// (`fast-crc`).
#[cfg(feature = "fast-crc")]
#[inline]
pub(crate) fn write_header(
    out: &mut [u8; HEADER_LEN],
    flags: Flags,
    kind_len: u8,
    id: u32,
    payload_len: u32,
) {
    // Built in registers and stored in wide pieces: byte stores read back
    // as one wide load stall the CPU (store forwarding), which cost more
    // than the checksum itself on the send path.
    let lo = u64::from(MAGIC)
        | u64::from(VERSION) << 8
        | u64::from(flags.bits()) << 16
        | u64::from(kind_len) << 24
        | u64::from(id) << 32;
    let mut covered = [0u8; HEADER_CRC_LEN];
    covered[..8].copy_from_slice(&lo.to_le_bytes());
    covered[8..].copy_from_slice(&payload_len.to_le_bytes());
    let crc = crc16_header(&covered);
    out[..8].copy_from_slice(&lo.to_le_bytes());
    out[8..12].copy_from_slice(&payload_len.to_le_bytes());
    out[12..14].copy_from_slice(&crc.to_le_bytes());
}

/// Writes a complete header, checksum included: the small build's (no
/// `fast-crc`), where flash counts. The bytes as one array: no copies of
/// 8, 4 and 2 bytes through `memcpy` and bounds-checked ranges, as the
/// host's wide stores compile to at `opt-level = "z"`.
#[cfg(not(feature = "fast-crc"))]
#[inline]
pub(crate) fn write_header(
    out: &mut [u8; HEADER_LEN],
    flags: Flags,
    kind_len: u8,
    id: u32,
    payload_len: u32,
) {
    let [i0, i1, i2, i3] = id.to_le_bytes();
    let [p0, p1, p2, p3] = payload_len.to_le_bytes();
    let covered = [
        MAGIC,
        VERSION,
        flags.bits(),
        kind_len,
        i0,
        i1,
        i2,
        i3,
        p0,
        p1,
        p2,
        p3,
    ];
    let [c0, c1] = crc16_header(&covered).to_le_bytes();
    *out = [
        MAGIC,
        VERSION,
        flags.bits(),
        kind_len,
        i0,
        i1,
        i2,
        i3,
        p0,
        p1,
        p2,
        p3,
        c0,
        c1,
    ];
}

/// Appends a complete header, checksum included, to `out` (the host's send
/// buffers): stored where it goes, in three pieces.
#[cfg(feature = "std")]
#[inline]
pub(crate) fn append_header(
    out: &mut std::vec::Vec<u8>,
    flags: Flags,
    kind_len: u8,
    id: u32,
    payload_len: u32,
) {
    // As `write_header` (the same fields, the same checksum), but the
    // pieces are stored straight into `out`: a header built in an array
    // and then copied is read back whole right after it was stored in
    // pieces, and that load stalls on store forwarding. (`write_header`
    // is kept apart, as it was: the firmware's flash.)
    let lo = u64::from(MAGIC)
        | u64::from(VERSION) << 8
        | u64::from(flags.bits()) << 16
        | u64::from(kind_len) << 24
        | u64::from(id) << 32;
    let mut covered = [0u8; HEADER_CRC_LEN];
    covered[..8].copy_from_slice(&lo.to_le_bytes());
    covered[8..].copy_from_slice(&payload_len.to_le_bytes());
    let crc = crc16_header(&covered);
    out.extend_from_slice(&lo.to_le_bytes());
    out.extend_from_slice(&payload_len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
}

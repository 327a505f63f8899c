//! Binary frame decoders (`docs/PROTOCOL.md` §2.1): the one-shot
//! [`decode_slice`] and the streaming [`Decoder`].

use crate::buffer::{MessageAt, RecvBuf};
use crate::frame::{check_payload_len, Header, HEADER_LEN, MAGIC, MAX_OVERHEAD, TRAILER_LEN};
use crate::message::is_valid_kind;
use crate::{DecodeError, Error, Flags, Kind, Message};

pub use crate::buffer::Stats;

/// What [`decode_slice`] found at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<'a> {
    /// A whole, valid frame, borrowed from the buffer. `consumed` counts
    /// the frame and any garbage before it.
    Complete {
        /// The frame.
        message: Message<'a>,
        /// Bytes of the buffer used, garbage before the frame included.
        consumed: usize,
    },
    /// Nothing can be decided yet. The first `skipped` bytes are garbage
    /// and can be dropped now; at least `needed` more bytes must follow the
    /// buffer before anything changes.
    Partial {
        /// Leading garbage bytes, safe to drop.
        skipped: usize,
        /// More bytes needed at the least (a hint, never 0).
        needed: usize,
    },
}

/// A refused frame from [`decode_slice`]: the error, and how many bytes to
/// drop before decoding again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceError {
    /// What was wrong, with the frame's id when its header was trusted
    /// (§2.1 step 3); `None` for a header that failed a step-2 check.
    pub error: DecodeError,
    /// Bytes to drop, garbage before the frame included. For a frame refused
    /// on its header (`too-large` …) this can exceed the buffer: drop the
    /// rest from the bytes that follow. A header that was not trusted costs
    /// one byte.
    pub consumed: u64,
}

/// One step of the decoder over a buffer, with what the counters need.
enum Step {
    Frame(FrameInfo),
    Partial(usize),
    /// A header that was not trusted (§2.1 step 2): the error (no id);
    /// one `0xA5` byte is discarded and scanning goes on.
    Untrusted(Error),
    /// A trusted frame refused: the error and the frame's whole length.
    Refused(DecodeError, u64),
}

/// Decodes a buffer that starts at `buf[garbage]`, the first `MAGIC` byte.
/// Always inlined: `decode_slice` and the stream decoders each want their
/// own copy (out of line, `decode_slice` was up to 30 % slower), and a
/// firmware links one of them.
#[inline(always)]
fn step(buf: &[u8], max_payload: u32) -> Step {
    let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
        return Step::Partial(HEADER_LEN - buf.len());
    };
    let Some(h) = Header::parse(head) else {
        return Step::Untrusted(Error::HeaderChecksum);
    };
    if let Err(e) = h.check_shape() {
        return Step::Untrusted(e);
    }
    let frame_len = h.frame_len();
    if let Err(e) = check_payload_len(u64::from(h.payload_len), max_payload) {
        return Step::Refused(DecodeError::new(e, Some(h.id)), frame_len);
    }
    let Some(frame) = usize::try_from(frame_len).ok().and_then(|n| buf.get(..n)) else {
        let missing = frame_len.saturating_sub(buf.len() as u64);
        return Step::Partial(usize::try_from(missing).unwrap_or(usize::MAX));
    };
    let kind_end = HEADER_LEN + usize::from(h.kind_len);
    let payload_end = kind_end + (h.payload_len as usize);
    if h.has_trailer() {
        let (body, trailer) = frame.split_at(payload_end);
        let stored = trailer
            .first_chunk::<TRAILER_LEN>()
            .map(|t| u32::from_le_bytes(*t));
        if stored != Some(crate::crc::crc32(body)) {
            return Step::Refused(
                DecodeError::new(Error::PayloadChecksum, Some(h.id)),
                frame_len,
            );
        }
    }
    if !is_valid_kind(&frame[HEADER_LEN..kind_end]) {
        return Step::Refused(DecodeError::new(Error::InvalidKind, Some(h.id)), frame_len);
    }
    Step::Frame(FrameInfo {
        kind_len: h.kind_len,
        id: h.id,
        // Checked by `h.check`.
        flags: Flags::from_bits(h.flags).unwrap_or(Flags::EMPTY),
        payload_len: h.payload_len as usize,
        len: frame.len(),
    })
}

/// A valid frame found by [`step`], described without borrowing.
#[derive(Clone, Copy, Debug)]
struct FrameInfo {
    kind_len: u8,
    id: u32,
    flags: Flags,
    payload_len: usize,
    /// The whole frame's length.
    len: usize,
}

impl FrameInfo {
    /// The message of the frame that starts at `frame[0]` (the one-shot
    /// decoder's; the stream decoders go through [`FrameInfo::at`]).
    #[inline]
    fn message(self, frame: &[u8]) -> Message<'_> {
        let kind_end = HEADER_LEN + usize::from(self.kind_len);
        Message {
            // Validated by `step`.
            kind: Kind::from_validated(frame.get(HEADER_LEN..kind_end).unwrap_or_default()),
            id: self.id,
            flags: self.flags,
            payload: frame
                .get(kind_end..kind_end + self.payload_len)
                .unwrap_or_default(),
        }
    }

    /// Where the message of the frame that starts at `buf[start]` sits.
    #[inline]
    fn at(self, start: usize) -> MessageAt {
        let kind = start + HEADER_LEN;
        MessageAt {
            kind,
            payload: kind + usize::from(self.kind_len),
            payload_len: self.payload_len,
            id: self.id,
            kind_len: self.kind_len,
            flags: self.flags,
        }
    }
}

/// Finds the first `MAGIC` byte; everything before it is garbage.
#[inline]
fn garbage_len(buf: &[u8]) -> usize {
    buf.iter().position(|&b| b == MAGIC).unwrap_or(buf.len())
}

/// Decodes the first frame of `buf`, httparse-style, for callers that
/// manage their own buffers (datagrams, DMA buffers).
///
/// Garbage before the first `0xA5` is skipped. Feeding the streaming
/// [`Decoder`] the same bytes gives the same frames and errors.
///
/// # Errors
///
/// A [`SliceError`] when the first frame is refused; drop
/// [`SliceError::consumed`] bytes and call again.
///
/// # Examples
///
/// ```
/// use msgwire::{decode_slice, Kind, Message, Status};
///
/// let mut buf = [0u8; 64];
/// let n = msgwire::encode(&Message::new(Kind::PING, b"hi"), &mut buf)?;
///
/// match decode_slice(&buf[..n], 1024) {
///     Ok(Status::Complete { message, consumed }) => {
///         assert_eq!((message.kind.as_str(), message.payload, consumed), ("PING", &b"hi"[..], n));
///     }
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(decode_slice(&buf[..3], 1024), Ok(Status::Partial { skipped: 0, needed: 11 }));
/// # Ok::<(), msgwire::Error>(())
/// ```
pub fn decode_slice(buf: &[u8], max_payload: u32) -> Result<Status<'_>, SliceError> {
    let garbage = garbage_len(buf);
    let frame = &buf[garbage..];
    match step(frame, max_payload) {
        Step::Frame(info) => Ok(Status::Complete {
            message: info.message(frame),
            consumed: garbage + info.len,
        }),
        Step::Partial(needed) => Ok(Status::Partial {
            skipped: garbage,
            needed: needed.max(1),
        }),
        Step::Untrusted(error) => Err(SliceError {
            error: DecodeError::new(error, None),
            consumed: garbage as u64 + 1,
        }),
        Step::Refused(error, len) => Err(SliceError {
            error,
            consumed: garbage as u64 + len,
        }),
    }
}

/// The binary framing's part of a stream decoder: finds the next frame
/// in a [`RecvBuf`] and applies §2.1's rules; the buffer does the rest.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameScanner {
    /// Bytes from `start` that must be buffered before the next decision
    /// can change (a partial header or a trusted frame's length); 0 when
    /// unknown. Spares re-checking a header on every short read.
    pending: usize,
    max_payload: u32,
}

impl FrameScanner {
    /// The `needed` a [`RecvBuf`] starts with under this scanner.
    pub(crate) const NEEDED: usize = 0;

    pub(crate) const fn new(max_payload: u32) -> Self {
        FrameScanner {
            pending: 0,
            max_payload,
        }
    }

    /// Forgets the frame being waited for.
    pub(crate) fn clear(&mut self) {
        self.pending = 0;
    }

    /// The next event of `rx`: where a frame sits, an error (its bytes
    /// consumed or to be skipped as they arrive), or `None` when more bytes
    /// are needed.
    #[inline]
    pub(crate) fn next_event<B: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        rx: &mut RecvBuf<B>,
    ) -> Option<Result<MessageAt, DecodeError>> {
        rx.drop_skipped();
        if rx.end - rx.start < self.pending {
            return None;
        }
        let avail = &rx.buf.as_ref()[rx.start..rx.end];
        let garbage = garbage_len(avail);
        rx.stats.discarded_bytes += garbage as u64;
        rx.start += garbage;
        match step(&avail[garbage..], self.max_payload) {
            Step::Frame(info) => {
                let at = info.at(rx.start);
                rx.start += info.len;
                rx.needed = 0;
                self.pending = 0;
                rx.stats.frames += 1;
                Some(Ok(at))
            }
            Step::Partial(needed) => {
                rx.needed = needed;
                // Only for a frame candidate: garbage is still dropped at once.
                let buffered = rx.end - rx.start;
                self.pending = if buffered == 0 {
                    0
                } else {
                    buffered.saturating_add(needed)
                };
                None
            }
            Step::Untrusted(error) => {
                rx.needed = 0;
                self.pending = 0;
                rx.stats.count_refused(error);
                rx.stats.discarded_bytes += 1;
                rx.start += 1;
                Some(Err(DecodeError::new(error, None)))
            }
            Step::Refused(error, len) => {
                rx.needed = 0;
                self.pending = 0;
                rx.stats.count_refused(error.error);
                // The frame's buffered bytes go now, the rest as they come.
                rx.skip = len;
                rx.drop_skipped();
                Some(Err(error))
            }
        }
    }
}

/// Streaming binary decoder over a fixed buffer `B`: `[u8; N]` (the
/// [`Decoder<N>`] alias, no allocator) or, with `std`, a `Box<[u8]>` sized
/// at run time (`StreamDecoder::boxed`).
///
/// Read from the transport straight into [`Decoder::spare`], [`commit`]
/// the count, then call [`Decoder::decode`] until it returns `None`. Frames
/// are borrowed from the buffer, never copied; a frame refused on its header
/// (too large) is reported at once and its bytes are
/// dropped as they arrive, never buffered. After garbage the decoder
/// resynchronises exactly as the protocol says.
///
/// The decoder never allocates and never panics. It accepts payloads of up
/// to the buffer's length minus 50 by default ([`MAX_OVERHEAD`] is the
/// header, longest kind and trailer).
///
/// # Cancel safety
///
/// All state lives in the decoder, never in a future: an async read that is
/// dropped before it commits loses nothing that was committed.
///
/// # Examples
///
/// ```
/// use msgwire::{Decoder, Kind, Message};
///
/// let mut wire = [0u8; 64];
/// let n = msgwire::encode(&Message::new(Kind::PING, b"hello").with_id(1), &mut wire)?;
///
/// let mut dec = Decoder::<256>::new();
/// for chunk in wire[..n].chunks(5) {
///     // A real program reads from its transport into `dec.spare()`.
///     let spare = dec.spare();
///     spare[..chunk.len()].copy_from_slice(chunk);
///     dec.commit(chunk.len());
///     while let Some(event) = dec.decode() {
///         let m = event?;
///         assert_eq!((m.kind.as_str(), m.id, m.payload), ("PING", 1, &b"hello"[..]));
///     }
/// }
/// assert_eq!(dec.stats().frames, 1);
/// # Ok::<(), msgwire::Error>(())
/// ```
///
/// [`commit`]: Decoder::commit
#[derive(Clone)]
pub struct StreamDecoder<B> {
    rx: RecvBuf<B>,
    scan: FrameScanner,
}

/// A [`StreamDecoder`] over an array of `N` bytes: no allocator needed.
/// Accepts payloads of up to `N - 50` bytes by default.
pub type Decoder<const N: usize> = StreamDecoder<[u8; N]>;

impl<const N: usize> Default for StreamDecoder<[u8; N]> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: AsRef<[u8]>> core::fmt::Debug for StreamDecoder<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamDecoder")
            .field("capacity", &self.rx.buf.as_ref().len())
            .field("buffered", &self.rx.buffered())
            .field("skipping", &self.rx.skip)
            .field("max_payload", &self.scan.max_payload)
            .field("stats", &self.rx.stats)
            .finish()
    }
}

impl<const N: usize> StreamDecoder<[u8; N]> {
    /// The largest payload limit a decoder of capacity `N` can hold.
    pub const MAX_PAYLOAD: u32 = {
        assert!(N >= MAX_OVERHEAD, "a Decoder needs at least 50 bytes");
        let max = N - MAX_OVERHEAD;
        if max > u32::MAX as usize {
            u32::MAX
        } else {
            max as u32
        }
    };

    /// A decoder that accepts payloads of up to `N - 50` bytes.
    pub const fn new() -> Self {
        StreamDecoder::from_parts([0; N], Self::MAX_PAYLOAD)
    }

    /// A decoder that refuses payloads longer than `max_payload`.
    ///
    /// # Errors
    ///
    /// [`Error::Capacity`] when `max_payload` is more than
    /// [`Decoder::MAX_PAYLOAD`]: such frames could not be buffered.
    pub const fn with_max_payload(max_payload: u32) -> Result<Self, Error> {
        if max_payload > Self::MAX_PAYLOAD {
            return Err(Error::Capacity);
        }
        Ok(StreamDecoder::from_parts([0; N], max_payload))
    }
}

#[cfg(feature = "std")]
impl StreamDecoder<std::boxed::Box<[u8]>> {
    /// A decoder whose buffer is allocated once, at `max_payload + 50`
    /// bytes: for limits chosen at run time.
    pub fn boxed(max_payload: u32) -> Self {
        let len = (max_payload as usize).saturating_add(MAX_OVERHEAD);
        StreamDecoder::from_parts(std::vec![0; len].into_boxed_slice(), max_payload)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> StreamDecoder<B> {
    const fn from_parts(buf: B, max_payload: u32) -> Self {
        StreamDecoder {
            rx: RecvBuf::new(buf, FrameScanner::NEEDED),
            scan: FrameScanner::new(max_payload),
        }
    }

    /// A decoder over any buffer, refusing payloads over `max_payload`.
    ///
    /// # Errors
    ///
    /// [`Error::Capacity`] when the buffer is shorter than
    /// `max_payload + 50`.
    pub fn from_buffer(buf: B, max_payload: u32) -> Result<Self, Error> {
        let need = (max_payload as usize)
            .checked_add(MAX_OVERHEAD)
            .ok_or(Error::Capacity)?;
        if buf.as_ref().len() < need {
            return Err(Error::Capacity);
        }
        Ok(Self::from_parts(buf, max_payload))
    }

    /// The payload limit.
    pub const fn max_payload(&self) -> u32 {
        self.scan.max_payload
    }

    /// The buffer's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.rx.capacity()
    }

    /// Bytes received and not yet decoded.
    pub const fn buffered(&self) -> usize {
        self.rx.buffered()
    }

    /// Bytes of a refused frame that are still to arrive and will be dropped.
    pub const fn skipping(&self) -> u64 {
        self.rx.skip
    }

    /// The counters.
    pub const fn stats(&self) -> &Stats {
        &self.rx.stats
    }

    /// Forgets every buffered byte and any frame being skipped; keeps the
    /// limit and the counters.
    pub fn clear(&mut self) {
        self.rx.clear();
        self.scan.clear();
    }

    /// The free space at the end of the buffer: read into it, then
    /// [`commit`](Decoder::commit) the count. Moves buffered bytes to the
    /// front when that is cheap or needed for the pending frame.
    ///
    /// It is empty only when `N` bytes are buffered, which happens only if
    /// the caller did not call [`Decoder::decode`] until it returned `None`.
    pub fn spare(&mut self) -> &mut [u8] {
        self.rx.spare()
    }

    /// Marks `n` bytes written into [`Decoder::spare`] as received.
    ///
    /// A count larger than the spare space is a caller bug; it is clamped
    /// to the space rather than panicking (and asserted in debug builds).
    pub fn commit(&mut self, n: usize) {
        self.rx.commit(n);
    }

    /// Copies as much of `data` as fits into the buffer and returns how
    /// many bytes were taken; bytes of a frame being skipped are taken
    /// without copying. Call [`Decoder::decode`] until it returns `None`,
    /// then feed the rest.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        self.rx.feed(data)
    }

    /// The next event: a frame borrowed from the buffer, an error, or
    /// `None` when more bytes are needed.
    ///
    /// A frame's bytes are released by the next call. An error has already
    /// consumed the offending bytes (or will skip them as they arrive):
    /// call again and the stream goes on.
    pub fn decode(&mut self) -> Option<Result<Message<'_>, DecodeError>> {
        let event = self.scan.next_event(&mut self.rx)?;
        Some(event.map(|at| self.rx.message_at(at)))
    }
}

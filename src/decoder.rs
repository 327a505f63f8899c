//! Binary frame decoders (`docs/PROTOCOL.md` §2.1): the one-shot
//! [`decode_slice`] and the streaming [`Decoder`].

use crate::error::DECODE_ERRORS;
use crate::frame::{check_payload_len, Header, HEADER_LEN, MAGIC, MAX_OVERHEAD, TRAILER_LEN};
use crate::message::is_valid_kind;
use crate::{DecodeError, Error, Flags, Kind, Message};

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
#[inline]
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
    /// The message of the frame that starts at `frame[0]`.
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

/// Counters kept by the streaming decoders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Frames (or text lines) decoded and handed out.
    pub frames: u64,
    /// Bytes discarded while looking for a frame: garbage between frames,
    /// the `0xA5` byte of each header that was not trusted (§2.1 step 2),
    /// blank text lines.
    pub discarded_bytes: u64,
    /// Bytes of refused frames (including their headers) and refused text
    /// lines that were dropped, the whole of an overlong text line included
    /// (its `\n` too).
    pub skipped_bytes: u64,
    refused: [u64; DECODE_ERRORS],
}

impl Stats {
    pub(crate) const fn new() -> Self {
        Stats {
            frames: 0,
            discarded_bytes: 0,
            skipped_bytes: 0,
            refused: [0; DECODE_ERRORS],
        }
    }

    /// How many frames or lines were refused with `error`. Always 0 for
    /// encode-only errors.
    pub fn refused(&self, error: Error) -> u64 {
        error.stat_index().map_or(0, |i| self.refused[i])
    }

    /// Frames or lines refused for any reason.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }

    pub(crate) fn count_refused(&mut self, error: Error) {
        if let Some(i) = error.stat_index() {
            self.refused[i] += 1;
        }
    }
}

/// Where a decoded frame sits in a [`StreamDecoder`]'s buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameAt {
    start: usize,
    info: FrameInfo,
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
    buf: B,
    /// Start of the bytes not yet decoded.
    start: usize,
    /// End of the bytes received.
    end: usize,
    /// Bytes of a refused frame still to drop as they arrive.
    skip: u64,
    /// Bytes needed beyond `end` to complete the pending frame (a hint).
    needed: usize,
    /// Bytes from `start` that must be buffered before the next decision
    /// can change (a partial header or a trusted frame's length); 0 when
    /// unknown. Spares re-checking a header on every short read.
    pending: usize,
    max_payload: u32,
    stats: Stats,
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
            .field("capacity", &self.buf.as_ref().len())
            .field("buffered", &(self.end - self.start))
            .field("skipping", &self.skip)
            .field("max_payload", &self.max_payload)
            .field("stats", &self.stats)
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
        StreamDecoder {
            buf: [0; N],
            start: 0,
            end: 0,
            skip: 0,
            needed: 0,
            pending: 0,
            max_payload: Self::MAX_PAYLOAD,
            stats: Stats::new(),
        }
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
        let mut d = Self::new();
        d.max_payload = max_payload;
        Ok(d)
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

/// Moves `buf[start..end]` to the front of `buf` (the stream decoders'
/// compaction), in pieces of at most `start` bytes: no piece overlaps the
/// place it is copied to, so `memcpy` serves and `memmove` (1.5 KiB of
/// flash on Cortex-M) is never linked. When the bytes left are no more than
/// the bytes dropped (the usual case) that is one copy; otherwise
/// `ceil((end - start) / start)` copies, each byte still copied once.
/// Needs `end <= buf.len()` (the decoders' invariant); otherwise nothing
/// is moved. Never panics.
///
/// This is the small build's (no `fast-crc`), where flash counts; inlined
/// there, which saves flash too.
#[cfg(not(feature = "fast-crc"))]
#[inline]
pub(crate) fn move_to_front(buf: &mut [u8], start: usize, end: usize) {
    if start == 0 {
        return;
    }
    let Some(used) = buf.get_mut(..end) else {
        return;
    };
    // Chunk k of `start` bytes goes to chunk k - 1; only the last chunk
    // may be shorter, so each fits the one before it.
    let mut chunks = used.chunks_mut(start);
    let Some(mut prev) = chunks.next() else {
        return;
    };
    for cur in chunks {
        if let Some(to) = prev.get_mut(..cur.len()) {
            to.copy_from_slice(cur);
        }
        prev = cur;
    }
}

/// The host build's (`fast-crc`) compaction: one `memmove`. There is no
/// flash to save, and no run of small copies when few bytes were dropped
/// before a large frame. Out of line: inlined, it made `spare()` too big to
/// inline and 64-byte reads of large frames ~20 % slower.
#[cfg(feature = "fast-crc")]
#[inline(never)]
pub(crate) fn move_to_front(buf: &mut [u8], start: usize, end: usize) {
    if start < end && end <= buf.len() {
        buf.copy_within(start..end, 0);
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> StreamDecoder<B> {
    const fn from_parts(buf: B, max_payload: u32) -> Self {
        StreamDecoder {
            buf,
            start: 0,
            end: 0,
            skip: 0,
            needed: 0,
            pending: 0,
            max_payload,
            stats: Stats::new(),
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
        self.max_payload
    }

    /// The buffer's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.buf.as_ref().len()
    }

    /// Bytes received and not yet decoded.
    pub const fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Bytes of a refused frame that are still to arrive and will be dropped.
    pub const fn skipping(&self) -> u64 {
        self.skip
    }

    /// The counters.
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Forgets every buffered byte and any frame being skipped; keeps the
    /// limit and the counters.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.skip = 0;
        self.needed = 0;
        self.pending = 0;
    }

    /// Drops bytes of a refused frame that are already buffered.
    fn drop_skipped(&mut self) {
        // Nothing to skip is the usual case: the host build returns early;
        // the small build does the arithmetic below, which is then a no-op,
        // rather than pay for the branch (8 B on thumbv6m).
        if cfg!(feature = "fast-crc") && self.skip == 0 {
            return;
        }
        let buffered = self.end - self.start;
        // At most `buffered`, so a usize.
        let take = usize::try_from(self.skip).map_or(buffered, |s| s.min(buffered));
        self.start += take;
        self.skip -= take as u64;
        self.stats.skipped_bytes += take as u64;
    }

    /// The free space at the end of the buffer: read into it, then
    /// [`commit`](Decoder::commit) the count. Moves buffered bytes to the
    /// front when that is cheap or needed for the pending frame.
    ///
    /// It is empty only when `N` bytes are buffered, which happens only if
    /// the caller did not call [`Decoder::decode`] until it returned `None`.
    pub fn spare(&mut self) -> &mut [u8] {
        self.drop_skipped();
        let cap = self.buf.as_ref().len();
        // Nothing buffered (`start == end`) is the first case: no copy.
        if self.start > 0
            && (self.end - self.start <= self.start || self.end.saturating_add(self.needed) > cap)
        {
            move_to_front(self.buf.as_mut(), self.start, self.end);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf.as_mut()[self.end..]
    }

    /// Marks `n` bytes written into [`Decoder::spare`] as received.
    ///
    /// A count larger than the spare space is a caller bug; it is clamped
    /// to the space rather than panicking (and asserted in debug builds).
    pub fn commit(&mut self, n: usize) {
        let cap = self.buf.as_ref().len();
        debug_assert!(n <= cap - self.end, "commit past the spare space");
        self.end = self.end.saturating_add(n).min(cap);
    }

    /// Copies as much of `data` as fits into the buffer and returns how
    /// many bytes were taken; bytes of a frame being skipped are taken
    /// without copying. Call [`Decoder::decode`] until it returns `None`,
    /// then feed the rest.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let mut taken = 0;
        if self.skip > 0 && self.start == self.end {
            let n = self.skip.min(data.len() as u64);
            self.skip -= n;
            self.stats.skipped_bytes += n;
            taken = n as usize;
        }
        let rest = &data[taken..];
        let spare = self.spare();
        let n = spare.len().min(rest.len());
        spare[..n].copy_from_slice(&rest[..n]);
        self.end += n;
        taken + n
    }

    /// The next event: a frame borrowed from the buffer, an error, or
    /// `None` when more bytes are needed.
    ///
    /// A frame's bytes are released by the next call. An error has already
    /// consumed the offending bytes (or will skip them as they arrive):
    /// call again and the stream goes on.
    pub fn decode(&mut self) -> Option<Result<Message<'_>, DecodeError>> {
        let event = self.next_event()?;
        Some(event.map(|at| self.message_at(at)))
    }

    /// The message a [`FrameAt`] from [`Self::next_event`] describes; valid
    /// until the buffer is next touched (`spare`, `feed`).
    #[inline]
    pub(crate) fn message_at(&self, at: FrameAt) -> Message<'_> {
        at.info
            .message(self.buf.as_ref().get(at.start..).unwrap_or_default())
    }

    /// [`Self::decode`] without the borrow: a frame is described by where it
    /// sits in the buffer, so a caller can read more bytes in a loop and
    /// borrow the message only once it has one.
    #[inline]
    pub(crate) fn next_event(&mut self) -> Option<Result<FrameAt, DecodeError>> {
        self.drop_skipped();
        if self.end - self.start < self.pending {
            return None;
        }
        let avail = &self.buf.as_ref()[self.start..self.end];
        let garbage = garbage_len(avail);
        self.stats.discarded_bytes += garbage as u64;
        self.start += garbage;
        match step(&avail[garbage..], self.max_payload) {
            Step::Frame(info) => {
                let at = FrameAt {
                    start: self.start,
                    info,
                };
                self.start += info.len;
                self.needed = 0;
                self.pending = 0;
                self.stats.frames += 1;
                Some(Ok(at))
            }
            Step::Partial(needed) => {
                self.needed = needed;
                // Only for a frame candidate: garbage is still dropped at once.
                let buffered = self.end - self.start;
                self.pending = if buffered == 0 {
                    0
                } else {
                    buffered.saturating_add(needed)
                };
                None
            }
            Step::Untrusted(error) => {
                self.needed = 0;
                self.pending = 0;
                self.stats.count_refused(error);
                self.stats.discarded_bytes += 1;
                self.start += 1;
                Some(Err(DecodeError::new(error, None)))
            }
            Step::Refused(error, len) => {
                self.needed = 0;
                self.pending = 0;
                self.stats.count_refused(error.error);
                // The frame's buffered bytes go now, the rest as they come.
                self.skip = len;
                self.drop_skipped();
                Some(Err(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::move_to_front;

    /// The piecewise move does what `copy_within` does, for every range of
    /// a small buffer (including overlapping and empty ones); an `end`
    /// past the buffer, which the decoders never pass, moves nothing.
    #[test]
    fn move_to_front_matches_copy_within() {
        const LEN: usize = 23;
        for start in 0..=LEN + 1 {
            for end in 0..=LEN {
                let mut got: [u8; LEN] = core::array::from_fn(|i| i as u8);
                let mut want = got;
                move_to_front(&mut got, start, end);
                if start < end {
                    want.copy_within(start..end, 0);
                }
                let len = end.saturating_sub(start);
                assert_eq!(got[..len], want[..len], "{start}..{end}");
            }
        }
        let mut got: [u8; LEN] = core::array::from_fn(|i| i as u8);
        let before = got;
        move_to_front(&mut got, 3, LEN + 1);
        assert_eq!(got, before);
    }
}

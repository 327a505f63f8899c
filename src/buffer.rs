//! The receive buffer both stream decoders share ([`crate::StreamDecoder`],
//! [`crate::TextStreamDecoder`]) and [`crate::conversation::Receiver`]
//! holds once: the bytes, the positions, compaction, the bytes of a refused
//! frame still to drop, and the counters. What differs between the framings
//! (finding a frame or a line, the error rules) is the scanner of each,
//! `FrameScanner` in `decoder.rs` and `LineScanner` in `text.rs`, which
//! works on a [`RecvBuf`] and hands out a [`MessageAt`].

use crate::error::DECODE_ERRORS;
use crate::{Error, Flags, Kind, Message};

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
        // The host build (`fast-crc`) looks the index up: the small build's
        // shorter form, inlined, made the host's stream decoding of small
        // frames ~3 % slower.
        #[cfg(feature = "fast-crc")]
        if let Some(i) = error.stat_index() {
            self.refused[i] += 1;
        }
        // The small build: the decode errors are the first variants, in the
        // counters' order (`Error::stat_index`), so an encode-only error
        // falls past the last counter; no lookup of the index.
        #[cfg(not(feature = "fast-crc"))]
        if let Some(count) = self.refused.get_mut(error as usize) {
            *count += 1;
        }
    }
}

/// Where a decoded message sits in a [`RecvBuf`], whichever framing found
/// it: its kind and payload as positions in the buffer, its id and flags.
/// Valid until the buffer is next touched (`spare`, `feed`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct MessageAt {
    /// Start of the kind.
    pub(crate) kind: usize,
    /// Start of the payload.
    pub(crate) payload: usize,
    pub(crate) payload_len: usize,
    pub(crate) id: u32,
    /// At most `MAX_KIND_LEN`.
    pub(crate) kind_len: u8,
    pub(crate) flags: Flags,
}

impl MessageAt {
    /// The message this describes in `buf`, whose kind the scanner that
    /// made it validated.
    #[inline]
    pub(crate) fn message(self, buf: &[u8]) -> Message<'_> {
        let kind_end = self.kind + usize::from(self.kind_len);
        Message {
            kind: Kind::from_validated(buf.get(self.kind..kind_end).unwrap_or_default()),
            id: self.id,
            flags: self.flags,
            payload: buf
                .get(self.payload..self.payload + self.payload_len)
                .unwrap_or_default(),
        }
    }
}

/// A stream decoder's receive buffer over `B` (`[u8; N]`, `Box<[u8]>`,
/// `&mut [u8]`): received bytes are `buf[start..end]`; a scanner consumes
/// them from `start`, the caller appends at `end` (`spare` and `commit`, or
/// `feed`).
///
/// Invariant: `start <= end <= buf.len()`.
#[derive(Clone)]
pub(crate) struct RecvBuf<B> {
    pub(crate) buf: B,
    /// Start of the bytes not yet decoded.
    pub(crate) start: usize,
    /// End of the bytes received.
    pub(crate) end: usize,
    /// Bytes of a refused frame still to drop as they arrive.
    pub(crate) skip: u64,
    /// Bytes needed beyond `end` to complete what is buffered (a hint the
    /// scanner sets): `spare` moves the buffered bytes to the front when
    /// they would not fit otherwise. [`UNKNOWN_NEED`] when the scanner
    /// cannot tell (text lines): then they always move.
    pub(crate) needed: usize,
    pub(crate) stats: Stats,
}

/// [`RecvBuf::needed`] of a scanner that cannot tell how many bytes must
/// follow: buffered bytes always move to the front.
pub(crate) const UNKNOWN_NEED: usize = usize::MAX;

impl<B> RecvBuf<B> {
    /// An empty buffer over `buf` (`needed` as the scanner wants it).
    pub(crate) const fn new(buf: B, needed: usize) -> Self {
        RecvBuf {
            buf,
            start: 0,
            end: 0,
            skip: 0,
            needed,
            stats: Stats::new(),
        }
    }

    /// Bytes received and not yet decoded.
    #[inline]
    pub(crate) const fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Forgets every buffered byte and any frame being skipped; keeps the
    /// counters. `needed` is kept too: it is set again before it can matter
    /// (`start` is 0 until the scanner next consumes bytes).
    pub(crate) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.skip = 0;
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> RecvBuf<B> {
    /// The buffer's capacity in bytes.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.as_ref().len()
    }

    /// The message `at` describes.
    #[inline]
    pub(crate) fn message_at(&self, at: MessageAt) -> Message<'_> {
        at.message(self.buf.as_ref())
    }

    /// Drops bytes of a refused frame that are already buffered.
    pub(crate) fn drop_skipped(&mut self) {
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

    /// The free space at the end of the buffer. Moves buffered bytes to the
    /// front when that is cheap (no more of them than were consumed) or
    /// needed for what is pending (`needed`).
    pub(crate) fn spare(&mut self) -> &mut [u8] {
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

    /// Marks `n` bytes written into [`RecvBuf::spare`] as received (clamped
    /// to the spare space; asserted in debug builds).
    #[inline]
    pub(crate) fn commit(&mut self, n: usize) {
        let cap = self.buf.as_ref().len();
        debug_assert!(n <= cap - self.end, "commit past the spare space");
        self.end = self.end.saturating_add(n).min(cap);
    }

    /// Copies as much of `data` as fits and returns how many bytes were
    /// taken; bytes of a frame being skipped are taken without copying.
    pub(crate) fn feed(&mut self, data: &[u8]) -> usize {
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

#[cfg(test)]
mod tests {
    use super::{move_to_front, MessageAt, RecvBuf, UNKNOWN_NEED};
    use crate::Flags;

    /// A buffer of 16 bytes holding `buf[start..end]`, with `needed`.
    fn holding(start: usize, end: usize, needed: usize) -> RecvBuf<[u8; 16]> {
        let mut rx = RecvBuf::new(core::array::from_fn(|i| i as u8), needed);
        rx.start = start;
        rx.end = end;
        rx
    }

    /// `spare` moves the bytes left to the front when they are no more
    /// than the bytes consumed, or when `needed` more would not fit after
    /// them; `UNKNOWN_NEED` (text) always moves them.
    #[test]
    fn spare_moves_when_cheap_or_needed() {
        // (start, end, needed) -> where the bytes left are afterwards.
        for (start, end, needed, moved) in [
            (0, 5, UNKNOWN_NEED, false),
            (5, 5, 0, true),
            (4, 8, 0, true),
            (4, 9, 0, false),
            (4, 9, 7, false),
            (4, 9, 8, true),
            (4, 9, UNKNOWN_NEED, true),
            (1, 16, 0, false),
            (1, 16, 1, true),
        ] {
            let mut rx = holding(start, end, needed);
            let spare = rx.spare().len();
            let left = end - start;
            if moved {
                assert_eq!((rx.start, rx.end, spare), (0, left, 16 - left));
                assert_eq!(rx.buf[..left], holding(start, end, 0).buf[start..end]);
            } else {
                assert_eq!((rx.start, rx.end, spare), (start, end, 16 - end));
            }
            assert_eq!(rx.buffered(), left);
        }
    }

    /// Bytes of a refused frame are dropped from what is buffered, and
    /// taken from `feed` without being copied, all counted as skipped.
    #[test]
    fn skipped_bytes_are_dropped_and_counted() {
        let mut rx = holding(2, 6, 0);
        rx.skip = 10;
        rx.drop_skipped();
        assert_eq!((rx.start, rx.end, rx.skip), (6, 6, 6));
        assert_eq!(rx.feed(&[7; 4]), 4);
        assert_eq!((rx.buffered(), rx.skip), (0, 2));
        assert_eq!(rx.feed(&[9; 5]), 5);
        assert_eq!((rx.skip, rx.start, rx.end), (0, 0, 3));
        assert_eq!(rx.buf[..3], [9, 9, 9]);
        assert_eq!(rx.stats.skipped_bytes, 10);
        rx.skip = 4;
        rx.clear();
        assert_eq!(
            (rx.start, rx.end, rx.skip, rx.stats.skipped_bytes),
            (0, 0, 0, 10)
        );
    }

    /// A position that does not fit the buffer gives an empty kind and
    /// payload, never a panic.
    #[test]
    fn message_at_a_wrong_position_is_empty() {
        let rx = holding(0, 16, 0);
        let at = MessageAt {
            kind: 14,
            payload: 15,
            payload_len: 4,
            id: 9,
            kind_len: 3,
            flags: Flags::EMPTY,
        };
        let m = rx.message_at(at);
        assert!(m.payload.is_empty());
        assert_eq!(m.id, 9);
    }

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

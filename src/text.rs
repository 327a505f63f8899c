//! Text framing (`docs/PROTOCOL.md` §3): `KIND:DATA\n` lines, the format of
//! the original prototype, for humans and netcat.

use crate::buffer::{MessageAt, RecvBuf, Stats, UNKNOWN_NEED};
use crate::message::is_valid_kind;
use crate::{DecodeError, Error, Flags, Kind, Message};

/// The buffer a text decoder needs to take lines of up to `max_line` bytes
/// (before their `\n`): `max_line + 1`, since the `\n` must fit too. Use
/// it for the `N` of a [`TextDecoder`]. Saturates at `usize::MAX`.
///
/// A receive buffer that takes both framings (the embedded driver's, the
/// sniffing receiver's) needs the larger of this and
/// [`buffer_for_payload`](crate::frame::buffer_for_payload).
///
/// # Examples
///
/// ```
/// use msgwire::buffer_for_line;
/// use msgwire::TextDecoder;
///
/// const MAX_LINE: usize = 80;
/// let dec = TextDecoder::<{ buffer_for_line(MAX_LINE) }>::new();
/// assert_eq!(dec.max_line(), MAX_LINE);
/// ```
pub const fn buffer_for_line(max_line: usize) -> usize {
    max_line.saturating_add(1)
}

/// Streaming decoder of `KIND:DATA\n` lines over a fixed buffer `B`
/// (`[u8; N]` through the [`TextDecoder<N>`] alias, or a `Box<[u8]>` with
/// `std`); the same shape as [`StreamDecoder`](crate::StreamDecoder).
///
/// A line may hold up to the buffer's length minus 1 bytes before its `\n`
/// by default. An
/// overlong line is reported as `line-too-long` as soon as it exceeds the
/// limit, and the rest of it is dropped as it arrives, never buffered.
/// Messages have id 0 and no flags. Never allocates, never panics.
///
/// # Cancel safety
///
/// All state lives in the decoder, never in a future.
///
/// # Examples
///
/// ```
/// use msgwire::{Error, TextDecoder};
///
/// let mut dec = TextDecoder::<128>::new();
/// dec.feed(b"PING:hello\r\nno separator\nEXIT:\n");
/// let m = dec.decode().unwrap()?;
/// assert_eq!((m.kind.as_str(), m.payload), ("PING", &b"hello"[..]));
/// assert_eq!(dec.decode().unwrap().unwrap_err().error, Error::MissingSeparator);
/// assert_eq!(dec.decode().unwrap()?.kind, "EXIT");
/// assert!(dec.decode().is_none());
/// # Ok::<(), msgwire::DecodeError>(())
/// ```
#[derive(Clone)]
pub struct TextStreamDecoder<B> {
    rx: RecvBuf<B>,
    scan: LineScanner,
}

/// A [`TextStreamDecoder`] over an array of `N` bytes: no allocator
/// needed. Accepts lines of up to `N - 1` bytes by default.
pub type TextDecoder<const N: usize> = TextStreamDecoder<[u8; N]>;

impl<const N: usize> Default for TextStreamDecoder<[u8; N]> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: AsRef<[u8]>> core::fmt::Debug for TextStreamDecoder<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TextStreamDecoder")
            .field("capacity", &self.rx.buf.as_ref().len())
            .field("buffered", &self.rx.buffered())
            .field("discarding", &self.scan.discarding)
            .field("max_line", &self.scan.max_line)
            .field("stats", &self.rx.stats)
            .finish()
    }
}

impl<const N: usize> TextStreamDecoder<[u8; N]> {
    /// The longest line (bytes before `\n`) a decoder of capacity `N` holds.
    pub const MAX_LINE: usize = {
        assert!(N >= 2, "a TextDecoder needs at least 2 bytes");
        N - 1
    };

    /// A decoder that accepts lines of up to `N - 1` bytes.
    pub const fn new() -> Self {
        TextStreamDecoder::from_parts([0; N], Self::MAX_LINE)
    }

    /// A decoder that refuses lines longer than `max_line` bytes (a `\r`
    /// before the `\n` counts).
    ///
    /// # Errors
    ///
    /// [`Error::Capacity`] when `max_line` is more than
    /// [`TextDecoder::MAX_LINE`].
    pub const fn with_max_line(max_line: usize) -> Result<Self, Error> {
        if max_line > Self::MAX_LINE {
            return Err(Error::Capacity);
        }
        Ok(TextStreamDecoder::from_parts([0; N], max_line))
    }
}

#[cfg(feature = "std")]
impl TextStreamDecoder<std::boxed::Box<[u8]>> {
    /// A decoder whose buffer is allocated once, at `max_line + 1` bytes:
    /// for limits chosen at run time.
    pub fn boxed(max_line: usize) -> Self {
        let buf = std::vec![0; max_line.saturating_add(1)].into_boxed_slice();
        TextStreamDecoder::from_parts(buf, max_line)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> TextStreamDecoder<B> {
    const fn from_parts(buf: B, max_line: usize) -> Self {
        TextStreamDecoder {
            rx: RecvBuf::new(buf, LineScanner::NEEDED),
            scan: LineScanner::new(max_line),
        }
    }

    /// A decoder over any buffer, refusing lines over `max_line` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Capacity`] when the buffer is shorter than `max_line + 1`.
    pub fn from_buffer(buf: B, max_line: usize) -> Result<Self, Error> {
        if buf.as_ref().len() <= max_line {
            return Err(Error::Capacity);
        }
        Ok(Self::from_parts(buf, max_line))
    }

    /// The line limit.
    pub const fn max_line(&self) -> usize {
        self.scan.max_line
    }

    /// Bytes received and not yet decoded.
    pub const fn buffered(&self) -> usize {
        self.rx.buffered()
    }

    /// The counters.
    pub const fn stats(&self) -> &Stats {
        &self.rx.stats
    }

    /// Forgets every buffered byte; keeps the limit and the counters.
    pub fn clear(&mut self) {
        self.rx.clear();
        self.scan.clear();
    }

    /// The free space at the end of the buffer; read into it, then
    /// [`commit`](TextDecoder::commit) the count.
    pub fn spare(&mut self) -> &mut [u8] {
        // What is left after a decode is a partial line of at most
        // `max_line` bytes: it always goes to the front (`UNKNOWN_NEED`).
        self.rx.spare()
    }

    /// Marks `n` bytes written into [`TextDecoder::spare`] as received
    /// (clamped to the spare space; asserted in debug builds).
    pub fn commit(&mut self, n: usize) {
        self.rx.commit(n);
    }

    /// Copies as much of `data` as fits and returns how many bytes were
    /// taken. Call [`TextDecoder::decode`] until it returns `None`, then
    /// feed the rest.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        self.rx.feed(data)
    }

    /// The next event: a line's message borrowed from the buffer, an error,
    /// or `None` when more bytes are needed. Blank lines are skipped.
    pub fn decode(&mut self) -> Option<Result<Message<'_>, DecodeError>> {
        let event = self.scan.next_event(&mut self.rx)?;
        Some(event.map(|at| self.rx.message_at(at)))
    }
}

/// The text framing's part of a stream decoder: finds the next line in a
/// [`RecvBuf`] and applies §3's rules; the buffer does the rest.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LineScanner {
    /// Bytes after `start` already searched for `\n` without finding one.
    scanned: usize,
    /// Inside an overlong line: drop everything up to and including `\n`.
    discarding: bool,
    max_line: usize,
}

impl LineScanner {
    /// The `needed` a [`RecvBuf`] has under this scanner: a partial line's
    /// length is unknown, so it always moves to the front of the buffer.
    pub(crate) const NEEDED: usize = UNKNOWN_NEED;

    pub(crate) const fn new(max_line: usize) -> Self {
        LineScanner {
            scanned: 0,
            discarding: false,
            max_line,
        }
    }

    /// Forgets the line being read.
    pub(crate) fn clear(&mut self) {
        self.scanned = 0;
        self.discarding = false;
    }

    /// The next event of `rx`: where a line's message sits, an error (its
    /// bytes consumed, or for an overlong line to be dropped as they
    /// arrive), or `None` when more bytes are needed.
    #[inline]
    pub(crate) fn next_event<B: AsRef<[u8]>>(
        &mut self,
        rx: &mut RecvBuf<B>,
    ) -> Option<Result<MessageAt, DecodeError>> {
        loop {
            let avail = &rx.buf.as_ref()[rx.start..rx.end];
            if self.discarding {
                match avail.iter().position(|&b| b == b'\n') {
                    // The rest of a line refused with `line-too-long`:
                    // skipped, as a too-large frame's bytes are.
                    Some(i) => {
                        rx.stats.skipped_bytes += i as u64 + 1;
                        rx.start += i + 1;
                        self.discarding = false;
                        continue;
                    }
                    None => {
                        rx.stats.skipped_bytes += avail.len() as u64;
                        rx.start = rx.end;
                        return None;
                    }
                }
            }
            // A line may have `max_line` bytes, so its `\n` is within the
            // first `max_line + 1`.
            let window = avail.len().min(self.max_line.saturating_add(1));
            let found = avail[self.scanned..window].iter().position(|&b| b == b'\n');
            let Some(nl) = found.map(|i| self.scanned + i) else {
                if avail.len() > self.max_line {
                    // Over the limit with no `\n`: report now, drop the rest
                    // as it arrives.
                    rx.stats.count_refused(Error::LineTooLong);
                    rx.stats.skipped_bytes += window as u64;
                    rx.start += window;
                    self.scanned = 0;
                    self.discarding = true;
                    return Some(Err(DecodeError::new(Error::LineTooLong, None)));
                }
                self.scanned = window;
                return None;
            };
            rx.start += nl + 1;
            self.scanned = 0;
            let line = &avail[..nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                rx.stats.discarded_bytes += nl as u64 + 1;
                continue;
            }
            let line_start = rx.start - nl - 1;
            return Some(match kind_len(line) {
                Ok(kind_len) => {
                    rx.stats.frames += 1;
                    Ok(MessageAt {
                        kind: line_start,
                        payload: line_start + kind_len + 1,
                        // The bytes after the `:`.
                        payload_len: line.len() - kind_len - 1,
                        id: 0,
                        // At most `MAX_KIND_LEN`: `kind_len` checked it.
                        kind_len: kind_len as u8,
                        flags: Flags::EMPTY,
                    })
                }
                Err(e) => {
                    rx.stats.count_refused(e);
                    rx.stats.skipped_bytes += nl as u64 + 1;
                    Err(DecodeError::new(e, None))
                }
            });
        }
    }
}

/// The length of a non-empty line's kind (without its `\n` and `\r`):
/// where its `:` is, once the bytes before it are checked.
fn kind_len(line: &[u8]) -> Result<usize, Error> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(Error::MissingSeparator)?;
    // The kind is made a `&str` when the message is (`MessageAt`).
    if !is_valid_kind(line.get(..colon).unwrap_or_default()) {
        return Err(Error::InvalidKind);
    }
    Ok(colon)
}

/// Encodes `KIND:DATA\n` lines, refusing what a [`TextDecoder`] with the
/// same line limit would refuse or alter.
///
/// Text mode carries no id and no flags, so the encoder takes a kind and a
/// payload only: nothing is dropped silently.
///
/// # Examples
///
/// ```
/// use msgwire::{Error, Kind, TextEncoder};
///
/// let mut out = [0u8; 32];
/// let n = TextEncoder::new().encode(Kind::PING, b"hello", &mut out)?;
/// assert_eq!(&out[..n], b"PING:hello\n");
/// assert_eq!(TextEncoder::new().encode(Kind::PING, b"a\nb", &mut out), Err(Error::InvalidTextPayload));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextEncoder {
    max_line: usize,
}

impl Default for TextEncoder {
    fn default() -> Self {
        TextEncoder::new()
    }
}

impl TextEncoder {
    /// An encoder with no line limit.
    pub const fn new() -> Self {
        TextEncoder {
            max_line: usize::MAX,
        }
    }

    /// An encoder that refuses lines (kind, `:` and payload) longer than
    /// `max_line` bytes, like a [`TextDecoder`] with that limit.
    pub const fn with_max_line(max_line: usize) -> Self {
        TextEncoder { max_line }
    }

    /// The line limit.
    pub const fn max_line(&self) -> usize {
        self.max_line
    }

    /// The encoded length, `\n` included.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTextPayload`] when the payload contains `\n` or ends
    /// with `\r` (the decoder would strip it); [`Error::LineTooLong`] when
    /// the line is over the limit.
    pub fn encoded_len(&self, kind: Kind<'_>, payload: &[u8]) -> Result<usize, Error> {
        // A plain loop, not `contains`: core's word-at-a-time search is
        // ~150 B of flash on a device, for payloads of a text line.
        #[allow(clippy::manual_contains)]
        if payload.iter().any(|&b| b == b'\n') || payload.last() == Some(&b'\r') {
            return Err(Error::InvalidTextPayload);
        }
        let line = (kind.len() + 1).saturating_add(payload.len());
        if line > self.max_line {
            return Err(Error::LineTooLong);
        }
        Ok(line.saturating_add(1))
    }

    /// Writes `KIND:DATA\n` at the start of `out`; returns the length.
    ///
    /// # Errors
    ///
    /// As [`TextEncoder::encoded_len`], and [`Error::BufferTooSmall`].
    pub fn encode(&self, kind: Kind<'_>, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        let total = self.encoded_len(kind, payload)?;
        let out = out.get_mut(..total).ok_or(Error::BufferTooSmall)?;
        let k = kind.len();
        out[..k].copy_from_slice(kind.as_bytes());
        out[k] = b':';
        out[k + 1..total - 1].copy_from_slice(payload);
        out[total - 1] = b'\n';
        Ok(total)
    }

    /// Appends `KIND:DATA\n` to a `heapless::Vec`; returns the length.
    ///
    /// # Errors
    ///
    /// As [`TextEncoder::encode`]; on error `out` is left as it was.
    pub fn encode_to_vec<const M: usize>(
        &self,
        kind: Kind<'_>,
        payload: &[u8],
        out: &mut heapless::Vec<u8, M>,
    ) -> Result<usize, Error> {
        let total = self.encoded_len(kind, payload)?;
        let old = out.len();
        let new_len = old.checked_add(total).ok_or(Error::BufferTooSmall)?;
        out.resize(new_len, 0).map_err(|_| Error::BufferTooSmall)?;
        self.encode(kind, payload, &mut out[old..])
    }
}

//! One receiving interface over both framings, with the server's sniffing.

use crate::buffer::{MessageAt, RecvBuf, Stats};
use crate::decoder::FrameScanner;
use crate::frame::{MAGIC, MAX_OVERHEAD};
use crate::text::LineScanner;
use crate::{DecodeError, Error, Message};

/// A conversation's framing (`docs/PROTOCOL.md` §2 binary, §3 text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Framing {
    /// Binary frames (§2): ids, flags, checksums.
    Binary,
    /// `KIND:DATA\n` lines (§3): no ids, no flags.
    Text,
}

impl Framing {
    /// The framing a server picks from a connection's first byte (§4):
    /// `0xA5` is binary, anything else text.
    pub const fn sniff(first: u8) -> Framing {
        if first == MAGIC {
            Framing::Binary
        } else {
            Framing::Text
        }
    }
}

/// The receiving limits of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// Largest binary payload accepted; longer frames are `too-large`.
    pub max_payload: u32,
    /// Longest text line accepted (bytes before `\n`); longer lines are
    /// `line-too-long`.
    pub max_line: usize,
}

impl Limits {
    /// The largest limits a buffer of `len` bytes can hold: payloads of
    /// `len - 50` bytes and lines of `len - 1`.
    pub const fn for_buffer(len: usize) -> Limits {
        let payload = len.saturating_sub(MAX_OVERHEAD);
        Limits {
            max_payload: if payload > u32::MAX as usize {
                u32::MAX
            } else {
                payload as u32
            },
            max_line: len.saturating_sub(1),
        }
    }

    /// Whether a buffer of `len` bytes can hold frames and lines up to
    /// these limits in `framing` (both, when `None`: the framing is sniffed).
    const fn fit(&self, len: usize, framing: Option<Framing>) -> bool {
        let binary = (self.max_payload as usize).saturating_add(MAX_OVERHEAD) <= len;
        let text = self.max_line < len;
        match framing {
            Some(Framing::Binary) => binary,
            Some(Framing::Text) => text,
            None => binary && text,
        }
    }
}

/// Which framing reads the buffer: the only part of a [`Receiver`] that
/// differs between them.
#[derive(Clone, Copy, Debug)]
enum Scanner {
    /// No byte yet: the framing is chosen from the first one.
    Sniff,
    Binary(FrameScanner),
    Text(LineScanner),
}

/// Where a decoded message sits in a [`Receiver`]'s buffer, whichever the
/// framing.
pub(crate) type At = MessageAt;

/// Either stream decoder behind one interface, or, for a server, neither
/// yet: the first byte committed picks the framing (§4).
///
/// Used like the decoders: read into [`Receiver::spare`], [`commit`] the
/// count, then [`Receiver::decode`] until `None`. Messages are borrowed
/// from the buffer; nothing allocates; peer input never panics.
///
/// # Examples
///
/// ```
/// use msgwire::conversation::{Framing, Receiver};
///
/// let mut rx = Receiver::for_buffer([0u8; 128], None)?;
/// rx.feed(b"PING:hi\n");
/// assert_eq!(rx.framing(), Some(Framing::Text));
/// let m = rx.decode().unwrap()?;
/// assert_eq!((m.kind.as_str(), m.payload), ("PING", &b"hi"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`commit`]: Receiver::commit
pub struct Receiver<B> {
    /// The bytes, positions and counters, whichever the framing.
    rx: RecvBuf<B>,
    scan: Scanner,
    limits: Limits,
}

impl<B> core::fmt::Debug for Receiver<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Receiver")
            .field("framing", &self.framing())
            .field("limits", &self.limits)
            .finish()
    }
}

impl<B> Receiver<B> {
    /// The limits.
    pub const fn limits(&self) -> Limits {
        self.limits
    }

    /// The framing; `None` until a sniffing receiver has its first byte.
    pub const fn framing(&self) -> Option<Framing> {
        match self.scan {
            Scanner::Binary(_) => Some(Framing::Binary),
            Scanner::Text(_) => Some(Framing::Text),
            Scanner::Sniff => None,
        }
    }
}

#[cfg(feature = "std")]
impl Receiver<std::boxed::Box<[u8]>> {
    /// A receiver in `framing` whose buffer is allocated once, sized for
    /// `limits` in that framing: for limits chosen at run time.
    pub fn boxed(framing: Framing, limits: Limits) -> Self {
        let len = match framing {
            Framing::Binary => crate::frame::buffer_for_payload(limits.max_payload as usize),
            Framing::Text => crate::text::buffer_for_line(limits.max_line),
        };
        let mut rx = Receiver {
            rx: RecvBuf::new(std::vec![0; len].into_boxed_slice(), 0),
            scan: Scanner::Sniff,
            limits,
        };
        rx.start(framing);
        rx
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Receiver<B> {
    /// A receiver over `buf` with these limits; `framing` `None` sniffs it
    /// from the first byte.
    ///
    /// # Errors
    ///
    /// [`Error::Capacity`] when `buf` cannot hold a frame or a line at the
    /// limits (for a sniffing receiver, both).
    pub fn new(buf: B, framing: Option<Framing>, limits: Limits) -> Result<Self, Error> {
        let mut rx = Self::unstarted(buf, framing, limits)?;
        if let Some(f) = framing {
            rx.enter(f)?;
        }
        Ok(rx)
    }

    /// [`Receiver::new`] without its framing yet: sniffing, whatever
    /// `framing`, once the limits are checked against it. Then
    /// [`Receiver::enter`] `framing`, if given, where the receiver stays
    /// (a firmware builds it in place: no `memcpy` of the counters).
    pub(crate) fn unstarted(
        buf: B,
        framing: Option<Framing>,
        limits: Limits,
    ) -> Result<Self, Error> {
        if !limits.fit(buf.as_ref().len(), framing) {
            return Err(Error::Capacity);
        }
        Ok(Receiver {
            rx: RecvBuf::new(buf, 0),
            scan: Scanner::Sniff,
            limits,
        })
    }

    /// A receiver with the largest limits `buf` can hold
    /// ([`Limits::for_buffer`]).
    ///
    /// # Errors
    ///
    /// [`Error::Capacity`] when `buf` is shorter than 50 bytes and binary
    /// frames may come (`framing` is `None` or binary).
    pub fn for_buffer(buf: B, framing: Option<Framing>) -> Result<Self, Error> {
        let limits = Limits::for_buffer(buf.as_ref().len());
        Self::new(buf, framing, limits)
    }

    /// The decoder's counters; `None` before the framing is known.
    pub fn stats(&self) -> Option<&Stats> {
        self.framing().map(|_| &self.rx.stats)
    }

    /// Bytes received and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.rx.buffered()
    }

    /// The free space to read into; then [`Receiver::commit`] the count.
    /// While sniffing it is the whole buffer.
    pub fn spare(&mut self) -> &mut [u8] {
        self.rx.spare()
    }

    /// Marks `n` bytes written into [`Receiver::spare`] as received; the
    /// first byte of a sniffing receiver picks the framing.
    pub fn commit(&mut self, n: usize) {
        self.rx.commit(n);
        if let Scanner::Sniff = self.scan {
            self.sniff();
        }
    }

    /// Copies as much of `data` as fits and returns how many bytes were
    /// taken (see [`StreamDecoder::feed`](crate::StreamDecoder::feed)); the
    /// first byte of a sniffing receiver picks the framing.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let taken = self.rx.feed(data);
        if let Scanner::Sniff = self.scan {
            self.sniff();
        }
        taken
    }

    /// Leaves sniffing for the framing the first byte received picks, if
    /// there is one. Out of line: once per conversation.
    #[cold]
    #[inline(never)]
    fn sniff(&mut self) {
        // Nothing is consumed while sniffing: the first byte is `buf[0]`.
        let received = self.rx.buf.as_ref().get(..self.rx.end).unwrap_or_default();
        if let Some(&first) = received.first() {
            // `new` checked that the buffer fits both framings.
            let _ = self.enter(Framing::sniff(first));
        }
    }

    /// Leaves sniffing for `framing` (nothing once the framing is known).
    ///
    /// # Errors
    ///
    /// [`Error::Capacity`] when the buffer cannot hold a frame or a line
    /// at the limits in `framing`; the receiver is still sniffing then.
    pub(crate) fn enter(&mut self, framing: Framing) -> Result<(), Error> {
        if let Scanner::Sniff = self.scan {
            if !self.limits.fit(self.rx.capacity(), Some(framing)) {
                return Err(Error::Capacity);
            }
            self.start(framing);
        }
        Ok(())
    }

    /// The next event: a message borrowed from the buffer, an error (its
    /// bytes already consumed), or `None` when more bytes are needed.
    pub fn decode(&mut self) -> Option<Result<Message<'_>, DecodeError>> {
        let event = self.next_event()?;
        Some(event.map(|at| self.message_at(at)))
    }

    /// [`Receiver::decode`] without the borrow: the message is described by
    /// where it sits, so a caller can read more in a loop and borrow it
    /// only once it has one. The framing's scanner is the only part of the
    /// receiver that differs between binary and text.
    #[inline]
    pub(crate) fn next_event(&mut self) -> Option<Result<At, DecodeError>> {
        match &mut self.scan {
            Scanner::Binary(scan) => scan.next_event(&mut self.rx),
            Scanner::Text(scan) => scan.next_event(&mut self.rx),
            Scanner::Sniff => None,
        }
    }

    /// The message an [`At`] from [`Receiver::next_event`] describes;
    /// valid until the buffer is next touched (`spare`, `commit`, `feed`).
    #[inline]
    pub(crate) fn message_at(&self, at: At) -> Message<'_> {
        self.rx.message_at(at)
    }
}

impl<B> Receiver<B> {
    /// Reads the buffer with `framing`'s scanner from now on.
    fn start(&mut self, framing: Framing) {
        match framing {
            Framing::Binary => {
                self.scan = Scanner::Binary(FrameScanner::new(self.limits.max_payload));
                self.rx.needed = FrameScanner::NEEDED;
            }
            Framing::Text => {
                self.scan = Scanner::Text(LineScanner::new(self.limits.max_line));
                self.rx.needed = LineScanner::NEEDED;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Framing, Limits, Receiver};
    use crate::Error;

    /// `enter` checks the buffer against the framing it enters: a receiver
    /// made for one framing cannot enter another its buffer is too short
    /// for, and stays sniffing; once in a framing, `enter` changes nothing.
    #[test]
    fn enter_checks_the_buffer_for_its_framing() {
        let limits = Limits::for_buffer(40);
        let mut rx = Receiver::unstarted([0u8; 40], Some(Framing::Text), limits).expect("fits");
        assert_eq!(rx.enter(Framing::Binary), Err(Error::Capacity));
        assert_eq!(rx.framing(), None);
        assert_eq!(rx.enter(Framing::Text), Ok(()));
        assert_eq!(rx.framing(), Some(Framing::Text));
        assert_eq!(rx.enter(Framing::Binary), Ok(()));
        assert_eq!(rx.framing(), Some(Framing::Text));
        rx.feed(b"PING:x\n");
        assert_eq!(
            rx.decode().map(|e| e.map(|m| m.payload)),
            Some(Ok(&b"x"[..]))
        );
    }
}

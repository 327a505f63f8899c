//! One receiving interface over both framings, with the server's sniffing.

use crate::decoder::{FrameAt, Stats, StreamDecoder};
use crate::frame::{MAGIC, MAX_OVERHEAD};
use crate::text::{LineAt, TextStreamDecoder};
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

enum State<B> {
    /// No byte yet: the framing is chosen from the first one.
    Sniff(B),
    Binary(StreamDecoder<B>),
    Text(TextStreamDecoder<B>),
    /// Only while the buffer moves from `Sniff` to a decoder.
    Moving,
}

/// Where a decoded message sits in a [`Receiver`]'s buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum At {
    Binary(FrameAt),
    Text(LineAt),
}

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
    state: State<B>,
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
        match self.state {
            State::Binary(_) => Some(Framing::Binary),
            State::Text(_) => Some(Framing::Text),
            State::Sniff(_) | State::Moving => None,
        }
    }
}

#[cfg(feature = "std")]
impl Receiver<std::boxed::Box<[u8]>> {
    /// A receiver in `framing` whose buffer is allocated once, sized for
    /// `limits` in that framing: for limits chosen at run time.
    pub fn boxed(framing: Framing, limits: Limits) -> Self {
        let state = match framing {
            Framing::Binary => State::Binary(StreamDecoder::boxed(limits.max_payload)),
            Framing::Text => State::Text(TextStreamDecoder::boxed(limits.max_line)),
        };
        Receiver { state, limits }
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

    /// [`Receiver::new`] without its decoder yet: `Sniff`, whatever
    /// `framing`, once the limits are checked against it. Then
    /// [`Receiver::enter`] `framing`, if given, where the receiver stays:
    /// the decoder (its counters are 8-aligned) is not moved after it is
    /// built (a firmware's `memcpy8`).
    pub(crate) fn unstarted(
        buf: B,
        framing: Option<Framing>,
        limits: Limits,
    ) -> Result<Self, Error> {
        if !limits.fit(buf.as_ref().len(), framing) {
            return Err(Error::Capacity);
        }
        Ok(Receiver {
            state: State::Sniff(buf),
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
        match &self.state {
            State::Binary(d) => Some(d.stats()),
            State::Text(d) => Some(d.stats()),
            State::Sniff(_) | State::Moving => None,
        }
    }

    /// Bytes received and not yet decoded.
    pub fn buffered(&self) -> usize {
        match &self.state {
            State::Binary(d) => d.buffered(),
            State::Text(d) => d.buffered(),
            State::Sniff(_) | State::Moving => 0,
        }
    }

    /// The free space to read into; then [`Receiver::commit`] the count.
    /// While sniffing it is the whole buffer.
    pub fn spare(&mut self) -> &mut [u8] {
        match &mut self.state {
            State::Sniff(buf) => buf.as_mut(),
            State::Binary(d) => d.spare(),
            State::Text(d) => d.spare(),
            State::Moving => &mut [],
        }
    }

    /// Marks `n` bytes written into [`Receiver::spare`] as received; the
    /// first byte of a sniffing receiver picks the framing.
    pub fn commit(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if let State::Sniff(_) = self.state {
            self.sniff();
        }
        match &mut self.state {
            State::Binary(d) => d.commit(n),
            State::Text(d) => d.commit(n),
            State::Sniff(_) | State::Moving => {}
        }
    }

    /// Leaves `Sniff` for the decoder of the framing its first byte picks.
    /// Out of line: once per conversation.
    #[cold]
    #[inline(never)]
    fn sniff(&mut self) {
        let first = match &self.state {
            State::Sniff(buf) => buf.as_ref().first().copied().unwrap_or(0),
            _ => return,
        };
        // `new` checked that the buffer fits both framings.
        let _ = self.enter(Framing::sniff(first));
    }

    /// Replaces `Sniff` with the decoder of `framing`, built where it
    /// stays: each arm assigns its own variant, so the decoder (its
    /// counters are 8-aligned) is not built aside and moved in.
    pub(crate) fn enter(&mut self, framing: Framing) -> Result<(), Error> {
        let State::Sniff(buf) = core::mem::replace(&mut self.state, State::Moving) else {
            return Ok(());
        };
        match framing {
            Framing::Binary => {
                self.state =
                    State::Binary(StreamDecoder::from_buffer(buf, self.limits.max_payload)?);
            }
            Framing::Text => {
                self.state =
                    State::Text(TextStreamDecoder::from_buffer(buf, self.limits.max_line)?);
            }
        }
        Ok(())
    }

    /// Copies as much of `data` as fits and returns how many bytes were
    /// taken (see [`StreamDecoder::feed`]).
    pub fn feed(&mut self, data: &[u8]) -> usize {
        if let State::Sniff(_) = self.state {
            let Some(&first) = data.first() else {
                return 0;
            };
            let spare = self.spare();
            if let Some(slot) = spare.first_mut() {
                *slot = first;
            }
            self.commit(1);
            return 1 + self.feed(&data[1..]);
        }
        match &mut self.state {
            State::Binary(d) => d.feed(data),
            State::Text(d) => d.feed(data),
            State::Sniff(_) | State::Moving => 0,
        }
    }

    /// The next event: a message borrowed from the buffer, an error (its
    /// bytes already consumed), or `None` when more bytes are needed.
    pub fn decode(&mut self) -> Option<Result<Message<'_>, DecodeError>> {
        let event = self.next_event()?;
        Some(event.map(|at| self.message_at(at)))
    }

    #[inline]
    pub(crate) fn next_event(&mut self) -> Option<Result<At, DecodeError>> {
        match &mut self.state {
            State::Binary(d) => d.next_event().map(|e| e.map(At::Binary)),
            State::Text(d) => d.next_event().map(|e| e.map(At::Text)),
            State::Sniff(_) | State::Moving => None,
        }
    }

    #[inline]
    pub(crate) fn message_at(&self, at: At) -> Message<'_> {
        match (&self.state, at) {
            (State::Binary(d), At::Binary(at)) => d.message_at(at),
            (State::Text(d), At::Text(at)) => d.message_at(at),
            // A position is only ever used with the decoder that made it.
            _ => Message::new(crate::Kind::ERROR, &[]),
        }
    }
}

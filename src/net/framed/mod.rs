//! Framed connections over any futures-io `AsyncRead`/`AsyncWrite`: the
//! public face — [`Framed`], its [`Replier`], their limits and errors.
//! The receiving half lives in `rx.rs` (shared with the client's loop),
//! the send buffer in `tx.rs`.

use std::fmt;
use std::io;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::io::or_stall;
use crate::{DecodeError, Error, Message};

mod rx;
mod tx;

use rx::At;
pub(crate) use rx::RxState;
use tx::TxState;

pub(crate) use crate::conversation::Framing;

/// Limits of a framed connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramedConfig {
    /// Largest payload accepted from the peer; the receive buffer is
    /// allocated once at this size plus 50 bytes. Default 64 KiB.
    pub max_payload: u32,
    /// Longest text line accepted from the peer. Default 64 KiB.
    pub max_line: usize,
    /// Outgoing bytes buffered before `send` flushes by itself; payloads
    /// at least this large are written straight from the caller's slice.
    /// Default 64 KiB.
    pub write_buffer: usize,
}

impl Default for FramedConfig {
    fn default() -> Self {
        FramedConfig {
            max_payload: 64 * 1024,
            max_line: 64 * 1024,
            write_buffer: 64 * 1024,
        }
    }
}

/// Why [`Framed::recv`] returned no message.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecvError {
    /// The peer sent a malformed or refused frame. Its bytes are consumed;
    /// call `recv` again and the stream goes on.
    Decode(DecodeError),
    /// The peer closed the stream (a partial frame at the end is dropped,
    /// as the protocol says).
    Closed,
    /// The transport failed; the connection is unusable.
    Io(io::Error),
}

impl RecvError {
    /// Whether the connection can go on after this error (decode errors).
    pub fn is_recoverable(&self) -> bool {
        matches!(self, RecvError::Decode(_))
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Decode(e) => fmt::Display::fmt(e, f),
            RecvError::Closed => f.write_str("connection closed by the peer"),
            RecvError::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl std::error::Error for RecvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecvError::Decode(e) => Some(e),
            RecvError::Io(e) => Some(e),
            RecvError::Closed => None,
        }
    }
}

impl From<io::Error> for RecvError {
    fn from(e: io::Error) -> Self {
        RecvError::Io(e)
    }
}

/// Why a message could not be sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The message cannot be encoded (a text payload with `\n` …); nothing
    /// was written and the connection goes on.
    Encode(Error),
    /// The transport failed; the connection is unusable.
    Io(io::Error),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Encode(e) => write!(f, "cannot encode: {e}"),
            SendError::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Encode(e) => Some(e),
            SendError::Io(e) => Some(e),
        }
    }
}

impl From<io::Error> for SendError {
    fn from(e: io::Error) -> Self {
        SendError::Io(e)
    }
}

/// A message connection over any `AsyncRead + AsyncWrite`.
///
/// `recv` reads straight into the decoder's buffer and yields messages
/// borrowed from it (valid until the next call). `send` buffers: many
/// pipelined messages go out in one write, when the buffer fills, on
/// [`Framed::flush`], or — automatically — before `recv` waits for the peer.
///
/// # Cancel safety
///
/// Every async method keeps its state in the `Framed`, not in the future.
/// A `recv` dropped while waiting (in a `race` with a timer, say) loses no
/// bytes: bytes are committed to the decoder in the same poll that reads
/// them, and the next `recv` goes on from there. A dropped `flush` resumes
/// where it stopped. A dropped `send` either buffered the whole message or
/// nothing — except a payload at least `write_buffer` long, which is written
/// straight to the transport: dropping that send mid-payload leaves a
/// partial frame on the wire, so do not cancel large sends.
///
/// # Examples
///
/// ```
/// use msgwire::conversation::Framing;
/// use msgwire::net::{memory, Framed, FramedConfig};
/// use msgwire::{Kind, Message};
///
/// # futures_lite::future::block_on(async {
/// let (a, b) = memory::pipe(16);
/// let mut client = Framed::new(a, Framing::Binary, FramedConfig::default());
/// let mut server = Framed::new(b, Framing::Binary, FramedConfig::default());
///
/// client.send(&Message::new(Kind::PING, b"hi").with_id(1)).await?;
/// client.flush().await?;
/// let m = server.recv().await?;
/// assert_eq!((m.kind.as_str(), m.id, m.payload), ("PING", 1, &b"hi"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Framed<S> {
    io: S,
    rx: RxState,
    tx: TxState,
}

impl<S> fmt::Debug for Framed<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framed")
            .field("framing", &self.rx.framing())
            .field("eof", &self.rx.eof())
            .field("pending_out", &self.tx.pending())
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Framed<S> {
    /// A connection that speaks `framing` both ways.
    pub fn new(io: S, framing: Framing, config: FramedConfig) -> Self {
        Framed {
            io,
            rx: RxState::new(Some(framing), config),
            tx: TxState::new(framing, config.write_buffer),
        }
    }

    /// A server-side connection that takes its framing from the peer's
    /// first byte (`0xA5`: binary, anything else: text) and answers in it.
    /// Until that byte arrives, `send` uses binary framing.
    pub fn sniffing(io: S, config: FramedConfig) -> Self {
        Framed {
            io,
            rx: RxState::new(None, config),
            tx: TxState::new(Framing::Binary, config.write_buffer),
        }
    }

    /// Makes a write, flush or close that cannot progress for `timeout`
    /// (the peer does not read its answers) fail with `TimedOut` instead of
    /// waiting forever. `None`, the default, waits.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.tx.write_timeout = timeout;
    }

    /// The framing, once known.
    pub fn framing(&self) -> Option<Framing> {
        self.rx.framing()
    }

    /// The largest payload this side accepts (its `HELLO` says so).
    pub(crate) fn max_payload(&self) -> u32 {
        self.rx.max_payload()
    }

    /// The decoder's counters, once the framing is known.
    pub fn stats(&self) -> Option<&crate::Stats> {
        self.rx.stats()
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The transport, mutably. Reading or writing it directly breaks the
    /// framing.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// Gives the transport back; buffered bytes are dropped.
    pub fn into_inner(self) -> S {
        self.io
    }

    fn sync_framing(&mut self) {
        if let Some(f) = self.rx.framing() {
            self.tx.framing = f;
        }
    }

    /// The next message, or why there is none. A decode error is
    /// recoverable ([`RecvError::is_recoverable`]): call again.
    ///
    /// Flushes buffered outgoing messages before waiting for the peer.
    /// Cancel safe.
    ///
    /// # Errors
    ///
    /// [`RecvError::Decode`] for a refused frame, [`RecvError::Closed`] at
    /// the end of the stream, [`RecvError::Io`] when the transport fails.
    pub async fn recv(&mut self) -> Result<Message<'_>, RecvError> {
        let at = self.rx.recv_at(&mut self.io, &mut self.tx).await?;
        self.sync_framing();
        Ok(self.rx.message_at(at))
    }

    /// Like [`Framed::recv`], and also hands back a [`Replier`] that can
    /// send while the message is still borrowed — an echo answers straight
    /// from the receive buffer, with no copy. Cancel safe.
    ///
    /// # Errors
    ///
    /// As [`Framed::recv`].
    pub async fn recv_with_replier(&mut self) -> Result<(Message<'_>, Replier<'_, S>), RecvError> {
        let at = self.recv_event().await?;
        Ok(self.lend(at))
    }

    /// The next event already decoded from buffered bytes, without reading
    /// or flushing: the handler loop's fast path for pipelined requests.
    /// A message is then taken with [`Framed::lend`].
    pub(crate) fn next_buffered(&mut self) -> Option<Result<At, DecodeError>> {
        self.rx.next_event()
    }

    /// The next event, reading when needed; as [`Framed::recv`], but the
    /// message is taken with [`Framed::lend`]. Cancel safe.
    pub(crate) async fn recv_event(&mut self) -> Result<At, RecvError> {
        self.rx.recv_at(&mut self.io, &mut self.tx).await
    }

    /// The message of an event from [`Framed::next_buffered`] or
    /// [`Framed::recv_event`], with the sending side to answer it.
    pub(crate) fn lend(&mut self, at: At) -> (Message<'_>, Replier<'_, S>) {
        self.sync_framing();
        let replier = Replier {
            io: &mut self.io,
            tx: &mut self.tx,
        };
        (self.rx.message_at(at), replier)
    }

    /// The sending side alone, in the framing the peer speaks.
    pub(crate) fn replier(&mut self) -> Replier<'_, S> {
        self.sync_framing();
        Replier {
            io: &mut self.io,
            tx: &mut self.tx,
        }
    }

    /// Queues `m` for sending; see the type's docs for when bytes go out.
    /// In text framing only the kind and payload are sent.
    ///
    /// # Errors
    ///
    /// [`SendError::Encode`] when `m` cannot be encoded (nothing is
    /// queued); [`SendError::Io`] when a write fails.
    pub async fn send(&mut self, m: &Message<'_>) -> Result<(), SendError> {
        self.sync_framing();
        self.tx.send(&mut self.io, m).await
    }

    /// Writes every queued byte and flushes the transport. Cancel safe.
    ///
    /// # Errors
    ///
    /// The transport's error.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.tx.flush(&mut self.io).await
    }

    /// Flushes, then closes the transport's writing side.
    ///
    /// # Errors
    ///
    /// The transport's error.
    pub async fn close(&mut self) -> io::Result<()> {
        self.tx.flush(&mut self.io).await?;
        or_stall(self.io.close(), self.tx.write_timeout).await
    }
}

/// The sending side of a [`Framed`], lent out with a received message by
/// [`Framed::recv_with_replier`].
pub struct Replier<'a, S> {
    io: &'a mut S,
    tx: &'a mut TxState,
}

impl<S> fmt::Debug for Replier<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replier")
            .field("pending_out", &self.tx.pending())
            .finish_non_exhaustive()
    }
}

impl<S: AsyncWrite + Unpin> Replier<'_, S> {
    /// As [`Framed::send`].
    ///
    /// # Errors
    ///
    /// As [`Framed::send`].
    pub async fn send(&mut self, m: &Message<'_>) -> Result<(), SendError> {
        self.tx.send(self.io, m).await
    }

    /// As [`Framed::flush`].
    ///
    /// # Errors
    ///
    /// The transport's error.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.tx.flush(self.io).await
    }

    /// Queues `m` without writing: `Ok(false)` when its payload is too
    /// large to buffer (use [`Replier::send`]). The handler loop's fast
    /// path; [`Replier::write_if_full`] must follow.
    pub(crate) fn try_queue(&mut self, m: &Message<'_>) -> Result<bool, Error> {
        self.tx.queue(m)
    }

    /// Sends `frame`, a message already encoded in this connection's
    /// framing (an event encoded once for all its subscribers), as
    /// [`Replier::send`] sends a message.
    pub(crate) async fn send_encoded(&mut self, frame: &[u8]) -> io::Result<()> {
        self.tx.out.extend_from_slice(frame);
        self.write_if_full().await
    }

    /// Writes the buffer out if it is full, as [`Replier::send`] does after
    /// queueing.
    pub(crate) async fn write_if_full(&mut self) -> io::Result<()> {
        if self.tx.out.len() >= self.tx.write_buffer {
            self.tx.flush_buffer(self.io).await?;
        }
        Ok(())
    }

    /// The framing answers are sent in.
    pub fn framing(&self) -> Framing {
        self.tx.framing
    }
}

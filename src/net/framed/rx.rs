//! The receiving half of a connection: the decoder fed straight from the
//! transport, made once the framing is known, and the receive that reads
//! when no message is buffered. Shared by [`Framed`](super::Framed) and the
//! client's connection loop.

use std::boxed::Box;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{ready, AsyncRead, AsyncWrite};

use super::tx::TxState;
use super::{FramedConfig, RecvError};
use crate::conversation::{Framing, Limits, Receiver};
use crate::net::io::READS_BEFORE_YIELD;
use crate::{DecodeError, Message};

/// Where a decoded message sits in the receive buffer.
pub(crate) use crate::conversation::At;

/// The receiving half's state: the decoder (the conversation core's
/// [`Receiver`], made when the framing is known: a sniffing connection
/// allocates its buffer only once the first byte is in) and whether the
/// peer has closed.
pub(crate) struct RxState {
    rx: Option<Receiver<Box<[u8]>>>,
    eof: bool,
    config: FramedConfig,
}

impl RxState {
    pub(crate) fn new(framing: Option<Framing>, config: FramedConfig) -> Self {
        RxState {
            rx: framing.map(|f| Self::receiver(f, &config)),
            eof: false,
            config,
        }
    }

    fn receiver(framing: Framing, config: &FramedConfig) -> Receiver<Box<[u8]>> {
        let limits = Limits {
            max_payload: config.max_payload,
            max_line: config.max_line,
        };
        Receiver::boxed(framing, limits)
    }

    pub(super) fn framing(&self) -> Option<Framing> {
        self.rx.as_ref().and_then(Receiver::framing)
    }

    /// The largest payload accepted.
    pub(super) fn max_payload(&self) -> u32 {
        self.config.max_payload
    }

    pub(super) fn stats(&self) -> Option<&crate::Stats> {
        self.rx.as_ref().and_then(Receiver::stats)
    }

    #[inline]
    pub(crate) fn next_event(&mut self) -> Option<Result<At, DecodeError>> {
        self.rx.as_mut()?.next_event()
    }

    #[inline]
    pub(crate) fn message_at(&self, at: At) -> Message<'_> {
        match &self.rx {
            Some(rx) => rx.message_at(at),
            // A position is only ever made by a receiver.
            None => Message::new(crate::Kind::ERROR, &[]),
        }
    }

    /// One read from `io` into the decoder. Cancel safe: bytes are
    /// committed in the same poll that reads them.
    async fn fill<R: AsyncRead + Unpin>(&mut self, io: &mut R) -> io::Result<()> {
        futures_lite::future::poll_fn(|cx| self.poll_fill(cx, io)).await
    }

    /// [`RxState::fill`] as a poll function, for a reader shared by
    /// several futures (the correlating client's).
    pub(crate) fn poll_fill<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut R,
    ) -> Poll<io::Result<()>> {
        let rx = match &mut self.rx {
            Some(rx) => rx,
            None => {
                // Read one byte to choose the framing (§4), then make the
                // receiver for it.
                let mut first = [0u8; 1];
                let n = ready!(Pin::new(io).poll_read(cx, &mut first))?;
                if n == 0 {
                    self.eof = true;
                    return Poll::Ready(Ok(()));
                }
                let rx = self
                    .rx
                    .insert(Self::receiver(Framing::sniff(first[0]), &self.config));
                rx.feed(&first);
                return Poll::Ready(Ok(()));
            }
        };
        let spare = rx.spare();
        if spare.is_empty() {
            // Cannot happen while events are drained before reading: the
            // buffer always has room for the largest accepted frame.
            return Poll::Ready(Err(io::Error::other("msgwire: receive buffer full")));
        }
        let n = ready!(Pin::new(io).poll_read(cx, spare))?;
        if n == 0 {
            self.eof = true;
        }
        rx.commit(n);
        Poll::Ready(Ok(()))
    }

    /// Whether the peer has closed its side.
    pub(crate) fn eof(&self) -> bool {
        self.eof
    }

    /// The next event, reading when needed (and flushing `tx` first, so a
    /// peer waiting for answers gets them before this side blocks).
    pub(super) async fn recv_at<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        tx: &mut TxState,
    ) -> Result<At, RecvError> {
        // Reads that gave no event (garbage, the skipped bytes of a refused
        // frame, an overlong line): a peer that keeps sending such bytes
        // never makes a read wait, so every few reads the task lets others
        // run — and whoever races this future (a stop signal, a timer) gets
        // polled. Kept in the future: a dropped receive only restarts the
        // count.
        let mut reads = 0u32;
        loop {
            match self.next_event() {
                Some(Ok(at)) => return Ok(at),
                Some(Err(e)) => return Err(RecvError::Decode(e)),
                None => {}
            }
            if self.eof {
                return Err(RecvError::Closed);
            }
            tx.flush(io).await?;
            if reads >= READS_BEFORE_YIELD {
                reads = 0;
                futures_lite::future::yield_now().await;
            }
            self.fill(io).await?;
            reads += 1;
        }
    }
}

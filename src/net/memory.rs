//! An in-memory transport: a connected pair of byte streams over bounded
//! `async-channel`s, usable wherever a TCP stream is (tests, in-process
//! actors).

use std::boxed::Box;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::vec::Vec;

use async_channel::{Receiver, Sender};
use futures_lite::{AsyncRead, AsyncWrite, Stream};

type Pending = Pin<Box<dyn Future<Output = Result<(), async_channel::SendError<Vec<u8>>>> + Send>>;

/// One end of a [`pipe`]: what one side writes, the other reads, in order.
///
/// Each write is one chunk in a bounded channel of `capacity` chunks: a
/// writer whose reader does not keep up waits (backpressure). Dropping or
/// closing an end gives the other end end-of-stream once it has read
/// everything before it, and makes its writes fail with `BrokenPipe`.
pub struct MemStream {
    tx: Sender<Vec<u8>>,
    /// Boxed: an async-channel receiver is not `Unpin`.
    rx: Pin<Box<Receiver<Vec<u8>>>>,
    chunk: Vec<u8>,
    pos: usize,
    /// A chunk accepted from the caller that did not fit in the channel yet.
    sending: Option<Pending>,
}

impl fmt::Debug for MemStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemStream")
            .field("unread", &(self.chunk.len() - self.pos))
            .field("queued_chunks", &self.rx.len())
            .field("send_pending", &self.sending.is_some())
            .finish()
    }
}

/// A connected pair of in-memory streams, each direction a bounded channel
/// of `capacity` chunks (at least 1).
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
///
/// # futures_lite::future::block_on(async {
/// let (mut a, mut b) = msgwire::net::memory::pipe(4);
/// a.write_all(b"PING:hi\n").await?;
/// let mut buf = [0u8; 8];
/// b.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"PING:hi\n");
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub fn pipe(capacity: usize) -> (MemStream, MemStream) {
    let (tx_a, rx_b) = async_channel::bounded(capacity.max(1));
    let (tx_b, rx_a) = async_channel::bounded(capacity.max(1));
    let end = |tx, rx| MemStream {
        tx,
        rx: Box::pin(rx),
        chunk: Vec::new(),
        pos: 0,
        sending: None,
    };
    (end(tx_a, rx_a), end(tx_b, rx_b))
}

fn broken() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the other end of the pipe is closed",
    )
}

impl MemStream {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(fut) = self.sending.as_mut() {
            let r = futures_lite::ready!(fut.as_mut().poll(cx));
            self.sending = None;
            r.map_err(|_| broken())?;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for MemStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        while this.pos == this.chunk.len() {
            match futures_lite::ready!(this.rx.as_mut().poll_next(cx)) {
                Some(chunk) => {
                    this.chunk = chunk;
                    this.pos = 0;
                }
                None => return Poll::Ready(Ok(0)),
            }
        }
        let n = buf.len().min(this.chunk.len() - this.pos);
        buf[..n].copy_from_slice(&this.chunk[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for MemStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        futures_lite::ready!(this.poll_pending(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match this.tx.try_send(buf.to_vec()) {
            Ok(()) => Poll::Ready(Ok(buf.len())),
            Err(async_channel::TrySendError::Closed(_)) => Poll::Ready(Err(broken())),
            Err(async_channel::TrySendError::Full(chunk)) => {
                // Accept the bytes now; the next write or flush waits for
                // room, which is the backpressure.
                let tx = this.tx.clone();
                this.sending = Some(Box::pin(async move { tx.send(chunk).await }));
                let _ = this.poll_pending(cx)?;
                Poll::Ready(Ok(buf.len()))
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_pending(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_lite::ready!(self.poll_pending(cx))?;
        self.tx.close();
        Poll::Ready(Ok(()))
    }
}

impl Drop for MemStream {
    fn drop(&mut self) {
        // A chunk still waiting for room is lost with its writer; the
        // reader sees the stream end after what was already queued.
        self.tx.close();
    }
}

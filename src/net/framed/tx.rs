//! The sending half of a connection: outgoing messages encoded into one
//! buffer and written out when it fills or is flushed; a large binary
//! payload goes out straight from the caller's slice.

use std::io;
use std::time::Duration;
use std::vec::Vec;

use futures_lite::{AsyncWrite, AsyncWriteExt};

use super::SendError;
use crate::conversation::Framing;
use crate::conversation::Wire;
use crate::net::io::{or_stall, write_some};
use crate::{Error, Message};

/// The sending half's state: buffered outgoing bytes.
pub(crate) struct TxState {
    /// How long a write may wait for the peer to read.
    pub(super) write_timeout: Option<Duration>,
    pub(super) out: Vec<u8>,
    /// Bytes of `out` already written (a cancelled flush resumes here).
    pos: usize,
    pub(super) framing: Framing,
    pub(super) write_buffer: usize,
    /// Bytes went to the transport since its last flush: a buffering
    /// transport (TLS, a `BufWriter`, `memory::pipe`) may hold them until
    /// it is flushed.
    unflushed: bool,
}

impl TxState {
    pub(crate) fn new(framing: Framing, write_buffer: usize) -> Self {
        TxState {
            write_timeout: None,
            unflushed: false,
            out: Vec::new(),
            pos: 0,
            framing,
            write_buffer: write_buffer.max(64),
        }
    }

    /// Appends `m` to the buffer; writes out when the buffer is full, and
    /// writes a large payload straight from `m.payload`.
    pub(crate) async fn send<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        m: &Message<'_>,
    ) -> Result<(), SendError> {
        // The common case does not await at all: the frame is encoded into
        // the buffer, which is written out only once it is full.
        if !self.queue(m).map_err(SendError::Encode)? {
            self.send_large(io, m).await?;
        }
        if self.out.len() >= self.write_buffer {
            self.flush_buffer(io).await?;
        }
        Ok(())
    }

    /// Sends `frame`, a message already encoded in this framing, as
    /// [`TxState::send`] sends one: into the buffer, or, when it is at
    /// least `write_buffer` long, after the buffered bytes straight from
    /// the caller's slice (the buffer does not grow to its size).
    pub(crate) async fn send_encoded<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        frame: &[u8],
    ) -> io::Result<()> {
        if frame.len() < self.write_buffer {
            self.out.extend_from_slice(frame);
        } else {
            self.flush_buffer(io).await?;
            self.write_straight(io, frame).await?;
        }
        if self.out.len() >= self.write_buffer {
            self.flush_buffer(io).await?;
        }
        Ok(())
    }

    /// Encodes `m` at the end of the buffer. `Ok(false)`: a binary payload
    /// at least `write_buffer` long, left for [`TxState::send_large`].
    pub(super) fn queue(&mut self, m: &Message<'_>) -> Result<bool, Error> {
        if self.framing == Framing::Binary && m.payload.len() >= self.write_buffer {
            // Refuses an unencodable message before anything is written.
            Wire::new(m, self.framing)?;
            return Ok(false);
        }
        // Refuses an unencodable message with nothing appended.
        Wire::append(m, self.framing, &mut self.out)?;
        Ok(true)
    }

    /// Writes a large binary frame: the header after the buffered bytes,
    /// then the payload straight from the caller's slice (no copy).
    async fn send_large<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        m: &Message<'_>,
    ) -> Result<(), SendError> {
        let wire = Wire::new(m, self.framing).map_err(SendError::Encode)?;
        let [header, kind, payload, trailer] = wire.parts();
        self.out.extend_from_slice(header);
        self.out.extend_from_slice(kind);
        self.flush_buffer(io).await?;
        self.write_straight(io, payload).await?;
        self.out.extend_from_slice(trailer);
        Ok(())
    }

    /// Writes `bytes` from the caller's slice, not through the buffer
    /// (which must be written out first).
    async fn write_straight<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        mut bytes: &[u8],
    ) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = self.write_some(io, bytes).await?;
            self.unflushed = true;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// Writes out the buffer. Cancel safe: progress is kept in `pos`.
    pub(super) async fn flush_buffer<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
    ) -> io::Result<()> {
        while self.pos < self.out.len() {
            let n = write_some(io, &self.out[self.pos..], self.write_timeout).await?;
            self.unflushed = true;
            self.pos += n;
        }
        self.out.clear();
        self.pos = 0;
        Ok(())
    }

    /// Writes out the buffer and flushes the transport, if anything was
    /// written to it since its last flush (answers written straight from
    /// `send` when the buffer filled among them).
    pub(crate) async fn flush<W: AsyncWrite + Unpin>(&mut self, io: &mut W) -> io::Result<()> {
        if self.out.is_empty() && !self.unflushed {
            return Ok(());
        }
        self.flush_buffer(io).await?;
        or_stall(io.flush(), self.write_timeout).await?;
        self.unflushed = false;
        Ok(())
    }

    pub(super) fn pending(&self) -> usize {
        self.out.len() - self.pos
    }

    async fn write_some<W: AsyncWrite + Unpin>(
        &self,
        io: &mut W,
        bytes: &[u8],
    ) -> io::Result<usize> {
        write_some(io, bytes, self.write_timeout).await
    }
}

//! The server side: [`serve`] runs one conversation over a transport,
//! configured by a [`ServeConfig`], until it [`Ended`].

use embedded_io_async::{Read, Write};

use super::handler::Handler;
use super::{write_all, IoError, LOG_TARGET};
use crate::conversation::{Answer, Event, Framing, Limits, Receiver, Responder};

/// How [`serve`] runs a conversation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeConfig {
    limits: Option<Limits>,
    framing: Option<Framing>,
}

impl ServeConfig {
    /// Limits lower than the buffer allows (by default: payloads of the
    /// buffer's length minus 50 bytes, lines of its length minus 1).
    pub const fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// A fixed framing instead of sniffing it from the first byte.
    pub const fn framing(mut self, framing: Framing) -> Self {
        self.framing = Some(framing);
        self
    }
}

/// How a conversation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Ended {
    /// The peer sent `EXIT`; every answer owed was written and flushed.
    Exit,
    /// The transport's `read` returned 0 bytes (the peer closed).
    Closed,
}

/// Serves one conversation over `io` (§4) until the peer sends `EXIT` or
/// closes: the framing is sniffed from the first byte, the built-ins and
/// every error are answered, the application's kinds go to `handler`, one
/// request at a time, so answers are in request order. Every request is
/// answered: with the handler's [`Reply`](super::Reply), or `ERROR` for
/// its [`HandlerError`](super::HandlerError). Bad input never ends the
/// loop; answers are flushed before each read.
///
/// `buf` is the receive buffer: requests are borrowed from it, never
/// copied. By default it sets the limits (see [`ServeConfig`]).
///
/// `EXIT` closes the conversation as it would close a connection: bytes
/// already read after it are dropped, and a new `serve` on the same
/// transport (a UART has no connection to close) starts from the next byte
/// read, sniffing its framing again.
///
/// # Errors
///
/// [`IoError::Io`] when the transport fails, [`IoError::Capacity`] when
/// `buf` is shorter than 50 bytes or than the configured limits need.
pub async fn serve<T, H>(
    io: &mut T,
    buf: &mut [u8],
    handler: &mut H,
    config: ServeConfig,
) -> Result<Ended, IoError<T::Error>>
where
    T: Read + Write,
    H: Handler,
{
    // `Receiver::new` in two steps: the decoder is built where it stays.
    let limits = match config.limits {
        Some(limits) => limits,
        None => Limits::for_buffer(buf.len()),
    };
    let rx = Receiver::unstarted(buf, config.framing, limits).map_err(|_| IoError::Capacity)?;
    let mut conv = Responder::with_receiver(rx);
    if let Some(framing) = config.framing {
        conv.enter(framing).map_err(|_| IoError::Capacity)?;
    }
    debug!(target: LOG_TARGET, "conversation started (framing {:?})", config.framing);
    let mut begun = false;
    loop {
        // The framing is known once a byte is in, and only then are there
        // events.
        let framing = conv.framing().unwrap_or(Framing::Binary);
        if !begun && conv.framing().is_some() {
            begun = true;
            handler.begin(framing);
        }
        loop {
            // The event ends before the answer is written, and only the
            // handler's wait holds it (`EXIT` is flushed below, not here):
            // so the future keeps the event and the answer in the same
            // bytes, not side by side.
            let answer = {
                let Some(event) = conv.poll(|kind| handler.handles(kind)) else {
                    break;
                };
                match event {
                    Event::Answer(a) => {
                        if let Some(code) = a.error_code() {
                            let id = a.id();
                            debug!(target: LOG_TARGET, "refused: ERROR {} (id {})", code, id);
                        }
                        a
                    }
                    Event::Request(request) => {
                        let id = request.id;
                        match handler.handle(request).await {
                            Ok(r) => Answer::new(id, r.kind(), r.payload()),
                            // `handler_failed` without `core::fmt`.
                            Err(e) => {
                                warn!(
                                    target: LOG_TARGET,
                                    "handler failed (id {}): {}: {}",
                                    id,
                                    e.code(),
                                    e.message()
                                );
                                Answer::error_strs(id, e.code(), &[e.message()])
                            }
                        }
                    }
                    // Nothing more is decoded: flushed and ended below.
                    Event::Exit => break,
                    // An event is the handler's, if it takes the kind, and
                    // is never answered: what the handler gives is dropped.
                    Event::Incoming(event) => {
                        if handler.handles(event.kind) {
                            let _ = handler.handle(event).await;
                        }
                        continue;
                    }
                }
            };
            let answer = answer.encodable(framing);
            // `encodable` gave an answer the framing can carry.
            if let Ok(wire) = answer.wire(framing) {
                // `write_parts`, inline: the future keeps the parts once.
                for part in wire.parts() {
                    write_all(io, part).await?;
                }
            }
        }
        io.flush().await.map_err(IoError::Io)?;
        if conv.exited() {
            debug!(target: LOG_TARGET, "conversation ended: EXIT");
            return Ok(Ended::Exit);
        }
        let spare = conv.spare();
        if spare.is_empty() {
            // Cannot happen once events are drained: the buffer always has
            // room for the largest frame or line it accepts.
            return Err(IoError::Capacity);
        }
        let n = io.read(spare).await.map_err(IoError::Io)?;
        if n == 0 {
            debug!(target: LOG_TARGET, "conversation ended: peer closed");
            return Ok(Ended::Closed);
        }
        conv.commit(n);
    }
}

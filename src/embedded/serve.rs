//! The server side: [`serve`] runs one conversation over a transport,
//! configured by a [`ServeConfig`], until it [`Ended`].

use embedded_io_async::{Read, Write};

use super::events::{Events, Slot, FILTERS};
use super::handler::Handler;
use super::{first, write_all, write_parts, Either, IoError, LOG_TARGET};
use crate::conversation::{
    event, Answer, Event, Filters, Framing, Lagged, Limits, Receiver, Responder, Rules, Wire,
};
use crate::Kind;

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
    run(io, buf, handler, config, &NoEvents).await
}

/// [`serve`], and the events the device publishes on `events` while the
/// conversation runs, written to the peer as its filters (`SUB`) ask
/// (`docs/PROTOCOL.md` §6; see [`Events`] for who gets what, `LAGGED`,
/// and the RAM it takes).
///
/// The loop waits on the transport's `read` and on `events` at once: a
/// published event wakes it, the pending `read` is dropped, queued events
/// are written (after the answers owed so far, each after its `LAGGED`
/// if events were lost before it), flushed, and a new `read` starts.
/// `events` is attached to this conversation while it runs, and detached
/// when it ends, however it ends (its future dropped too): what is still
/// queued then is dropped, and events published between conversations
/// are unwanted.
///
/// # Cancel safety of the transport
///
/// `io`'s `read` must be cancel safe ("side-effect-free on cancel", as
/// `embedded_io_async::Read::read` encourages but does not require):
/// dropping a pending `read` must lose no byte. A UART whose interrupt
/// fills a ring (firmware/'s), embassy-net's `TcpSocket` and USB
/// CDC-ACM classes that copy from their own buffer are; a `read` that
/// DMAs straight into the caller's buffer may not be, and would lose the
/// bytes of a read cut short by an event. Without events, use [`serve`],
/// which never drops a `read`.
///
/// # Errors
///
/// As [`serve`]'s, and [`IoError::Busy`] when another conversation holds
/// `events` (one conversation at a time per queue).
pub async fn serve_with_events<T, H, const N: usize, const P: usize>(
    io: &mut T,
    buf: &mut [u8],
    handler: &mut H,
    config: ServeConfig,
    events: &Events<N, P>,
) -> Result<Ended, IoError<T::Error>>
where
    T: Read + Write,
    H: Handler,
{
    run(io, buf, handler, config, events).await
}

/// Where a conversation's events come from: nowhere ([`serve`]), or an
/// [`Events`] queue ([`serve_with_events`]). With [`NoEvents`] every step
/// is empty and `serve` is what it was without events.
trait Source {
    /// Whether events may come at all.
    const ACTIVE: bool;

    /// The conversation starts; `false` when the source is another's.
    fn attach(&self) -> bool;

    /// The conversation ended.
    fn detach(&self);

    /// A `SUB` or `UNSUB` was answered: these are the filters now.
    fn set_filters(&self, filters: &Filters<FILTERS>);

    /// Writes what was published since the last call.
    async fn write<T: Write>(
        &self,
        io: &mut T,
        framing: Framing,
        rules: &Rules<FILTERS>,
    ) -> Result<(), IoError<T::Error>>;

    /// Reads into `spare`; `None` when events came first (the read was
    /// dropped).
    async fn read<T: Read>(&self, io: &mut T, spare: &mut [u8]) -> Option<Result<usize, T::Error>>;
}

/// [`serve`]'s source: no events.
struct NoEvents;

impl Source for NoEvents {
    const ACTIVE: bool = false;

    fn attach(&self) -> bool {
        true
    }

    fn detach(&self) {}

    fn set_filters(&self, _: &Filters<FILTERS>) {}

    async fn write<T: Write>(
        &self,
        _: &mut T,
        _: Framing,
        _: &Rules<FILTERS>,
    ) -> Result<(), IoError<T::Error>> {
        Ok(())
    }

    async fn read<T: Read>(&self, io: &mut T, spare: &mut [u8]) -> Option<Result<usize, T::Error>> {
        Some(io.read(spare).await)
    }
}

impl<const N: usize, const P: usize> Source for Events<N, P> {
    const ACTIVE: bool = true;

    fn attach(&self) -> bool {
        Events::attach(self)
    }

    fn detach(&self) {
        Events::detach(self);
    }

    fn set_filters(&self, filters: &Filters<FILTERS>) {
        Events::set_filters(self, filters);
    }

    async fn write<T: Write>(
        &self,
        io: &mut T,
        framing: Framing,
        rules: &Rules<FILTERS>,
    ) -> Result<(), IoError<T::Error>> {
        let mut out = Slot::<P>::EMPTY;
        while self.pop_into(&mut out) {
            // `LAGGED` whatever the filters (§6), where the events are
            // missing; its wire is always valid.
            if out.lagged() > 0 {
                let lagged = Lagged::new(out.lagged());
                if let Ok(wire) = Wire::new(&lagged.message(), framing) {
                    write_parts(io, wire.parts()).await?;
                }
            }
            // Checked again: after an `UNSUB` answer, no event that only
            // a removed filter matched.
            let kind = out.kind();
            if !rules.wants(kind) {
                continue;
            }
            match Wire::new(&event(kind, out.payload()), framing) {
                Ok(wire) => write_parts(io, wire.parts()).await?,
                // A text line cannot carry it: lost, and counted.
                Err(_) => self.lost_one(),
            }
        }
        Ok(())
    }

    async fn read<T: Read>(&self, io: &mut T, spare: &mut [u8]) -> Option<Result<usize, T::Error>> {
        match first(io.read(spare), self.ready()).await {
            Either::Left(read) => Some(read),
            Either::Right(()) => None,
        }
    }
}

/// Detaches the source however the conversation ends.
struct Attached<'s, S: Source>(&'s S);

impl<S: Source> Drop for Attached<'_, S> {
    fn drop(&mut self) {
        self.0.detach();
    }
}

/// The loop of [`serve`] and [`serve_with_events`].
async fn run<T, H, S>(
    io: &mut T,
    buf: &mut [u8],
    handler: &mut H,
    config: ServeConfig,
    events: &S,
) -> Result<Ended, IoError<T::Error>>
where
    T: Read + Write,
    H: Handler,
    S: Source,
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
    if !events.attach() {
        return Err(IoError::Busy);
    }
    let _attached = Attached(events);
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
                let (event, rules) = conv.poll_and_rules(|kind| handler.handles(kind));
                let Some(event) = event else {
                    break;
                };
                match event {
                    Event::Answer(a) => {
                        // Before the answer is written: events published
                        // from the moment it is sent are the peer's (§6).
                        if S::ACTIVE && (a.kind() == Kind::SUB || a.kind() == Kind::UNSUB) {
                            events.set_filters(rules.filters());
                        }
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
        if !conv.exited() {
            events.write(io, framing, conv.rules_mut()).await?;
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
        let Some(read) = events.read(io, spare).await else {
            // Events came first: written at the top of the loop.
            continue;
        };
        let n = read.map_err(IoError::Io)?;
        if n == 0 {
            debug!(target: LOG_TARGET, "conversation ended: peer closed");
            return Ok(Ended::Closed);
        }
        conv.commit(n);
    }
}

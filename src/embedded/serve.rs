//! The server side: [`serve`] runs one conversation over a transport,
//! configured by a [`ServeConfig`], until it [`Ended`].

use core::future::Future;

use embedded_io_async::{Read, Write};

use super::events::{Events, Slot, FILTERS};
use super::handler::Handler;
use super::{first, write_all, write_parts, Either, IoError, LOG_TARGET};
use crate::conversation::{
    event, Answer, Decided, Framing, Lagged, Limits, Receiver, Responder, Rules, Wire,
};
use crate::message::same;
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

/// The loop of [`serve`] and [`serve_with_events`], written into each:
/// a generic `async fn` that both await would keep the arguments twice in
/// `serve`'s future (+56 B) and costs it 80 B of flash, and a plain `fn`
/// returning it changes the inlining (+236 B). `$events` is a
/// [`Source`], of type `$source`; with [`NoEvents`] every step for events
/// is compiled out.
macro_rules! conversation {
    ($io:ident, $buf:ident, $handler:ident, $config:ident, $events:ident: $source:ty) => {{
        // `Receiver::new` in two steps: the decoder is built where it stays.
        let limits = match $config.limits {
            Some(limits) => limits,
            None => Limits::for_buffer($buf.len()),
        };
        let rx = Receiver::unstarted($buf, $config.framing, limits).map_err(|_| IoError::Capacity)?;
        let mut conv = Responder::with_receiver(rx);
        if let Some(framing) = $config.framing {
            conv.enter(framing).map_err(|_| IoError::Capacity)?;
        }
        let Some(_attached) = <$source as Source>::attach($events) else {
            return Err(IoError::Busy);
        };
        debug!(target: LOG_TARGET, "conversation started (framing {:?})", $config.framing);
        let mut begun = false;
        loop {
            // The framing is known once a byte is in, and only then are there
            // events.
            let known = conv.framing();
            let framing = known.unwrap_or(Framing::Binary);
            if !begun && known.is_some() {
                begun = true;
                $handler.begin(framing);
            }
            loop {
                // The answer is written where it stays, in the future: the
                // rules write a protocol answer (an `ERROR`'s or `HELLO`'s
                // text too) into it, and a handler's reply or failure
                // replaces it; no 160-byte text is built and moved.
                let mut answer = Answer::new(0, Kind::ERROR, b"");
                // The event ends before the answer is written, and only the
                // handler's wait holds it (`EXIT` is flushed below, not here).
                {
                    // One `let`: a binding of the whole `Option` would be kept
                    // in the future beside the answer.
                    let Some(decided) = $events.poll(
                        &mut conv,
                        |kind| $handler.handles(kind),
                        &mut answer,
                    ) else {
                        break;
                    };
                    match decided {
                        Decided::Answer => {
                            if let Some(code) = answer.error_code() {
                                let id = answer.id();
                                debug!(target: LOG_TARGET, "refused: ERROR {} (id {})", code, id);
                            }
                        }
                        Decided::Request(request) => {
                            let id = request.id;
                            match $handler.handle(request).await {
                                Ok(r) => answer.set(id, r.kind(), r.payload()),
                                // `handler_failed` without `core::fmt`.
                                Err(e) => {
                                    warn!(
                                        target: LOG_TARGET,
                                        "handler failed (id {}): {}: {}",
                                        id,
                                        e.code(),
                                        e.message()
                                    );
                                    answer.set_error(id, e.code(), e.message());
                                }
                            }
                        }
                        // Nothing more is decoded: flushed and ended below.
                        Decided::Exit => break,
                        // An event is the handler's, if it takes the kind, and
                        // is never answered: what the handler gives is dropped.
                        Decided::Incoming(event) => {
                            if $handler.handles(event.kind) {
                                let _ = $handler.handle(event).await;
                            }
                            continue;
                        }
                    }
                }
                answer.make_encodable(framing);
                // `make_encodable` left an answer the framing can carry.
                if let Ok(wire) = answer.wire(framing) {
                    // `write_parts`, inline: the future keeps the parts once.
                    for part in wire.parts() {
                        write_all($io, part).await?;
                    }
                }
            }
            // `ACTIVE` first: `serve` links none of it.
            if <$source as Source>::ACTIVE && !conv.exited() {
                $events.write($io, framing, conv.rules_mut()).await?;
            }
            $io.flush().await.map_err(IoError::Io)?;
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
            let n = $events.read($io, spare).await.map_err(IoError::Io)?;
            if <$source as Source>::ACTIVE && n == EVENTS_FIRST {
                // Events came first, the read was dropped: they are
                // written at the top of the loop.
                continue;
            }
            if n == 0 {
                debug!(target: LOG_TARGET, "conversation ended: peer closed");
                return Ok(Ended::Closed);
            }
            conv.commit(n);
        }
    }};
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
    let no_events = &NoEvents;
    conversation!(io, buf, handler, config, no_events: NoEvents)
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
/// dropping a pending `read` must lose no byte. A driver that copies out
/// of its own buffer (a ring its interrupt fills, as firmware/'s UART,
/// documented so in its `read`) is; a `read` that DMAs straight into the
/// caller's buffer may not be, and would lose the bytes of a read cut
/// short by an event: check the transport's documentation. Without
/// events, use [`serve`], which never drops a `read`.
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
    conversation!(io, buf, handler, config, events: Events<N, P>)
}

/// Where a conversation's events come from: nowhere ([`serve`]), or an
/// [`Events`] queue ([`serve_with_events`]). With [`NoEvents`] every step
/// is empty and `serve` is what it was without events.
trait Source {
    /// Whether events may come at all.
    const ACTIVE: bool;

    /// What detaches the source when it is dropped, however the
    /// conversation ends (`()` for `NoEvents`: nothing to keep or drop).
    type Attached<'s>
    where
        Self: 's;

    /// The conversation starts; `None` when the source is another's.
    fn attach(&self) -> Option<Self::Attached<'_>>;

    /// [`Responder::poll`], the answer written into `answer`; and with
    /// events, a `SUB` or `UNSUB` answer's filters copied in before the
    /// answer is written: events published from the moment it is sent are
    /// the peer's (§6).
    fn poll<'c>(
        &self,
        conv: &'c mut Responder<&mut [u8], FILTERS>,
        handled: impl FnMut(Kind<'_>) -> bool,
        answer: &mut Answer<'c>,
    ) -> Option<Decided<'c>>;

    /// Writes what was published since the last call.
    fn write<'f, T: Write>(
        &'f self,
        io: &'f mut T,
        framing: Framing,
        rules: &'f Rules<FILTERS>,
    ) -> impl Future<Output = Result<(), IoError<T::Error>>> + 'f;

    /// Reads into `spare`, or gives [`EVENTS_FIRST`] when events came
    /// first (the read is dropped). `NoEvents` gives the transport's
    /// `read` itself: `serve` awaits what it did without events.
    fn read<'f, T: Read>(
        &'f self,
        io: &'f mut T,
        spare: &'f mut [u8],
    ) -> impl Future<Output = Result<usize, T::Error>> + 'f;
}

/// What [`Source::read`] gives when events came before bytes: no read
/// returns that many bytes.
const EVENTS_FIRST: usize = usize::MAX;

/// [`serve`]'s source: no events.
struct NoEvents;

impl Source for NoEvents {
    const ACTIVE: bool = false;

    type Attached<'s> = ();

    fn attach(&self) -> Option<()> {
        Some(())
    }

    fn poll<'c>(
        &self,
        conv: &'c mut Responder<&mut [u8], FILTERS>,
        handled: impl FnMut(Kind<'_>) -> bool,
        answer: &mut Answer<'c>,
    ) -> Option<Decided<'c>> {
        conv.poll_into(handled, answer).0
    }

    fn write<'f, T: Write>(
        &'f self,
        _: &'f mut T,
        _: Framing,
        _: &'f Rules<FILTERS>,
    ) -> impl Future<Output = Result<(), IoError<T::Error>>> + 'f {
        core::future::ready(Ok(()))
    }

    fn read<'f, T: Read>(
        &'f self,
        io: &'f mut T,
        spare: &'f mut [u8],
    ) -> impl Future<Output = Result<usize, T::Error>> + 'f {
        io.read(spare)
    }
}

impl<const N: usize, const P: usize> Source for Events<N, P> {
    const ACTIVE: bool = true;

    type Attached<'s> = Attached<'s, N, P>;

    fn attach(&self) -> Option<Attached<'_, N, P>> {
        // `then`, not `then_some`: a guard built and dropped on a refusal
        // would detach the conversation that holds the queue.
        Events::attach(self).then(|| Attached(self))
    }

    fn poll<'c>(
        &self,
        conv: &'c mut Responder<&mut [u8], FILTERS>,
        handled: impl FnMut(Kind<'_>) -> bool,
        answer: &mut Answer<'c>,
    ) -> Option<Decided<'c>> {
        let (decided, rules) = conv.poll_into(handled, answer);
        if let Some(Decided::Answer) = decided {
            // Bytes compared by a loop: no `memcmp` linked for it.
            let kind = answer.kind().as_bytes();
            if same(kind, b"SUB") || same(kind, b"UNSUB") {
                self.set_filters(rules.filters());
            }
        }
        decided
    }

    fn write<'f, T: Write>(
        &'f self,
        io: &'f mut T,
        framing: Framing,
        rules: &'f Rules<FILTERS>,
    ) -> impl Future<Output = Result<(), IoError<T::Error>>> + 'f {
        self.write_queued(io, framing, rules)
    }

    async fn read<T: Read>(&self, io: &mut T, spare: &mut [u8]) -> Result<usize, T::Error> {
        match first(io.read(spare), self.ready()).await {
            Either::Left(read) => read,
            Either::Right(()) => Ok(EVENTS_FIRST),
        }
    }
}

impl<const N: usize, const P: usize> Events<N, P> {
    /// Writes the queued events, each after its `LAGGED`, those the
    /// conversation still wants.
    async fn write_queued<T: Write>(
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
}

/// Detaches an [`Events`] however the conversation ends.
struct Attached<'s, const N: usize, const P: usize>(&'s Events<N, P>);

impl<const N: usize, const P: usize> Drop for Attached<'_, N, P> {
    fn drop(&mut self) {
        self.0.detach();
    }
}

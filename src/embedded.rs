//! The conversation over `embedded-io-async` (feature `embedded-io-async`):
//! an async [`serve`] loop and a [`Client`] over any
//! `embedded_io_async::Read + Write` — a UART, a USB CDC class, an
//! embassy-net `TcpSocket`. No allocator, no runtime, no time driver: the
//! rules are [`crate::conversation`]'s, this module only moves bytes.
//!
//! # Serving
//!
//! ```
//! use msgwire::embedded::{serve, Ended, Handler, HandlerError, Outcome, Reply, ServeConfig};
//! use msgwire::{Kind, Message};
//!
//! /// Answers `TEMP` with a reading; `PING`, `ECHO`, `EXIT` and every
//! /// `ERROR` come from the protocol itself.
//! struct Sensor;
//!
//! impl Handler for Sensor {
//!     fn handles(&self, kind: Kind<'_>) -> bool {
//!         kind == "TEMP"
//!     }
//!
//!     async fn handle<'a>(&'a mut self, request: Message<'a>) -> Outcome<'a> {
//!         match request.payload {
//!             b"" => Ok(Some(Reply::new(Kind::new("TEMP").unwrap(), b"21.5"))),
//!             _ => Err(HandlerError::new("TEMP takes no payload")),
//!         }
//!     }
//! }
//!
//! async fn run<T: embedded_io_async::Read + embedded_io_async::Write>(uart: &mut T) -> ! {
//!     let mut buf = [0u8; 306]; // payloads up to 256 bytes, lines up to 305
//!     loop {
//!         // After EXIT (or the peer closing) a new conversation starts,
//!         // and its framing is sniffed again.
//!         match serve(uart, &mut buf, &mut Sensor, ServeConfig::default()).await {
//!             Ok(Ended::Exit | Ended::Closed) => {}
//!             Err(_transport_failed) => {}
//!         }
//!     }
//! }
//! ```
//!
//! # Cancel safety
//!
//! - [`serve`] keeps its state in the caller's buffer and in its future:
//!   dropping the future ends the conversation (an answer may be half
//!   written); calling `serve` again starts a new one.
//! - [`Client::request`] is cancel safe as far as the client goes: a
//!   dropped request gives up its id (a later answer to it is counted as
//!   late), and bytes already read stay buffered. It cannot undo a request
//!   already written, and a timeout drops a pending `read` of the
//!   transport: with a transport whose `read` is not cancel safe (see its
//!   docs), bytes may be lost then.

use core::fmt;
use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

use embedded_io_async::{Read, Write};

use crate::conversation::{
    Answer, ErrorText, Event, Framing, Limits, Matched, Pending, Receiver, RemoteError, Responder,
};
use crate::{DecodeError, Encoder, Flags, Kind, Message, TextEncoder};

/// What a [`Handler`] answers: a kind and a payload (the loop adds the
/// request's id and the `RESPONSE` flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reply<'a> {
    /// The answer's kind.
    pub kind: Kind<'a>,
    /// The answer's payload.
    pub payload: &'a [u8],
}

impl<'a> Reply<'a> {
    /// A reply of `kind` with `payload`.
    pub const fn new(kind: Kind<'a>, payload: &'a [u8]) -> Self {
        Reply { kind, payload }
    }
}

/// A handler's failure: the peer gets `ERROR handler-failed: <detail>`
/// (or `ERROR <code>: <detail>`, see [`HandlerError::with_code`]) and the
/// loop goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HandlerError<'a> {
    code: &'static str,
    detail: &'a str,
}

impl<'a> HandlerError<'a> {
    /// A failure described by `detail`: `ERROR handler-failed: <detail>`.
    pub const fn new(detail: &'a str) -> Self {
        HandlerError::with_code("handler-failed", detail)
    }

    /// A failure answered `ERROR <code>: <detail>`, for a code of the
    /// application's or one of the protocol's (`bad-payload`). A code is
    /// lowercase words joined by `-`, with no `:`.
    ///
    /// ```
    /// use msgwire::embedded::HandlerError;
    ///
    /// let e = HandlerError::with_code("out-of-range", "channel 9");
    /// assert_eq!((e.code(), e.detail()), ("out-of-range", "channel 9"));
    /// ```
    pub const fn with_code(code: &'static str, detail: &'a str) -> Self {
        HandlerError { code, detail }
    }

    /// The code of the `ERROR` answer (`handler-failed` unless given).
    pub const fn code(&self) -> &'static str {
        self.code
    }

    /// The description.
    pub const fn detail(&self) -> &'a str {
        self.detail
    }
}

impl fmt::Display for HandlerError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail)
    }
}

/// What a handler returns: a reply, no reply (`Ok(None)`), or a failure.
pub type Outcome<'a> = Result<Option<Reply<'a>>, HandlerError<'a>>;

/// The application's side of [`serve`], statically dispatched (no
/// `Box<dyn>`). `async fn handle` in the impl is the usual way to write it.
pub trait Handler {
    /// Whether this handler takes requests of `kind`. A kind it takes
    /// overrides the built-in of the same name (`PING`, `ECHO`, `EXIT`).
    fn handles(&self, kind: Kind<'_>) -> bool;

    /// Handles one request; the reply may borrow the request or the
    /// handler (a buffer it owns, say).
    fn handle<'a>(&'a mut self, request: Message<'a>) -> impl Future<Output = Outcome<'a>>;
}

/// A [`Handler`] that takes no kind: the built-ins and the `ERROR`
/// answers only.
#[derive(Clone, Copy, Debug, Default)]
pub struct Builtins;

impl Handler for Builtins {
    fn handles(&self, _kind: Kind<'_>) -> bool {
        false
    }

    fn handle<'a>(&'a mut self, _request: Message<'a>) -> impl Future<Output = Outcome<'a>> {
        core::future::ready(Ok(None))
    }
}

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

/// Why [`serve`] or a [`Client`] could not go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IoError<E> {
    /// The transport failed.
    Io(E),
    /// The transport's `write` accepted no byte.
    WriteZero,
    /// The buffer cannot hold a frame at the configured limits.
    Capacity,
}

impl<E: fmt::Debug> fmt::Display for IoError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoError::Io(e) => write!(f, "transport failed: {e:?}"),
            IoError::WriteZero => f.write_str("transport wrote no byte"),
            IoError::Capacity => f.write_str("buffer too small for the limits"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for IoError<E> {}

async fn write_all<T: Write>(io: &mut T, mut buf: &[u8]) -> Result<(), IoError<T::Error>> {
    while !buf.is_empty() {
        match io.write(buf).await.map_err(IoError::Io)? {
            0 => return Err(IoError::WriteZero),
            n => buf = buf.get(n..).unwrap_or_default(),
        }
    }
    Ok(())
}

/// Writes a message's head, payload and tail: the payload is not copied.
async fn write_parts<T: Write>(io: &mut T, parts: [&[u8]; 3]) -> Result<(), IoError<T::Error>> {
    for part in parts {
        write_all(io, part).await?;
    }
    Ok(())
}

/// Serves one conversation over `io` (§4) until the peer sends `EXIT` or
/// closes: the framing is sniffed from the first byte, the built-ins and
/// every error are answered, the application's kinds go to `handler`, one
/// request at a time, so answers are in request order. Bad input never
/// ends the loop; answers are flushed before each read.
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
    debug!("conversation started (framing {:?})", config.framing);
    loop {
        // The framing is known once a byte is in, and only then are there
        // events.
        let framing = conv.framing().unwrap_or(Framing::Binary);
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
                            debug!("refused: ERROR {} (id {})", code, a.id());
                        }
                        a
                    }
                    Event::Request(request) => {
                        let id = request.id;
                        match handler.handle(request).await {
                            Ok(Some(r)) => Answer::new(id, r.kind, r.payload),
                            Ok(None) => continue,
                            // `handler_failed` without `core::fmt`.
                            Err(e) => {
                                warn!("handler failed (id {}): {}: {}", id, e.code(), e.detail());
                                Answer::error_strs(id, e.code(), &[e.detail()])
                            }
                        }
                    }
                    // Nothing more is decoded: flushed and ended below.
                    Event::Exit => break,
                }
            };
            let answer = answer.encodable(framing);
            // `encodable` gave an answer the framing can carry. Four parts,
            // the same bytes as `Answer::wire`'s three, without its head
            // buffer.
            if let Ok(wire) = answer.split_wire(framing) {
                // `write_parts`, inline: the future keeps the parts once.
                for part in wire.parts() {
                    write_all(io, part).await?;
                }
            }
        }
        io.flush().await.map_err(IoError::Io)?;
        if conv.exited() {
            debug!("conversation ended: EXIT");
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
            debug!("conversation ended: peer closed");
            return Ok(Ended::Closed);
        }
        conv.commit(n);
    }
}

/// A clock for the [`Client`]'s timeouts: msgwire needs no time driver of
/// its own. Implement it over `embassy_time` (`Instant::now()`,
/// `Timer::at`) or a hardware timer.
pub trait Clock {
    /// A point in time.
    type Instant: Ord + Copy;

    /// Now.
    fn now(&self) -> Self::Instant;

    /// `ms` milliseconds after `from`.
    fn after(&self, from: Self::Instant, ms: u32) -> Self::Instant;

    /// Completes at `at` (or later).
    fn sleep_until(&self, at: Self::Instant) -> impl Future<Output = ()>;
}

/// No clock: requests wait for their answer for ever (or until the
/// transport fails or closes).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoClock;

impl Clock for NoClock {
    type Instant = ();

    fn now(&self) {}

    fn after(&self, _from: (), _ms: u32) {}

    fn sleep_until(&self, _at: ()) -> impl Future<Output = ()> {
        core::future::pending()
    }
}

/// Why a [`Client`] request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ClientError<E> {
    /// The transport failed, accepted no byte, or closed.
    Io(IoError<E>),
    /// The peer closed the stream before answering.
    Closed,
    /// No answer before the timeout.
    Timeout,
    /// `P` requests are already pending.
    Full,
    /// The request cannot be encoded (a text payload with `\n` …).
    Encode(crate::Error),
    /// The server answered `ERROR <code>: <detail>` (the text, cut at
    /// [`crate::conversation::MAX_ERROR_LEN`] bytes).
    Remote(ErrorText),
    /// This side's decoder refused the answer (too large for the buffer …).
    BadAnswer(DecodeError),
}

impl<E: fmt::Debug> fmt::Display for ClientError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => fmt::Display::fmt(e, f),
            ClientError::Closed => f.write_str("connection closed"),
            ClientError::Timeout => f.write_str("request timed out"),
            ClientError::Full => f.write_str("too many requests in flight"),
            ClientError::Encode(e) => write!(f, "cannot encode request: {e}"),
            ClientError::Remote(t) => write!(f, "server answered ERROR {t}"),
            ClientError::BadAnswer(e) => write!(f, "answer refused: {e}"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for ClientError<E> {}

impl<E> From<IoError<E>> for ClientError<E> {
    fn from(e: IoError<E>) -> Self {
        ClientError::Io(e)
    }
}

enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls both futures until one completes; the other is dropped.
async fn first<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(x) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(x));
        }
        if let Poll::Ready(y) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(y));
        }
        Poll::Pending
    })
    .await
}

/// Gives up a pending request if its future is dropped.
struct Abandon<'p, T: Ord + Copy, const P: usize> {
    pending: &'p mut Pending<T, P>,
    id: Option<u32>,
}

impl<T: Ord + Copy, const P: usize> Drop for Abandon<'_, T, P> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.pending.cancel(id);
        }
    }
}

/// A client over `embedded-io-async`: requests with ids, answers matched
/// by id (or in order, in text framing), typed errors, optional timeouts
/// through a [`Clock`]. `B` is the receive buffer (`[u8; N]`, `&mut [u8]`);
/// `P` is how many requests may be pending (the table is fixed: no
/// allocation).
///
/// # Examples
///
/// ```
/// use msgwire::conversation::Framing;
/// use msgwire::embedded::Client;
/// use msgwire::Kind;
///
/// async fn ask<T: embedded_io_async::Read + embedded_io_async::Write>(uart: T) {
///     let mut client = Client::<_, _>::new(uart, [0u8; 128], Framing::Binary).unwrap();
///     match client.request(Kind::PING, b"").await {
///         Ok(pong) => assert_eq!(pong.payload, b"ack"),
///         Err(e) => { /* typed: timeout, ERROR answer, transport … */ let _ = e; }
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Client<T, B, C: Clock = NoClock, const P: usize = 4> {
    io: T,
    rx: Receiver<B>,
    pending: Pending<C::Instant, P>,
    clock: C,
    timeout_ms: Option<u32>,
    checksum: bool,
}

impl<T, B, const P: usize> Client<T, B, NoClock, P>
where
    T: Read + Write,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    /// A client in `framing` with no timeouts; `buf` receives the answers
    /// (payloads up to its length minus 50 bytes).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Capacity`] for a buffer under 50 bytes.
    pub fn new(io: T, buf: B, framing: Framing) -> Result<Self, crate::Error> {
        Client::with_clock(io, buf, framing, NoClock, None)
    }
}

impl<T, B, C, const P: usize> Client<T, B, C, P>
where
    T: Read + Write,
    B: AsRef<[u8]> + AsMut<[u8]>,
    C: Clock,
{
    /// A client whose requests time out after `timeout_ms` by `clock`
    /// (`None`: no timeout).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Capacity`] for a buffer under 50 bytes.
    pub fn with_clock(
        io: T,
        buf: B,
        framing: Framing,
        clock: C,
        timeout_ms: Option<u32>,
    ) -> Result<Self, crate::Error> {
        Ok(Client {
            io,
            rx: Receiver::for_buffer(buf, Some(framing))?,
            pending: Pending::new(framing),
            clock,
            timeout_ms,
            checksum: false,
        })
    }

    /// Adds the CRC-32 trailer to binary requests.
    pub fn with_checksum(mut self, on: bool) -> Self {
        self.checksum = on;
        self
    }

    /// The table of pending requests: late and unsolicited counts.
    pub fn pending(&self) -> &Pending<C::Instant, P> {
        &self.pending
    }

    /// The receiver's counters.
    pub fn stats(&self) -> Option<&crate::Stats> {
        self.rx.stats()
    }

    /// The transport back.
    pub fn into_inner(self) -> T {
        self.io
    }

    fn framing(&self) -> Framing {
        self.rx.framing().unwrap_or(Framing::Binary)
    }

    async fn write_message(&mut self, m: &Message<'_>) -> Result<(), ClientError<T::Error>> {
        match self.framing() {
            Framing::Binary => {
                let head = Encoder::new().encode_head(m).map_err(ClientError::Encode)?;
                write_parts(&mut self.io, [head.as_bytes(), m.payload, head.trailer()]).await?;
            }
            Framing::Text => {
                TextEncoder::new()
                    .encoded_len(m.kind, m.payload)
                    .map_err(ClientError::Encode)?;
                write_parts(&mut self.io, [m.kind.as_bytes(), b":", m.payload]).await?;
                write_all(&mut self.io, b"\n").await?;
            }
        }
        self.io.flush().await.map_err(IoError::Io)?;
        Ok(())
    }

    /// Sends a message that expects no answer (`EXIT`, a notification);
    /// id 0.
    ///
    /// # Errors
    ///
    /// [`ClientError::Encode`] before anything is written, or the
    /// transport's failure.
    pub async fn send(
        &mut self,
        kind: Kind<'_>,
        payload: &[u8],
    ) -> Result<(), ClientError<T::Error>> {
        let flags = self.flags();
        self.write_message(&Message::new(kind, payload).with_flags(flags))
            .await
    }

    fn flags(&self) -> Flags {
        if self.checksum {
            Flags::CHECKSUM
        } else {
            Flags::EMPTY
        }
    }

    /// Sends a request and waits for its answer, which is borrowed from
    /// the receive buffer until the next call. Answers to earlier requests
    /// that gave up are counted as late and skipped; messages that answer
    /// nothing are counted as unsolicited and skipped.
    ///
    /// # Errors
    ///
    /// [`ClientError::Remote`] when the server answers `ERROR`;
    /// [`ClientError::Timeout`], [`ClientError::Closed`],
    /// [`ClientError::Full`], [`ClientError::Encode`],
    /// [`ClientError::BadAnswer`] (the answer's frame was refused here),
    /// or the transport's failure.
    pub async fn request(
        &mut self,
        kind: Kind<'_>,
        payload: &[u8],
    ) -> Result<Message<'_>, ClientError<T::Error>> {
        let deadline = self
            .timeout_ms
            .map(|ms| self.clock.after(self.clock.now(), ms));
        let id = self
            .pending
            .start(deadline)
            .map_err(|_| ClientError::Full)?;
        let flags = self.flags();
        let m = Message::new(kind, payload).with_id(id).with_flags(flags);
        if let Err(e) = self.write_message(&m).await {
            self.pending.cancel(id);
            return Err(e);
        }
        let Client {
            io,
            rx,
            pending,
            clock,
            ..
        } = self;
        let mut guard = Abandon {
            pending,
            id: Some(id),
        };
        let at = loop {
            match rx.next_event() {
                Some(Ok(at)) => {
                    if guard.pending.on_message(&rx.message_at(at)) == Matched::Answer(id) {
                        guard.id = None;
                        break at;
                    }
                    continue;
                }
                Some(Err(e)) => {
                    // A refused frame whose header carried this id is this
                    // request's answer; anything else is not ours.
                    if e.id == Some(id) || (e.id.is_none() && rx.framing() == Some(Framing::Text)) {
                        return Err(ClientError::BadAnswer(e));
                    }
                    continue;
                }
                None => {}
            }
            let spare = rx.spare();
            if spare.is_empty() {
                return Err(IoError::Capacity.into());
            }
            let read = match deadline {
                None => Either::Left(io.read(spare).await),
                Some(at) => first(io.read(spare), clock.sleep_until(at)).await,
            };
            match read {
                Either::Left(Ok(0)) => return Err(ClientError::Closed),
                Either::Left(Ok(n)) => rx.commit(n),
                Either::Left(Err(e)) => return Err(IoError::Io(e).into()),
                Either::Right(()) => {
                    // The guard's drop gives up the id; a later answer to
                    // it counts as late.
                    return Err(ClientError::Timeout);
                }
            }
        };
        drop(guard);
        let answer = rx.message_at(at);
        match RemoteError::of(&answer) {
            Some(e) => Err(ClientError::Remote(ErrorText::from_strs(
                e.code,
                &[e.detail],
            ))),
            None => Ok(answer),
        }
    }
}

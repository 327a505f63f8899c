//! The application's side of [`serve`](super::serve): the [`Handler`]
//! trait, what it answers ([`Reply`], [`HandlerError`], [`Outcome`]), the
//! handler that takes no kind ([`Builtins`]) and the combinator that makes
//! one handler of two ([`Or`]).

use core::fmt;
use core::future::Future;

use crate::conversation::Framing;
use crate::{Kind, Message};

/// What a [`Handler`] answers: a kind and a payload (the loop adds the
/// request's id and the `RESPONSE` flag).
///
/// ```
/// use msgwire::embedded::Reply;
/// use msgwire::Kind;
///
/// let reply = Reply::new(Kind::PONG, b"ack");
/// assert_eq!((reply.kind(), reply.payload()), (Kind::PONG, &b"ack"[..]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reply<'a> {
    kind: Kind<'a>,
    payload: &'a [u8],
}

impl<'a> Reply<'a> {
    /// A reply of `kind` with `payload`.
    pub const fn new(kind: Kind<'a>, payload: &'a [u8]) -> Self {
        Reply { kind, payload }
    }

    /// The answer's kind.
    pub const fn kind(&self) -> Kind<'a> {
        self.kind
    }

    /// The answer's payload.
    pub const fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// A handler's failure: the peer gets `ERROR handler-failed: <message>`
/// (or `ERROR <code>: <message>`, see [`HandlerError::with_code`]) and the
/// loop goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HandlerError<'a> {
    code: &'static str,
    message: &'a str,
}

impl<'a> HandlerError<'a> {
    /// A failure with this message: `ERROR handler-failed: <message>`.
    ///
    /// ```
    /// use msgwire::embedded::HandlerError;
    ///
    /// let e = HandlerError::msg("no sensor");
    /// assert_eq!((e.code(), e.message()), ("handler-failed", "no sensor"));
    /// assert_eq!(e.to_string(), "no sensor");
    /// ```
    pub const fn msg(message: &'a str) -> Self {
        HandlerError::with_code("handler-failed", message)
    }

    /// A failure answered `ERROR <code>: <message>`, for a code of the
    /// application's or one of the protocol's (`bad-payload`). A code is
    /// lowercase words joined by `-`, with no `:`.
    ///
    /// ```
    /// use msgwire::embedded::HandlerError;
    ///
    /// let e = HandlerError::with_code("out-of-range", "channel 9");
    /// assert_eq!((e.code(), e.message()), ("out-of-range", "channel 9"));
    /// ```
    pub const fn with_code(code: &'static str, message: &'a str) -> Self {
        HandlerError { code, message }
    }

    /// The code of the `ERROR` answer (`handler-failed` unless given).
    pub const fn code(&self) -> &'static str {
        self.code
    }

    /// The message.
    pub const fn message(&self) -> &'a str {
        self.message
    }
}

impl fmt::Display for HandlerError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

/// What a handler returns: a reply, or a failure answered `ERROR`. A
/// request is always answered (`docs/PROTOCOL.md` §4, id 0 included).
pub type Outcome<'a> = Result<Reply<'a>, HandlerError<'a>>;

/// The application's side of [`serve`](super::serve), statically
/// dispatched (no `Box<dyn>`). `async fn handle` in the impl is the usual
/// way to write it.
///
/// ```
/// use msgwire::embedded::{Handler, HandlerError, Outcome, Reply};
/// use msgwire::{Kind, Message};
///
/// /// `TEMP` → `TEMP 21.5`.
/// struct Sensor;
///
/// impl Handler for Sensor {
///     fn handles(&self, kind: Kind<'_>) -> bool {
///         kind == "TEMP"
///     }
///
///     async fn handle<'a>(&'a mut self, request: Message<'a>) -> Outcome<'a> {
///         match request.payload {
///             b"" => Ok(Reply::new(request.kind, b"21.5")),
///             _ => Err(HandlerError::msg("TEMP takes no payload")),
///         }
///     }
/// }
///
/// let temp = Kind::new("TEMP")?;
/// let mut sensor = Sensor;
/// let reply = futures_lite::future::block_on(sensor.handle(Message::new(temp, b"")));
/// assert_eq!(reply.map(|r| r.payload()), Ok(&b"21.5"[..]));
/// # Ok::<(), msgwire::Error>(())
/// ```
pub trait Handler {
    /// Whether this handler takes requests of `kind`. A kind it takes
    /// overrides the built-in of the same name (`PING`, `ECHO`, `EXIT`).
    fn handles(&self, kind: Kind<'_>) -> bool;

    /// Handles one request of a kind it takes, and answers it: a
    /// [`Reply`], or a [`HandlerError`] answered `ERROR`. The reply may
    /// borrow the request or the handler (a buffer it owns, say).
    fn handle<'a>(&'a mut self, request: Message<'a>) -> impl Future<Output = Outcome<'a>>;

    /// A conversation begins, in `framing` (known from its first byte,
    /// or fixed by [`ServeConfig::framing`](super::ServeConfig::framing)):
    /// the place to reset what the handler keeps for one conversation. A
    /// device's handler lives as long as the loop that calls
    /// [`serve`](super::serve) again after each `EXIT`, so what it holds is
    /// its connection's state. Does nothing unless overridden.
    fn begin(&mut self, framing: Framing) {
        let _ = framing;
    }

    /// This handler, then `next` for the kinds this one does not take: see
    /// [`Or`].
    fn or<B: Handler>(self, next: B) -> Or<Self, B>
    where
        Self: Sized,
    {
        Or::new(self, next)
    }
}

/// A [`Handler`] that takes no kind: the built-ins and the `ERROR`
/// answers only.
///
/// [`serve`](super::serve) never calls its `handle`, since it takes no
/// kind; called anyway, it answers `ERROR unknown-kind: <kind>`, as the
/// protocol answers a kind nobody takes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Builtins;

impl Handler for Builtins {
    fn handles(&self, _kind: Kind<'_>) -> bool {
        false
    }

    fn handle<'a>(&'a mut self, request: Message<'a>) -> impl Future<Output = Outcome<'a>> {
        // Ready at every poll: no "completed" state to keep and check, as
        // `ready` or an `async fn` would (a smaller `serve` loop).
        let kind = request.kind.as_str();
        core::future::poll_fn(move |_| {
            core::task::Poll::Ready(Err(HandlerError::with_code("unknown-kind", kind)))
        })
    }
}

/// Two handlers as one: a request goes to `first` when it takes the kind,
/// else to `second`. Statically dispatched: no `Box<dyn>`, no table. Any
/// [`Handler`] fits (`msgwire::typed`'s routes too); `a.or(b)`
/// ([`Handler::or`]) builds one, and chains of them make an application of
/// many handlers.
///
/// ```
/// use msgwire::embedded::{Handler, Outcome, Reply};
/// use msgwire::{Kind, Message};
///
/// /// Answers its kind with a fixed payload.
/// struct Fixed(&'static str, &'static [u8]);
///
/// impl Handler for Fixed {
///     fn handles(&self, kind: Kind<'_>) -> bool {
///         kind == self.0
///     }
///
///     async fn handle<'a>(&'a mut self, request: Message<'a>) -> Outcome<'a> {
///         Ok(Reply::new(request.kind, self.1))
///     }
/// }
///
/// let mut app = Fixed("TEMP", b"21.5").or(Fixed("HUMIDITY", b"40"));
/// let humidity = Kind::new("HUMIDITY")?;
/// assert!(app.handles(humidity) && app.handles(Kind::new("TEMP")?));
/// assert!(!app.handles(Kind::PING), "PING stays the built-in's");
/// let reply = futures_lite::future::block_on(app.handle(Message::new(humidity, b"")));
/// assert_eq!(reply.map(|r| r.payload()), Ok(&b"40"[..]));
/// # Ok::<(), msgwire::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Or<A, B> {
    first: A,
    second: B,
}

impl<A: Handler, B: Handler> Or<A, B> {
    /// `first`, then `second`.
    pub const fn new(first: A, second: B) -> Self {
        Or { first, second }
    }

    /// Then `next` for the kinds neither takes.
    pub fn or<C: Handler>(self, next: C) -> Or<Self, C> {
        Or::new(self, next)
    }

    /// The first handler.
    pub const fn first(&self) -> &A {
        &self.first
    }

    /// The second handler.
    pub const fn second(&self) -> &B {
        &self.second
    }

    /// Both handlers, to change their state between conversations.
    pub fn parts_mut(&mut self) -> (&mut A, &mut B) {
        (&mut self.first, &mut self.second)
    }

    /// Both handlers back.
    pub fn into_parts(self) -> (A, B) {
        (self.first, self.second)
    }
}

impl<A: Handler, B: Handler> Handler for Or<A, B> {
    fn handles(&self, kind: Kind<'_>) -> bool {
        self.first.handles(kind) || self.second.handles(kind)
    }

    fn begin(&mut self, framing: Framing) {
        self.first.begin(framing);
        self.second.begin(framing);
    }

    async fn handle<'a>(&'a mut self, request: Message<'a>) -> Outcome<'a> {
        if self.first.handles(request.kind) {
            self.first.handle(request).await
        } else {
            self.second.handle(request).await
        }
    }
}

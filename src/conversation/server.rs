//! The server side of §4: routing, the built-ins, `ERROR` answers and
//! their ids, as a state machine with no I/O.

use core::fmt;

use super::filter::{Filter, Filters};
use super::hello::{Hello, Rev};
use super::receiver::{Framing, Receiver};
use super::wire::Wire;
use crate::message::MAX_KIND_LEN;
use crate::{DecodeError, Encoder, Error, Flags, Kind, Message, TextEncoder};

/// Longest `ERROR` payload (`<code>: <detail>`); a longer detail is cut at
/// a character boundary.
pub const MAX_ERROR_LEN: usize = 160;

/// What §4 does with a request of some kind (decided by [`Rules`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Route {
    /// Built-in `PING`: answered `PONG ack`.
    Ping,
    /// Built-in `ECHO`: answered with the same payload.
    Echo,
    /// `EXIT`: no answer; flush and close.
    Exit,
    /// `HELLO`: answered with this side's tokens (§5).
    Hello,
    /// `SUB`: a filter added (§6).
    Sub,
    /// `UNSUB`: a filter (or every one) removed (§6).
    Unsub,
    /// The application handles it (a registered kind, which overrides a
    /// built-in of the same name, or a fallback).
    Application,
    /// No handler: answered `ERROR unknown-kind: <KIND>`.
    Unknown,
}

/// Whether `kind` is one of the protocol's own kinds (`PING`, `ECHO`,
/// `EXIT`, `HELLO`, `SUB`, `UNSUB`): a fallback handler does not take it.
/// `EXIT`, `HELLO`, `SUB` and `UNSUB` are never the application's; a
/// handler registered for `PING` or `ECHO` by name overrides it.
pub fn is_builtin(kind: Kind<'_>) -> bool {
    !matches!(Route::of(kind, || false), Route::Unknown)
}

impl Route {
    /// The route of `kind`: the protocol's own kinds first, then the
    /// application's when `handled` says it takes the kind (overriding
    /// `PING` and `ECHO`), then those built-ins, else unknown.
    #[inline]
    fn of(kind: Kind<'_>, handled: impl FnOnce() -> bool) -> Route {
        // Length and first byte first: most kinds are told apart from the
        // protocol's without a comparison of their bytes.
        let b = kind.as_bytes();
        let protocol = match (b.len(), b.first()) {
            (4, Some(b'E')) if b == b"EXIT" => Some(Route::Exit),
            (5, Some(b'H')) if b == b"HELLO" => Some(Route::Hello),
            (3, Some(b'S')) if b == b"SUB" => Some(Route::Sub),
            (5, Some(b'U')) if b == b"UNSUB" => Some(Route::Unsub),
            _ => None,
        };
        if let Some(route) = protocol {
            return route;
        }
        if handled() {
            return Route::Application;
        }
        match (b.len(), b.first()) {
            (4, Some(b'P')) if b == b"PING" => Route::Ping,
            (4, Some(b'E')) if b == b"ECHO" => Route::Echo,
            _ => Route::Unknown,
        }
    }
}

/// An `ERROR` payload, `<code>: <detail>`, built without allocating: line
/// breaks in the detail become spaces (a text-mode answer stays one line)
/// and it is cut at [`MAX_ERROR_LEN`] bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ErrorText(
    /// UTF-8, cut at a character boundary. Written a byte at a time
    /// ([`ErrorText::push_scrubbed`]): the line breaks are replaced as
    /// the bytes are copied.
    heapless::Vec<u8, MAX_ERROR_LEN>,
);

impl ErrorText {
    /// No text yet.
    pub(super) const fn empty() -> ErrorText {
        ErrorText(heapless::Vec::new())
    }

    /// `code: detail`, scrubbed and cut.
    pub fn new(code: &str, detail: impl fmt::Display) -> ErrorText {
        struct Sink(ErrorText);
        impl fmt::Write for Sink {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                if self.0.push_scrubbed(s) {
                    Ok(())
                } else {
                    // Full: the rest of the detail is cut.
                    Err(fmt::Error)
                }
            }
        }
        let mut sink = Sink(ErrorText::empty());
        // An `Err` here only means the text was cut at capacity.
        let _ = fmt::write(&mut sink, format_args!("{code}: {detail}"));
        sink.0
    }

    /// What [`ErrorText::new`] gives for a `&str` detail made of `detail`'s
    /// pieces one after the other, without `core::fmt` (which costs a
    /// firmware ~1.3 KB of flash): every `ERROR` msgwire gives by itself
    /// has `&str` pieces.
    pub(crate) fn from_strs(code: &str, detail: &[&str]) -> ErrorText {
        let mut t = ErrorText::empty();
        let _ = t.push_all(&[code, ": "]) && t.push_all(detail);
        t
    }

    /// Appends `pieces`; `false` when one had to be cut (the rest are
    /// left out, as `fmt::write` does).
    fn push_all(&mut self, pieces: &[&str]) -> bool {
        pieces.iter().all(|piece| self.push_scrubbed(piece))
    }

    /// Appends `s` with `\n` and `\r` as spaces; `false` when it had to be
    /// cut (at the last character that fits).
    fn push_scrubbed(&mut self, s: &str) -> bool {
        let mut end = s.len().min(MAX_ERROR_LEN - self.0.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.push_bytes(s.as_bytes().get(..end).unwrap_or_default());
        end == s.len()
    }

    /// Appends `s`, ASCII (HELLO's tokens, which always fit: no cut).
    pub(super) fn push_str(&mut self, s: &str) {
        self.push_bytes(s.as_bytes());
    }

    /// Appends `bytes`, cut at a character boundary by the caller, as many
    /// as fit: a line break (ASCII) becomes a space, every other byte is
    /// copied, so the text stays UTF-8.
    fn push_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let _ = self.0.push(if b == b'\n' || b == b'\r' { b' ' } else { b });
        }
    }

    /// Appends `n` in decimal.
    pub(super) fn push_dec(&mut self, n: u32) {
        self.push_bytes(super::hello::dec(n, &mut [0; 10]));
    }

    /// Appends `n` in 16 lowercase hex digits.
    pub(super) fn push_hex(&mut self, mut n: u64) {
        for _ in 0..16 {
            // The top nibble, then the next one shifted up.
            let nibble = (n >> 60) as u8;
            n <<= 4;
            let _ = self.0.push(if nibble < 10 {
                b'0' + nibble
            } else {
                b'a' + nibble - 10
            });
        }
    }

    /// The text's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // UTF-8 by construction: never the default.
        crate::message::utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The stable code: the text before the first `:`.
    pub fn code(&self) -> &str {
        self.as_str().split(':').next().unwrap_or_default()
    }

    /// The detail for people: the text after the code's `:` and the space
    /// that follows it.
    pub fn detail(&self) -> &str {
        let rest = self.as_str().split_once(':').map_or("", |(_, rest)| rest);
        rest.strip_prefix(' ').unwrap_or(rest)
    }
}

impl fmt::Debug for ErrorText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ErrorText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for ErrorText {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Body<'a> {
    Bytes(&'a [u8]),
    /// A payload the conversation wrote itself: an `ERROR`'s (with its
    /// code) or `HELLO`'s tokens (no code).
    Text(Option<&'static str>, ErrorText),
}

/// One answer as §4 gives it: the request's id, in binary mode the
/// `RESPONSE` flag, and a kind and payload. Write it with
/// [`Answer::wire`] (zero copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer<'a> {
    kind: Kind<'a>,
    id: u32,
    body: Body<'a>,
}

impl<'a> Answer<'a> {
    /// An answer of `kind` with `payload` to the request `id`.
    pub fn new(id: u32, kind: Kind<'a>, payload: &'a [u8]) -> Self {
        Answer {
            kind,
            id,
            body: Body::Bytes(payload),
        }
    }

    /// `ERROR <code>: <detail>` to the request `id`.
    pub fn error(id: u32, code: &'static str, detail: impl fmt::Display) -> Self {
        Answer {
            kind: Kind::ERROR,
            id,
            body: Body::Text(Some(code), ErrorText::new(code, detail)),
        }
    }

    /// Becomes `ERROR <code>: <detail>` to the request `id`: written where
    /// the answer is, not built and moved there (a device keeps one answer
    /// in its `serve` future).
    pub(crate) fn set_error(&mut self, id: u32, code: &'static str, detail: &str) {
        self.set_text(id, Kind::ERROR, Some(code), &[code, ": ", detail]);
    }

    /// Becomes an answer of `kind` to `id` whose payload is `pieces` one
    /// after the other, scrubbed and cut as an [`ErrorText`]; `code` when
    /// it is an `ERROR` (its pieces start with the code and `": "`). The
    /// text, for more.
    fn set_text(
        &mut self,
        id: u32,
        kind: Kind<'static>,
        code: Option<&'static str>,
        pieces: &[&str],
    ) -> Option<&mut ErrorText> {
        self.kind = kind;
        self.id = id;
        self.body = Body::Text(code, ErrorText::empty());
        // The text just set.
        let Body::Text(_, text) = &mut self.body else {
            return None;
        };
        // Stops at the first piece that is cut, as `fmt::write` does.
        let _ = text.push_all(pieces);
        Some(text)
    }

    /// `ERROR unknown-kind: <KIND>` (the host's router).
    #[cfg(feature = "async")]
    pub(crate) fn unknown_kind(request: &Message<'_>) -> Self {
        let mut a = Answer::new(request.id, Kind::ERROR, b"");
        a.set_unknown_kind(request);
        a
    }

    /// Becomes `ERROR unknown-kind: <KIND>` to `request`.
    fn set_unknown_kind(&mut self, request: &Message<'_>) {
        self.set_error(request.id, "unknown-kind", request.kind.as_str());
    }

    /// Whether [`Rules::decide_into`] made this answer for `PING`, `ECHO`
    /// or an unknown kind (the answers [`Rules::decide_taking`] lends):
    /// no other answer it makes is a `PONG` or an `ECHO` (`HELLO`, `SUB`
    /// and `UNSUB` are answered with their own kinds or an `ERROR`), nor
    /// has the `unknown-kind` code.
    fn lent(&self) -> bool {
        self.kind == Kind::PONG
            || self.kind == Kind::ECHO
            || self.error_code() == Some("unknown-kind")
    }

    /// Becomes an answer of `kind` with `payload` to the request `id`.
    pub(crate) fn set(&mut self, id: u32, kind: Kind<'a>, payload: &'a [u8]) {
        self.kind = kind;
        self.id = id;
        self.body = Body::Bytes(payload);
    }

    /// The kind.
    pub fn kind(&self) -> Kind<'_> {
        self.kind
    }

    /// The id (the request's, or 0).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        match &self.body {
            Body::Bytes(b) => b,
            Body::Text(_, t) => t.as_bytes(),
        }
    }

    /// The `ERROR` code when this is an error answer.
    pub fn error_code(&self) -> Option<&'static str> {
        match &self.body {
            Body::Text(code, _) => *code,
            Body::Bytes(_) => None,
        }
    }

    /// The message on the wire: kind, id, payload and the `RESPONSE` flag.
    pub fn message(&self) -> Message<'_> {
        Message::new(self.kind, self.payload())
            .with_id(self.id)
            .with_flags(Flags::RESPONSE)
    }

    /// This answer if `framing` can carry it, else `ERROR handler-failed:
    /// reply cannot be encoded: …` for the same request (a text payload
    /// with `\n` or a final `\r`, a payload over 4 GiB).
    pub fn encodable(mut self, framing: Framing) -> Self {
        self.make_encodable(framing);
        self
    }

    /// [`Answer::encodable`] in place.
    pub(crate) fn make_encodable(&mut self, framing: Framing) {
        if let Err(e) = self.check(framing) {
            let code = "handler-failed";
            let pieces = [code, ": ", "reply cannot be encoded: ", e.detail()];
            self.set_text(self.id, Kind::ERROR, Some(code), &pieces);
        }
    }

    fn check(&self, framing: Framing) -> Result<(), Error> {
        // The small build (no `fast-crc`) checks by building the wire
        // written next: one path through the encoders is linked, not two.
        // The host asks the encoders for the length (no header CRC).
        if cfg!(not(feature = "fast-crc")) {
            return self.wire(framing).map(|_| ());
        }
        match framing {
            Framing::Binary => Encoder::new().encoded_len(&self.message()).map(|_| ()),
            Framing::Text => TextEncoder::new()
                .encoded_len(self.kind, self.payload())
                .map(|_| ()),
        }
    }

    /// The answer's bytes in `framing`, as four slices that borrow the
    /// payload instead of copying it.
    ///
    /// # Errors
    ///
    /// What the encoder refuses (see [`Answer::encodable`], which never
    /// gives such an answer).
    pub fn wire(&self, framing: Framing) -> Result<Wire<'_>, Error> {
        Wire::new(&self.message(), framing)
    }
}

/// What the server side of a conversation asks its driver to do next.
#[derive(Debug)]
pub enum Event<'a> {
    /// Write this answer: a built-in's, or an `ERROR` the protocol gives
    /// (unknown kind, refused frame or line).
    Answer(Answer<'a>),
    /// An application request: run its handler, then answer with
    /// [`Answer::new`] (the reply) or [`Answer::error`] (its failure).
    Request(Message<'a>),
    /// `EXIT`: write nothing more, flush what is owed, close.
    Exit,
    /// An event the peer published (§6), for the application's handler of
    /// its kind, if it has one (else it is dropped): never answered.
    Incoming(Message<'a>),
}

/// The decisions of §4, §5 and §6 for one conversation, and the state
/// they need, without a receive buffer: what a received message or a
/// refused frame gets (a built-in's answer, an `ERROR` with the id §4
/// gives, the application's handler, the end of the conversation), the
/// handshake's answer, and the conversation's subscriptions: at most `F`
/// filters, in a fixed table.
///
/// [`Responder`] is `Rules` over a [`Receiver`]; a driver with a receiver
/// of its own (the host's) asks `Rules` directly, so both drivers follow
/// the same rules, written once.
///
/// # Examples
///
/// ```
/// use msgwire::conversation::{Event, Rules};
/// use msgwire::{Kind, Message};
///
/// let mut rules: Rules = Rules::new().with_max_payload(256);
/// let ping = Message::new(Kind::PING, b"").with_id(7);
/// match rules.decide(Ok(ping), |_kind| false) {
///     Some(Event::Answer(a)) => assert_eq!((a.kind(), a.id(), a.payload()), (Kind::PONG, 7, &b"ack"[..])),
///     other => panic!("{other:?}"),
/// }
/// let hello = Message::new(Kind::HELLO, b"rev=1.2");
/// match rules.decide(Ok(hello), |_| false) {
///     Some(Event::Answer(a)) => assert_eq!(a.payload(), b"rev=1.2 max=256"),
///     other => panic!("{other:?}"),
/// }
/// rules.decide(Ok(Message::new(Kind::SUB, b"sensor/*")), |_| false);
/// assert!(rules.wants(Kind::new("sensor/temp")?));
/// assert!(matches!(rules.decide(Ok(Message::new(Kind::EXIT, b"")), |_| false), Some(Event::Exit)));
/// assert!(rules.exited());
/// # Ok::<(), msgwire::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Rules<const F: usize = 4> {
    exited: bool,
    /// An untrusted header was answered, and no frame or trusted-header
    /// error has come since (§4: one `ERROR` for a run of noise).
    in_noise: bool,
    /// `max` of this side's `HELLO`: the largest payload it accepts.
    max_payload: u32,
    app: Option<heapless::String<MAX_KIND_LEN>>,
    schema: Option<u64>,
    /// The revision the peer named in its `HELLO`, if it sent one.
    peer_rev: Option<Rev>,
    /// A `SUB` of the peer's was answered.
    subscribed: bool,
    filters: Filters<F>,
}

impl<const F: usize> Default for Rules<F> {
    fn default() -> Self {
        Rules::new()
    }
}

impl<const F: usize> Rules<F> {
    /// A new conversation, with no filter, that accepts payloads up to
    /// `u32::MAX` bytes as far as its `HELLO` says (see
    /// [`Rules::with_max_payload`]).
    pub const fn new() -> Self {
        Rules {
            exited: false,
            in_noise: false,
            max_payload: u32::MAX,
            app: None,
            schema: None,
            peer_rev: None,
            subscribed: false,
            filters: Filters::new(),
        }
    }

    /// The largest payload this side accepts: `HELLO`'s `max`. A driver
    /// gives its receiver's limit.
    pub const fn with_max_payload(mut self, max_payload: u32) -> Self {
        self.max_payload = max_payload;
        self
    }

    /// The application this side names in its `HELLO` (`app`).
    pub fn with_app(mut self, app: Kind<'_>) -> Self {
        let mut s = heapless::String::new();
        // A kind has at most 32 bytes: it fits.
        let _ = s.push_str(app.as_str());
        self.app = Some(s);
        self
    }

    /// The hash of the application's messages this side names in its
    /// `HELLO` (`schema`).
    pub const fn with_schema(mut self, schema: u64) -> Self {
        self.schema = Some(schema);
        self
    }

    /// Whether `EXIT` was received: the conversation is over, and a driver
    /// decodes nothing more.
    pub const fn exited(&self) -> bool {
        self.exited
    }

    /// The revision the peer named in its `HELLO`, if it sent one.
    pub const fn peer_rev(&self) -> Option<Rev> {
        self.peer_rev
    }

    /// The conversation's filters.
    pub const fn filters(&self) -> &Filters<F> {
        &self.filters
    }

    /// Whether this side may send the peer event frames (§6,
    /// "Compatibility"): the peer subscribed, or named revision 1.2 or
    /// later in its `HELLO`. A peer of an earlier revision would refuse
    /// the `EVENT` flag.
    pub fn peer_takes_events(&self) -> bool {
        self.subscribed || self.peer_rev.is_some_and(super::events::rev_has_events)
    }

    /// Whether an event of `kind` that this side publishes goes to this
    /// conversation: one of its filters matches (§6; once, however many
    /// match).
    pub fn wants(&self, kind: Kind<'_>) -> bool {
        self.filters.matches(kind)
    }

    /// What to do with `received`: a message the decoder gave, or the
    /// error of a frame or line it refused; `None` when nothing is to be
    /// done. `handled` tells whether the application takes a kind; it
    /// overrides `PING` and `ECHO`, never `EXIT`, `HELLO`, `SUB` or
    /// `UNSUB`.
    ///
    /// - A refused frame is answered `ERROR <code>` with its id when its
    ///   header was trusted, else 0; of a run of untrusted headers with no
    ///   frame and no trusted-header error between them, only the first
    ///   is answered (§4).
    /// - An event (a frame with the `EVENT` flag) is never answered: it is
    ///   the application's ([`Event::Incoming`]); a driver drops one that
    ///   no handler takes (§6).
    /// - `PING`, `ECHO`, `HELLO`, `SUB`, `UNSUB` and unknown kinds are
    ///   answered here; `EXIT` ends the conversation ([`Rules::exited`]).
    #[inline]
    pub fn decide<'a>(
        &mut self,
        received: Result<Message<'a>, DecodeError>,
        handled: impl FnOnce(Kind<'_>) -> bool,
    ) -> Option<Event<'a>> {
        self.decide_taking(received, handled, |_| false)
    }

    /// [`Rules::decide`], an answer written into `answer` (where a device
    /// keeps it) instead of carried by the event.
    // Out of line in the small build (no `fast-crc`): one copy for the
    // refused frames and the messages, not one inlined for each.
    #[cfg_attr(feature = "fast-crc", inline)]
    #[cfg_attr(not(feature = "fast-crc"), inline(never))]
    pub(crate) fn decide_into<'a>(
        &mut self,
        received: Result<Message<'a>, DecodeError>,
        handled: impl FnOnce(Kind<'_>) -> bool,
        answer: &mut Answer<'a>,
    ) -> Option<Decided<'a>> {
        let m = match received {
            Ok(m) => m,
            Err(e) => return self.refused(&e, answer),
        };
        self.in_noise = false;
        if m.flags.contains(Flags::EVENT) {
            return Some(Decided::Incoming(m));
        }
        match Route::of(m.kind, || handled(m.kind)) {
            Route::Application => return Some(Decided::Request(m)),
            Route::Exit => {
                self.exited = true;
                return Some(Decided::Exit);
            }
            Route::Hello => self.hello(&m, answer),
            Route::Sub => self.subscription(&m, true, answer),
            Route::Unsub => self.subscription(&m, false, answer),
            Route::Ping => answer.set(m.id, Kind::PONG, b"ack"),
            Route::Echo => answer.set(m.id, Kind::ECHO, m.payload),
            Route::Unknown => answer.set_unknown_kind(&m),
        }
        Some(Decided::Answer)
    }

    /// [`Rules::decide`], but the answer of `PING`, `ECHO` or an unknown
    /// kind (the protocol's own, the most frequent) is first lent to
    /// `take`: when `take` writes it (and returns `true`) there is nothing
    /// more to do (`None`). An [`Answer`] is large (it can hold an
    /// `ERROR`'s text): lent where it was made, it is not copied into an
    /// [`Event`] and out again. A driver's fast path. (The same rules:
    /// [`Rules::decide`] is this with a `take` that declines.)
    ///
    /// ```
    /// use msgwire::conversation::{Event, Rules};
    /// use msgwire::{Kind, Message};
    ///
    /// let mut rules: Rules = Rules::new();
    /// let mut written = Vec::new();
    /// let echo = Message::new(Kind::ECHO, b"hi").with_id(3);
    /// let event = rules.decide_taking(Ok(echo), |_| false, |a| {
    ///     written.push((a.kind().to_string(), a.id(), a.payload().to_vec()));
    ///     true
    /// });
    /// assert!(event.is_none());
    /// assert_eq!(written, [("ECHO".to_string(), 3, b"hi".to_vec())]);
    /// // Not taken: the answer comes back as an event.
    /// let ping = Message::new(Kind::PING, b"").with_id(4);
    /// assert!(matches!(rules.decide_taking(Ok(ping), |_| false, |_| false), Some(Event::Answer(_))));
    /// ```
    #[inline]
    pub fn decide_taking<'a>(
        &mut self,
        received: Result<Message<'a>, DecodeError>,
        handled: impl FnOnce(Kind<'_>) -> bool,
        take: impl FnOnce(&Answer<'a>) -> bool,
    ) -> Option<Event<'a>> {
        let mut answer = Answer::new(0, Kind::ERROR, b"");
        Some(match self.decide_into(received, handled, &mut answer)? {
            Decided::Answer if answer.lent() && take(&answer) => return None,
            Decided::Answer => Event::Answer(answer),
            Decided::Request(m) => Event::Request(m),
            Decided::Exit => Event::Exit,
            Decided::Incoming(m) => Event::Incoming(m),
        })
    }

    /// A refused frame's answer, or `None` for an untrusted header after
    /// another with nothing between them.
    fn refused<'a>(&mut self, e: &DecodeError, answer: &mut Answer<'a>) -> Option<Decided<'a>> {
        let untrusted = e.id.is_none()
            && matches!(
                e.error,
                Error::HeaderChecksum
                    | Error::UnsupportedVersion
                    | Error::ReservedFlags
                    | Error::InvalidKindLength
            );
        let repeat = untrusted && self.in_noise;
        self.in_noise = untrusted;
        if repeat {
            return None;
        }
        // Its code and detail, with the frame's id when its header was
        // trusted, else 0 (§4).
        answer.set_error(e.id.unwrap_or(0), e.error.code_text(), e.error.detail());
        Some(Decided::Answer)
    }

    /// The answer to `HELLO` (§5): this side's tokens, or `bad-hello`,
    /// or `incompatible`.
    fn hello<'a>(&mut self, m: &Message<'a>, answer: &mut Answer<'a>) {
        let theirs = match Hello::parse(m.payload) {
            Ok(h) => h,
            Err(e) => return answer.set_error(m.id, "bad-hello", e.detail()),
        };
        if theirs.rev.major != Rev::THIS.major {
            let code = "incompatible";
            let detail = "this side speaks 1.2, the peer ";
            if let Some(text) =
                answer.set_text(m.id, Kind::ERROR, Some(code), &[code, ": ", detail])
            {
                text.push_dec(theirs.rev.major);
                text.push_str(".");
                text.push_dec(theirs.rev.minor);
            }
            return;
        }
        self.peer_rev = Some(theirs.rev);
        let ours = Hello {
            rev: Rev::THIS.min(theirs.rev),
            max: Some(self.max_payload),
            app: self.app.as_deref(),
            schema: self.schema,
        };
        if let Some(text) = answer.set_text(m.id, Kind::HELLO, None, &[]) {
            // At most 101 bytes: they fit.
            ours.write_text(text);
        }
    }

    /// The answer to `SUB` (§6; `sub`: the filter added, or `bad-filter`,
    /// or `too-many-subscriptions`) or `UNSUB` (the filter, or every one
    /// for an empty payload, removed, or `bad-filter`): the payload as it
    /// came, with the request's kind.
    fn subscription<'a>(&mut self, m: &Message<'a>, sub: bool, answer: &mut Answer<'a>) {
        // Parsed first, whatever the kind: one parse (an empty `UNSUB`'s
        // `Err` is not used).
        let parsed = Filter::parse(m.payload);
        if !sub && m.payload.is_empty() {
            self.filters.clear();
        } else {
            let filter = match parsed {
                Ok(f) => f,
                Err(e) => return answer.set_error(m.id, "bad-filter", e.detail()),
            };
            if !sub {
                self.filters.remove(filter);
            } else if self.filters.add(filter).is_ok() {
                self.subscribed = true;
            } else {
                return answer.set_error(
                    m.id,
                    "too-many-subscriptions",
                    "this conversation holds all the filters it keeps",
                );
            }
        }
        answer.set(m.id, m.kind, m.payload);
    }
}

/// What [`Rules::decide_into`] decided: [`Event`] with the answer left
/// where the caller keeps it.
#[derive(Debug)]
pub(crate) enum Decided<'a> {
    /// The answer given is written: write it.
    Answer,
    /// [`Event::Request`].
    Request(Message<'a>),
    /// [`Event::Exit`].
    Exit,
    /// [`Event::Incoming`].
    Incoming(Message<'a>),
}

/// The server side of one conversation (§4), without I/O.
///
/// Feed it received bytes ([`Responder::spare`] / [`Responder::commit`],
/// or [`Responder::feed`]), then call [`Responder::poll`] until it returns
/// `None`, doing what each [`Event`] says. Requests are handed out one at
/// a time, in order, so answers written as they come are in request order.
/// The framing is sniffed from the first byte unless given.
///
/// # Examples
///
/// ```
/// use msgwire::conversation::{Event, Framing, Responder};
///
/// let mut server = Responder::new([0u8; 256], None)?;
/// server.feed(b"PING:\nTEMP:?\nFOO:\nEXIT:\n");
/// let mut out = Vec::new();
/// while let Some(event) = server.poll(|kind| kind == "TEMP") {
///     let answer = match event {
///         Event::Answer(a) => a,
///         Event::Request(req) => msgwire::conversation::Answer::new(req.id, req.kind, b"21.5"),
///         Event::Incoming(_) => continue, // an event: never answered
///         Event::Exit => break,
///     };
///     // Head, payload and tail: the payload is never copied.
///     for part in answer.wire(Framing::Text)?.parts() {
///         out.extend_from_slice(part);
///     }
/// }
/// assert_eq!(out, b"PONG:ack\nTEMP:21.5\nERROR:unknown-kind: FOO\n");
/// # Ok::<(), msgwire::Error>(())
/// ```
#[derive(Debug)]
pub struct Responder<B, const F: usize = 4> {
    rx: Receiver<B>,
    rules: Rules<F>,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Responder<B> {
    /// The server side over a receive buffer, with the largest limits it
    /// holds, keeping up to 4 filters; `framing` `None` sniffs it.
    ///
    /// # Errors
    ///
    /// [`Error::Capacity`] for a buffer under 50 bytes (see
    /// [`Receiver::for_buffer`]).
    pub fn new(buf: B, framing: Option<Framing>) -> Result<Self, Error> {
        Ok(Responder::with_receiver(Receiver::for_buffer(
            buf, framing,
        )?))
    }

    /// The server side over a receiver set up by the caller (limits),
    /// keeping up to 4 filters; its `HELLO` names the receiver's payload
    /// limit as `max`.
    pub fn with_receiver(rx: Receiver<B>) -> Self {
        let max = rx.limits().max_payload;
        Responder::with_rules(rx, Rules::new().with_max_payload(max))
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>, const F: usize> Responder<B, F> {
    /// The server side over a receiver and rules set up by the caller: `F`
    /// filters, this side's `HELLO` tokens.
    pub fn with_rules(rx: Receiver<B>, rules: Rules<F>) -> Self {
        Responder { rx, rules }
    }

    /// The conversation's rules: its filters, the peer's revision; and to
    /// name this side's `app` and `schema` in its `HELLO`
    /// ([`Rules::with_app`], [`Rules::with_schema`]).
    pub fn rules_mut(&mut self) -> &mut Rules<F> {
        &mut self.rules
    }

    /// Builds the decoder of `framing` for a receiver made by
    /// [`Receiver::unstarted`] (see [`Receiver::enter`]).
    #[cfg(feature = "embedded-io-async")]
    pub(crate) fn enter(&mut self, framing: Framing) -> Result<(), Error> {
        self.rx.enter(framing)
    }

    /// [`Responder::poll`] with the answer written into `answer`, and the
    /// rules as they stand once the event is decided (a `SUB` answer's
    /// filters), beside the event's borrow of the buffer: a device's.
    #[cfg(feature = "embedded-io-async")]
    pub(crate) fn poll_into<'c>(
        &'c mut self,
        mut handled: impl FnMut(Kind<'_>) -> bool,
        answer: &mut Answer<'c>,
    ) -> (Option<Decided<'c>>, &'c Rules<F>) {
        let Responder { rx, rules } = self;
        if rules.exited() {
            return (None, rules);
        }
        loop {
            match rx.next_event() {
                None => return (None, rules),
                // A refused frame the rules leave unanswered (a run of
                // noise, answered once) is skipped.
                Some(Err(e)) => match rules.decide_into(Err(e), &mut handled, answer) {
                    Some(decided) => return (Some(decided), rules),
                    None => continue,
                },
                Some(Ok(at)) => {
                    let decided = rules.decide_into(Ok(rx.message_at(at)), &mut handled, answer);
                    return (decided, rules);
                }
            }
        }
    }

    /// The receiver: framing, counters.
    pub fn receiver(&self) -> &Receiver<B> {
        &self.rx
    }

    /// The conversation's framing, once known.
    pub fn framing(&self) -> Option<Framing> {
        self.rx.framing()
    }

    /// Whether `EXIT` was received: nothing more is decoded.
    pub fn exited(&self) -> bool {
        self.rules.exited()
    }

    /// Space to read into (see [`Receiver::spare`]).
    pub fn spare(&mut self) -> &mut [u8] {
        self.rx.spare()
    }

    /// Marks bytes read into [`Responder::spare`] as received.
    pub fn commit(&mut self, n: usize) {
        self.rx.commit(n);
    }

    /// Copies in as much of `data` as fits (see [`Receiver::feed`]).
    pub fn feed(&mut self, data: &[u8]) -> usize {
        self.rx.feed(data)
    }

    /// The next thing to do, or `None` when more bytes are needed (or after
    /// `EXIT`). `handled` tells whether the application takes a kind; it
    /// overrides a built-in of the same name.
    pub fn poll(&mut self, mut handled: impl FnMut(Kind<'_>) -> bool) -> Option<Event<'_>> {
        if self.rules.exited() {
            return None;
        }
        loop {
            match self.rx.next_event()? {
                // A refused frame the rules leave unanswered (a run of
                // noise, answered once) is skipped.
                Err(e) => match self.rules.decide(Err(e), &mut handled) {
                    Some(event) => return Some(event),
                    None => continue,
                },
                Ok(at) => return self.rules.decide(Ok(self.rx.message_at(at)), handled),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `decide_taking` with a `take` that declines decides as `decide`,
    /// message for message and state for state; with a `take` that writes,
    /// the answers of `PING`, `ECHO` and unknown kinds are lent to it and
    /// nothing else is.
    #[test]
    #[cfg(feature = "std")]
    fn decide_taking_decides_as_decide() {
        let k = |s| Kind::new(s).expect("kind");
        let bad = DecodeError::new(Error::HeaderChecksum, None);
        let trusted = DecodeError::new(Error::TooLarge, Some(9));
        let inputs: [Result<Message<'static>, DecodeError>; 15] = [
            Ok(Message::new(Kind::PING, b"").with_id(1)),
            Ok(Message::new(Kind::ECHO, b"e").with_id(2)),
            Ok(Message::new(k("NOPE"), b"").with_id(3)),
            Ok(Message::new(k("MINE"), b"m").with_id(4)),
            Err(bad),
            Err(bad),
            Ok(Message::new(Kind::HELLO, b"rev=1.2").with_id(5)),
            Ok(Message::new(Kind::HELLO, b"rev=9.0").with_id(6)),
            Ok(Message::new(Kind::SUB, b"a/*").with_id(7)),
            Ok(Message::new(Kind::UNSUB, b"a/*").with_id(8)),
            Ok(Message::new(k("a/b"), b"x").with_flags(Flags::EVENT)),
            Err(trusted),
            Ok(Message::new(Kind::ECHO, b"").with_id(0)),
            Ok(Message::new(Kind::EXIT, b"")),
            Ok(Message::new(Kind::PING, b"").with_id(10)),
        ];
        let mine = |kind: Kind<'_>| kind == "MINE";
        let (mut a, mut b, mut c): (Rules, Rules, Rules) =
            (Rules::new(), Rules::new(), Rules::new());
        for m in inputs {
            let d = |x: &dyn core::fmt::Debug| std::format!("{x:?}");
            let want = a.decide(m, mine);
            assert_eq!(d(&b.decide_taking(m, mine, |_| false)), d(&want), "{m:?}");
            let mut lent = None;
            let got = c.decide_taking(m, mine, |ans| {
                lent = Some(ans.clone());
                true
            });
            match (&want, m) {
                (Some(Event::Answer(w)), Ok(r))
                    if r.kind == Kind::PING || r.kind == Kind::ECHO || r.kind == "NOPE" =>
                {
                    assert!(got.is_none(), "{m:?}");
                    assert_eq!(lent.as_ref(), Some(w), "{m:?}");
                }
                _ => {
                    assert_eq!(d(&got), d(&want), "{m:?}");
                    assert_eq!(lent, None, "{m:?}");
                }
            }
            for r in [&b, &c] {
                assert_eq!(
                    (
                        r.exited(),
                        r.in_noise,
                        r.peer_rev(),
                        r.subscribed,
                        r.filters().is_empty()
                    ),
                    (
                        a.exited(),
                        a.in_noise,
                        a.peer_rev(),
                        a.subscribed,
                        a.filters().is_empty()
                    )
                );
            }
        }
        assert!(a.exited());
    }

    /// The `&str` path gives what the `core::fmt` path gives, at and around
    /// the cut, with line breaks and multi-byte characters there.
    #[test]
    fn error_text_from_strs_is_error_text_new() {
        let long = "é".repeat(100);
        let mut details: [heapless::String<400>; 10] = Default::default();
        for (d, s) in details.iter_mut().zip([
            "",
            "a\r\nb",
            "\n",
            "plain detail",
            "x".repeat(154).as_str(),
            "x".repeat(155).as_str(),
            &("x".repeat(152) + "\n\ré"),
            &("x".repeat(153) + "é\n"),
            &long,
            &("\r".repeat(10) + &long),
        ]) {
            d.push_str(s).unwrap();
        }
        for code in ["unknown-kind", "x", ""] {
            for d in &details {
                let d = d.as_str();
                let want = ErrorText::new(code, d);
                assert_eq!(ErrorText::from_strs(code, &[d]), want, "{code} {d:?}");
                // Under Miri, every 17th cut (every one takes minutes).
                let step = if cfg!(miri) { 17 } else { 1 };
                for cut in (0..=d.len())
                    .step_by(step)
                    .filter(|&i| d.is_char_boundary(i))
                {
                    let (a, b) = d.split_at(cut);
                    assert_eq!(
                        ErrorText::from_strs(code, &[a, b]),
                        want,
                        "{code} {a:?} {b:?}"
                    );
                }
            }
        }
    }
}

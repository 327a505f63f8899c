//! Routing requests to handlers: the [`Request`] a handler gets (the
//! message and its connection, [`Conn`]), the [`Reply`] it gives, and the
//! handler types. The routing table, [`Router`], is in `table.rs`; the
//! loop that serves a connection through it in `serve.rs`.

use std::any::Any;
use std::boxed::Box;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use super::Frame;
use crate::Kind;

// The table before the loop: the docs list `Router`'s methods in the
// order the modules are declared (`new`, `on` … before `serve` …).
mod table;

mod serve;

pub use serve::ConnEnd;
pub(crate) use serve::ConnEvent;
pub use table::Router;

/// The `log` target of the lines logged in this module's files: its own
/// path (`msgwire::net::router`), as when it was one file.
const LOG_TARGET: &str = module_path!();

/// What a handler answers: a kind and a payload. The router adds the
/// request's id and the `RESPONSE` flag.
///
/// ```
/// use msgwire::net::Reply;
/// use msgwire::Kind;
///
/// const TEMP: Kind<'static> = Kind::lit("TEMP");
/// let r = Reply::new(TEMP, "21.5");
/// assert_eq!((r.kind(), r.payload()), (TEMP, &b"21.5"[..]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reply {
    kind: String,
    payload: Vec<u8>,
}

impl Reply {
    /// A reply of `kind` with `payload`.
    pub fn new(kind: Kind<'_>, payload: impl Into<Vec<u8>>) -> Reply {
        Reply {
            kind: kind.as_str().to_string(),
            payload: payload.into(),
        }
    }

    /// The kind.
    pub fn kind(&self) -> Kind<'_> {
        // `new` took a valid kind.
        Kind::from_checked(&self.kind)
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// A handler's failure; the peer gets `ERROR` `handler-failed: <message>`
/// (or `<code>: <message>`, see [`HandlerError::with_code`]).
///
/// Any `std::error::Error` converts into it, so handlers can use `?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerError {
    code: &'static str,
    message: String,
}

impl HandlerError {
    /// A failure with this message: `ERROR handler-failed: <message>`.
    pub fn msg(message: impl fmt::Display) -> Self {
        HandlerError::with_code("handler-failed", message)
    }

    /// A failure answered `ERROR <code>: <message>`, for a code of the
    /// application's or one of the protocol's (`bad-payload`). A code is
    /// lowercase words joined by `-`, with no `:`.
    ///
    /// ```
    /// use msgwire::net::HandlerError;
    ///
    /// let e = HandlerError::with_code("out-of-range", "channel 9");
    /// assert_eq!((e.code(), e.message()), ("out-of-range", "channel 9"));
    /// ```
    pub fn with_code(code: &'static str, message: impl fmt::Display) -> Self {
        HandlerError {
            code,
            message: message.to_string(),
        }
    }

    /// The code of the `ERROR` answer (`handler-failed` unless given).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for HandlerError {
    fn from(e: E) -> Self {
        HandlerError::msg(e)
    }
}

/// What a handler returns: its reply, or a failure (answered `ERROR`). A
/// request always gets an answer.
pub type Outcome = Result<Reply, HandlerError>;

/// The future a [`Handler`] returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// Handles requests of one kind. Implemented for every
/// `Fn(Request) -> impl Future<Output = Outcome>`, so an async closure is
/// a handler.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn handle(&self, request: Request) -> HandlerFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    fn handle(&self, request: Request) -> HandlerFuture {
        Box::pin(self(request))
    }
}

/// A request as a handler gets it: the message, owned, and the connection
/// it came on.
#[derive(Clone, Debug)]
pub struct Request {
    message: Frame,
    conn: Conn,
}

impl Request {
    /// A request of `message` on `conn` (for calling a handler yourself,
    /// in a test say).
    pub fn new(message: Frame, conn: Conn) -> Self {
        Request { message, conn }
    }

    /// The kind.
    pub fn kind(&self) -> Kind<'_> {
        self.message.kind.kind()
    }

    /// The correlation id (0 in text mode).
    pub fn id(&self) -> u32 {
        self.message.id
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.message.payload
    }

    /// The payload as UTF-8 text, when it is.
    pub fn text(&self) -> Option<&str> {
        self.message.text()
    }

    /// The connection the request came on.
    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    /// The message, owned.
    pub fn into_message(self) -> Frame {
        self.message
    }
}

/// The connection a request came on, as its handlers see it: an id, the
/// peer, and state that the connection's handlers share and that ends
/// with it. Cheap to clone (one reference count).
///
/// ```
/// use msgwire::net::Conn;
///
/// let conn = Conn::new("127.0.0.1:5000");
/// // A counter of this connection's own: 0 the first time.
/// let n = conn.with_state(|count: &mut u32| { *count += 1; *count });
/// assert_eq!(n, 1);
/// assert_eq!(conn.with_state(|count: &mut u32| *count), 1);
/// assert_ne!(Conn::new("other").id(), conn.id());
/// ```
#[derive(Clone)]
pub struct Conn(Arc<ConnInner>);

struct ConnInner {
    id: u64,
    peer: String,
    state: Mutex<Vec<Box<dyn Any + Send>>>,
}

/// The ids of connections in this process: from 1, never reused.
static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

impl Conn {
    /// A connection from `peer` (an address, a Unix socket's path, a
    /// serial port's name; whatever names it to a person), with a new id.
    pub fn new(peer: impl Into<String>) -> Conn {
        Conn(Arc::new(ConnInner {
            id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
            peer: peer.into(),
            state: Mutex::new(Vec::new()),
        }))
    }

    /// The connection's id: unique in this process (a [`Server`]'s
    /// connections and those served by [`Router::serve`] alike).
    ///
    /// [`Server`]: crate::net::Server
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The peer: `127.0.0.1:5000`, `unix:…`, a serial port's path; empty
    /// for a connection served by [`Router::serve`], which does not know.
    pub fn peer(&self) -> &str {
        &self.0.peer
    }

    /// Runs `f` on this connection's value of type `T` (made with
    /// `T::default()` the first time): state that lives as long as the
    /// connection, one value per type. Handlers of one connection run one
    /// at a time, so `f` never waits for another connection's.
    pub fn with_state<T: Default + Send + 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // A handler that panicked inside `f` poisons the lock; its state
        // is still the connection's.
        let mut state = self
            .0
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = match state.iter().position(|v| v.is::<T>()) {
            Some(at) => at,
            None => {
                state.push(Box::new(T::default()));
                state.len() - 1
            }
        };
        match state.get_mut(at).and_then(|v| v.downcast_mut::<T>()) {
            Some(value) => f(value),
            // Found by type just above.
            None => f(&mut T::default()),
        }
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.0.id)
            .field("peer", &self.0.peer)
            .finish_non_exhaustive()
    }
}

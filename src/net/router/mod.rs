//! Routing requests to handlers: the owned [`Frame`] a handler gets, the
//! [`Reply`] it gives, and the handler types. The routing table,
//! [`Router`], is in `table.rs`; the loop that serves a connection through
//! it in `serve.rs`.

use std::boxed::Box;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::{Error, Flags, Kind, Message};

// The table before the loop: the docs list `Router`'s methods in the
// order the modules are declared (`new`, `on` … before `serve` …).
mod table;

mod serve;

pub use serve::{ConnEnd, ConnEvent};
pub use table::Router;

/// The `log` target of the lines logged in this module's files: its own
/// path (`msgwire::net::router`), as when it was one file.
const LOG_TARGET: &str = module_path!();

/// An owned message: what async handlers receive, what a client gets back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The kind (valid: 1..=32 bytes of `A-Z a-z 0-9 _ . - /`).
    pub kind: String,
    /// The correlation id; 0 for none.
    pub id: u32,
    /// The flags.
    pub flags: Flags,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// Copies a borrowed message.
    pub fn from_message(m: &Message<'_>) -> Self {
        Frame {
            kind: m.kind.as_str().to_string(),
            id: m.id,
            flags: m.flags,
            payload: m.payload.to_vec(),
        }
    }

    /// The payload as UTF-8 text, when it is.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }
}

/// What a handler answers: a kind and a payload. The router adds the
/// request's id and the `RESPONSE` flag.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reply {
    kind: String,
    payload: Vec<u8>,
}

impl Reply {
    /// A reply of `kind` with `payload`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKind`] when `kind` is not a valid kind.
    pub fn new(kind: &str, payload: impl Into<Vec<u8>>) -> Result<Reply, Error> {
        Kind::new(kind)?;
        Ok(Reply {
            kind: kind.to_string(),
            payload: payload.into(),
        })
    }

    /// The kind.
    pub fn kind(&self) -> &str {
        &self.kind
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

/// What a handler returns: a reply, no reply (`Ok(None)`), or a failure.
pub type HandlerResult = Result<Option<Reply>, HandlerError>;

/// The future a [`Handler`] returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;

/// Handles requests of one kind. Implemented for every
/// `Fn(Frame) -> impl Future<Output = HandlerResult>`, so an async closure
/// is a handler.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn call(&self, request: Frame) -> HandlerFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(Frame) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn call(&self, request: Frame) -> HandlerFuture {
        Box::pin(self(request))
    }
}

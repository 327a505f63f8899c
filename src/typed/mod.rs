//! Typed payloads (feature `postcard`): request and response types that
//! [serde] serializes with [postcard], instead of raw bytes.
//!
//! - [`embedded`] (with `embedded-io-async`): [`embedded::Typed`], an
//!   [`crate::embedded::Handler`] for one kind that deserializes the
//!   request (borrowing `&str` and `&[u8]` fields from the receive buffer:
//!   zero copy), calls a [`embedded::TypedHandler`] and serializes its
//!   response into a buffer of `N` bytes it owns; `a.or(b)`
//!   ([`crate::embedded::Or`]) puts
//!   several in one handler, statically dispatched; [`embedded::request`]
//!   is the typed request of [`crate::embedded::Client`]. No std, no
//!   allocator, no `core::fmt` on the serving path.
//! - [`net`] (with `async`): [`net::typed`], a [`crate::net::Router`]
//!   handler from an async function of owned types, and [`net::request`],
//!   the typed request of [`crate::net::Client`].
//!
//! Both sides answer a request whose payload does not deserialize with
//! `ERROR bad-payload: <detail>` ([`BAD_PAYLOAD`]) and the request's id,
//! and go on with the next request; a response that does not fit the
//! adapter's buffer is answered `ERROR handler-failed: …`. A client that
//! cannot deserialize an answer gets [`TypedError::Decode`].
//!
//! The wire format is postcard's: compact, not self-describing, so both
//! ends must agree on the types (share a crate of message types between
//! the device and the host). The answer has the request's kind. postcard's
//! bytes are binary: use the binary framing (a text line cannot carry a
//! `\n` byte; such an answer becomes `ERROR handler-failed`).
//!
//! serde's `derive` is the application's: `serde = { version = "1",
//! default-features = false, features = ["derive"] }`.

use core::fmt;

#[cfg(feature = "embedded-io-async")]
#[cfg_attr(docsrs, doc(cfg(feature = "embedded-io-async")))]
pub mod embedded;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod net;

/// The code of the `ERROR` answer to a request whose payload does not
/// deserialize to the handler's request type.
pub const BAD_PAYLOAD: &str = "bad-payload";

/// Why a typed request failed: the client's own error, or postcard's.
///
/// `C` is the client's error: [`crate::embedded::ClientError`] or
/// [`crate::net::ClientError`].
///
/// ```
/// use msgwire::typed::TypedError;
///
/// let e: TypedError<&str> = TypedError::Decode(postcard::Error::DeserializeBadBool);
/// assert_eq!(e.to_string(), "cannot deserialize the answer: bad bool");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TypedError<C> {
    /// The request failed as an untyped one would (transport, timeout,
    /// an `ERROR` answer such as `bad-payload` …).
    Client(C),
    /// The request did not serialize (into the scratch buffer, on the
    /// device side: it may be too small). Nothing was sent.
    Encode(postcard::Error),
    /// The answer's payload did not deserialize to the response type.
    Decode(postcard::Error),
}

impl<C: fmt::Display> fmt::Display for TypedError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypedError::Client(e) => fmt::Display::fmt(e, f),
            TypedError::Encode(e) => write!(f, "cannot serialize the request: {}", describe(e)),
            TypedError::Decode(e) => write!(f, "cannot deserialize the answer: {}", describe(e)),
        }
    }
}

impl<C: fmt::Debug + fmt::Display> core::error::Error for TypedError<C> {}

impl<C> From<C> for TypedError<C> {
    fn from(e: C) -> Self {
        TypedError::Client(e)
    }
}

/// A short description of a postcard error, as a `&'static str` (the
/// detail of a `bad-payload` answer, without `core::fmt`).
pub(crate) fn describe(e: &postcard::Error) -> &'static str {
    use postcard::Error as P;
    match e {
        P::DeserializeUnexpectedEnd => "unexpected end",
        P::DeserializeBadVarint => "bad varint",
        P::DeserializeBadBool => "bad bool",
        P::DeserializeBadChar => "bad char",
        P::DeserializeBadUtf8 => "bad utf-8",
        P::DeserializeBadOption => "bad option",
        P::DeserializeBadEnum => "bad enum",
        P::DeserializeBadEncoding => "bad encoding",
        P::DeserializeBadCrc => "bad crc",
        P::SerdeDeCustom => "invalid value",
        P::SerializeBufferFull => "response too large",
        P::SerializeSeqLengthUnknown => "sequence of unknown length",
        P::SerdeSerCustom | P::CollectStrError => "serialize failed",
        P::WontImplement | P::NotYetImplemented => "unsupported type",
        _ => "postcard error",
    }
}

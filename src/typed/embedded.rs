//! Typed payloads over `embedded-io-async` (features `postcard` and
//! `embedded-io-async`): no std, no allocator, requests borrowed from the
//! receive buffer.
//!
//! # Serving
//!
//! ```
//! use msgwire::embedded::{serve, HandlerError, ServeConfig};
//! use msgwire::typed::embedded::{Typed, TypedHandler};
//! use msgwire::Kind;
//! use serde::{Deserialize, Serialize};
//!
//! /// `NAME`: the name is borrowed from the receive buffer, not copied.
//! #[derive(Serialize, Deserialize)]
//! struct SetName<'a> {
//!     name: &'a str,
//! }
//!
//! #[derive(Serialize, Deserialize)]
//! struct Named {
//!     len: u32,
//! }
//!
//! struct Namer;
//!
//! impl TypedHandler for Namer {
//!     type Request<'a> = SetName<'a>;
//!     type Response<'a> = Named;
//!
//!     async fn handle<'a>(&'a mut self, req: SetName<'a>) -> Result<Named, HandlerError<'a>> {
//!         match req.name.len() {
//!             0 => Err(HandlerError::msg("empty name")),
//!             n => Ok(Named { len: n as u32 }),
//!         }
//!     }
//! }
//!
//! /// `ADD`: two numbers in, their sum out.
//! struct Adder;
//!
//! impl TypedHandler for Adder {
//!     type Request<'a> = (u32, u32);
//!     type Response<'a> = u64;
//!
//!     async fn handle<'a>(&'a mut self, (a, b): (u32, u32)) -> Result<u64, HandlerError<'a>> {
//!         Ok(u64::from(a) + u64::from(b))
//!     }
//! }
//!
//! async fn run<T: embedded_io_async::Read + embedded_io_async::Write>(uart: &mut T) {
//!     // Each route serializes its answer into a buffer of its own (N bytes).
//!     let mut app = Typed::<_, 8>::new(Kind::new("NAME").unwrap(), Namer)
//!         .or(Typed::<_, 10>::new(Kind::new("ADD").unwrap(), Adder));
//!     let mut buf = [0u8; 306];
//!     let _ = serve(uart, &mut buf, &mut app, ServeConfig::default()).await;
//! }
//! ```
//!
//! # Requesting
//!
//! ```
//! use msgwire::conversation::Framing;
//! use msgwire::embedded::Client;
//! use msgwire::typed::embedded::request;
//! use msgwire::Kind;
//!
//! async fn add<T: embedded_io_async::Read + embedded_io_async::Write>(uart: T) -> Option<u64> {
//!     let mut client = Client::new(uart, [0u8; 128], Framing::Binary).ok()?;
//!     let mut scratch = [0u8; 16]; // the serialized request
//!     let kind = Kind::new("ADD").ok()?;
//!     request(&mut client, kind, &(2u32, 40u32), &mut scratch).await.ok()
//! }
//! ```

use core::future::Future;

use embedded_io_async::{Read, Write};
use serde::{Deserialize, Serialize};

use super::{describe, TypedError, BAD_PAYLOAD};
use crate::embedded::{Client, ClientError, Clock, Handler, HandlerError, Or, Outcome, Reply};
use crate::{Kind, Message};

/// A handler of one typed request kind: what [`Typed`] calls once the
/// request deserialized. `async fn handle` in the impl is the usual way to
/// write it.
///
/// The request may borrow from the receive buffer (`&'a str`, `&'a [u8]`
/// fields, with `#[serde(borrow)]` where serde needs it); the response may
/// borrow from the request or from the handler: it is serialized before
/// the handler is called again.
///
/// A handler type with a lifetime of its own (one that borrows state
/// shared with other routes) repeats the trait's `where Self: 'a` on both
/// types:
///
/// ```
/// use core::cell::Cell;
/// use msgwire::embedded::HandlerError;
/// use msgwire::typed::embedded::TypedHandler;
///
/// /// `SET`: stores a value shared with other routes, answers the old one.
/// struct Set<'s>(&'s Cell<u32>);
///
/// impl TypedHandler for Set<'_> {
///     type Request<'a> = u32 where Self: 'a;
///     type Response<'a> = u32 where Self: 'a;
///
///     async fn handle<'a>(&'a mut self, v: u32) -> Result<u32, HandlerError<'a>> {
///         Ok(self.0.replace(v))
///     }
/// }
/// ```
pub trait TypedHandler {
    /// The request's type, deserialized from the payload with postcard.
    type Request<'a>: Deserialize<'a>
    where
        Self: 'a;

    /// The response's type, serialized into the answer with postcard.
    type Response<'a>: Serialize
    where
        Self: 'a;

    /// Handles one request. An `Err` is answered `ERROR <code>: <detail>`
    /// ([`HandlerError`]).
    fn handle<'a>(
        &'a mut self,
        request: Self::Request<'a>,
    ) -> impl Future<Output = Result<Self::Response<'a>, HandlerError<'a>>>;
}

/// One typed route: a [`Handler`] that takes requests of one kind,
/// deserializes their payload to `H::Request`, calls `H`, and answers with
/// the same kind and `H::Response` serialized into a buffer of `N` bytes
/// it owns.
///
/// - A payload that does not deserialize is answered
///   `ERROR bad-payload: <detail>` ([`super::BAD_PAYLOAD`]) with the
///   request's id; `H` is not called.
/// - A response longer than `N` bytes is answered
///   `ERROR handler-failed: response too large`.
///
/// Several routes make one handler with [`Typed::or`]. See the
/// [module](self) docs for an example.
#[derive(Clone, Debug)]
pub struct Typed<H, const N: usize> {
    kind: Kind<'static>,
    handler: H,
    buf: [u8; N],
}

impl<H: TypedHandler, const N: usize> Typed<H, N> {
    /// Routes `kind` to `handler`; answers are serialized into `N` bytes.
    ///
    /// ```
    /// # use msgwire::embedded::HandlerError;
    /// # use msgwire::typed::embedded::{Typed, TypedHandler};
    /// # struct Adder;
    /// # impl TypedHandler for Adder {
    /// #     type Request<'a> = (u32, u32);
    /// #     type Response<'a> = u64;
    /// #     async fn handle<'a>(&'a mut self, (a, b): (u32, u32)) -> Result<u64, HandlerError<'a>> {
    /// #         Ok(u64::from(a) + u64::from(b))
    /// #     }
    /// # }
    /// use msgwire::embedded::Handler;
    /// use msgwire::Kind;
    ///
    /// let add = Typed::<_, 10>::new(Kind::new("ADD")?, Adder);
    /// assert!(add.handles(Kind::new("ADD")?) && !add.handles(Kind::PING));
    /// # Ok::<(), msgwire::Error>(())
    /// ```
    pub const fn new(kind: Kind<'static>, handler: H) -> Self {
        Typed {
            kind,
            handler,
            buf: [0; N],
        }
    }

    /// The kind it takes (and answers with).
    pub const fn kind(&self) -> Kind<'static> {
        self.kind
    }

    /// The handler.
    pub const fn handler(&self) -> &H {
        &self.handler
    }

    /// The handler, to change its state between conversations.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// The handler back.
    pub fn into_inner(self) -> H {
        self.handler
    }

    /// This route, then `other` for the kinds this one does not take
    /// ([`Handler::or`], here without the trait in scope).
    pub fn or<B: Handler>(self, other: B) -> Or<Self, B> {
        Or::new(self, other)
    }
}

impl<H: TypedHandler, const N: usize> Handler for Typed<H, N> {
    fn handles(&self, kind: Kind<'_>) -> bool {
        kind == self.kind
    }

    async fn handle<'a>(&'a mut self, request: Message<'a>) -> Outcome<'a> {
        let Typed { kind, handler, buf } = self;
        let req = match postcard::from_bytes::<H::Request<'a>>(request.payload) {
            Ok(req) => req,
            Err(e) => return Err(HandlerError::with_code(BAD_PAYLOAD, describe(&e))),
        };
        let resp = handler.handle(req).await?;
        match postcard::to_slice(&resp, buf) {
            Ok(payload) => Ok(Reply::new(*kind, payload)),
            Err(e) => Err(HandlerError::msg(describe(&e))),
        }
    }
}

/// A typed request through `client`: `request` is serialized into
/// `scratch` (its bytes are the payload), and the answer's payload is
/// deserialized to `Resp`, which may borrow from the client's receive
/// buffer (`&str`, `&[u8]` fields) until the client's next call.
///
/// Name the response type where the result goes (`let t: Reading = …`).
/// See the [module](self) docs for an example.
///
/// # Errors
///
/// [`TypedError::Encode`] when `request` does not fit `scratch` (nothing
/// is sent), [`TypedError::Client`] when the request fails as an untyped
/// one would (an `ERROR` answer such as `bad-payload` is
/// [`ClientError::Remote`]), [`TypedError::Decode`] when the answer does
/// not deserialize.
pub async fn request<'c, Resp, Req, T, B, C>(
    client: &'c mut Client<T, B, C>,
    kind: Kind<'_>,
    request: &Req,
    scratch: &mut [u8],
) -> Result<Resp, TypedError<ClientError<T::Error>>>
where
    Resp: Deserialize<'c>,
    Req: Serialize + ?Sized,
    T: Read + Write,
    B: AsRef<[u8]> + AsMut<[u8]>,
    C: Clock,
{
    let payload = postcard::to_slice(request, scratch).map_err(TypedError::Encode)?;
    let answer = client.request(kind, payload).await?;
    postcard::from_bytes(answer.payload).map_err(TypedError::Decode)
}

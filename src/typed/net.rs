//! Typed payloads in the async layer (features `postcard` and `async`):
//! a [`Router`](crate::net::Router) handler from an async function of
//! owned types, and a typed request through a [`Client`].
//!
//! # Example
//!
//! ```
//! use msgwire::net::{memory, Client, ClientConfig, Framed, FramedConfig, HandlerError, Router};
//! use msgwire::typed::net::{request, typed};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Add {
//!     a: u32,
//!     b: u32,
//! }
//!
//! let router = Router::new().on(
//!     "ADD",
//!     typed(|req: Add| async move { Ok::<_, HandlerError>(u64::from(req.a) + u64::from(req.b)) }),
//! )?;
//!
//! let (client_end, server_end) = memory::pipe(64);
//! let server = std::thread::spawn(move || {
//!     futures_lite::future::block_on(async {
//!         router.serve(&mut Framed::sniffing(server_end, FramedConfig::default())).await
//!     })
//! });
//!
//! futures_lite::future::block_on(async {
//!     let client = Client::new(client_end, ClientConfig::default());
//!     smol::spawn(client.run()).detach(); // its reader and timeouts
//!     let sum: u64 = request(&client, "ADD", &Add { a: 2, b: 40 }).await?;
//!     assert_eq!(sum, 42);
//!     // A payload that is no `Add`:
//!     let err = client.request("ADD", &[7]).await.unwrap_err();
//!     assert_eq!(err.to_string(), "server answered ERROR bad-payload: unexpected end");
//!     client.send("EXIT", b"").await?;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! server.join().unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::boxed::Box;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::vec::Vec;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{describe, TypedError, BAD_PAYLOAD};
use crate::net::{Client, ClientError, Handler, HandlerError, HandlerFuture, Reply, Request};
use crate::Kind;

/// A [`Router`](crate::net::Router) handler of typed requests: made by
/// [`typed`].
pub struct TypedFn<F, Req> {
    f: F,
    _req: PhantomData<fn(Req)>,
}

impl<F, Req> fmt::Debug for TypedFn<F, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedFn")
            .field("request", &std::any::type_name::<Req>())
            .finish_non_exhaustive()
    }
}

impl<F: Clone, Req> Clone for TypedFn<F, Req> {
    fn clone(&self) -> Self {
        TypedFn {
            f: self.f.clone(),
            _req: PhantomData,
        }
    }
}

/// A handler from an async function of a request type to a response type,
/// for [`Router::on`](crate::net::Router::on): the payload is deserialized
/// with postcard to `Req`, `f`'s response is serialized into the answer,
/// which has the request's kind.
///
/// - A payload that does not deserialize is answered
///   `ERROR bad-payload: <detail>` ([`super::BAD_PAYLOAD`]) with the
///   request's id; `f` is not called.
/// - `f`'s [`HandlerError`] is answered as any handler's.
///
/// See the [module](self) docs for an example.
pub fn typed<Req, Resp, F, Fut>(f: F) -> TypedFn<F, Req>
where
    Req: DeserializeOwned + 'static,
    Resp: Serialize,
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Resp, HandlerError>> + Send + 'static,
{
    TypedFn {
        f,
        _req: PhantomData,
    }
}

impl<Req, Resp, F, Fut> Handler for TypedFn<F, Req>
where
    Req: DeserializeOwned + 'static,
    Resp: Serialize,
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Resp, HandlerError>> + Send + 'static,
{
    fn handle(&self, request: Request) -> HandlerFuture {
        let response = match postcard::from_bytes::<Req>(request.payload()) {
            Ok(req) => (self.f)(req),
            Err(e) => {
                let e = HandlerError::with_code(BAD_PAYLOAD, describe(&e));
                return Box::pin(std::future::ready(Err(e)));
            }
        };
        let kind = request.into_message().kind;
        Box::pin(async move {
            let resp = response.await?;
            let payload = postcard::to_extend(&resp, Vec::new())
                .map_err(|e| HandlerError::msg(describe(&e)))?;
            Ok(Reply::new(Kind::new(&kind)?, payload))
        })
    }
}

/// A typed request through `client`: `request` is serialized with
/// postcard, and the answer's payload deserialized to `Resp`.
///
/// Name the response type where the result goes (`let t: Reading = …`).
/// See the [module](self) docs for an example.
///
/// # Errors
///
/// [`TypedError::Encode`] when `request` does not serialize (nothing is
/// sent), [`TypedError::Client`] when the request fails as an untyped one
/// would (an `ERROR` answer such as `bad-payload` is
/// [`ClientError::Remote`]), [`TypedError::Decode`] when the answer does
/// not deserialize.
pub async fn request<Resp, Req>(
    client: &Client,
    kind: &str,
    request: &Req,
) -> Result<Resp, TypedError<ClientError>>
where
    Resp: DeserializeOwned,
    Req: Serialize + ?Sized,
{
    let payload = postcard::to_extend(request, Vec::new()).map_err(TypedError::Encode)?;
    let answer = client.request(kind, &payload).await?;
    postcard::from_bytes(&answer.payload).map_err(TypedError::Decode)
}

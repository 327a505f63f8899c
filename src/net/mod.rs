//! The async layer (feature `async`): messages over any futures-io
//! `AsyncRead`/`AsyncWrite` — smol, async-std, or tokio through a compat
//! wrapper.
//!
//! - [`Framed`]: a connection that sends and receives messages, in binary
//!   or text framing, or sniffs the framing from the peer's first byte.
//! - [`Router`]: handlers by kind, the protocol's built-ins (`PING`,
//!   `ECHO`, `EXIT`), and the loop that answers every request in order and
//!   answers bad input with `ERROR` instead of dying.
//! - [`memory::pipe`]: an in-memory transport for tests and in-process
//!   actors.
//! - [`Server`] and [`Client`]: TCP and Unix sockets, on smol's building
//!   blocks (async-io, async-net, async-executor), with limits, timeouts,
//!   request/response correlation and graceful shutdown.
//!
//! Nothing here is needed by the no_std core, and nothing of it leaks into
//! it.
//!
//! # Example
//!
//! The prototype's conversation over the in-memory transport:
//!
//! ```
//! use msgwire::net::{memory, Client, ClientConfig, Framed, FramedConfig, Router};
//!
//! let (client_end, server_end) = memory::pipe(64);
//!
//! // The server side: sniff the framing, then answer until EXIT or EOF.
//! let server = std::thread::spawn(move || {
//!     futures_lite::future::block_on(async {
//!         let mut conn = Framed::sniffing(server_end, FramedConfig::default());
//!         Router::new().serve(&mut conn).await
//!     })
//! });
//!
//! # futures_lite::future::block_on(async {
//! let client = Client::new(client_end, ClientConfig::default());
//! let pong = client.request("PING", b"hello").await?;
//! assert_eq!((pong.kind.as_str(), pong.payload.as_slice()), ("PONG", &b"ack"[..]));
//! let err = client.request("FOO", b"").await.unwrap_err();
//! assert_eq!(err.to_string(), "server answered ERROR unknown-kind: FOO");
//! client.send("EXIT", b"").await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! assert!(matches!(server.join().unwrap(), msgwire::net::ConnEnd::Exit));
//! ```

mod client;
mod framed;
pub mod memory;
mod router;
mod runtime;
mod server;

pub use client::{Client, ClientConfig, ClientError};
pub use framed::{Framed, FramedConfig, Framing, RecvError, Replier, SendError};
pub use router::{
    ConnEnd, Frame, Handler, HandlerError, HandlerFuture, HandlerResult, Reply, Router,
};
pub use server::{
    EventHook, ListenAddr, Server, ServerConfig, ServerEvent, ServerStats, ShutdownReport,
};

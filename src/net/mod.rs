//! The async layer (feature `async`): messages over any futures-io
//! `AsyncRead`/`AsyncWrite` — smol's streams, or tokio's through
//! `tokio_util::compat` — on an executor you choose.
//!
//! - [`Framed`]: a connection that sends and receives messages, in binary
//!   or text framing, or sniffs the framing from the peer's first byte.
//! - [`Router`]: handlers by kind, the protocol's built-ins (`PING`,
//!   `ECHO`, `EXIT`), and the loop that answers every request in order and
//!   answers bad input with `ERROR` instead of dying.
//! - [`memory::pipe`]: an in-memory transport for tests and in-process
//!   actors.
//! - [`Server`] and [`Client`]: TCP and Unix sockets, on smol's building
//!   blocks (async-io, async-net), with limits, timeouts,
//!   request/response correlation, reconnects and graceful shutdown.
//!
//! Nothing here is needed by the no_std core, and nothing of it leaks into
//! it.
//!
//! # Runtimes
//!
//! msgwire starts no thread and spawns no task behind your back. A
//! [`Server`] or [`Client`] does nothing until you run it, in one of two
//! ways:
//!
//! - `run()` ([`Server::run`], [`Client::run`]) gives its work as one
//!   `Send + 'static` future that spawns nothing: spawn it or await it on
//!   any executor — `smol::spawn`, a `LocalExecutor` on one thread, a
//!   tokio runtime (current-thread or multi-thread);
//! - `start(&spawner)` ([`Server::start`], [`Client::start`]) spawns its
//!   tasks (a server: one per connection) through a [`Spawner`], a
//!   closure around your executor's `spawn`, so that a multi-threaded
//!   executor serves connections in parallel.
//!
//! [`Spawner::global`] is msgwire's own executor (worker threads named
//! `msgwire-N`), for programs that have none: opt-in, it is started by
//! that call only. Sockets and timers come from async-io, whose reactor
//! thread (`async-io`) async-io starts itself the first time one is used,
//! whatever the executor.
//!
//! On tokio, wrap tokio's streams with `tokio_util::compat` for
//! [`Framed`], [`Router::serve`] and [`Client::new`]; `tests/runtimes.rs`
//! runs all of it on smol and on tokio's two kinds of runtime.
//!
//! # Example
//!
//! The prototype's conversation over the in-memory transport:
//!
//! ```
//! use msgwire::net::{memory, Client, ClientConfig, ConnEnd, Framed, FramedConfig, Router};
//!
//! smol::block_on(async {
//!     let (client_end, server_end) = memory::pipe(64);
//!
//!     // The server side: sniff the framing, then answer until EXIT or EOF.
//!     let server = smol::spawn(async move {
//!         let mut conn = Framed::sniffing(server_end, FramedConfig::default());
//!         Router::new().serve(&mut conn).await
//!     });
//!
//!     let client = Client::new(client_end, ClientConfig::default());
//!     // The client's background work (timeouts …): one more task.
//!     smol::spawn(client.run()).detach();
//!     let pong = client.request("PING", b"hello").await?;
//!     assert_eq!((pong.kind.as_str(), pong.payload.as_slice()), ("PONG", &b"ack"[..]));
//!     let err = client.request("FOO", b"").await.unwrap_err();
//!     assert_eq!(err.to_string(), "server answered ERROR unknown-kind: FOO");
//!     client.send("EXIT", b"").await?;
//!     assert!(matches!(server.await, ConnEnd::Exit));
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })
//! .unwrap();
//! ```

// The layout, one room a file:
// - `framed/`: a connection — `mod.rs` the public face (`Framed`,
//   `Replier`, limits, errors), `rx.rs` the receiving half (shared with
//   the client), `tx.rs` the send buffer;
// - `io.rs`: transport helpers shared by `framed/` and `client/`;
// - `router/`: `mod.rs` the handler types, `table.rs` the routing table,
//   `serve.rs` the connection loop;
// - `server/`: `mod.rs` configuration, events and state, `run.rs` binding
//   and running, `accept.rs` the accept loop, `conn.rs` one connection's
//   task, `shutdown.rs` stopping;
// - `client/`: `mod.rs` the public face, `table.rs` what requests and the
//   loop share, `conn.rs` the connection loop, `reconnect.rs` dialling
//   again;
// - `events.rs` events: the per-conversation queue with `LAGGED`, the
//   hub of a router's subscribers and its `Publisher`;
// - `message.rs` the owned message (`Frame`) handlers and the client share;
// - `memory.rs` the in-memory pipe, `runtime.rs` spawning, `serial.rs`
//   serial ports.
mod client;
mod events;
mod framed;
mod io;
pub mod memory;
mod message;
mod router;
mod runtime;
#[cfg(all(unix, feature = "serial"))]
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "serial"))))]
pub mod serial;
mod server;

pub use client::{
    Client, ClientConfig, ClientError, Closed, ClosedBy, Delivery, Handshake, PeerHello, Reconnect,
    Subscription,
};
pub use events::{EventLimits, Published, Publisher};
pub use framed::{Framed, FramedConfig, RecvError, Replier, SendError};
pub use message::{Frame, KindBuf, Payload};
pub use router::{
    Conn, ConnEnd, Handler, HandlerError, HandlerFuture, Outcome, Reply, Request, Router,
};
pub use runtime::{AlreadyStarted, BoxTask, Spawner};
pub use server::{
    EventHook, ListenAddr, Server, ServerConfig, ServerEvent, ServerStats, ShutdownReport,
};

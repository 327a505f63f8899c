//! The conversation over `embedded-io-async` (feature `embedded-io-async`):
//! an async [`serve`] loop and a [`Client`] over any
//! `embedded_io_async::Read + Write` — a UART, a USB CDC class, an
//! embassy-net `TcpSocket`. No allocator, no runtime, no time driver: the
//! rules are [`crate::conversation`]'s, this module only moves bytes.
//!
//! - `handler`: the application's side, [`Handler`] (statically
//!   dispatched), what it answers ([`Reply`], [`HandlerError`],
//!   [`Outcome`]: a request is always answered), [`Builtins`] and the
//!   [`Or`] combinator.
//! - `serve`: [`serve`], [`ServeConfig`], [`Ended`], and
//!   [`serve_with_events`], which also writes the events the device
//!   publishes.
//! - `events`: [`Events`], the queue a task or an interrupt handler
//!   publishes into while the conversation runs ([`Published`],
//!   [`PublishError`]), behind a `critical-section` lock; [`FILTERS`].
//! - `client`: [`Client`], one request in flight at a time; it subscribes
//!   to the peer's events and waits for them ([`Client::next_event`]).
//! - `clock`: [`Clock`] for the client's timeouts, [`NoClock`].
//! - `error`: [`IoError`], [`ClientError`].
//!
//! The names are `msgwire::net`'s where the two layers meet:
//! `HandlerError::msg`, `with_code`, `code()`, `message()`;
//! `Reply::kind()`, `payload()`.
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
//!             b"" => Ok(Reply::new(Kind::new("TEMP").unwrap(), b"21.5")),
//!             _ => Err(HandlerError::msg("TEMP takes no payload")),
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
//! - [`serve_with_events`] drops the transport's pending `read` when an
//!   event is published: the transport's `read` must be cancel safe (lose
//!   no byte when dropped), which embedded-io-async 0.7 encourages but
//!   does not require. [`serve`] never drops a `read`.
//! - [`Client::next_event`] is cancel safe as far as the client goes
//!   (bytes read stay buffered), if the transport's `read` is.
//! - [`serve`] keeps its state in the caller's buffer and in its future:
//!   dropping the future ends the conversation (an answer may be half
//!   written); calling `serve` again starts a new one.
//! - [`Client::request`] is cancel safe as far as the client goes: a
//!   dropped request gives up its id (a later answer to it is counted as
//!   late), and bytes already read stay buffered. It cannot undo a request
//!   already written, and a timeout drops a pending `read` of the
//!   transport: with a transport whose `read` is not cancel safe (see its
//!   docs), bytes may be lost then.

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

use embedded_io_async::Write;

mod client;
mod clock;
mod error;
mod events;
mod handler;
mod serve;

pub use client::Client;
pub use clock::{Clock, NoClock};
pub use error::{ClientError, IoError};
pub use events::{Events, PublishError, Published, FILTERS};
pub use handler::{Builtins, Handler, HandlerError, Or, Outcome, Reply};
pub use serve::{serve, serve_with_events, Ended, ServeConfig};

/// The log lines' target: the module's path, as when it was one file.
const LOG_TARGET: &str = module_path!();

// The two ways out to the transport, for `serve` and the `Client`.

async fn write_all<T: Write>(io: &mut T, mut buf: &[u8]) -> Result<(), IoError<T::Error>> {
    while !buf.is_empty() {
        match io.write(buf).await.map_err(IoError::Io)? {
            0 => return Err(IoError::WriteZero),
            n => buf = buf.get(n..).unwrap_or_default(),
        }
    }
    Ok(())
}

/// Writes a message's [`Wire`](crate::conversation::Wire) parts: the
/// payload is not copied.
async fn write_parts<T: Write>(io: &mut T, parts: [&[u8]; 4]) -> Result<(), IoError<T::Error>> {
    for part in parts {
        write_all(io, part).await?;
    }
    Ok(())
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

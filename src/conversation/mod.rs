//! The conversation of `docs/PROTOCOL.md` §4 for both sides, as state
//! machines without I/O, clock or allocator (sans-IO, in the manner of
//! quinn-proto or rustls).
//!
//! - [`Receiver`]: both stream decoders behind one interface, with the
//!   server's framing sniff (`0xA5` first: binary, else text).
//! - [`Rules`]: the decisions of §4 for one conversation (what each
//!   received message or refused frame gets), for a driver with a receiver
//!   of its own; both drivers decide through it.
//! - [`Responder`]: the server side, [`Rules`] over a [`Receiver`]. Fed
//!   bytes, it answers the built-ins (`PING` → `PONG ack`, `ECHO`, `EXIT`)
//!   and every error itself, with the id §4 gives, and hands the
//!   application's requests out one at a time, in order. [`Answer`] is one
//!   answer, written without copying its payload ([`Answer::wire`]).
//! - Events (§6): [`event`] builds one, [`Rules::wants`] decides whether
//!   a conversation gets it, [`Lag`] and [`Lagged`] count what a slow
//!   subscriber lost.
//! - [`Wire`]: a message's bytes on the wire as four slices (the payload
//!   borrowed), the one path out for answers, requests and events.
//! - [`Pending`]: the client side. Ids, a fixed table of requests in
//!   flight, answers matched by id (or in order, in text mode), late and
//!   unsolicited messages counted, timeouts decided from a `now` the
//!   caller passes in; [`PendingTable::next_deadline`] tells a driver
//!   when to wake. [`RemoteError`] reads an `ERROR` answer, and
//!   [`ClientError`] is why a request failed, for both drivers.
//!
//! Drivers add the I/O: [`crate::embedded`] over `embedded-io-async` (no
//! allocator), and `msgwire::net` over futures-io on a host. Both follow
//! the rules written here, and nowhere else.

mod client;
mod events;
mod filter;
mod hello;
mod receiver;
mod server;
mod wire;

pub use client::{answer_id, ClientError, Full, Matched, Pending, PendingTable, RemoteError, Slot};
pub use events::{event, rev_has_events, Lag, Lagged};
pub use filter::{BadFilter, Filter, Filters, TooMany};
pub use hello::{BadHello, Hello, Rev};
#[cfg(feature = "async")]
pub(crate) use receiver::At;
pub use receiver::{Framing, Limits, Receiver};
#[cfg(feature = "embedded-io-async")]
pub(crate) use server::Decided;
pub use server::{is_builtin, Answer, ErrorText, Event, Responder, Rules, MAX_ERROR_LEN};
pub use wire::Wire;

//! Asynchronous messaging over byte streams: the msgwire v1 wire format.
//!
//! A message has a *kind* (`PING`, `sensor/temp`), a correlation *id*,
//! *flags* and an opaque *payload*. This crate's core encodes and decodes
//! such messages as binary frames (a 14-byte header with its own CRC-16, an
//! optional CRC-32 trailer) or as `KIND:DATA\n` text lines, the format of the
//! original prototype. The wire format is specified in `docs/PROTOCOL.md`.
//!
//! The core is `#![no_std]` and needs no allocator. Beside the codec it
//! holds the conversation itself ([`conversation`]: routing, built-ins,
//! `ERROR` answers, request/response matching) as state machines without
//! I/O, which `msgwire::embedded` (feature `embedded-io-async`) and `net` drive.
//! In the codec, decoders own a fixed
//! buffer of `N` bytes, hand out messages borrowed from it (no payload is
//! copied), skip frames too large to hold as their bytes arrive, resync
//! after garbage, and never panic on anything a peer sends.
//!
//! # One conversation, two drivers
//!
//! The rules of a conversation (`docs/PROTOCOL.md` §4) are decided in one
//! place, [`conversation::Rules`], and a message goes to the wire by one
//! path, [`conversation::Wire`]. The two drivers only move bytes, run
//! handlers and keep time, and they speak one vocabulary:
//!
//! | concept | device (`embedded`) | host (`net`) |
//! |---|---|---|
//! | a handler | `Handler` (`handles`, `handle`) | `Handler` (`handle`), any `async` closure |
//! | what it answers | `Outcome<'a> = Result<Reply<'a>, HandlerError<'a>>` | `Outcome = Result<Reply, HandlerError>` |
//! | its failure | `HandlerError::msg`, `with_code`, `code()`, `message()` | the same |
//! | its connection | `Handler::begin(framing)` per conversation | `Request::conn()`: `Conn` (id, peer, state) |
//! | a failed request | [`conversation::ClientError<IoError<E>>`](conversation::ClientError) | `ClientError<Closed, Box<ErrorText>>` |
//!
//! A request always gets an answer: a handler's reply, or `ERROR` for its
//! failure.
//!
//! # Example
//!
//! ```
//! use msgwire::{Decoder, Encoder, Error, Flags, Kind, Message};
//!
//! // Encode two requests, with some line noise between them.
//! let mut wire = heapless::Vec::<u8, 256>::new();
//! let enc = Encoder::new();
//! enc.encode_to_vec(&Message::new(Kind::PING, b"hello").with_id(1), &mut wire)?;
//! wire.extend_from_slice(b"noise").unwrap();
//! let temp = Message::new(Kind::new("sensor/temp")?, b"21.5").with_id(2).with_flags(Flags::CHECKSUM);
//! enc.encode_to_vec(&temp, &mut wire)?;
//!
//! // Decode them as they arrive, three bytes at a time.
//! let mut dec = Decoder::<128>::new();
//! let mut seen = 0;
//! for chunk in wire.chunks(3) {
//!     dec.feed(chunk);
//!     while let Some(event) = dec.decode() {
//!         match event {
//!             Ok(m) if m.kind == "PING" => assert_eq!((m.id, m.payload), (1, &b"hello"[..])),
//!             Ok(m) => assert_eq!((m.kind.as_str(), m.payload), ("sensor/temp", &b"21.5"[..])),
//!             Err(e) => panic!("unexpected {e}"),
//!         }
//!         seen += 1;
//!     }
//! }
//! assert_eq!(seen, 2);
//! assert_eq!(dec.stats().discarded_bytes, 5);
//! # Ok::<(), Error>(())
//! ```
//!
//! # Crate features
//!
//! - `std` (default): links the standard library; lets `crc32fast` pick
//!   SIMD at run time.
//! - `fast-crc` (default): the header CRC-16 sliced by 12 (6 KiB of tables)
//!   and `crc32fast` (16 KiB table, SIMD). Without it the CRC-32 uses a
//!   1-slice table and the CRC-16 a 16-entry one (1,056 B in all), for small
//!   microcontrollers. The results are the same.
//! - `async` (default): `msgwire::net`, the async layer — framed connections over
//!   any futures-io `AsyncRead`/`AsyncWrite`, a router, an in-memory
//!   transport, a TCP/Unix server and client.
//! - `embedded-io-async`: `msgwire::embedded`, the conversation over any
//!   `embedded_io_async::Read + Write` (no_std, no allocator), and the
//!   events a device publishes from tasks or interrupts (`Events`, locked
//!   through the `critical-section` crate: the application links an
//!   implementation).
//! - `postcard`: `msgwire::typed`, typed payloads — request and response
//!   types serialized by serde with postcard, for `embedded` (no_std, no
//!   allocator, zero-copy borrowed fields) and `net`; a payload that does
//!   not deserialize is answered `ERROR bad-payload`.
//! - `cli`: the `msgwire` command-line program.
//! - `defmt`: `defmt::Format` on the public error and message types, and
//!   the embedded driver's log lines through defmt.
//! - `log`: log lines through the `log` facade (the `net` server, router
//!   and client; the embedded driver), targets the module paths. With both
//!   `defmt` and `log` on, `log` is used when `std` is on; without `std` it
//!   is a compile error. `docs/FEATURES.md` lists the lines and levels.
//!
//! With `default-features = false` the crate is the pure core: no `std`, no
//! allocator. It builds for `thumbv6m-none-eabi`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "std")]
extern crate std;

// First: its macros are used by the modules below.
#[macro_use]
mod fmt;

mod buffer;
pub mod conversation;
mod crc;
mod decoder;
mod encoder;
mod error;
pub mod frame;
mod message;
mod text;

#[cfg(feature = "embedded-io-async")]
#[cfg_attr(docsrs, doc(cfg(feature = "embedded-io-async")))]
pub mod embedded;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod net;

#[cfg(feature = "postcard")]
#[cfg_attr(docsrs, doc(cfg(feature = "postcard")))]
pub mod typed;

pub use decoder::{decode_slice, Decoder, SliceError, Stats, Status, StreamDecoder};
pub use encoder::{encode, encoded_len, overhead, Encoder, Head};
pub use error::{DecodeError, Error};
pub use message::{is_kind_byte, Flags, Kind, Message, OwnedMessage, MAX_KIND_LEN};
pub use text::{buffer_for_line, TextDecoder, TextEncoder, TextStreamDecoder};

/// The README's examples, compiled and run as doc tests.
#[cfg(all(
    doctest,
    feature = "async",
    feature = "embedded-io-async",
    feature = "postcard"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The examples of `docs/HOST.md`, compiled and run as doc tests.
#[cfg(all(doctest, feature = "async", feature = "postcard"))]
#[doc = include_str!("../docs/HOST.md")]
pub struct HostDocDoctests;

/// The examples of `docs/EMBEDDED.md`, compiled and run as doc tests.
#[cfg(all(doctest, feature = "embedded-io-async", feature = "postcard"))]
#[doc = include_str!("../docs/EMBEDDED.md")]
pub struct EmbeddedDocDoctests;

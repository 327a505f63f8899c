//! Arbitrary payloads to typed handlers (`msgwire::typed::embedded`):
//! one request through `embedded::serve` with two `Typed` routes joined by
//! `Typed::or`, over an in-memory `embedded-io-async` transport.
//!
//! Input: `cfg` (bit 0: the request has the CRC-32 trailer; bit 1: kind
//! `U` instead of `T`; bits 2-7: the transport's read size minus 1), then
//! the payload (the rest of the input, cut at 256 bytes, the limit of the
//! server's 306-byte buffer).
//!
//! Asserts: `serve` never panics and ends with `EXIT`; the request gets
//! exactly one answer, with its id and the `RESPONSE` flag; the answer is
//! `ERROR bad-payload: …` iff `postcard::from_bytes` of the payload fails
//! for the route's request type; otherwise it is what the handler gives:
//! its response serialized (exactly `postcard::to_slice`'s bytes, with the
//! route's kind), `ERROR handler-failed: response too large` iff that
//! does not fit the route's buffer, or the handler's own coded error.
#![no_main]

use core::convert::Infallible;
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use msgwire::embedded::{serve, Ended, HandlerError, ServeConfig};
use msgwire::typed::embedded::{Typed, TypedHandler};
use msgwire::{decode_slice, Encoder, Flags, Kind, Message, Status};
use serde::{Deserialize, Serialize};

const ID: u32 = 0x1234_5678;
/// The `T` route's answer buffer: long names and blobs overflow it.
const T_BUF: usize = 48;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Shape<'a> {
    Empty,
    Num(i64),
    Text(&'a str),
    Pair(u16, bool),
}

/// `T`'s request: borrowed text and bytes, an option, an enum, a float.
#[derive(Serialize, Deserialize, Debug)]
struct Req<'a> {
    seq: u32,
    name: &'a str,
    blob: &'a [u8],
    opt: Option<char>,
    #[serde(borrow)]
    shape: Shape<'a>,
    scale: f32,
}

#[derive(Serialize, Debug)]
struct Resp<'a> {
    seq: u32,
    name: &'a str,
    blob: &'a [u8],
    shape: Shape<'a>,
    scale_bits: u32,
}

/// What `T` answers: the request's fields borrowed back, or a coded
/// error for the name `fail`.
fn respond<'a>(req: Req<'a>) -> Result<Resp<'a>, HandlerError<'a>> {
    if req.name == "fail" {
        return Err(HandlerError::with_code("refused", "name is fail"));
    }
    Ok(Resp {
        seq: req.seq.wrapping_add(u32::from(req.opt.is_some())),
        name: req.name,
        blob: req.blob,
        shape: req.shape,
        scale_bits: req.scale.to_bits(),
    })
}

struct T;

impl TypedHandler for T {
    type Request<'a> = Req<'a>;
    type Response<'a> = Resp<'a>;

    async fn handle<'a>(&'a mut self, req: Req<'a>) -> Result<Resp<'a>, HandlerError<'a>> {
        respond(req)
    }
}

/// `U`: `(u16, bool)` → `u32`; its 5-byte buffer always fits.
struct U;

impl TypedHandler for U {
    type Request<'a> = (u16, bool);
    type Response<'a> = u32;

    async fn handle<'a>(&'a mut self, (n, b): (u16, bool)) -> Result<u32, HandlerError<'a>> {
        Ok(u32::from(n) * if b { 3 } else { 1 })
    }
}

/// The wire in, the answers out; reads at most `chunk` bytes at a time.
struct Io<'a> {
    input: &'a [u8],
    chunk: usize,
    output: Vec<u8>,
}

impl embedded_io_async::ErrorType for Io<'_> {
    type Error = Infallible;
}

impl embedded_io_async::Read for Io<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let n = buf.len().min(self.chunk).min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl embedded_io_async::Write for Io<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Polls `f` to completion: the transport never waits.
fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..100_000 {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("serve did not finish over a transport that never waits");
}

/// What the answer must be: kind and payload.
fn expected(kind: &str, payload: &[u8]) -> (String, Vec<u8>) {
    let error = |text: &str| ("ERROR".to_string(), text.as_bytes().to_vec());
    let mut buf = [0u8; 64];
    match kind {
        "T" => match postcard::from_bytes::<Req<'_>>(payload) {
            Err(_) => ("bad-payload".to_string(), Vec::new()),
            Ok(req) => match respond(req) {
                Err(e) => error(&format!("{}: {}", e.code(), e.message())),
                Ok(resp) => match postcard::to_slice(&resp, &mut buf[..T_BUF]) {
                    Ok(bytes) => ("T".to_string(), bytes.to_vec()),
                    Err(_) => error("handler-failed: response too large"),
                },
            },
        },
        _ => match postcard::from_bytes::<(u16, bool)>(payload) {
            Err(_) => ("bad-payload".to_string(), Vec::new()),
            Ok((n, b)) => {
                let v = u32::from(n) * if b { 3 } else { 1 };
                let bytes = postcard::to_slice(&v, &mut buf).expect("a u32 fits");
                ("U".to_string(), bytes.to_vec())
            }
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, payload)) = data.split_first() else {
        return;
    };
    let payload = &payload[..payload.len().min(256)];
    let kind = if cfg & 2 == 0 { "T" } else { "U" };
    let flags = if cfg & 1 == 0 {
        Flags::EMPTY
    } else {
        Flags::CHECKSUM
    };

    let enc = Encoder::new();
    let mut wire = [0u8; 400];
    let request = Message::new(Kind::new(kind).unwrap(), payload)
        .with_id(ID)
        .with_flags(flags);
    let n = enc
        .encode(&request, &mut wire)
        .expect("the request encodes");
    let m = enc
        .encode(&Message::new(Kind::EXIT, b""), &mut wire[n..])
        .expect("EXIT encodes");

    let mut io = Io {
        input: &wire[..n + m],
        chunk: usize::from(cfg >> 2) + 1,
        output: Vec::new(),
    };
    let mut app = Typed::<_, T_BUF>::new(Kind::new("T").unwrap(), T)
        .or(Typed::<_, 5>::new(Kind::new("U").unwrap(), U));
    let mut buf = [0u8; 306];
    let ended = run(serve(&mut io, &mut buf, &mut app, ServeConfig::default()));
    assert_eq!(ended, Ok(Ended::Exit));

    // Exactly one answer, to this request.
    let Ok(Status::Complete { message, consumed }) = decode_slice(&io.output, 1024) else {
        panic!("no answer in {:?}", io.output);
    };
    assert_eq!(consumed, io.output.len(), "more than one answer");
    assert_eq!(message.id, ID);
    assert!(message.flags.contains(Flags::RESPONSE));

    let (want_kind, want_payload) = expected(kind, payload);
    if want_kind == "bad-payload" {
        assert_eq!(message.kind.as_str(), "ERROR");
        let text = core::str::from_utf8(message.payload).expect("ERROR is UTF-8");
        let detail = text.strip_prefix("bad-payload: ").expect("bad-payload");
        assert!(!detail.is_empty());
    } else {
        assert_eq!(message.kind.as_str(), want_kind);
        assert_eq!(message.payload, &want_payload[..]);
    }
});

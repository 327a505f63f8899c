//! What the server must answer, derived from the crate's own core decoder
//! (`StreamDecoder` / `TextStreamDecoder`) fed the same bytes.

use msgwire::net::Frame;
use msgwire::{DecodeError, Flags, StreamDecoder, TextStreamDecoder};

use crate::wire::{MAX_LINE, MAX_PAYLOAD};

/// An answer, expected or received: kind, id, and for `ERROR` the code,
/// else the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Want {
    pub kind: String,
    pub id: u32,
    pub body: Vec<u8>,
}

impl Want {
    fn error(id: u32, code: &str) -> Self {
        Want {
            kind: "ERROR".into(),
            id,
            body: code.as_bytes().to_vec(),
        }
    }

    /// A received answer: an `ERROR`'s payload cut to its code.
    pub fn of_answer(f: Frame) -> Self {
        let body = if f.kind == "ERROR" {
            let code = f.payload.split(|&b| b == b':').next().unwrap_or_default();
            code.to_vec()
        } else {
            f.payload.to_vec()
        };
        Want {
            kind: f.kind.to_string(),
            id: f.id,
            body,
        }
    }

    /// For a violation's message.
    pub fn short(&self) -> String {
        format!(
            "{} id {} {:?}",
            self.kind,
            self.id,
            String::from_utf8_lossy(&self.body[..self.body.len().min(40)])
        )
    }
}

/// A core decoder of either framing, handing out owned frames.
pub enum Decoder {
    Bin(StreamDecoder<Box<[u8]>>),
    Text(TextStreamDecoder<Box<[u8]>>),
}

impl Decoder {
    /// The server's decoder: its limits, in this framing.
    pub fn server_side(text: bool) -> Self {
        Self::with_limit(text, MAX_PAYLOAD)
    }

    /// A decoder for binary payloads up to `max_payload` (text lines are
    /// always up to the server's limit).
    pub fn with_limit(text: bool, max_payload: u32) -> Self {
        if text {
            Decoder::Text(TextStreamDecoder::boxed(MAX_LINE))
        } else {
            Decoder::Bin(StreamDecoder::boxed(max_payload))
        }
    }

    pub fn next(&mut self) -> Option<Result<Frame, DecodeError>> {
        match self {
            Decoder::Bin(d) => d.decode().map(|e| e.map(|m| Frame::from_message(&m))),
            Decoder::Text(d) => d.decode().map(|e| e.map(|m| Frame::from_message(&m))),
        }
    }

    /// Takes what it has room for; how many bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        match self {
            Decoder::Bin(d) => d.feed(bytes),
            Decoder::Text(d) => d.feed(bytes),
        }
    }

    /// Scanning with nothing buffered (and, unless `skip_ok`, not skipping
    /// the rest of a frame).
    fn at_rest(&self, skip_ok: bool) -> bool {
        match self {
            Decoder::Bin(d) => d.buffered() == 0 && (d.skipping() == 0 || skip_ok),
            Decoder::Text(d) => d.buffered() == 0,
        }
    }
}

/// The answers the server owes for `bytes` sent on a fresh connection in
/// this framing: each valid request (binary: an id in `mine`; text: an
/// `ECHO` whose payload starts `valid `) its `ECHO`, every other frame of
/// an unrouted kind `ERROR unknown-kind`, every refused frame or line its
/// `ERROR` with the decoder's code and id (of a run of untrusted headers,
/// the first only), an event nothing. `None` when the bytes hold a
/// frame of a routed kind made by chance, or leave the decoder not at rest
/// (buffering, or skipping unless `skip_ok`): such a round is made again.
pub fn expected(bytes: &[u8], text: bool, mine: &[u32], skip_ok: bool) -> Option<Vec<Want>> {
    let mut dec = Decoder::server_side(text);
    let mut out = Vec::new();
    let mut rest = bytes;
    // §4 (revision 1.2): a run of untrusted headers with no frame and no
    // trusted-header error between them is answered once.
    let mut in_noise = false;
    loop {
        while let Some(ev) = dec.next() {
            match ev {
                Ok(f) => {
                    in_noise = false;
                    // An event is never answered (§6).
                    if !f.flags.contains(Flags::EVENT) {
                        out.push(answer_to(f, text, mine)?);
                    }
                }
                Err(e) => {
                    let untrusted = !text && e.id.is_none();
                    if !(untrusted && in_noise) {
                        out.push(Want::error(e.id.unwrap_or(0), e.code()));
                    }
                    in_noise = untrusted;
                }
            }
        }
        if rest.is_empty() {
            return dec.at_rest(skip_ok).then_some(out);
        }
        let n = dec.feed(rest);
        if n == 0 {
            return None;
        }
        rest = &rest[n..];
    }
}

/// What a valid frame is answered; `None` for a routed kind that is not
/// one of the round's own requests.
fn answer_to(f: Frame, text: bool, mine: &[u32]) -> Option<Want> {
    let is_mine = if text {
        f.kind == "ECHO" && f.payload.starts_with(b"valid ")
    } else {
        mine.contains(&f.id)
    };
    match f.kind.as_str() {
        "ECHO" if is_mine => Some(Want {
            kind: "ECHO".into(),
            id: f.id,
            body: f.payload.into_vec(),
        }),
        "ECHO" | "PING" | "EXIT" | "HELLO" | "SUB" | "UNSUB" | "HASH" | "FAIL" | "PANIC"
        | "SLOW" => None,
        _ => Some(Want::error(f.id, "unknown-kind")),
    }
}

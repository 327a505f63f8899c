//! The prototype's conversation, on the no_std core alone: requests are
//! encoded, sent through a byte pipe in small pieces with line noise mixed
//! in, decoded, routed (`PING` → `PONG ack`, `ECHO`, unknown → `ERROR`,
//! `EXIT` ends the loop), and the answers decoded on the other side.
//!
//! Run it with `cargo run --release --example core`.

use msgwire::{Decoder, Encoder, Flags, Kind, Message};

/// Answers one request the way the protocol's built-in handlers do.
fn route<'a>(req: &Message<'_>, scratch: &'a mut [u8; 96]) -> Option<(Kind<'static>, &'a [u8])> {
    match req.kind.as_str() {
        "PING" => Some((Kind::PONG, b"ack")),
        "ECHO" => {
            let n = req.payload.len().min(scratch.len());
            scratch[..n].copy_from_slice(&req.payload[..n]);
            Some((Kind::ECHO, &scratch[..n]))
        }
        "EXIT" => None,
        other => {
            let text = format!("unknown-kind: {other}");
            let n = text.len().min(scratch.len());
            scratch[..n].copy_from_slice(&text.as_bytes()[..n]);
            Some((Kind::ERROR, &scratch[..n]))
        }
    }
}

fn main() -> Result<(), msgwire::Error> {
    let enc = Encoder::with_max_payload(1024);
    let requests = [
        Message::new(Kind::PING, b"hello").with_id(1),
        Message::new(Kind::ECHO, b"is anybody there?")
            .with_id(2)
            .with_flags(Flags::CHECKSUM),
        Message::new(Kind::new("FOO")?, b"").with_id(3),
        Message::new(Kind::EXIT, b"").with_id(4),
    ];

    // The client side: encode every request, with noise before the third.
    let mut wire = Vec::new();
    for (i, m) in requests.iter().enumerate() {
        if i == 2 {
            wire.extend_from_slice(b"\x00line noise\xff");
        }
        let mut buf = [0u8; 1100];
        let n = enc.encode(m, &mut buf)?;
        println!(
            "client -> {:<5} id={} payload={:?} ({n} bytes)",
            m.kind,
            m.id,
            String::from_utf8_lossy(m.payload)
        );
        wire.extend_from_slice(&buf[..n]);
    }

    // The server side: read 7 bytes at a time, answer each request.
    let mut server = Decoder::<1100>::new();
    let mut answers = Vec::new();
    let mut scratch = [0u8; 96];
    'conversation: for chunk in wire.chunks(7) {
        server.feed(chunk);
        while let Some(event) = server.decode() {
            let req = match event {
                Ok(req) => req,
                Err(e) => {
                    println!("server    refused: {e}");
                    continue;
                }
            };
            let Some((kind, payload)) = route(&req, &mut scratch) else {
                println!("server    EXIT: closing the conversation");
                break 'conversation;
            };
            let answer = Message::new(kind, payload)
                .with_id(req.id)
                .with_flags(Flags::RESPONSE);
            let mut buf = [0u8; 200];
            let n = enc.encode(&answer, &mut buf)?;
            answers.extend_from_slice(&buf[..n]);
        }
    }
    println!(
        "server    skipped {} bytes of noise",
        server.stats().discarded_bytes
    );

    // The client reads the answers.
    let mut client = Decoder::<1100>::new();
    client.feed(&answers);
    while let Some(event) = client.decode() {
        let m = event?;
        println!(
            "client <- {:<5} id={} payload={:?}",
            m.kind,
            m.id,
            String::from_utf8_lossy(m.payload)
        );
    }
    Ok(())
}

//! Frames made by hand and peers on raw, blocking sockets: what the fault
//! and bad-input peers send, and a `PING` check that the server still
//! answers.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use msgwire::{Flags, Kind, Message, StreamDecoder};

use crate::harness::report::violation;

/// The server's receive limits (the defaults): 64 KiB payloads and lines.
pub const MAX_PAYLOAD: u32 = 64 * 1024;
pub const MAX_LINE: usize = 64 * 1024;

/// A binary frame (an unknown-to-`Kind` name becomes `ERROR`).
pub fn encode(kind: &str, id: u32, flags: Flags, payload: &[u8]) -> Vec<u8> {
    let kind = Kind::new(kind).unwrap_or(Kind::ERROR);
    let m = Message::new(kind, payload).with_id(id).with_flags(flags);
    let mut out = vec![0; msgwire::encoded_len(&m).unwrap_or(0)];
    let n = msgwire::encode(&m, &mut out).unwrap_or(0);
    out.truncate(n);
    out
}

/// CRC-16/IBM-3740 (the header checksum), for hand-made headers.
fn crc16(data: &[u8]) -> u16 {
    let mut c: u16 = 0xFFFF;
    for &b in data {
        c ^= u16::from(b) << 8;
        for _ in 0..8 {
            c = if c & 0x8000 != 0 {
                (c << 1) ^ 0x1021
            } else {
                c << 1
            };
        }
    }
    c
}

/// A valid header (and kind) that claims a payload of `len` bytes.
pub fn header_claiming(kind: &str, id: u32, len: u32) -> Vec<u8> {
    let mut h = vec![0xA5, 1, 0, kind.len() as u8];
    h.extend_from_slice(&id.to_le_bytes());
    h.extend_from_slice(&len.to_le_bytes());
    let crc = crc16(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h.extend_from_slice(kind.as_bytes());
    h
}

/// A blocking connection with 15 s read and write timeouts.
pub fn raw_connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_nodelay(true);
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(15)))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// An answer read from a raw socket: kind, id, payload.
pub type RawAnswer = (String, u32, Vec<u8>);

/// Reads binary answers from a blocking socket until `n` frames or EOF;
/// true with them when it was EOF.
pub fn read_frames(s: &mut TcpStream, n: usize) -> Result<(Vec<RawAnswer>, bool), String> {
    let mut dec = StreamDecoder::boxed(MAX_PAYLOAD);
    let mut out = Vec::new();
    loop {
        while let Some(ev) = dec.decode() {
            let m = ev.map_err(|e| format!("bad answer: {e}"))?;
            out.push((m.kind.as_str().to_owned(), m.id, m.payload.to_vec()));
        }
        if out.len() >= n {
            return Ok((out, false));
        }
        let got = s.read(dec.spare()).map_err(|e| format!("read: {e}"))?;
        if got == 0 {
            return Ok((out, true));
        }
        dec.commit(got);
    }
}

/// How long until the server closes `s` (reads discarded), or an error.
pub fn time_to_close(s: &mut TcpStream, limit: Duration) -> Result<Duration, String> {
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(t.elapsed()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(t.elapsed()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e.to_string()),
        }
        if t.elapsed() > limit {
            return Err(format!("still open after {limit:?}"));
        }
    }
}

/// A violation unless the server answers a `PING` on a new connection
/// with `PONG ack` and the same id.
pub fn ping_ok(addr: SocketAddr, scenario: &str, what: &str) {
    let r = (|| {
        let mut s = raw_connect(addr)?;
        s.write_all(&encode("PING", 9, Flags::EMPTY, b""))
            .map_err(|e| e.to_string())?;
        let (f, _) = read_frames(&mut s, 1)?;
        match f.first() {
            Some((k, 9, p)) if k == "PONG" && p == b"ack" => Ok(()),
            other => Err(format!("answer {other:?}")),
        }
    })();
    if let Err(e) = r {
        violation(format!(
            "{scenario}: {what}: the server no longer answers PING: {e}"
        ));
    }
}

//! Bytes on the wire, from PROTOCOL.md §1–§3: building the frames and lines
//! the checker sends, and splitting what comes back into frames (binary) or
//! lines (text). The splitter is strict: whatever a conforming peer would
//! never send (a bad header, a bad trailer, stray bytes between frames)
//! comes out as `Item::Garbage`, which every check reports as a failure.

use crate::crc::{crc16, crc32};
use std::fmt;

pub const MAGIC: u8 = 0xA5;
pub const VERSION: u8 = 1;
/// Flag bits (§2).
pub const CHECKSUM: u8 = 1 << 0;
pub const RESPONSE: u8 = 1 << 1;
pub const EVENT: u8 = 1 << 2;
pub const RESERVED: u8 = 0xF8;

/// The fixed header length (§2).
pub const HEADER: usize = 14;

/// A 14-byte header with a correct `header_crc` over bytes 0..12 (stored
/// little-endian, like every integer of §2). `version`, `flags` and
/// `kind_len` are written as given, so a caller can build headers that the
/// checksum passes but the other checks of §2.1 step 2 refuse.
pub fn header(version: u8, flags: u8, kind_len: u8, id: u32, payload_len: u32) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0] = MAGIC;
    h[1] = version;
    h[2] = flags;
    h[3] = kind_len;
    h[4..8].copy_from_slice(&id.to_le_bytes());
    h[8..12].copy_from_slice(&payload_len.to_le_bytes());
    let crc = crc16(&h[..12]);
    h[12..14].copy_from_slice(&crc.to_le_bytes());
    h
}

/// A binary frame (§2): header, kind, payload, and the CRC-32 trailer over
/// everything before it when `flags` has `CHECKSUM`.
pub fn frame(kind: &[u8], id: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(HEADER + kind.len() + payload.len() + 4);
    f.extend_from_slice(&header(
        VERSION,
        flags,
        kind.len() as u8,
        id,
        payload.len() as u32,
    ));
    f.extend_from_slice(kind);
    f.extend_from_slice(payload);
    if flags & CHECKSUM != 0 {
        let c = crc32(&f);
        f.extend_from_slice(&c.to_le_bytes());
    }
    f
}

/// A request frame: no flags.
pub fn request(kind: &str, id: u32, payload: &[u8]) -> Vec<u8> {
    frame(kind.as_bytes(), id, 0, payload)
}

/// An event frame as §6 defines it: `EVENT`, id 0, `RESPONSE` clear.
pub fn event(kind: &str, payload: &[u8]) -> Vec<u8> {
    frame(kind.as_bytes(), 0, EVENT, payload)
}

/// A text line (§3): `KIND ':' DATA '\n'`.
#[cfg(test)]
pub fn line(kind: &str, data: &str) -> Vec<u8> {
    format!("{kind}:{data}\n").into_bytes()
}

/// The kind charset of §1: `A-Z a-z 0-9 _ . - /`.
pub fn kind_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/')
}

/// A kind (§1): 1..=32 bytes of the charset.
pub fn is_kind(k: &[u8]) -> bool {
    (1..=32).contains(&k.len()) && k.iter().all(|&b| kind_char(b))
}

/// A decoded binary frame.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: Vec<u8>,
    pub id: u32,
    pub flags: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn is_event(&self) -> bool {
        self.flags & EVENT != 0
    }
    pub fn kind_is(&self, k: &str) -> bool {
        self.kind == k.as_bytes()
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} id={} flags={}",
            show(&self.kind),
            self.id,
            flag_names(self.flags)
        )?;
        write!(f, " payload \"{}\"", show(&self.payload))
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `RESPONSE|EVENT` etc.; `0` when no bit is set.
pub fn flag_names(flags: u8) -> String {
    let mut names = Vec::new();
    if flags & CHECKSUM != 0 {
        names.push("CHECKSUM".to_string());
    }
    if flags & RESPONSE != 0 {
        names.push("RESPONSE".to_string());
    }
    if flags & EVENT != 0 {
        names.push("EVENT".to_string());
    }
    if flags & RESERVED != 0 {
        names.push(format!("reserved:0x{:02x}", flags & RESERVED));
    }
    if names.is_empty() {
        "0".to_string()
    } else {
        names.join("|")
    }
}

/// Bytes for a message: printable ASCII as is, the rest as `\xNN`, cut
/// after 80 bytes.
pub fn show(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes.iter().take(80) {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7E => s.push(b as char),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > 80 {
        s.push_str(&format!("…({} bytes)", bytes.len()));
    }
    s
}

/// What the splitter makes of the bytes a peer sent.
#[derive(Clone, Debug)]
pub enum Item {
    Frame(Frame),
    /// A text line, without its `\n` (a `\r` before it is kept: a
    /// conforming encoder writes `KIND ':' DATA '\n'`, §3).
    Line(Vec<u8>),
    /// Bytes no conforming encoder sends.
    Garbage(String),
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Frame(fr) => write!(f, "frame {fr}"),
            Item::Line(l) => write!(f, "line \"{}\"", show(l)),
            Item::Garbage(g) => write!(f, "garbage ({g})"),
        }
    }
}

/// A payload length above this is taken for a broken header, not waited for.
const SANE_PAYLOAD: u32 = 16 << 20;

/// Takes every complete frame off the front of `buf` (binary mode).
pub fn split_binary(buf: &mut Vec<u8>, out: &mut Vec<Item>) {
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        if rest.is_empty() {
            break;
        }
        if rest[0] != MAGIC {
            let n = rest.iter().position(|&b| b == MAGIC).unwrap_or(rest.len());
            out.push(Item::Garbage(format!(
                "{n} bytes outside a frame: \"{}\"",
                show(&rest[..n])
            )));
            at += n;
            continue;
        }
        if rest.len() < HEADER {
            break;
        }
        let h = &rest[..HEADER];
        let crc = u16::from_le_bytes([h[12], h[13]]);
        let kind_len = h[3] as usize;
        let payload_len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        let bad = if crc16(&h[..12]) != crc {
            Some("header checksum")
        } else if h[1] != VERSION {
            Some("version")
        } else if h[2] & RESERVED != 0 {
            Some("reserved flags")
        } else if kind_len == 0 || kind_len > 32 {
            Some("kind length")
        } else if payload_len > SANE_PAYLOAD {
            Some("payload length over 16 MiB")
        } else {
            None
        };
        if let Some(what) = bad {
            out.push(Item::Garbage(format!(
                "a header with a bad {what}: \"{}\"",
                show(h)
            )));
            at += 1;
            continue;
        }
        let flags = h[2];
        let body = HEADER + kind_len + payload_len as usize;
        let total = body + if flags & CHECKSUM != 0 { 4 } else { 0 };
        if rest.len() < total {
            break;
        }
        let kind = rest[HEADER..HEADER + kind_len].to_vec();
        let payload = rest[HEADER + kind_len..body].to_vec();
        if flags & CHECKSUM != 0 {
            let want = crc32(&rest[..body]);
            let got =
                u32::from_le_bytes([rest[body], rest[body + 1], rest[body + 2], rest[body + 3]]);
            if want != got {
                out.push(Item::Garbage(format!(
                    "a frame {} with a bad CRC-32 trailer",
                    show(&kind)
                )));
                at += total;
                continue;
            }
        }
        if !is_kind(&kind) {
            out.push(Item::Garbage(format!(
                "a frame whose kind \"{}\" is outside the charset",
                show(&kind)
            )));
            at += total;
            continue;
        }
        out.push(Item::Frame(Frame {
            kind,
            id: u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
            flags,
            payload,
        }));
        at += total;
    }
    buf.drain(..at);
}

/// Takes every complete line off the front of `buf` (text mode).
pub fn split_text(buf: &mut Vec<u8>, out: &mut Vec<Item>) {
    let mut at = 0;
    while let Some(n) = buf[at..].iter().position(|&b| b == b'\n') {
        out.push(Item::Line(buf[at..at + n].to_vec()));
        at += n + 1;
    }
    buf.drain(..at);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // A few entries of /work/shared/vectors/encode.json, copied as bytes: the
    // encoder here must agree with the spec's independent model.
    #[test]
    fn encode_vectors() {
        assert_eq!(
            frame(b"PING", 0, 0, b""),
            hex("a50100040000000000000000ff0a50494e47")
        );
        assert_eq!(
            frame(b"PONG", 1, RESPONSE, b"ack"),
            hex("a501020401000000030000007a08504f4e4761636b")
        );
        assert_eq!(
            frame(b"sensor/temp", 0x1234_5678, CHECKSUM, &[0, 1, 0xfe, 0xff]),
            hex("a501010b78563412040000008fbb73656e736f722f74656d700001feff18bf5d89")
        );
        assert_eq!(
            frame(b"ERROR", 9, CHECKSUM | RESPONSE, b"unknown-kind: FOO"),
            hex("a5010305090000001100000009644552524f52756e6b6e6f776e2d6b696e643a20464f4fa7e72394")
        );
        assert_eq!(
            line("HELLO", "rev=1.2 max=256"),
            hex("48454c4c4f3a7265763d312e32206d61783d3235360a")
        );
    }

    #[test]
    fn split_whatever_the_chunks() {
        let mut all = frame(b"PONG", 1, RESPONSE, b"ack");
        all.extend(frame(b"tick", 0, EVENT | CHECKSUM, b"7"));
        for cut in 0..all.len() {
            let mut buf = Vec::new();
            let mut out = Vec::new();
            buf.extend_from_slice(&all[..cut]);
            split_binary(&mut buf, &mut out);
            buf.extend_from_slice(&all[cut..]);
            split_binary(&mut buf, &mut out);
            assert!(buf.is_empty());
            assert_eq!(out.len(), 2, "cut {cut}");
            match (&out[0], &out[1]) {
                (Item::Frame(a), Item::Frame(b)) => {
                    assert!(a.kind_is("PONG") && a.payload == b"ack" && a.id == 1);
                    assert!(b.kind_is("tick") && b.is_event() && b.payload == b"7");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_bad_header_is_garbage() {
        let mut f = frame(b"PONG", 1, RESPONSE, b"ack");
        f[12] ^= 1;
        let mut out = Vec::new();
        split_binary(&mut f, &mut out);
        assert!(matches!(out[0], Item::Garbage(_)));
    }
}

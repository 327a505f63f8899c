//! One round of a flood connection: a valid request, bad input of one
//! sort, another valid request; and the answers it calls for.

use msgwire::Flags;

use super::oracle::{expected, Want};
use crate::mix::{make_payload, Rng};
use crate::wire::{encode, header_claiming, MAX_LINE};

/// The sorts of bad input (RELIABILITY.md's table says what each is in
/// each framing).
#[derive(Clone, Copy, Debug)]
pub enum Bad {
    Random,
    Huge,
    Checksum,
    LongLine,
    Unknown,
}

pub const SORTS: [Bad; 5] = [
    Bad::Random,
    Bad::Huge,
    Bad::Checksum,
    Bad::LongLine,
    Bad::Unknown,
];

/// A round's bytes, the answers they call for, and how many bytes were bad.
pub struct Round {
    pub bytes: Vec<u8>,
    pub want: Vec<Want>,
    pub bad_bytes: u64,
}

/// Makes rounds until one holds no routed frame by chance and leaves the
/// decoder at rest (scanning, nothing buffered; a huge frame may still be
/// skipping: it ends the connection's use). After a binary `Huge` no valid
/// request follows: it would be skipped as part of the 4 GB.
pub fn make_round(rng: &mut Rng, bad: Bad, text: bool, next_id: &mut u32) -> Round {
    let huge = matches!(bad, Bad::Huge);
    loop {
        let mut mine = Vec::new();
        let mut bytes = valid(rng, text, next_id, &mut mine);
        let j = junk(rng, bad, text, next_id);
        let bad_bytes = j.len() as u64;
        bytes.extend(&j);
        if !huge || text {
            bytes.extend(valid(rng, text, next_id, &mut mine));
        }
        if let Some(want) = expected(&bytes, text, &mine, huge) {
            return Round {
                bytes,
                want,
                bad_bytes,
            };
        }
    }
}

/// A valid `ECHO` whose payload starts `valid <id>;` (binary: its id goes
/// into `mine`).
fn valid(rng: &mut Rng, text: bool, next_id: &mut u32, mine: &mut Vec<u32>) -> Vec<u8> {
    *next_id += 1;
    let size = rng.range(0, 300);
    let p = make_payload(rng, size, &format!("valid {};", *next_id), true);
    let mut p = [b"valid ".as_slice(), &p].concat();
    p.truncate(p.len().max(6));
    if text {
        let mut l = b"ECHO:".to_vec();
        l.extend(&p);
        l.push(b'\n');
        l
    } else {
        mine.push(*next_id);
        encode("ECHO", *next_id, Flags::EMPTY, &p)
    }
}

/// Bad input of sort `bad` in this framing.
fn junk(rng: &mut Rng, bad: Bad, text: bool, next_id: &mut u32) -> Vec<u8> {
    match (bad, text) {
        (Bad::Random, _) => {
            let mut j = vec![0u8; rng.range(1, 8192)];
            rng.fill(&mut j);
            if text {
                j.push(b'\n');
            }
            j
        }
        (Bad::Huge, false) => {
            *next_id += 1;
            let mut h = header_claiming("ECHO", *next_id, u32::MAX - rng.range(0, 1000) as u32);
            // Then some of the "payload" the server must skip, never
            // buffer.
            let mut tail = vec![0u8; rng.range(0, 256 * 1024)];
            rng.fill(&mut tail);
            h.extend(tail);
            h
        }
        (Bad::Huge, true) | (Bad::LongLine, _) => {
            let len = rng.range(MAX_LINE + 1, 4 * MAX_LINE);
            let mut l = make_payload(rng, len, "ECHO:", true);
            l.push(b'\n');
            l
        }
        (Bad::Checksum, false) => bad_checksum(rng, next_id),
        (Bad::Checksum, true) => bad_line(rng),
        (Bad::Unknown, false) => {
            *next_id += 1;
            let k = format!("KIND{}", rng.next() % 100_000);
            encode(&k, *next_id, Flags::EMPTY, b"whatever")
        }
        (Bad::Unknown, true) => format!("NOPE{}:data\n", rng.next() % 100_000).into_bytes(),
    }
}

/// A frame with a bad CRC-32 trailer or (half the time) a bad header CRC.
fn bad_checksum(rng: &mut Rng, next_id: &mut u32) -> Vec<u8> {
    *next_id += 1;
    let mut p = vec![0u8; rng.range(0, 2000)];
    rng.fill(&mut p);
    let mut f = encode("ECHO", *next_id, Flags::CHECKSUM, &p);
    if rng.percent() < 50 {
        // Bad payload checksum (trailer).
        let n = f.len();
        f[n - 1] ^= 0x5A;
    } else {
        // Bad header checksum.
        f[12] ^= 0x5A;
    }
    f
}

/// Text has no checksums: a line with no separator or (half the time) a
/// bad kind instead.
fn bad_line(rng: &mut Rng) -> Vec<u8> {
    let len = rng.range(1, 200);
    let mut l = make_payload(rng, len, "", true);
    l.retain(|&b| b != b':');
    if rng.percent() < 50 {
        l.extend(b":x");
        l.insert(0, b'!');
    }
    l.push(b'\n');
    l
}

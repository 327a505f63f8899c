//! §2.1 step 2 and §4 (revision 1.2): a run of untrusted headers in line
//! noise, with no frame and no trusted-header error between them, is
//! answered with ONE `ERROR` (id 0, the code of the first of them); a frame
//! ends the run; an untrusted header costs one byte, so its claimed length
//! never swallows the frame after it (revision 1.1).

use super::{open, send, Rng};
use crate::check::{answer_mismatch, expect_answer, Pay};
use crate::conn::Conn;
use crate::crc::crc16;
use crate::report::Report;
use crate::wire::{header, request, Frame, MAGIC};
use crate::Ctx;

/// `len` random bytes with no `0xA5` but at `headers` places, each followed
/// by 13 bytes (no `0xA5` among them) that fail the header checksum. The
/// last `0xA5` is at least 14 bytes from the end, so each is judged on noise
/// bytes alone. No frame can hide in it: every `0xA5` is refused.
pub(super) fn noise(rng: &mut Rng, len: usize, headers: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len)
        .map(|_| match rng.byte() {
            MAGIC => 0x5A,
            b => b,
        })
        .collect();
    let room = len.saturating_sub(16);
    for h in 0..headers {
        let at = 1 + room * h / headers.max(1);
        v[at] = MAGIC;
        // Redraw until the checksum fails (it passes once in 2^16).
        while crc16(&v[at..at + 12]) == u16::from_le_bytes([v[at + 12], v[at + 13]]) {
            v[at + 5] = v[at + 5].wrapping_add(1) | 1;
            if v[at + 5] == MAGIC {
                v[at + 5] = 1;
            }
        }
    }
    v
}

/// A header whose checksum holds but that §2.1 step 2 refuses, claiming a
/// 1000-byte payload; no `0xA5` after its first byte.
pub(super) fn stray_header(version: u8, flags: u8, kind_len: u8) -> Vec<u8> {
    let mut id = 0x0102_0304u32;
    loop {
        let h = header(version, flags, kind_len, id, 1000);
        if !h[1..].contains(&MAGIC) {
            return h.to_vec();
        }
        id += 1;
    }
}

/// Reads answers until the PONG with `last_id` (or a miss), then compares
/// the whole list with `want`; one check.
pub(super) fn want_answers(
    r: &mut Report,
    c: &mut Conn,
    name: &str,
    last_id: u32,
    want: &[(&str, u32, Pay)],
) -> bool {
    let mut got: Vec<Frame> = Vec::new();
    let mut miss = None;
    loop {
        match c.answer() {
            Ok(f) => {
                let end = f.kind_is("PONG") && f.id == last_id;
                got.push(f);
                if end {
                    break;
                }
            }
            Err(m) => {
                miss = Some(m);
                break;
            }
        }
    }
    let ok = miss.is_none()
        && got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(f, (k, id, p))| answer_mismatch(f, k, *id, *p).is_none());
    let expected: Vec<String> = want
        .iter()
        .map(|(k, id, p)| expect_answer(k, *id, *p))
        .collect();
    let mut seen: Vec<String> = got.iter().map(|f| f.to_string()).collect();
    if let Some(m) = miss {
        seen.push(m.to_string());
    }
    r.check(
        name,
        ok,
        format!("exactly: {}", expected.join(", ")),
        seen.join(", "),
    )
}

pub fn run(ctx: &Ctx, r: &mut Report) {
    let Some(mut c) = open(r, "noise", ctx.bin("noise")) else {
        return;
    };
    let mut rng = Rng::new(ctx.seed);
    // The first byte is 0xA5: a binary conversation (§4, mode sniffing).
    if !(send(r, &mut c, "noise.first-ping", &request("PING", 1, b""))
        && want_answers(
            r,
            &mut c,
            "noise.first-ping",
            1,
            &[("PONG", 1, Pay::Exact(b"ack"))],
        ))
    {
        return;
    }
    let pong = |id| ("PONG", id, Pay::Exact(b"ack"));
    let err0 = |code| ("ERROR", 0, Pay::Code(code));

    let mut bytes = noise(&mut rng, 4096, 8);
    bytes.extend(request("PING", 2, b""));
    if send(r, &mut c, "noise.one-error-per-run", &bytes) {
        want_answers(
            r,
            &mut c,
            "noise.one-error-per-run",
            2,
            &[err0("header-checksum"), pong(2)],
        );
    }

    // A frame between two runs ends the first: one ERROR each.
    let mut bytes = noise(&mut rng, 1500, 5);
    bytes.extend(request("PING", 3, b""));
    bytes.extend(noise(&mut rng, 1500, 5));
    bytes.extend(request("PING", 4, b""));
    if send(r, &mut c, "noise.two-runs", &bytes) {
        want_answers(
            r,
            &mut c,
            "noise.two-runs",
            4,
            &[
                err0("header-checksum"),
                pong(3),
                err0("header-checksum"),
                pong(4),
            ],
        );
    }

    // The run's ERROR is the first untrusted header's: here a header whose
    // checksum holds but whose version is 2.
    let mut bytes = stray_header(2, 0, 4);
    bytes.extend(noise(&mut rng, 2000, 6));
    bytes.extend(request("PING", 5, b""));
    if send(r, &mut c, "noise.run-error-is-the-first", &bytes) {
        want_answers(
            r,
            &mut c,
            "noise.run-error-is-the-first",
            5,
            &[err0("unsupported-version"), pong(5)],
        );
    }

    // Untrusted headers with a good checksum: ERROR id 0 with their code,
    // and the claimed 1000 bytes are not skipped: the PING right after is
    // answered.
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "noise.untrusted-version",
            stray_header(2, 0, 4),
            "unsupported-version",
        ),
        (
            "noise.untrusted-reserved-flag-3",
            stray_header(1, 0x08, 4),
            "reserved-flags",
        ),
        (
            "noise.untrusted-reserved-flag-7",
            stray_header(1, 0x80 | 0x04, 4),
            "reserved-flags",
        ),
        (
            "noise.untrusted-kind-length-0",
            stray_header(1, 0, 0),
            "invalid-kind-length",
        ),
        (
            "noise.untrusted-kind-length-33",
            stray_header(1, 0, 33),
            "invalid-kind-length",
        ),
    ];
    for (i, (name, mut bytes, code)) in cases.into_iter().enumerate() {
        let id = 10 + i as u32;
        bytes.extend(request("PING", id, b""));
        if send(r, &mut c, name, &bytes) {
            want_answers(r, &mut c, name, id, &[err0(code), pong(id)]);
        }
    }

    let left: Vec<String> = c
        .drain_for(ctx.quiet)
        .iter()
        .map(|g| g.item.to_string())
        .collect();
    r.check(
        "noise.nothing-else",
        left.is_empty(),
        "no further answer",
        left.join(", "),
    );
}

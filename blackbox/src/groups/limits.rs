//! §2.1 step 3 and §4: a trusted header whose payload length exceeds the
//! receiver's max (as its HELLO answer advertises it) gets `ERROR
//! too-large` with the frame's id, the frame's bytes are skipped unread
//! (frames inside them are not decoded), and the conversation goes on.

use super::noise::want_answers;
use super::{hello_setup, open, send};
use crate::check::{want_answer, Pay};
use crate::conn::Conn;
use crate::report::Report;
use crate::wire::{header, request, VERSION};
use crate::Ctx;

pub fn run(ctx: &Ctx, r: &mut Report) {
    let Some(mut c) = open(r, "limits", ctx.bin("limits")) else {
        return;
    };
    let Some(max) = hello_setup(r, &mut c, "limits.hello-max", 1) else {
        return;
    };
    r.info("limits", format!("HELLO says max={max}"));
    check_max(r, &mut c, "limits", max);
}

/// The at-max and over-max checks, under `prefix.…`.
pub(super) fn check_max(r: &mut Report, c: &mut Conn, prefix: &str, max: u64) {
    if max <= 1 << 20 {
        let name = format!("{prefix}.payload-at-max");
        let p: Vec<u8> = (0..max).map(|i| b'a' + (i % 26) as u8).collect();
        if send(r, c, &name, &request("ECHO", 2, &p)) {
            want_answer(r, c, &name, "ECHO", 2, Pay::Exact(&p));
        }
    } else {
        r.info(
            &format!("{prefix}.payload-at-max"),
            format!("not tried: max={max} is over 1 MiB"),
        );
    }
    let name = format!("{prefix}.too-large");
    if max >= u64::from(u32::MAX) || max > 16 << 20 {
        r.info(
            &name,
            format!("not tried: max={max} leaves no room or is over 16 MiB"),
        );
        return;
    }
    // A trusted header claiming max+1 payload bytes; the bytes that follow
    // are those it claims: two good PINGs (which must not be answered),
    // then filler.
    let claim = max as usize + 1;
    let mut bytes = header(VERSION, 0, 4, 3, claim as u32).to_vec();
    bytes.extend(b"ECHO");
    let mut body = request("PING", 666, b"");
    body.extend(request("PING", 667, b""));
    body.resize(claim.max(body.len()), b'z');
    body.truncate(claim);
    bytes.extend(body);
    bytes.extend(request("PING", 4, b""));
    if send(r, c, &name, &bytes) {
        want_answers(
            r,
            c,
            &name,
            4,
            &[
                ("ERROR", 3, Pay::Code("too-large")),
                ("PONG", 4, Pay::Exact(b"ack")),
            ],
        );
    }
}

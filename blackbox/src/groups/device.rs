//! The firmware on a UART (QEMU's lm3s6965evb): one conversation, so no
//! relay between connections. HELLO answered `rev=1.2 max=256`; `SUB tick`
//! brings `tick` events with decimal counters about every 100 ms; `UNSUB
//! tick` stops them (events already on their way before the UNSUB answer
//! are allowed, none after it); noise answered once; PING works.
//!
//! The tick rate (100 ms) and max=256 are the firmware's own, from the
//! brief, not from PROTOCOL.md. Arrival spacing is accepted in 50..=400 ms:
//! it is measured on the host, behind QEMU's UART and a pty or socket.

use super::limits::check_max;
use super::noise::{noise, want_answers};
use super::{open, send, Rng};
use crate::check::{
    answer_mismatch, check_hello_answer, event_mismatch, expect_answer, want_answer, Pay,
};
use crate::conn::{Conn, Got};
use crate::report::Report;
use crate::wire::{request, show, Frame, Item};
use crate::Ctx;
use std::time::{Duration, Instant};

const TICKS: usize = 8;

pub fn run(ctx: &Ctx, r: &mut Report) {
    let Some(mut c) = open(r, "device", ctx.bin("device")) else {
        return;
    };
    let mut max = 256;

    // HELLO: rev=1.2 max=256 (app and schema may follow).
    let want = "answer HELLO id=1 payload \"rev=1.2 max=256[ …]\"";
    if send(r, &mut c, "device.hello", &request("HELLO", 1, b"rev=1.2")) {
        match c.answer() {
            Ok(f) => {
                let parsed = check_hello_answer(&f.payload);
                let ok = answer_mismatch(&f, "HELLO", 1, Pay::Any).is_none()
                    && parsed == Ok(((1, 2), 256));
                if let Ok((_, m)) = parsed {
                    max = m;
                }
                r.check("device.hello", ok, want, f);
            }
            Err(m) => r.fail("device.hello", want, m),
        }
    }
    if send(r, &mut c, "device.ping", &request("PING", 2, b"")) {
        want_answer(r, &mut c, "device.ping", "PONG", 2, Pay::Exact(b"ack"));
    }
    if send(r, &mut c, "device.unknown-kind", &request("FROB", 3, b"x")) {
        want_answer(
            r,
            &mut c,
            "device.unknown-kind",
            "ERROR",
            3,
            Pay::Exact(b"unknown-kind: FROB"),
        );
    }
    // No filter yet: no event (§6: events go to whoever subscribed).
    let early: Vec<String> = c
        .drain_for(Duration::from_millis(500))
        .iter()
        .map(|g| g.item.to_string())
        .collect();
    r.check(
        "device.no-events-before-sub",
        early.is_empty(),
        "nothing within 500 ms before SUB",
        early.join(", "),
    );

    // Noise: one ERROR for the run, then the PING.
    let mut rng = Rng::new(ctx.seed);
    let mut bytes = noise(&mut rng, 2048, 6);
    bytes.extend(request("PING", 4, b""));
    if send(r, &mut c, "device.noise-one-error", &bytes) {
        want_answers(
            r,
            &mut c,
            "device.noise-one-error",
            4,
            &[
                ("ERROR", 0, Pay::Code("header-checksum")),
                ("PONG", 4, Pay::Exact(b"ack")),
            ],
        );
    }
    check_max(r, &mut c, "device", max);

    ticks(ctx, r, &mut c);

    // End the conversation, so that the next one starts afresh (§4: EXIT
    // has no answer).
    if send(r, &mut c, "device.unsub-all", &request("UNSUB", 20, b"")) {
        want_answer(r, &mut c, "device.unsub-all", "UNSUB", 20, Pay::Exact(b""));
    }
    if send(r, &mut c, "device.exit", &request("EXIT", 21, b"")) {
        let left: Vec<String> = c
            .drain_for(ctx.quiet)
            .iter()
            .map(|g| g.item.to_string())
            .collect();
        r.check(
            "device.exit",
            left.is_empty(),
            "no answer to EXIT",
            left.join(", "),
        );
    }
}

fn ticks(ctx: &Ctx, r: &mut Report, c: &mut Conn) {
    let name = "device.sub-tick";
    if !send(r, c, name, &request("SUB", 10, b"tick")) {
        return;
    }
    let sub_seq = match c.answer_within(ctx.wait) {
        Ok((f, g)) => {
            if let Some(got) = answer_mismatch(&f, "SUB", 10, Pay::Exact(b"tick")) {
                r.fail(name, expect_answer("SUB", 10, Pay::Exact(b"tick")), got);
                return;
            }
            r.ok(name);
            g.seq
        }
        Err(m) => {
            r.fail(name, expect_answer("SUB", 10, Pay::Exact(b"tick")), m);
            return;
        }
    };

    // TICKS events, each within 1 s of the previous.
    let mut evs: Vec<(Frame, Got)> = Vec::new();
    let mut miss = None;
    while evs.len() < TICKS {
        match c.event_within(Duration::from_millis(1000)) {
            Ok(e) => evs.push(e),
            Err(m) => {
                miss = Some(m);
                break;
            }
        }
    }
    let got = match &miss {
        Some(m) => format!("{} events, then {m}", evs.len()),
        None => format!("{} events", evs.len()),
    };
    let ticking = r.check(
        "device.tick-events",
        miss.is_none(),
        format!("{TICKS} tick events after the SUB answer"),
        got,
    );
    if ticking {
        judge_ticks(r, &evs, sub_seq);
    } else {
        r.info(
            "device",
            "no ticks: device.tick-form, device.tick-counters and device.tick-spacing not checked",
        );
    }

    // PING while ticking: answered, events around it.
    if send(r, c, "device.ping-while-ticking", &request("PING", 11, b"")) {
        want_answer(
            r,
            c,
            "device.ping-while-ticking",
            "PONG",
            11,
            Pay::Exact(b"ack"),
        );
    }

    // UNSUB tick: events in flight before its answer are allowed, none
    // after it.
    let name = "device.unsub-tick";
    if !send(r, c, name, &request("UNSUB", 12, b"tick")) {
        return;
    }
    let unsub_seq = match c.answer_within(ctx.wait) {
        Ok((f, g)) => {
            if let Some(got) = answer_mismatch(&f, "UNSUB", 12, Pay::Exact(b"tick")) {
                r.fail(name, expect_answer("UNSUB", 12, Pay::Exact(b"tick")), got);
                return;
            }
            r.ok(name);
            g.seq
        }
        Err(m) => {
            r.fail(name, expect_answer("UNSUB", 12, Pay::Exact(b"tick")), m);
            return;
        }
    };
    if evs.is_empty() {
        r.info(
            "device",
            "no ticks ever came: device.unsub-stops-ticks not checked",
        );
        return;
    }
    let t = Instant::now();
    let mut later = c.drain_for(Duration::from_millis(800));
    let before = later.iter().filter(|g| g.seq < unsub_seq).count();
    later.retain(|g| g.seq > unsub_seq);
    let shown: Vec<String> = later
        .iter()
        .map(|g| match &g.item {
            Item::Frame(f) => format!("{} \"{}\"", show(&f.kind), show(&f.payload)),
            i => i.to_string(),
        })
        .collect();
    r.check(
        "device.unsub-stops-ticks",
        later.is_empty(),
        format!(
            "no event after the UNSUB answer ({} ms watched)",
            t.elapsed().as_millis()
        ),
        shown.join(", "),
    );
    r.info(
        "device.unsub-stops-ticks",
        format!("{before} tick events were on their way before the UNSUB answer"),
    );
}

/// Form, counters and spacing of the ticks received.
fn judge_ticks(r: &mut Report, evs: &[(Frame, Got)], sub_seq: u64) {
    let form = evs.iter().find_map(|(f, g)| {
        let bad = f.payload.is_empty()
            || !f.payload.iter().all(u8::is_ascii_digit)
            || f.payload.len() > 19;
        if g.seq < sub_seq {
            Some(format!("{f} before the SUB answer"))
        } else if bad {
            Some(format!("{f} (payload not decimal)"))
        } else {
            event_mismatch(f, "tick", &f.payload).map(|s| format!("{s} (not an event tick)"))
        }
    });
    r.check(
        "device.tick-form",
        form.is_none(),
        "events tick, id 0, flags EVENT, decimal payloads, after the SUB answer",
        form.clone().unwrap_or_default(),
    );
    if form.is_some() {
        return;
    }
    let counters: Vec<u64> = evs
        .iter()
        .map(|(f, _)| String::from_utf8_lossy(&f.payload).parse().unwrap())
        .collect();
    r.check(
        "device.tick-counters",
        counters.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing counters",
        format!("{counters:?}"),
    );
    let gaps: Vec<u128> = evs
        .windows(2)
        .map(|w| w[1].1.at.duration_since(w[0].1.at).as_millis())
        .collect();
    r.check(
        "device.tick-spacing",
        gaps.iter().all(|g| (50..=400).contains(g)),
        "50..=400 ms between ticks",
        format!("{gaps:?} ms"),
    );
}

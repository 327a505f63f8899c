//! §6 Slow subscribers. A subscribes `flood` and stops reading; B publishes
//! `ctx.flood` events `flood` with decimal counters 1, 2, …; meanwhile C
//! PINGs, and every PING must be answered promptly ("a peer that reads
//! nothing stalls its own answers, never another conversation's"). Then A
//! reads everything.
//!
//! What A gets is judged by the accounting of `counted.rs`: `flood` events
//! with strictly increasing counters, and `LAGGED` events whose payloads add
//! up exactly to the events A missed, the final event (published once A had
//! read everything) last.
//!
//! Whether anything is dropped at all depends on the server's bound and on
//! the kernel's socket buffers: with nothing dropped the checks hold with a
//! `LAGGED` sum of 0 (printed as info).

use super::{counted, hello_setup, open, send};
use crate::check::{answer_mismatch, expect_answer, setup_answer, Pay};
use crate::report::Report;
use crate::wire::{event, request};
use crate::Ctx;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long C waits for each PONG at most, and the slowest it accepts.
const PROMPT: Duration = Duration::from_millis(1000);

pub fn run(ctx: &Ctx, r: &mut Report) {
    let n = ctx.flood;
    let Some(mut a) = open(r, "slow", ctx.bin("A")) else {
        return;
    };
    let Some(mut b) = open(r, "slow", ctx.bin("B")) else {
        return;
    };
    let Some(mut c) = open(r, "slow", ctx.bin("C")) else {
        return;
    };
    if hello_setup(r, &mut a, "slow.setup-hello-A", 1).is_none()
        || hello_setup(r, &mut b, "slow.setup-hello-B", 1).is_none()
        || !send(r, &mut a, "slow.setup-sub-A", &request("SUB", 2, b"flood"))
        || !setup_answer(
            r,
            &mut a,
            "slow.setup-sub-A",
            "SUB",
            2,
            Pay::Exact(b"flood"),
        )
    {
        return;
    }
    // From here A reads nothing until the flood is over.

    // A second handle on B, for the thread that publishes the flood (taken
    // first: nothing below returns early once C's thread runs).
    let mut bw = match b.writer() {
        Ok(w) => w,
        Err(e) => {
            r.fail("slow.publisher-not-stalled", "a second handle on B", e);
            return;
        }
    };

    // C: a PING every 20 ms, each answered within PROMPT, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let c_stop = stop.clone();
    let pinger = thread::spawn(move || {
        let mut id = 0u32;
        let mut worst = Duration::ZERO;
        let mut trouble = None;
        c.wait = PROMPT;
        while !c_stop.load(Ordering::Relaxed) {
            id += 1;
            let t = Instant::now();
            if let Err(m) = c.send(&request("PING", id, b"")) {
                trouble = Some(format!("PING id={id}: {m}"));
                break;
            }
            match c.answer() {
                Ok(f) if answer_mismatch(&f, "PONG", id, Pay::Exact(b"ack")).is_none() => {}
                Ok(f) => {
                    trouble = Some(format!("PING id={id} answered {f}"));
                    break;
                }
                Err(m) => {
                    trouble = Some(format!("PING id={id}: {m}"));
                    break;
                }
            }
            worst = worst.max(t.elapsed());
            thread::sleep(Duration::from_millis(20));
        }
        (id, worst, trouble)
    });

    // B: the flood, written by a thread of its own while this one reads B:
    // B subscribed nothing, so all it may get is the PONG that ends the
    // flood (an answer to any event would be a failure, and reading it
    // keeps a server that wrongly answers from blocking B's writes).
    let mut flood = Vec::with_capacity(n as usize * 24);
    for i in 1..=n {
        flood.extend(event("flood", i.to_string().as_bytes()));
    }
    flood.extend(request("PING", 3, b""));
    let t0 = Instant::now();
    let writer = thread::spawn(move || bw.write_all(&flood).and_then(|_| bw.flush()));
    let want = expect_answer("PONG", 3, Pay::Exact(b"ack"));
    let pong = b.answer_within(Duration::from_secs(20));
    let written = writer.join().unwrap();
    match (&written, &pong) {
        (Ok(_), Ok((f, _))) if answer_mismatch(f, "PONG", 3, Pay::Exact(b"ack")).is_none() => {
            r.ok("slow.publisher-not-stalled");
            r.info(
                "slow.publisher-not-stalled",
                format!(
                    "{n} events published and the PONG after them in {} ms",
                    t0.elapsed().as_millis()
                ),
            );
        }
        (Err(e), _) => r.fail(
            "slow.publisher-not-stalled",
            format!("B's {n} events written"),
            format!("the write failed: {e}"),
        ),
        (_, Ok((f, _))) => r.fail(
            "slow.events-not-answered",
            format!("{want} (B's events are never answered)"),
            f,
        ),
        (_, Err(m)) => r.fail(
            "slow.publisher-not-stalled",
            format!("{want} after B's {n} events"),
            m,
        ),
    }

    // C goes on a little while A still reads nothing.
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (pings, worst, trouble) = pinger.join().unwrap();
    match trouble {
        None => {
            r.ok("slow.others-unaffected");
            r.info(
                "slow.others-unaffected",
                format!(
                    "C: {pings} PINGs answered during the flood, the slowest in {} ms",
                    worst.as_millis()
                ),
            );
        }
        Some(t) => r.fail(
            "slow.others-unaffected",
            format!(
                "every PING of C answered within {} ms while A reads nothing",
                PROMPT.as_millis()
            ),
            t,
        ),
    }

    // A reads everything it was owed, then B publishes the last event and
    // A reads up to it (see counted.rs for why).
    let got = counted::finish(
        &mut a,
        &mut b,
        "flood",
        n.into(),
        Duration::from_millis(500),
        ctx.wait,
    );
    let t = counted::judge(&got, "flood", n.into());
    r.info(
        "slow",
        format!(
            "A got {} flood events and {} LAGGED (sum {}); {} events before the last one was published",
            t.received, t.lagged_events, t.lagged_sum, got.before_last
        ),
    );
    if got.events.is_empty() && got.other.is_empty() {
        // Nothing to judge: these three would pass vacuously. Say so.
        r.info(
            "slow",
            "A got nothing: slow.event-form, slow.order and slow.lagged-before-gap not checked",
        );
    } else {
        r.check(
            "slow.event-form",
            t.form.is_none(),
            "only events flood/LAGGED (id 0, EVENT, decimal payloads) on A",
            t.form.clone().unwrap_or_default(),
        );
        r.check(
            "slow.order",
            t.order.is_none(),
            "strictly increasing counters",
            t.order.clone().unwrap_or_default(),
        );
        r.check(
            "slow.lagged-before-gap",
            t.cover.is_none(),
            "every dropped event counted by a LAGGED no later than the next event delivered",
            t.cover.clone().unwrap_or_default(),
        );
    }
    r.check(
        "slow.last-event-delivered",
        t.last.is_ok(),
        format!(
            "the last event on A: flood \"{}\" (published after A had read everything)",
            t.published
        ),
        t.last.clone().err().unwrap_or_default(),
    );
    r.check(
        "slow.accounting",
        t.balanced(),
        format!("received + LAGGED counts == {} published", t.published),
        t.sums(),
    );
}

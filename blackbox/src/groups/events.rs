//! §6 events between connections, for a server that relays ("a server that
//! relays delivers an event to every conversation whose filters match, the
//! sender's included"): once per conversation however many filters match,
//! in the order published, never answered, and no longer after UNSUB.
//!
//! "Nothing arrives" is mostly checked by order rather than by waiting:
//! delivery keeps the order of publication (§6), so when X then a marker M
//! are published and M is the next event a conversation gets, X was not
//! delivered there. A short quiet watch (`--quiet-ms`) is added where the
//! marker alone could not tell.

use super::{counted, hello_setup, open, send};
use crate::check::{
    answer_mismatch, event_mismatch, expect_answer, expect_event, setup_answer, want_event,
    want_line, Pay,
};
use crate::conn::Conn;
use crate::report::Report;
use crate::wire::{event, frame, request, show, EVENT, RESPONSE};
use crate::Ctx;

/// SUB or UNSUB `filter`, answered with the filter (a setup step).
fn filter(r: &mut Report, c: &mut Conn, name: &str, kind: &str, id: u32, f: &str) -> bool {
    send(r, c, name, &request(kind, id, f.as_bytes()))
        && setup_answer(r, c, name, kind, id, Pay::Exact(f.as_bytes()))
}

/// Publishes events from `c` (one write).
fn publish(r: &mut Report, c: &mut Conn, name: &str, evs: &[(&str, &[u8])]) -> bool {
    let bytes: Vec<u8> = evs.iter().flat_map(|(k, p)| event(k, p)).collect();
    send(r, c, name, &bytes)
}

/// Checks the next events on `c`, in order; one check.
fn want_events(r: &mut Report, c: &mut Conn, name: &str, evs: &[(&str, &[u8])]) -> bool {
    for (at, (k, p)) in evs.iter().enumerate() {
        let got = match c.event() {
            Ok(f) => match event_mismatch(&f, k, p) {
                None => continue,
                Some(g) => g,
            },
            Err(m) => format!("{m} (on {})", c.label),
        };
        let all = if evs.len() <= 3 {
            evs.iter()
                .map(|(k, p)| format!("{k} \"{}\"", show(p)))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            format!(
                "{} events {} \"{}\" … \"{}\"",
                evs.len(),
                evs[0].0,
                show(evs[0].1),
                show(evs[evs.len() - 1].1)
            )
        };
        r.fail(
            name,
            format!(
                "the next events in order: {all}; as #{at}: {}",
                expect_event(k, p)
            ),
            got,
        );
        return false;
    }
    r.ok(name);
    true
}

/// Nothing (no event, no answer) arrives on `c` for `ctx.quiet`.
fn want_quiet(r: &mut Report, c: &mut Conn, ctx: &Ctx, name: &str) -> bool {
    let got = c.drain_for(ctx.quiet);
    let got: Vec<String> = got.iter().map(|g| g.item.to_string()).collect();
    r.check(
        name,
        got.is_empty(),
        format!("nothing within {} ms", ctx.quiet.as_millis()),
        got.join(", "),
    )
}

pub fn run(ctx: &Ctx, r: &mut Report) {
    let Some(mut a) = open(r, "events", ctx.bin("A")) else {
        return;
    };
    let Some(mut b) = open(r, "events", ctx.bin("B")) else {
        return;
    };
    // Both say rev=1.2 first: events go only to a peer that subscribed or
    // named rev=1.2 (§6, Compatibility), and B is about to publish.
    if hello_setup(r, &mut a, "events.setup-hello-A", 1).is_none()
        || hello_setup(r, &mut b, "events.setup-hello-B", 1).is_none()
        || !filter(r, &mut a, "events.setup-sub-A", "SUB", 2, "sensor/*")
        || !filter(r, &mut a, "events.setup-sub-A", "SUB", 3, "sensor/temp")
        || !filter(r, &mut b, "events.setup-sub-B", "SUB", 2, "sensor/temp")
    {
        return;
    }

    // B publishes sensor/temp (both of A's filters match it, and B's own),
    // a marker only A matches, then a PING: the first answer B gets must be
    // the PONG (events are never answered, §4/§6).
    let mut bytes = event("sensor/temp", b"21.5");
    bytes.extend(event("sensor/end", b"1"));
    bytes.extend(request("PING", 100, b""));
    if send(r, &mut b, "events.not-answered", &bytes) {
        let want = expect_answer("PONG", 100, Pay::Exact(b"ack"));
        match b.answer() {
            Ok(f) => {
                let got = answer_mismatch(&f, "PONG", 100, Pay::Exact(b"ack"));
                r.check("events.not-answered", got.is_none(), want, f);
            }
            Err(m) => r.fail("events.not-answered", want, m),
        }
    }
    // A: the event with the frame form of §6 (EVENT, id 0, RESPONSE clear).
    want_event(r, &mut a, "events.delivered", "sensor/temp", b"21.5");
    // A: the marker next, not a second sensor/temp (two filters match it:
    // still exactly once).
    want_event(
        r,
        &mut a,
        "events.once-per-conversation",
        "sensor/end",
        b"1",
    );
    // B gets its own event: "the sender's included".
    want_event(r, &mut b, "events.sender-included", "sensor/temp", b"21.5");

    // Only matching kinds: other/x matches nobody; sensor/hum only A's
    // prefix; sensor/temp both.
    if publish(
        r,
        &mut b,
        "events.filter-match",
        &[
            ("other/x", b"no"),
            ("sensor/hum", b"55"),
            ("sensor/temp", b"22"),
        ],
    ) {
        want_events(
            r,
            &mut a,
            "events.filter-match",
            &[("sensor/hum", b"55"), ("sensor/temp", b"22")],
        );
        // B's next event is sensor/temp 22: it got neither sensor/end,
        // sensor/hum nor other/x (they would have come first).
        want_event(
            r,
            &mut b,
            "events.sender-own-filters-only",
            "sensor/temp",
            b"22",
        );
    }

    // Order of publication is kept, over a burst of 100. A receiver may drop
    // events that do not fit its bound (§6, Slow subscribers), so the burst
    // is judged by the accounting of counted.rs (which also collects the
    // LAGGED of trailing drops with one more event): counters strictly
    // increasing, drops reported, totals exact.
    let burst: Vec<u8> = (1..=100u32)
        .flat_map(|i| event("sensor/seq", i.to_string().as_bytes()))
        .collect();
    if send(r, &mut b, "events.order", &burst) {
        let got = counted::finish(&mut a, &mut b, "sensor/seq", 100, ctx.quiet, ctx.wait);
        let t = counted::judge(&got, "sensor/seq", 100);
        let problem = t
            .form
            .clone()
            .or(t.order.clone())
            .or(t.cover.clone())
            .or(t.last.clone().err());
        r.check(
            "events.order",
            problem.is_none() && t.balanced(),
            "sensor/seq 1..=101 in order, any drops counted by LAGGED (received + LAGGED == 101)",
            problem.unwrap_or_else(|| t.sums()),
        );
        if t.lagged_events > 0 {
            r.info(
                "events.order",
                format!(
                    "{} of 101 dropped and reported by {} LAGGED",
                    t.lagged_sum, t.lagged_events
                ),
            );
        }
    }

    // A frame with EVENT is an event whatever its id and RESPONSE bit: it
    // is relayed as an event (id 0, RESPONSE clear) and not answered.
    let mut bytes = frame(b"sensor/odd", 55, EVENT | RESPONSE, b"odd");
    bytes.extend(request("PING", 101, b""));
    if send(r, &mut b, "events.odd-flags-not-answered", &bytes) {
        let want = expect_answer("PONG", 101, Pay::Exact(b"ack"));
        match b.answer() {
            Ok(f) => {
                let ok = answer_mismatch(&f, "PONG", 101, Pay::Exact(b"ack")).is_none();
                r.check("events.odd-flags-not-answered", ok, want, f);
            }
            Err(m) => r.fail("events.odd-flags-not-answered", want, m),
        }
        want_event(
            r,
            &mut a,
            "events.odd-flags-relayed-as-event",
            "sensor/odd",
            b"odd",
        );
    }

    // UNSUB of one of two matching filters: still delivered, once.
    if filter(r, &mut a, "events.setup-unsub-A", "UNSUB", 4, "sensor/temp")
        && publish(
            r,
            &mut b,
            "events.unsub-one-of-two",
            &[("sensor/temp", b"23"), ("sensor/end", b"2")],
        )
    {
        want_events(
            r,
            &mut a,
            "events.unsub-one-of-two",
            &[("sensor/temp", b"23"), ("sensor/end", b"2")],
        );
    }

    // UNSUB of the last matching filter: after its answer, nothing that
    // only it matched. A marker filter tells the end of the stream.
    if filter(r, &mut a, "events.setup-unsub-A", "UNSUB", 5, "sensor/*")
        && filter(r, &mut a, "events.setup-sub-A", "SUB", 6, "marker/x")
        && publish(
            r,
            &mut b,
            "events.unsub-stops",
            &[
                ("sensor/temp", b"24"),
                ("sensor/hum", b"56"),
                ("marker/x", b"m"),
            ],
        )
        && want_event(r, &mut a, "events.unsub-stops", "marker/x", b"m")
    {
        want_quiet(r, &mut a, ctx, "events.unsub-stops-quiet");
    }

    // UNSUB with an empty payload removes every filter.
    if filter(r, &mut a, "events.setup-sub-A", "SUB", 7, "a/*")
        && filter(r, &mut a, "events.setup-sub-A", "SUB", 8, "b/x")
        && filter(r, &mut a, "events.setup-unsub-A", "UNSUB", 9, "")
        && filter(r, &mut a, "events.setup-sub-A", "SUB", 10, "marker/y")
        && publish(
            r,
            &mut b,
            "events.unsub-empty-stops",
            &[
                ("a/1", b"1"),
                ("b/x", b"2"),
                ("marker/x", b"3"),
                ("marker/y", b"m"),
            ],
        )
    {
        want_event(r, &mut a, "events.unsub-empty-stops", "marker/y", b"m");
    }

    // Nothing else was owed to A: no stray answers or events.
    let left: Vec<String> = a
        .drain_for(ctx.quiet)
        .iter()
        .map(|g| g.item.to_string())
        .collect();
    r.check(
        "events.nothing-else",
        left.is_empty(),
        "no further frame on A",
        left.join(", "),
    );
}

/// A text conversation subscribes (`SUB:sensor/*`) and receives events as
/// lines `KIND:DATA` (§6, text mode); B publishes in binary.
pub fn text_sub(ctx: &Ctx, r: &mut Report) {
    let Some(mut t) = open(r, "text-sub", ctx.text("T")) else {
        return;
    };
    let Some(mut b) = open(r, "text-sub", ctx.bin("B")) else {
        return;
    };
    if hello_setup(r, &mut b, "text-sub.setup-hello-B", 1).is_none() {
        return;
    }
    if !(send(r, &mut t, "text-sub.sub", b"SUB:sensor/*\n")
        && want_line(r, &mut t, "text-sub.sub", b"SUB:sensor/*", false))
    {
        return;
    }
    // Text carries no flags: an event line looks like `KIND:DATA`; payload
    // colons are data (§3).
    if publish(
        r,
        &mut b,
        "text-sub.event-lines",
        &[
            ("other/x", b"no"),
            ("sensor/temp", b"21.5"),
            ("sensor/a", b"a:b"),
        ],
    ) && want_line(
        r,
        &mut t,
        "text-sub.event-lines",
        b"sensor/temp:21.5",
        false,
    ) {
        want_line(
            r,
            &mut t,
            "text-sub.event-lines-colon",
            b"sensor/a:a:b",
            false,
        );
    }
    // Ambiguity (§3/§6): an event whose payload holds `\n` cannot be
    // encoded as a line; what a server does with it for a text subscriber
    // is not said. Not checked.
    if send(r, &mut t, "text-sub.unsub", b"UNSUB:sensor/*\n")
        && want_line(r, &mut t, "text-sub.unsub", b"UNSUB:sensor/*", false)
        && send(r, &mut t, "text-sub.unsub-stops", b"SUB:marker/t\n")
        && want_line(r, &mut t, "text-sub.sub-marker", b"SUB:marker/t", false)
        && publish(
            r,
            &mut b,
            "text-sub.unsub-stops",
            &[("sensor/temp", b"x"), ("marker/t", b"m")],
        )
    {
        want_line(r, &mut t, "text-sub.unsub-stops", b"marker/t:m", false);
    }
    if send(r, &mut t, "text-sub.unsub-empty", b"UNSUB:\n") {
        want_line(r, &mut t, "text-sub.unsub-empty", b"UNSUB:", false);
    }
    if send(r, &mut t, "text-sub.goes-on", b"PING:\n") {
        want_line(r, &mut t, "text-sub.goes-on", b"PONG:ack", false);
    }
    let left: Vec<String> = t
        .drain_for(ctx.quiet)
        .iter()
        .map(|g| g.item.to_string())
        .collect();
    r.check(
        "text-sub.nothing-else",
        left.is_empty(),
        "no further line on T",
        left.join(", "),
    );
}

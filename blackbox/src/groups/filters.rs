//! §6 filters: SUB and UNSUB answered with the filter, a filter held twice
//! answered the same, payloads that are not filters (`bad-filter`), and the
//! per-conversation limit (`too-many-subscriptions`).

use super::{open, send};
use crate::check::{answer_mismatch, expect_answer, want_answer, Pay};
use crate::conn::Conn;
use crate::report::Report;
use crate::wire::request;
use crate::Ctx;

fn ask(
    r: &mut Report,
    c: &mut Conn,
    name: &str,
    kind: &str,
    id: u32,
    payload: &[u8],
    answer: (&str, Pay),
) {
    if send(r, c, name, &request(kind, id, payload)) {
        want_answer(r, c, name, answer.0, id, answer.1);
    }
}

pub fn run(ctx: &Ctx, r: &mut Report) {
    let Some(mut c) = open(r, "filters", ctx.bin("filters")) else {
        return;
    };
    let prefix31 = format!("{}*", "p".repeat(31));
    let kind32 = "k".repeat(32);
    let prefix32 = format!("{}*", "p".repeat(32));
    let kind33 = "k".repeat(33);

    // A filter is a kind, or 0..=31 kind characters then `*`.
    let good: [(&str, &[u8]); 6] = [
        ("filters.sub-exact", b"sensor/temp"),
        ("filters.sub-prefix", b"sensor/*"),
        ("filters.sub-all", b"*"),
        ("filters.sub-duplicate", b"sensor/temp"),
        ("filters.sub-prefix-31", prefix31.as_bytes()),
        ("filters.sub-kind-32", kind32.as_bytes()),
    ];
    let mut id = 0;
    for (name, f) in good {
        id += 1;
        ask(r, &mut c, name, "SUB", id, f, ("SUB", Pay::Exact(f)));
    }
    let bad: [(&str, &[u8]); 10] = [
        ("filters.bad-prefix-32", prefix32.as_bytes()),
        ("filters.bad-kind-33", kind33.as_bytes()),
        ("filters.bad-star-middle", b"sen*sor"),
        ("filters.bad-star-first", b"*sensor"),
        ("filters.bad-two-stars", b"sensor/**"),
        ("filters.bad-empty", b""),
        ("filters.bad-space", b"sensor temp"),
        ("filters.bad-colon", b"sensor:temp"),
        ("filters.bad-non-ascii", "sensor/é".as_bytes()),
        ("filters.bad-star-space", b"sensor *"),
    ];
    for (name, f) in bad {
        id += 1;
        ask(
            r,
            &mut c,
            name,
            "SUB",
            id,
            f,
            ("ERROR", Pay::Code("bad-filter")),
        );
    }

    // UNSUB: answered with the payload as it came, held or not; empty
    // removes every filter; a non-empty payload that is not a filter is
    // refused.
    let unsub: [(&str, &[u8], (&str, Pay)); 6] = [
        (
            "filters.unsub",
            b"sensor/temp",
            ("UNSUB", Pay::Exact(b"sensor/temp")),
        ),
        (
            "filters.unsub-prefix",
            b"sensor/*",
            ("UNSUB", Pay::Exact(b"sensor/*")),
        ),
        (
            "filters.unsub-not-held",
            b"never/held",
            ("UNSUB", Pay::Exact(b"never/held")),
        ),
        (
            "filters.unsub-bad",
            b"a*b",
            ("ERROR", Pay::Code("bad-filter")),
        ),
        (
            "filters.unsub-bad-prefix-32",
            prefix32.as_bytes(),
            ("ERROR", Pay::Code("bad-filter")),
        ),
        ("filters.unsub-empty", b"", ("UNSUB", Pay::Exact(b""))),
    ];
    for (name, f, answer) in unsub {
        id += 1;
        ask(r, &mut c, name, "UNSUB", id, f, answer);
    }
    id += 1;
    ask(
        r,
        &mut c,
        "filters.goes-on",
        "PING",
        id,
        b"",
        ("PONG", Pay::Exact(b"ack")),
    );

    limit(ctx, r);
}

/// The receiver's own limit is unknown (at least 1): subscribe distinct
/// filters until one is refused, or `ctx.max_subs` were taken.
fn limit(ctx: &Ctx, r: &mut Report) {
    let Some(mut c) = open(r, "filters", ctx.bin("filters-limit")) else {
        return;
    };
    let mut refused = None;
    let mut held = 0u32;
    for i in 0..ctx.max_subs {
        let id = 100 + i;
        let f = format!("lim/{i}");
        if !send(
            r,
            &mut c,
            "filters.limit",
            &request("SUB", id, f.as_bytes()),
        ) {
            return;
        }
        let want = format!(
            "{} or {}",
            expect_answer("SUB", id, Pay::Exact(f.as_bytes())),
            expect_answer("ERROR", id, Pay::Code("too-many-subscriptions"))
        );
        match c.answer() {
            Ok(a) if answer_mismatch(&a, "SUB", id, Pay::Exact(f.as_bytes())).is_none() => {
                held += 1
            }
            Ok(a)
                if answer_mismatch(&a, "ERROR", id, Pay::Code("too-many-subscriptions"))
                    .is_none() =>
            {
                refused = Some(i);
                break;
            }
            Ok(a) => {
                r.fail("filters.limit", want, a);
                return;
            }
            Err(m) => {
                r.fail("filters.limit", want, m);
                return;
            }
        }
    }
    r.check(
        "filters.limit-at-least-1",
        held >= 1,
        "the first SUB accepted (a limit of at least 1)",
        format!("{held} accepted"),
    );
    let Some(at) = refused else {
        r.info(
            "filters.limit",
            format!("no limit found: {held} filters held, none refused (not a failure)"),
        );
        return;
    };
    r.info("filters.limit", format!("the server keeps {held} filters per conversation; the next is refused too-many-subscriptions"));
    r.ok("filters.too-many");
    // A filter already held changes nothing and is answered the same, even
    // at the limit.
    ask(
        r,
        &mut c,
        "filters.duplicate-at-limit",
        "SUB",
        200,
        b"lim/0",
        ("SUB", Pay::Exact(b"lim/0")),
    );
    // The refused filter was not added: refused again.
    let f = format!("lim/{at}");
    ask(
        r,
        &mut c,
        "filters.still-refused",
        "SUB",
        201,
        f.as_bytes(),
        ("ERROR", Pay::Code("too-many-subscriptions")),
    );
    // UNSUB gives a place back.
    ask(
        r,
        &mut c,
        "filters.unsub-at-limit",
        "UNSUB",
        202,
        b"lim/0",
        ("UNSUB", Pay::Exact(b"lim/0")),
    );
    ask(
        r,
        &mut c,
        "filters.unsub-frees-place",
        "SUB",
        203,
        f.as_bytes(),
        ("SUB", Pay::Exact(f.as_bytes())),
    );
    ask(
        r,
        &mut c,
        "filters.limit-goes-on",
        "PING",
        204,
        b"",
        ("PONG", Pay::Exact(b"ack")),
    );
}

//! §4 built-ins (PING, ECHO, EXIT, unknown kind), id-0 requests, events
//! never answered, the §2.1 errors of a trusted or untrusted header, and the
//! same in text framing (§3).

use super::{hello_setup, open, send};
use crate::check::{want_answer, want_line, Pay};
use crate::conn::{Conn, Miss};
use crate::report::Report;
use crate::wire::{self, frame, request, CHECKSUM, EVENT, RESPONSE};
use crate::Ctx;

pub fn run(ctx: &Ctx, r: &mut Report) {
    binary(ctx, r);
    malformed(ctx, r);
    text(ctx, r);
}

fn ask(
    r: &mut Report,
    c: &mut Conn,
    name: &str,
    req: &[u8],
    kind: &str,
    id: u32,
    pay: Pay,
) -> bool {
    send(r, c, name, req) && want_answer(r, c, name, kind, id, pay)
}

/// After `EXIT` the peer answers nothing and closes (§4).
fn want_closed(r: &mut Report, c: &mut Conn, name: &str) {
    let w = c.wait;
    match c.take_within(w, |_| true) {
        Err(Miss::Closed) => r.ok(name),
        Err(m) => r.fail(name, "no answer and the connection closed", m),
        Ok(g) => r.fail(name, "no answer and the connection closed", g.item),
    }
}

fn binary(ctx: &Ctx, r: &mut Report) {
    let Some(mut c) = open(r, "basic", ctx.bin("basic")) else {
        return;
    };
    ask(
        r,
        &mut c,
        "basic.ping",
        &request("PING", 1, b""),
        "PONG",
        1,
        Pay::Exact(b"ack"),
    );
    // §4: "A request with id 0 is answered like any other (with id 0)".
    ask(
        r,
        &mut c,
        "basic.ping-id-0",
        &request("PING", 0, b""),
        "PONG",
        0,
        Pay::Exact(b"ack"),
    );
    let all: Vec<u8> = (0..=255u8).collect();
    ask(
        r,
        &mut c,
        "basic.echo-binary",
        &request("ECHO", 2, &all),
        "ECHO",
        2,
        Pay::Exact(&all),
    );
    ask(
        r,
        &mut c,
        "basic.echo-empty",
        &request("ECHO", 3, b""),
        "ECHO",
        3,
        Pay::Exact(b""),
    );
    ask(
        r,
        &mut c,
        "basic.echo-checksum",
        &frame(b"ECHO", 4, CHECKSUM, b"with a CRC-32 trailer"),
        "ECHO",
        4,
        Pay::Exact(b"with a CRC-32 trailer"),
    );
    // The table of §4 gives the payload whole: `unknown-kind: <KIND>`.
    ask(
        r,
        &mut c,
        "basic.unknown-kind",
        &request("FROB", 5, b"x"),
        "ERROR",
        5,
        Pay::Exact(b"unknown-kind: FROB"),
    );
    ask(
        r,
        &mut c,
        "basic.unknown-kind-id-0",
        &request("sensor/temp", 0, b"x"),
        "ERROR",
        0,
        Pay::Exact(b"unknown-kind: sensor/temp"),
    );

    // Pipelined in one write. Ambiguity (§4): "in the same order as the
    // requests when they are handled one after another" can be read as "a
    // conversation handles its requests one after another, so answers come
    // in order" or as "order holds only when they are handled one after
    // another". Checked here: every request answered exactly once, and the
    // id-0 answers (matched by order alone, so their order is required) in
    // the order of their requests.
    pipelined(r, &mut c);

    // §4/§6: an event frame is never answered, not even with unknown-kind,
    // and a frame with EVENT is an event whatever its id and RESPONSE bit.
    // HELLO first: a peer sends events only after rev=1.2 was named (§6).
    if hello_setup(r, &mut c, "basic.hello-before-events", 20).is_some() {
        let cases: [(&str, Vec<u8>); 3] = [
            ("basic.event-not-answered", frame(b"FROB", 0, EVENT, b"x")),
            (
                "basic.event-ping-not-answered",
                frame(b"PING", 0, EVENT, b""),
            ),
            (
                "basic.event-odd-flags-not-answered",
                frame(b"PING", 77, EVENT | RESPONSE, b""),
            ),
        ];
        for (i, (name, ev)) in cases.iter().enumerate() {
            let id = 21 + i as u32;
            let mut bytes = ev.clone();
            bytes.extend(request("PING", id, b""));
            // The next answer must be the PONG: anything before it answered
            // the event.
            ask(r, &mut c, name, &bytes, "PONG", id, Pay::Exact(b"ack"));
        }
    }

    // §4: EXIT has no answer; the server flushes what it owes (the PONG)
    // and closes the connection.
    let mut bytes = request("PING", 30, b"");
    bytes.extend(request("EXIT", 31, b""));
    if ask(
        r,
        &mut c,
        "basic.exit-flushes",
        &bytes,
        "PONG",
        30,
        Pay::Exact(b"ack"),
    ) {
        want_closed(r, &mut c, "basic.exit-closes");
    }
}

fn pipelined(r: &mut Report, c: &mut Conn) {
    let name = "basic.pipelined";
    let mut bytes = request("PING", 10, b"");
    bytes.extend(request("ECHO", 0, b"first"));
    bytes.extend(request("FROB", 11, b""));
    bytes.extend(request("ECHO", 0, b"second"));
    bytes.extend(request("PING", 0, b""));
    if !send(r, c, name, &bytes) {
        return;
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        match c.answer() {
            Ok(f) => got.push(f),
            Err(m) => {
                r.fail(
                    name,
                    "5 answers",
                    format!("{} answers, then {m}", got.len()),
                );
                return;
            }
        }
    }
    let one = |kind: &str, id: u32, p: &[u8]| {
        got.iter()
            .filter(|f| {
                f.kind_is(kind) && f.id == id && f.flags & RESPONSE != 0 && f.payload.starts_with(p)
            })
            .count()
            == 1
    };
    let zero: Vec<String> = got
        .iter()
        .filter(|f| f.id == 0)
        .map(|f| wire::show(&f.payload))
        .collect();
    let ok = one("PONG", 10, b"ack")
        && one("ERROR", 11, b"unknown-kind: FROB")
        && zero == ["first", "second", "ack"];
    r.check(
        name,
        ok,
        "PONG id=10, ERROR id=11, and the id-0 answers ECHO first, ECHO second, PONG ack in that order",
        format!("{got:?}"),
    );
}

fn malformed(ctx: &Ctx, r: &mut Report) {
    let Some(mut c) = open(r, "basic", ctx.bin("basic-malformed")) else {
        return;
    };
    ask(
        r,
        &mut c,
        "basic.malformed-first-ping",
        &request("PING", 1, b""),
        "PONG",
        1,
        Pay::Exact(b"ack"),
    );

    // §2.1 step 4 and §4: a trusted header's errors carry the frame's id.
    let mut bad = frame(b"ECHO", 40, CHECKSUM, b"abc");
    let n = bad.len();
    bad[n - 1] ^= 0xFF;
    ask(
        r,
        &mut c,
        "basic.payload-checksum",
        &bad,
        "ERROR",
        40,
        Pay::Code("payload-checksum"),
    );
    ask(
        r,
        &mut c,
        "basic.payload-checksum-goes-on",
        &request("PING", 41, b""),
        "PONG",
        41,
        Pay::Exact(b"ack"),
    );
    ask(
        r,
        &mut c,
        "basic.invalid-kind",
        &frame(b"BAD KIND", 42, 0, b""),
        "ERROR",
        42,
        Pay::Code("invalid-kind"),
    );
    ask(
        r,
        &mut c,
        "basic.invalid-kind-colon",
        &frame(b"a:b", 43, 0, b""),
        "ERROR",
        43,
        Pay::Code("invalid-kind"),
    );

    // §2.1 step 2 and §4: an untrusted header's error has id 0, and costs
    // one byte: the PING right after it is answered.
    let mut bad = request("PING", 44, b"");
    bad[12] ^= 0xFF;
    assert!(!bad[1..].contains(&wire::MAGIC));
    bad.extend(request("PING", 45, b""));
    ask(
        r,
        &mut c,
        "basic.header-checksum",
        &bad,
        "ERROR",
        0,
        Pay::Code("header-checksum"),
    );
    want_answer(
        r,
        &mut c,
        "basic.header-checksum-goes-on",
        "PONG",
        45,
        Pay::Exact(b"ack"),
    );
}

fn text(ctx: &Ctx, r: &mut Report) {
    let Some(mut t) = open(r, "basic", ctx.text("basic-text")) else {
        return;
    };
    let mut line = |r: &mut Report, name: &str, send_bytes: &[u8], want: &[u8], prefix: bool| {
        if send(r, &mut t, name, send_bytes) {
            want_line(r, &mut t, name, want, prefix);
        }
    };
    // §3/§4: answers in the same framing, `KIND ':' DATA '\n'`.
    line(r, "basic.text-ping", b"PING:hi\n", b"PONG:ack", false);
    line(
        r,
        "basic.text-echo-colons",
        b"ECHO:a:b:c\n",
        b"ECHO:a:b:c",
        false,
    );
    line(r, "basic.text-crlf", b"PING:x\r\n", b"PONG:ack", false);
    // Empty lines are ignored: the next line is the PONG, not an ERROR.
    line(
        r,
        "basic.text-empty-lines-ignored",
        b"\n\r\n\nPING:\n",
        b"PONG:ack",
        false,
    );
    line(
        r,
        "basic.text-unknown-kind",
        b"FROB:x\n",
        b"ERROR:unknown-kind: FROB",
        false,
    );
    line(
        r,
        "basic.text-missing-separator",
        b"NOSEP\n",
        b"ERROR:missing-separator:",
        true,
    );
    line(
        r,
        "basic.text-invalid-kind",
        b"BAD KIND:x\n",
        b"ERROR:invalid-kind:",
        true,
    );
    line(
        r,
        "basic.text-empty-kind",
        b":x\n",
        b"ERROR:invalid-kind:",
        true,
    );
    let long = format!("{}:x\n", "K".repeat(33));
    line(
        r,
        "basic.text-kind-33",
        long.as_bytes(),
        b"ERROR:invalid-kind:",
        true,
    );
    line(r, "basic.text-goes-on", b"PING:after\n", b"PONG:ack", false);
    if send(r, &mut t, "basic.text-exit", b"EXIT:\n") {
        want_closed(r, &mut t, "basic.text-exit");
    }
}

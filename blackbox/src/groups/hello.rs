//! §5: the HELLO answer (rev first, then max, then app and schema), the
//! lower revision of the two, refusals (`bad-hello`, `incompatible`), names
//! the receiver does not know, and text mode.

use super::{open, send};
use crate::check::{
    answer_mismatch, check_hello_answer, expect_answer, want_answer, want_line, Pay,
};
use crate::conn::Conn;
use crate::report::Report;
use crate::wire::{request, show};
use crate::Ctx;

/// Sends HELLO with `payload` and returns the answer's rev, checking the
/// answer is a well-formed §5 HELLO answer; reports under `name`.
fn hello_rev(
    r: &mut Report,
    c: &mut Conn,
    name: &str,
    id: u32,
    payload: &[u8],
) -> Option<(u64, u64)> {
    if !send(r, c, name, &request("HELLO", id, payload)) {
        return None;
    }
    let want = format!("answer HELLO id={id} flags=RESPONSE payload \"rev=… max=…\"");
    let f = match c.answer() {
        Ok(f) => f,
        Err(m) => {
            r.fail(name, want, m);
            return None;
        }
    };
    if let Some(got) = answer_mismatch(&f, "HELLO", id, Pay::Any) {
        r.fail(name, want, got);
        return None;
    }
    match check_hello_answer(&f.payload) {
        Ok((rev, _)) => Some(rev),
        Err(e) => {
            r.fail(name, want, format!("{f} ({e})"));
            None
        }
    }
}

fn rev_str((a, b): (u64, u64)) -> String {
    format!("{a}.{b}")
}

pub fn run(ctx: &Ctx, r: &mut Report) {
    let Some(mut c) = open(r, "hello", ctx.bin("hello")) else {
        return;
    };
    let mut id = 0u32;
    let mut next = || {
        id += 1;
        id
    };

    // The answer: rev first (the lower of 1.2 and the server's own, and a
    // server that answers HELLO speaks at least 1.2: so exactly 1.2), then
    // max (decimal), then app and schema if it has them, in that order.
    let i = next();
    if send(r, &mut c, "hello.answer", &request("HELLO", i, b"rev=1.2")) {
        match c.answer() {
            Ok(f) => {
                let form = answer_mismatch(&f, "HELLO", i, Pay::Any);
                let tokens = check_hello_answer(&f.payload);
                match (form, tokens) {
                    (None, Ok((rev, max))) => {
                        r.ok("hello.answer");
                        r.check(
                            "hello.answer-rev-1.2",
                            rev == (1, 2),
                            "rev=1.2",
                            format!("rev={}", rev_str(rev)),
                        );
                        r.info(
                            "hello.answer",
                            format!("\"{}\" (max {max})", show(&f.payload)),
                        );
                    }
                    (Some(got), _) => {
                        r.fail("hello.answer", expect_answer("HELLO", i, Pay::Any), got)
                    }
                    (None, Err(e)) => r.fail(
                        "hello.answer",
                        "tokens rev=1.2 max=N [app=…] [schema=…] in that order (§5)",
                        format!("{f} ({e})"),
                    ),
                }
            }
            Err(m) => r.fail("hello.answer", expect_answer("HELLO", i, Pay::Any), m),
        }
    }

    // Accepted requests: order free, unknown names ignored, app and schema
    // compared with nothing (§5).
    for (name, payload) in [
        ("hello.order-free", &b"max=4096 rev=1.2"[..]),
        ("hello.unknown-names-ignored", b"rev=1.2 zzz=1 future=a,b=c"),
        (
            "hello.app-schema-accepted",
            b"app=blackbox rev=1.2 schema=0123456789abcdef",
        ),
    ] {
        let i = next();
        if let Some(rev) = hello_rev(r, &mut c, name, i, payload) {
            r.check(
                name,
                rev == (1, 2),
                "an answer with rev=1.2",
                format!("rev={}", rev_str(rev)),
            );
        }
    }

    // The lower of the two revisions, compared as numbers. The server's own
    // revision is unknown (1.2 or later): rev=1.99 tells it (when below
    // 1.99); then rev=1.10 must be answered min(1.10, that), numerically (a
    // string comparison would take 1.10 for lower than 1.2).
    let i = next();
    let own = hello_rev(r, &mut c, "hello.rev-higher-request", i, b"rev=1.99");
    if let Some(s) = own {
        let ok = ((1, 2)..=(1, 99)).contains(&s);
        r.check(
            "hello.rev-higher-request",
            ok,
            "rev between 1.2 and 1.99",
            format!("rev={}", rev_str(s)),
        );
        let i = next();
        if let Some(got) = hello_rev(r, &mut c, "hello.rev-numeric", i, b"rev=1.10") {
            let want = s.min((1, 10));
            r.check(
                "hello.rev-numeric",
                got == want,
                format!(
                    "rev={} (the lower of 1.10 and the server's, as numbers)",
                    rev_str(want)
                ),
                format!("rev={}", rev_str(got)),
            );
        }
    }
    // A lower request revision is the one both speak.
    let i = next();
    if let Some(got) = hello_rev(r, &mut c, "hello.rev-lower-request", i, b"rev=1.1") {
        r.check(
            "hello.rev-lower-request",
            got == (1, 1),
            "rev=1.1",
            format!("rev={}", rev_str(got)),
        );
    }

    // Refusals: an ERROR for the HELLO, with its id; the conversation goes on.
    let long_value = format!("rev=1.2 zz={}", "x".repeat(65));
    let long_app = format!("rev=1.2 app={}", "a".repeat(33));
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("hello.bad-empty", b"".to_vec()),
        ("hello.bad-token-no-equals", b"rev=1.2 garbage".to_vec()),
        ("hello.bad-token-two-spaces", b"rev=1.2  max=5".to_vec()),
        ("hello.bad-token-trailing-space", b"rev=1.2 ".to_vec()),
        ("hello.bad-token-leading-space", b" rev=1.2".to_vec()),
        ("hello.bad-token-name-uppercase", b"rev=1.2 Max=5".to_vec()),
        (
            "hello.bad-token-name-17",
            b"rev=1.2 abcdefghijklmnopq=1".to_vec(),
        ),
        ("hello.bad-token-name-digit", b"rev=1.2 z9=1".to_vec()),
        ("hello.bad-token-empty-name", b"rev=1.2 =1".to_vec()),
        ("hello.bad-token-empty-value", b"rev=1.2 zz=".to_vec()),
        ("hello.bad-token-value-65", long_value.into_bytes()),
        ("hello.bad-token-value-byte", b"rev=1.2 zz=a\x7fb".to_vec()),
        ("hello.bad-token-tab", b"rev=1.2\tmax=5".to_vec()),
        ("hello.bad-missing-rev", b"max=100".to_vec()),
        ("hello.bad-missing-rev-unknown-only", b"zz=1".to_vec()),
        ("hello.bad-rev-no-minor", b"rev=1".to_vec()),
        ("hello.bad-rev-three-parts", b"rev=1.2.3".to_vec()),
        ("hello.bad-rev-letters", b"rev=x.y".to_vec()),
        ("hello.bad-rev-empty-minor", b"rev=1.".to_vec()),
        ("hello.bad-rev-empty-major", b"rev=.2".to_vec()),
        ("hello.bad-rev-sign", b"rev=-1.2".to_vec()),
        ("hello.bad-max-letters", b"rev=1.2 max=abc".to_vec()),
        ("hello.bad-max-negative", b"rev=1.2 max=-1".to_vec()),
        ("hello.bad-max-exponent", b"rev=1.2 max=1e3".to_vec()),
        ("hello.bad-max-hex", b"rev=1.2 max=0x10".to_vec()),
        ("hello.bad-app-charset", b"rev=1.2 app=a*b".to_vec()),
        ("hello.bad-app-33", long_app.into_bytes()),
        ("hello.bad-schema-short", b"rev=1.2 schema=0123".to_vec()),
        (
            "hello.bad-schema-uppercase",
            b"rev=1.2 schema=0123456789ABCDEF".to_vec(),
        ),
        (
            "hello.bad-schema-not-hex",
            b"rev=1.2 schema=0123456789abcdeg".to_vec(),
        ),
        ("hello.bad-duplicate-rev", b"rev=1.2 rev=1.2".to_vec()),
        ("hello.bad-duplicate-max", b"rev=1.2 max=5 max=6".to_vec()),
    ];
    for (name, payload) in &bad {
        let i = next();
        if send(r, &mut c, name, &request("HELLO", i, payload)) {
            want_answer(r, &mut c, name, "ERROR", i, Pay::Code("bad-hello"));
        }
    }

    // Ambiguity (§5): "a name appears at most once" is a token rule, but "a
    // receiver ignores names it does not know". A duplicated unknown name
    // is not checked; what the server does is printed.
    let i = next();
    if c.send(&request("HELLO", i, b"rev=1.2 zz=1 zz=2")).is_ok() {
        match c.answer() {
            Ok(f) => r.info(
                "hello.duplicate-unknown-name",
                format!("not checked (ambiguous); answered {f}"),
            ),
            Err(m) => r.info(
                "hello.duplicate-unknown-name",
                format!("not checked (ambiguous); {m}"),
            ),
        }
    }

    // A major other than 1: `incompatible`, the detail naming both
    // revisions (the request's, and the server's own: 1.2, or what rev=1.99
    // revealed).
    let server_rev = match own {
        Some(s) if s < (1, 99) => Some(rev_str(s)),
        _ => None,
    };
    for (name, req_rev) in [
        ("hello.incompatible-2.0", "2.0"),
        ("hello.incompatible-0.9", "0.9"),
    ] {
        let i = next();
        if !send(
            r,
            &mut c,
            name,
            &request("HELLO", i, format!("rev={req_rev}").as_bytes()),
        ) {
            continue;
        }
        let srv = server_rev.clone().unwrap_or_else(|| "1.".into());
        let want =
            format!("answer ERROR id={i} payload \"incompatible: …\" naming {req_rev} and {srv}");
        match c.answer() {
            Ok(f) => {
                let detail = String::from_utf8_lossy(&f.payload).into_owned();
                let ok = answer_mismatch(&f, "ERROR", i, Pay::Code("incompatible")).is_none()
                    && detail.contains(req_rev)
                    && detail.contains(&srv);
                r.check(name, ok, want, f);
            }
            Err(m) => r.fail(name, want, m),
        }
    }

    let i = next();
    if send(r, &mut c, "hello.goes-on", &request("PING", i, b"")) {
        want_answer(r, &mut c, "hello.goes-on", "PONG", i, Pay::Exact(b"ack"));
    }
    let i = next();
    if let Some(rev) = hello_rev(r, &mut c, "hello.again-after-refusals", i, b"rev=1.2") {
        r.check(
            "hello.again-after-refusals",
            rev == (1, 2),
            "rev=1.2",
            format!("rev={}", rev_str(rev)),
        );
    }

    // Text mode: `HELLO:rev=1.2` is answered `HELLO:rev=1.2 max=…`.
    let Some(mut t) = open(r, "hello", ctx.text("hello-text")) else {
        return;
    };
    let name = "hello.text";
    if send(r, &mut t, name, b"HELLO:rev=1.2\n") {
        match t.line() {
            Ok(l) => {
                let ok = l.starts_with(b"HELLO:rev=1.2 max=")
                    && check_hello_answer(&l[6..])
                        .map(|(rev, _)| rev == (1, 2))
                        .unwrap_or(false);
                r.check(
                    name,
                    ok,
                    "line \"HELLO:rev=1.2 max=N…\"",
                    format!("line \"{}\"", show(&l)),
                );
            }
            Err(m) => r.fail(name, "line \"HELLO:rev=1.2 max=N…\"", m),
        }
    }
    for (name, req, want) in [
        (
            "hello.text-incompatible",
            &b"HELLO:rev=2.0\n"[..],
            &b"ERROR:incompatible:"[..],
        ),
        (
            "hello.text-bad",
            b"HELLO:rev=1.2 max=x\n",
            b"ERROR:bad-hello:",
        ),
        ("hello.text-goes-on", b"PING:\n", b"PONG:ack"),
    ] {
        if send(r, &mut t, name, req) {
            want_line(r, &mut t, name, want, want.ends_with(b":"));
        }
    }
}

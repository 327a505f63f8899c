//! What the checks share: waiting for an answer, an event or a line and
//! comparing it with what the spec says it must be; the HELLO token rules
//! of §5.

use crate::conn::Conn;
use crate::report::Report;
use crate::wire::{show, Frame, EVENT, RESERVED, RESPONSE};

/// What a payload must be.
#[derive(Clone, Copy)]
pub enum Pay<'a> {
    Exact(&'a [u8]),
    /// An `ERROR` payload `<code>: <detail>` (§4): the code before the first
    /// `:` is what is stable, so only `code:` is compared.
    Code(&'a str),
    Any,
}

impl Pay<'_> {
    pub fn matches(&self, p: &[u8]) -> bool {
        match self {
            Pay::Exact(e) => p == *e,
            Pay::Code(c) => p.len() > c.len() && p.starts_with(c.as_bytes()) && p[c.len()] == b':',
            Pay::Any => true,
        }
    }
    pub fn describe(&self) -> String {
        match self {
            Pay::Exact(e) => format!("payload \"{}\"", show(e)),
            Pay::Code(c) => format!("payload \"{c}: …\""),
            Pay::Any => "any payload".to_string(),
        }
    }
}

/// `None` when `f` is the answer described: that kind, that id, `RESPONSE`
/// set (§4), `EVENT` and the reserved bits clear, that payload. The
/// `CHECKSUM` bit is free (the splitter has checked the trailer if any).
pub fn answer_mismatch(f: &Frame, kind: &str, id: u32, pay: Pay) -> Option<String> {
    let ok = f.kind_is(kind)
        && f.id == id
        && f.flags & RESPONSE != 0
        && f.flags & (EVENT | RESERVED) == 0
        && pay.matches(&f.payload);
    if ok {
        None
    } else {
        Some(format!("{f}"))
    }
}

pub fn expect_answer(kind: &str, id: u32, pay: Pay) -> String {
    format!("answer {kind} id={id} flags=RESPONSE {}", pay.describe())
}

/// Waits for the next answer on `c` and checks it; reports under `name`.
pub fn want_answer(
    r: &mut Report,
    c: &mut Conn,
    name: &str,
    kind: &str,
    id: u32,
    pay: Pay,
) -> bool {
    match c.answer() {
        Ok(f) => match answer_mismatch(&f, kind, id, pay) {
            None => {
                r.ok(name);
                true
            }
            Some(got) => {
                r.fail(name, expect_answer(kind, id, pay), got);
                false
            }
        },
        Err(m) => {
            r.fail(
                name,
                expect_answer(kind, id, pay),
                format!("{m} (on {})", c.label),
            );
            false
        }
    }
}

/// Like `want_answer`, but prints only a failure: for the steps that set a
/// check up rather than being one.
pub fn setup_answer(
    r: &mut Report,
    c: &mut Conn,
    name: &str,
    kind: &str,
    id: u32,
    pay: Pay,
) -> bool {
    let got = match c.answer() {
        Ok(f) => match answer_mismatch(&f, kind, id, pay) {
            None => return true,
            Some(g) => g,
        },
        Err(m) => format!("{m} (on {})", c.label),
    };
    r.fail(name, expect_answer(kind, id, pay), got);
    false
}

/// `None` when `f` is the event described: `EVENT` set, id 0, `RESPONSE`
/// clear (§6), that kind and payload.
pub fn event_mismatch(f: &Frame, kind: &str, payload: &[u8]) -> Option<String> {
    let ok = f.kind_is(kind)
        && f.id == 0
        && f.flags & EVENT != 0
        && f.flags & (RESPONSE | RESERVED) == 0
        && f.payload == payload;
    if ok {
        None
    } else {
        Some(format!("{f}"))
    }
}

pub fn expect_event(kind: &str, payload: &[u8]) -> String {
    format!(
        "event {kind} id=0 flags=EVENT payload \"{}\"",
        show(payload)
    )
}

/// Waits for the next event on `c` and checks it.
pub fn want_event(r: &mut Report, c: &mut Conn, name: &str, kind: &str, payload: &[u8]) -> bool {
    let got = match c.event() {
        Ok(f) => match event_mismatch(&f, kind, payload) {
            None => {
                r.ok(name);
                return true;
            }
            Some(g) => g,
        },
        Err(m) => format!("{m} (on {})", c.label),
    };
    r.fail(name, expect_event(kind, payload), got);
    false
}

/// Waits for the next text line on `c`; it must be `expected` exactly, or
/// (`prefix`) begin with it.
pub fn want_line(r: &mut Report, c: &mut Conn, name: &str, expected: &[u8], prefix: bool) -> bool {
    let what = format!(
        "line \"{}{}\"",
        show(expected),
        if prefix { "…" } else { "" }
    );
    match c.line() {
        Ok(l) => {
            let ok = if prefix {
                l.starts_with(expected)
            } else {
                l == expected
            };
            r.check(name, ok, what, format!("line \"{}\"", show(&l)))
        }
        Err(m) => {
            r.fail(name, what, format!("{m} (on {})", c.label));
            false
        }
    }
}

/// The token rules of §5: tokens separated by one space, each `name=value`,
/// `name` 1..=16 of `a-z`, `value` 1..=64 bytes of `0x21..=0x7E`, a name at
/// most once. Returns the tokens in order.
pub fn parse_tokens(p: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for tok in p.split(|&b| b == b' ') {
        let eq = tok
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| format!("token \"{}\" has no '='", show(tok)))?;
        let (name, value) = (&tok[..eq], &tok[eq + 1..]);
        if !(1..=16).contains(&name.len()) || !name.iter().all(u8::is_ascii_lowercase) {
            return Err(format!("name \"{}\" is not 1..=16 of a-z", show(name)));
        }
        if !(1..=64).contains(&value.len()) || !value.iter().all(|b| (0x21..=0x7E).contains(b)) {
            return Err(format!(
                "value \"{}\" is not 1..=64 bytes of 0x21..=0x7E",
                show(value)
            ));
        }
        let name = String::from_utf8(name.to_vec()).unwrap();
        if out.iter().any(|(n, _)| *n == name) {
            return Err(format!("name {name} appears twice"));
        }
        out.push((name, String::from_utf8(value.to_vec()).unwrap()));
    }
    Ok(out)
}

/// `MAJOR.MINOR`, both decimal (§5, `rev`).
pub fn parse_rev(v: &str) -> Option<(u64, u64)> {
    let (a, b) = v.split_once('.')?;
    let dec = |s: &str| {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    Some((dec(a)?, dec(b)?))
}

/// Checks a `HELLO` answer's payload against §5 (rev first, then max, then
/// app and schema if present, in that order; each value of its row's form)
/// and returns (rev, max).
pub fn check_hello_answer(p: &[u8]) -> Result<((u64, u64), u64), String> {
    let toks = parse_tokens(p)?;
    let pos = |n: &str| toks.iter().position(|(k, _)| k == n);
    if pos("rev") != Some(0) {
        return Err("rev is not the first token".into());
    }
    if pos("max") != Some(1) {
        return Err("max is not the second token".into());
    }
    let rev = parse_rev(&toks[0].1).ok_or("rev is not MAJOR.MINOR")?;
    let max_v = &toks[1].1;
    if !max_v.bytes().all(|c| c.is_ascii_digit()) {
        return Err("max is not decimal".into());
    }
    let max: u64 = max_v.parse().map_err(|_| "max does not fit in 64 bits")?;
    if let (Some(a), Some(s)) = (pos("app"), pos("schema")) {
        if a > s {
            return Err("app comes after schema".into());
        }
    }
    if let Some(a) = pos("app") {
        if !crate::wire::is_kind(toks[a].1.as_bytes()) {
            return Err("app is not 1..=32 kind characters".into());
        }
    }
    if let Some(s) = pos("schema") {
        let v = &toks[s].1;
        if v.len() != 16
            || !v
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        {
            return Err("schema is not 16 lowercase hex digits".into());
        }
    }
    Ok((rev, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(parse_tokens(b"rev=1.2 max=256").is_ok());
        assert!(parse_tokens(b"rev=1.2  max=256").is_err());
        assert!(parse_tokens(b"rev=1.2 ").is_err());
        assert!(parse_tokens(b"").is_err());
        assert!(parse_tokens(b"rev=1.2 rev=1.2").is_err());
        assert!(parse_tokens(b"Rev=1.2").is_err());
        assert_eq!(parse_rev("1.10"), Some((1, 10)));
        assert_eq!(parse_rev("1."), None);
        assert_eq!(parse_rev("1.2.3"), None);
        assert_eq!(
            check_hello_answer(b"rev=1.2 max=256 app=fw schema=0123456789abcdef"),
            Ok(((1, 2), 256))
        );
        assert!(check_hello_answer(b"max=256 rev=1.2").is_err());
        assert!(check_hello_answer(b"rev=1.2 max=256 schema=0123456789abcdef app=fw").is_err());
    }
}

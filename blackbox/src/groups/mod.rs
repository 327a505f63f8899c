//! The groups of checks, each on connections of its own.

mod basic;
mod counted;
mod device;
mod events;
mod filters;
mod hello;
mod limits;
mod noise;
mod slow;

use crate::check::{answer_mismatch, check_hello_answer, expect_answer, Pay};
use crate::conn::Conn;
use crate::report::Report;
use crate::wire;
use crate::Ctx;

/// Every group, in the order they run: name, what it checks.
pub const ALL: &[(&str, &str)] = &[
    (
        "basic",
        "§4 built-ins, unknown kind, id 0, malformed frames, text framing, EXIT",
    ),
    (
        "hello",
        "§5 HELLO answer, refusals, incompatible major, unknown names, text mode",
    ),
    (
        "filters",
        "§6 SUB/UNSUB answers, bad filters, the subscription limit",
    ),
    (
        "events",
        "§6 relay between connections: once per conversation, order, UNSUB",
    ),
    (
        "text-sub",
        "§6 a text conversation subscribes and gets events as lines",
    ),
    (
        "slow",
        "§6 slow subscriber: LAGGED accounting, other conversations unaffected",
    ),
    (
        "limits",
        "§2.1/§4 a payload over HELLO's max: ERROR too-large, conversation goes on",
    ),
    (
        "noise",
        "§2.1/§4 untrusted headers: one ERROR per run of noise",
    ),
    (
        "device",
        "firmware on a UART: HELLO rev=1.2 max=256, tick events, noise, PING",
    ),
];

pub fn run(name: &str, ctx: &Ctx, r: &mut Report) {
    match name {
        "basic" => basic::run(ctx, r),
        "hello" => hello::run(ctx, r),
        "filters" => filters::run(ctx, r),
        "events" => events::run(ctx, r),
        "text-sub" => events::text_sub(ctx, r),
        "slow" => slow::run(ctx, r),
        "limits" => limits::run(ctx, r),
        "noise" => noise::run(ctx, r),
        "device" => device::run(ctx, r),
        _ => unreachable!("{name}"),
    }
}

/// Opens a connection or reports `GROUP.connect` failed.
fn open(r: &mut Report, group: &str, c: Result<Conn, String>) -> Option<Conn> {
    match c {
        Ok(c) => Some(c),
        Err(e) => {
            r.fail(&format!("{group}.connect"), "a connection", e);
            None
        }
    }
}

/// Sends `HELLO rev=1.2` and returns the answer's (rev, max), reporting a
/// failure under `name` only. A peer opens with it before it publishes
/// events (§6, Compatibility).
fn hello_setup(r: &mut Report, c: &mut Conn, name: &str, id: u32) -> Option<u64> {
    if let Err(m) = c.send(&wire::request("HELLO", id, b"rev=1.2")) {
        r.fail(name, "to send HELLO", m);
        return None;
    }
    let want = "answer HELLO rev=1.2 max=…";
    match c.answer() {
        Ok(f) => {
            if let Some(got) = answer_mismatch(&f, "HELLO", id, Pay::Any) {
                r.fail(name, expect_answer("HELLO", id, Pay::Any), got);
                return None;
            }
            match check_hello_answer(&f.payload) {
                Ok(((1, 2), max)) => Some(max),
                Ok(_) => {
                    r.fail(name, want, f);
                    None
                }
                Err(e) => {
                    r.fail(name, want, format!("{f} ({e})"));
                    None
                }
            }
        }
        Err(m) => {
            r.fail(name, want, m);
            None
        }
    }
}

/// Sends bytes, reporting a failed write under `name`.
fn send(r: &mut Report, c: &mut Conn, name: &str, bytes: &[u8]) -> bool {
    match c.send(bytes) {
        Ok(()) => true,
        Err(m) => {
            r.fail(name, "to write the request", m);
            false
        }
    }
}

/// A small deterministic generator for the noise (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn byte(&mut self) -> u8 {
        (self.next() >> 32) as u8
    }
}

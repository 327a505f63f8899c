//! A counted stream of events: B publishes events `KIND` with decimal
//! counters 1..=n, A reads them. §6 allows a receiver to drop events for a
//! conversation whose queue is full, reporting each run of drops with a
//! `LAGGED` event (payload: the decimal count) before the next event
//! delivered there; so what A gets is judged by accounting, not by
//! expecting every event:
//!
//!   (events received) + (sum of LAGGED counts) == (events published)
//!
//! Trailing drops: a `LAGGED` precedes "the next event that is delivered",
//! so drops at the end of a burst are reported only when one more event is
//! delivered. Hence `finish`: once A has read everything (nothing arrives
//! for a while, so A's queue is empty), B publishes one last event, counter
//! n+1, which then fits and is delivered after the `LAGGED` of any trailing
//! drops. Published = n+1, and that event must be the last A gets.
//!
//! Ambiguity: where the `LAGGED` goes. "The next event that is delivered
//! there" may be the next event *taken in* for the conversation after a
//! drop (the `LAGGED` then sits exactly at the gap in the counters) or the
//! next event *written out* after it (the `LAGGED` may then come before
//! events queued earlier, i.e. before the gap). Checked is what both
//! readings require: at every counted event, the counters missing so far are
//! at most the `LAGGED` counts received so far (a drop is reported no later
//! than the first event after it), and the totals match at the end.
//! Also assumed: a receiver keeps at least one waiting event (with none it
//! would deliver nothing, not even the `LAGGED`).

use crate::conn::{Conn, Miss};
use crate::wire::{event, Frame, Item, EVENT, RESERVED, RESPONSE};
use std::time::{Duration, Instant};

/// The events (and anything else) A got.
#[derive(Default)]
pub struct Got {
    pub events: Vec<Frame>,
    pub other: Vec<String>,
    /// How many events came before the last one was published.
    pub before_last: usize,
}

/// Reads A's events until nothing arrives for `quiet`, or until the event
/// `kind` with payload `stop_at`, within 15 s at most.
fn read(a: &mut Conn, got: &mut Got, quiet: Duration, kind: &str, stop_at: Option<u64>) {
    let limit = Instant::now() + Duration::from_secs(15);
    while Instant::now() < limit {
        match a.take_within(quiet, |_| true) {
            Ok(g) => match g.item {
                Item::Frame(f) if f.is_event() => {
                    let last = f.kind_is(kind)
                        && stop_at.is_some_and(|s| f.payload == s.to_string().as_bytes());
                    got.events.push(f);
                    if last {
                        return;
                    }
                }
                item => got.other.push(item.to_string()),
            },
            Err(Miss::Garbage(s)) => got.other.push(format!("garbage ({s})")),
            Err(_) => return,
        }
    }
}

/// A reads until quiet, then B publishes `kind` n+1 and A reads up to it.
/// A failed write is recorded in `other` (and so fails the form check).
pub fn finish(
    a: &mut Conn,
    b: &mut Conn,
    kind: &str,
    n: u64,
    quiet: Duration,
    wait: Duration,
) -> Got {
    let mut got = Got::default();
    read(a, &mut got, quiet, kind, None);
    got.before_last = got.events.len();
    match b.send(&event(kind, (n + 1).to_string().as_bytes())) {
        Ok(()) => read(a, &mut got, wait, kind, Some(n + 1)),
        Err(m) => got
            .other
            .push(format!("B could not publish the last event: {m}")),
    }
    got
}

fn decimal(p: &[u8]) -> Option<u64> {
    (!p.is_empty() && p.len() <= 19 && p.iter().all(u8::is_ascii_digit))
        .then(|| std::str::from_utf8(p).unwrap().parse().unwrap())
}

/// What the accounting found; each `Option<String>` is a failure's detail.
pub struct Tally {
    pub published: u64,
    pub received: u64,
    pub lagged_sum: u64,
    pub lagged_events: u64,
    /// A frame that is not a well-formed event `kind` or `LAGGED`.
    pub form: Option<String>,
    /// A counter not above the one before.
    pub order: Option<String>,
    /// Counters missing before an event that no LAGGED had counted yet.
    pub cover: Option<String>,
    /// The last event was the final one (counter n+1), or what was last.
    pub last: Result<(), String>,
}

impl Tally {
    pub fn balanced(&self) -> bool {
        self.received + self.lagged_sum == self.published
    }
    pub fn sums(&self) -> String {
        format!(
            "{} + {} = {}",
            self.received,
            self.lagged_sum,
            self.received + self.lagged_sum
        )
    }
}

pub fn judge(got: &Got, kind: &str, n: u64) -> Tally {
    let published = n + 1;
    let mut t = Tally {
        published,
        received: 0,
        lagged_sum: 0,
        lagged_events: 0,
        form: None,
        order: None,
        cover: None,
        last: Ok(()),
    };
    let mut last = 0u64;
    for (i, f) in got.events.iter().enumerate() {
        if f.id != 0 || f.flags & EVENT == 0 || f.flags & (RESPONSE | RESERVED) != 0 {
            t.form.get_or_insert(format!("#{i}: {f}"));
            continue;
        }
        let Some(v) = decimal(&f.payload) else {
            t.form
                .get_or_insert(format!("#{i}: {f} (payload not decimal)"));
            continue;
        };
        if f.kind_is("LAGGED") {
            t.lagged_sum += v;
            t.lagged_events += 1;
        } else if f.kind_is(kind) {
            if v <= last {
                t.order
                    .get_or_insert(format!("#{i}: counter {v} after {last}"));
            }
            last = last.max(v);
            let missing = (v.saturating_sub(1)).saturating_sub(t.received);
            if missing > t.lagged_sum {
                t.cover.get_or_insert(format!(
                    "#{i}: counter {v} with {missing} missing before it, LAGGED counts so far {}",
                    t.lagged_sum
                ));
            }
            t.received += 1;
        } else {
            t.form
                .get_or_insert(format!("#{i}: {f} (neither {kind} nor LAGGED)"));
        }
    }
    if let Some(o) = got.other.first() {
        t.form.get_or_insert(o.clone());
    }
    let final_ok = got
        .events
        .last()
        .is_some_and(|f| f.kind_is(kind) && f.payload == published.to_string().as_bytes());
    if !final_ok {
        let tail = got
            .events
            .last()
            .map(|f| f.to_string())
            .unwrap_or_else(|| "nothing".into());
        t.last = Err(format!("{tail} last, of {} events", got.events.len()));
    }
    t
}

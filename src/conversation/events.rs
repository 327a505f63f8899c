//! Events (`docs/PROTOCOL.md` §6): what a publisher sends, and the
//! accounting of a slow subscriber's `LAGGED`, for both drivers.

use super::hello::{dec, decimal, Rev};
use crate::{Flags, Kind, Message};

/// An event of `kind` with `payload`, as §6 puts it on the wire: the
/// `EVENT` flag, id 0, `RESPONSE` clear.
///
/// # Examples
///
/// ```
/// use msgwire::conversation::event;
/// use msgwire::{Flags, Kind};
///
/// let e = event(Kind::new("sensor/temp")?, b"21.5");
/// assert_eq!((e.id, e.flags), (0, Flags::EVENT));
/// # Ok::<(), msgwire::Error>(())
/// ```
pub const fn event<'a>(kind: Kind<'a>, payload: &'a [u8]) -> Message<'a> {
    Message::new(kind, payload).with_flags(Flags::EVENT)
}

/// Whether a peer that named `rev` in a `HELLO` (request or answer) may be
/// sent event frames (§6, "Compatibility": 1.2 and later).
pub fn rev_has_events(rev: Rev) -> bool {
    rev >= Rev::THIS
}

/// The count of events a slow subscriber lost, kept where its events
/// wait (§6, "Slow subscribers").
///
/// An event that does not fit in a conversation's queue is dropped for
/// that conversation and counted with [`Lag::dropped`]; the next event that
/// is queued there carries the count ([`Lag::queued`]), and a driver writes
/// a [`Lagged`] event just before it. So the `LAGGED` stands exactly where
/// the events are missing: the events before it were published before the
/// lost ones, the event after it after them.
///
/// # Examples
///
/// ```
/// use msgwire::conversation::Lag;
///
/// let mut lag = Lag::new();
/// assert_eq!(lag.queued(), None); // nothing lost: no `LAGGED`
/// lag.dropped();
/// lag.dropped();
/// let lagged = lag.queued().expect("two were lost");
/// assert_eq!((lagged.count(), lagged.message().payload), (2, &b"2"[..]));
/// assert_eq!(lag.queued(), None); // counted since the previous `LAGGED`
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lag {
    dropped: u32,
}

impl Lag {
    /// No event lost.
    pub const fn new() -> Self {
        Lag { dropped: 0 }
    }

    /// An event did not fit: one more lost (saturating at `u32::MAX`).
    pub fn dropped(&mut self) {
        self.dropped = self.dropped.saturating_add(1);
    }

    /// `n` events lost at once (saturating).
    pub fn dropped_many(&mut self, n: u32) {
        self.dropped = self.dropped.saturating_add(n);
    }

    /// The events lost since the last [`Lag::queued`].
    pub const fn pending(&self) -> u32 {
        self.dropped
    }

    /// An event was queued: the `LAGGED` to write just before it, if
    /// events were lost since the previous one; the count starts again.
    pub fn queued(&mut self) -> Option<Lagged> {
        let n = core::mem::take(&mut self.dropped);
        (n > 0).then(|| Lagged::new(n))
    }
}

/// A `LAGGED` event: its payload is the decimal count of events lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lagged {
    count: u32,
    digits: [u8; 10],
    at: u8,
}

impl Lagged {
    /// The `LAGGED` event for `count` lost events.
    pub fn new(count: u32) -> Self {
        let mut digits = [0u8; 10];
        let at = 10 - dec(count, &mut digits).len();
        Lagged {
            count,
            digits,
            // At most 10 digits of a `u32`.
            at: at as u8,
        }
    }

    /// The `LAGGED` event a subscriber received, from its payload: `None`
    /// when it is not a decimal number (saturating at `u32::MAX`).
    pub fn parse(payload: &[u8]) -> Option<Self> {
        decimal(payload).map(Lagged::new)
    }

    /// How many events were lost.
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// The event on the wire: kind `LAGGED`, the `EVENT` flag, the count in
    /// decimal.
    pub fn message(&self) -> Message<'_> {
        event(
            Kind::LAGGED,
            self.digits.get(usize::from(self.at)..).unwrap_or_default(),
        )
    }
}

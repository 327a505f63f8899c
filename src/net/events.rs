//! Events on a host (`docs/PROTOCOL.md` §6): the bounded queue of one
//! conversation (or of one client subscription) with its `LAGGED`
//! accounting, and the [`Publisher`] that puts an event in the queue of
//! every conversation whose filters match.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::vec::Vec;

use crate::conversation::{Filters, Framing, Lag, Lagged, Wire};
use crate::Kind;

use super::io::lock;

/// How many events, and how many bytes of them, may wait for one
/// conversation (a server's subscriber) or one client subscription before
/// new ones are dropped there and counted in a `LAGGED`.
///
/// The default is 256 events and 256 KiB. A queue holds an entry of
/// 40 bytes per waiting event and keeps the event's bytes (kind and
/// payload) alive; those bytes are shared by every queue the event is in,
/// so one conversation's queue holds at most `events × 40 B + bytes` of
/// memory of its own, about 266 KiB by default. An empty queue takes any
/// event, however large (the transport's payload limit still applies), so
/// a payload over `bytes` is delivered when the subscriber keeps up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventLimits {
    /// Events waiting, at most (at least 1).
    pub events: usize,
    /// Bytes of kinds and payloads waiting, at most.
    pub bytes: usize,
}

impl Default for EventLimits {
    fn default() -> Self {
        EventLimits {
            events: 256,
            bytes: 256 * 1024,
        }
    }
}

/// A bounded queue of items with the `LAGGED` rule: an item that does not
/// fit is dropped and counted, and the next item queued carries the count.
pub(crate) struct Queue<T> {
    items: VecDeque<(Option<Lagged>, T, usize)>,
    bytes: usize,
    lag: Lag,
    limits: EventLimits,
    waker: Option<Waker>,
    closed: bool,
    /// The reader has waited for an item (`poll_pop`, `poll_ready`): it
    /// reads as items come, so a feeder gives it its turn.
    engaged: bool,
    /// Times the feeder paused for the reader since the reader last
    /// caught up (the queue a quarter full or less).
    stalls: u32,
}

/// How many times a feeder lets a reader run before the reader catches up
/// (empties its queue to a quarter); past that the feeder goes on, and the
/// queue drops what does not fit, until the reader catches up. An executor
/// may poll its tasks many times before a future it runs beside them
/// (`async-executor` runs 200 tasks between polls of `run`'s future); a
/// reader slower than the events' rate must not set the pace of the
/// feeder's other work (the answers behind those events).
const MAX_STALLS: u32 = 256;

impl<T> Queue<T> {
    pub(crate) fn new(limits: EventLimits) -> Self {
        Queue {
            items: VecDeque::new(),
            bytes: 0,
            lag: Lag::new(),
            limits,
            waker: None,
            closed: false,
            engaged: false,
            stalls: 0,
        }
    }

    /// Whether a feeder that could go on queueing should first let the
    /// reader run: the queue is at least half full (in items or bytes), its
    /// reader waits for items as they come ([`Queue::poll_pop`]), and the
    /// feeder has not yet paused [`MAX_STALLS`] times since the reader last
    /// caught up. So a reader that keeps up is given its turn before items
    /// are dropped, and one that stopped reading, or reads slower than
    /// items come, costs a bounded number of pauses. Each `true` counts as
    /// one pause.
    pub(crate) fn wants_pause(&mut self) -> bool {
        let half = self.items.len() >= self.limits.events.max(1).div_ceil(2)
            || self.bytes >= self.limits.bytes.div_ceil(2);
        let pause = half && self.engaged && self.stalls < MAX_STALLS;
        self.stalls += u32::from(pause);
        pause
    }

    /// Queues `item` of `bytes` bytes, and wakes the reader; or drops and
    /// counts it when the queue is full (its reader was woken by the items
    /// that fill it). Whether it was queued.
    pub(crate) fn push(&mut self, item: T, bytes: usize) -> bool {
        let fits = self.items.is_empty()
            || (self.items.len() < self.limits.events.max(1)
                && self.bytes.saturating_add(bytes) <= self.limits.bytes);
        if fits {
            let lagged = self.lag.queued();
            self.items.push_back((lagged, item, bytes));
            self.bytes += bytes;
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        } else {
            self.lag.dropped();
        }
        fits
    }

    /// Counts `n` items lost after every item that waits (a `LAGGED` from
    /// the peer that did not fit): told with the next item queued.
    pub(crate) fn lost_at_back(&mut self, n: u32) {
        self.lag.dropped_many(n);
    }

    /// Counts an item lost just before the first item that waits (one
    /// taken out that could not be delivered): told with that item, or
    /// with the next one queued if none waits.
    pub(crate) fn lost_at_front(&mut self, n: u32) {
        match self.items.front_mut() {
            Some((lagged, _, _)) => {
                let before = lagged.map_or(0, |l| l.count());
                *lagged = Some(Lagged::new(before.saturating_add(n)));
            }
            None => self.lag.dropped_many(n),
        }
    }

    /// The next item, with the `LAGGED` to give just before it.
    pub(crate) fn pop(&mut self) -> Option<(Option<Lagged>, T)> {
        let (lagged, item, bytes) = self.items.pop_front()?;
        self.bytes -= bytes;
        // Caught up: a quarter full or less.
        if self.items.len() * 4 <= self.limits.events && self.bytes * 4 <= self.limits.bytes {
            self.stalls = 0;
        }
        Some((lagged, item))
    }

    /// The next item, or `Pending` with `cx`'s waker kept; `Ready(None)`
    /// once closed and empty.
    pub(crate) fn poll_pop(&mut self, cx: &mut Context<'_>) -> Poll<Option<(Option<Lagged>, T)>> {
        match self.pop() {
            Some(next) => Poll::Ready(Some(next)),
            None if self.closed => Poll::Ready(None),
            None => {
                self.waker = Some(cx.waker().clone());
                self.engaged = true;
                Poll::Pending
            }
        }
    }

    /// `Ready` when an item waits (or the queue is closed), else keeps
    /// `cx`'s waker for the next push.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.items.is_empty() && !self.closed {
            self.waker = Some(cx.waker().clone());
            self.engaged = true;
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// No item will come any more: the reader gets what waits, then the end.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// An event as a publisher gave it, shared by every queue it is in:
/// encoded once, as the binary frame every binary subscriber is sent
/// (`EVENT`, id 0), whose kind and payload bytes are read from it.
#[derive(Clone)]
pub(crate) struct Shared {
    /// The binary frame (no checksum: the payload ends it); or, when the
    /// event cannot be one (a payload over 4 GiB), the kind's bytes then
    /// the payload's.
    bytes: Arc<[u8]>,
    /// Where the kind starts (the header's length; 0 when not a frame).
    kind_at: usize,
    kind_len: usize,
}

impl Shared {
    pub(crate) fn new(kind: Kind<'_>, payload: &[u8]) -> Shared {
        let m = crate::conversation::event(kind, payload);
        let mut bytes = Vec::new();
        let kind_at = match Wire::append(&m, Framing::Binary, &mut bytes) {
            Ok(()) => bytes.len() - kind.len() - payload.len(),
            Err(_) => {
                bytes.extend_from_slice(kind.as_bytes());
                bytes.extend_from_slice(payload);
                0
            }
        };
        Shared {
            bytes: bytes.into(),
            kind_at,
            kind_len: kind.len(),
        }
    }

    pub(crate) fn kind(&self) -> Kind<'_> {
        // `new` took the bytes of a valid kind.
        Kind::from_validated(
            self.bytes
                .get(self.kind_at..self.kind_at + self.kind_len)
                .unwrap_or_default(),
        )
    }

    pub(crate) fn payload(&self) -> &[u8] {
        self.bytes
            .get(self.kind_at + self.kind_len..)
            .unwrap_or_default()
    }

    /// The event's binary frame, ready to be written; `None` if it cannot
    /// be one.
    pub(crate) fn frame(&self) -> Option<&[u8]> {
        (self.kind_at > 0).then_some(&*self.bytes)
    }

    /// What the event counts against a queue's byte limit: its kind and
    /// payload.
    fn len(&self) -> usize {
        self.bytes.len() - self.kind_at
    }
}

/// How many filters a server's conversation keeps (§6: `SUB`).
pub(crate) const FILTERS: usize = 32;

/// A subscribed conversation's side of the hub: a copy of its filters and
/// its queue.
pub(crate) struct Outbox {
    pub(crate) filters: Filters<FILTERS>,
    pub(crate) queue: Queue<Shared>,
}

/// Every subscribed conversation of a router (clones of a router share it).
#[derive(Default)]
pub(crate) struct Hub {
    outboxes: Mutex<Vec<Weak<Mutex<Outbox>>>>,
    limits: Mutex<EventLimits>,
}

impl Hub {
    /// A conversation subscribed for the first time: its outbox, which the
    /// hub forgets when the conversation drops it.
    pub(crate) fn join(&self, filters: Filters<FILTERS>) -> Arc<Mutex<Outbox>> {
        let limits = *lock(&self.limits);
        let outbox = Arc::new(Mutex::new(Outbox {
            filters,
            queue: Queue::new(limits),
        }));
        let mut all = lock(&self.outboxes);
        all.retain(|o| o.strong_count() > 0);
        all.push(Arc::downgrade(&outbox));
        outbox
    }

    pub(crate) fn set_limits(&self, limits: EventLimits) {
        *lock(&self.limits) = limits;
    }

    pub(crate) fn publish(&self, kind: Kind<'_>, payload: &[u8]) -> Published {
        self.publish_with(kind, payload, |_| {})
    }

    /// [`Hub::publish`] for a publisher that can let the subscribers run
    /// (a relaying conversation's loop): whether one of them asks for its
    /// turn ([`Queue::wants_pause`]) before more is published.
    pub(crate) fn relay(&self, kind: Kind<'_>, payload: &[u8]) -> bool {
        let mut pause = false;
        self.publish_with(kind, payload, |q| {
            if q.wants_pause() {
                pause = true;
            }
        });
        pause
    }

    /// Queues the event for every outbox whose filters match, then calls
    /// `queued` with that outbox's queue.
    fn publish_with(
        &self,
        kind: Kind<'_>,
        payload: &[u8],
        mut queued: impl FnMut(&mut Queue<Shared>),
    ) -> Published {
        let mut report = Published::default();
        if kind == Kind::LAGGED {
            // The protocol's own event: a subscriber would take it for its
            // conversation's count of lost events.
            report.refused = true;
            return report;
        }
        let mut event = None;
        let mut all = lock(&self.outboxes);
        all.retain(|weak| {
            let Some(outbox) = weak.upgrade() else {
                return false;
            };
            let mut o = lock(&outbox);
            if o.filters.matches(kind) {
                let e = event.get_or_insert_with(|| Shared::new(kind, payload));
                let len = e.len();
                if o.queue.push(e.clone(), len) {
                    report.queued += 1;
                } else {
                    report.dropped += 1;
                }
                queued(&mut o.queue);
            }
            true
        });
        report
    }
}

/// What [`Publisher::publish`] did with an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Published {
    /// Conversations whose queue took it.
    pub queued: usize,
    /// Conversations whose filters matched but whose queue was full: they
    /// count it in their next `LAGGED`.
    pub dropped: usize,
    /// The kind was `LAGGED`, which only a conversation's own queue
    /// writes (§6): published nowhere (an event a peer publishes with
    /// that kind is not relayed either).
    pub refused: bool,
}

/// Publishes events (§6) to the conversations a [`Router`](super::Router)
/// serves: each conversation whose filters match gets the event once, in
/// publication order, through a bounded queue of its own
/// ([`EventLimits`]), so a slow subscriber loses events (and is told how
/// many, with `LAGGED`) instead of slowing the publisher or anyone else.
/// Cheap to clone; publishing never waits.
///
/// # Examples
///
/// ```
/// use msgwire::net::Router;
/// use msgwire::Kind;
///
/// let router = Router::new();
/// let publisher = router.publisher();
/// let report = publisher.publish(Kind::new("sensor/temp")?, b"21.5");
/// assert_eq!(report.queued, 0); // nobody subscribed yet
/// # Ok::<(), msgwire::Error>(())
/// ```
#[derive(Clone)]
pub struct Publisher {
    pub(crate) hub: Arc<Hub>,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subscribed = lock(&self.hub.outboxes)
            .iter()
            .filter(|o| o.strong_count() > 0)
            .count();
        f.debug_struct("Publisher")
            .field("subscribed", &subscribed)
            .finish()
    }
}

impl Publisher {
    /// Puts an event of `kind` with `payload` in the queue of every
    /// conversation whose filters match (§6), and says how many took it.
    /// The payload is copied once, whatever the number of subscribers.
    /// `LAGGED` is the protocol's own kind: refused ([`Published::refused`]).
    pub fn publish(&self, kind: Kind<'_>, payload: &[u8]) -> Published {
        self.hub.publish(kind, payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(events: usize, bytes: usize) -> Queue<u32> {
        Queue::new(EventLimits { events, bytes })
    }

    fn pop(q: &mut Queue<u32>) -> Option<(Option<u32>, u32)> {
        q.pop().map(|(l, i)| (l.map(|l| l.count()), i))
    }

    /// An event is encoded once, as the frame `event` makes; its kind and
    /// payload are read back from that frame, and it counts its kind and
    /// payload against a queue's bytes.
    #[test]
    fn a_shared_event_is_its_binary_frame() {
        for (kind, payload) in [
            ("t", &b""[..]),
            ("sensor/temp", b"21.5"),
            ("PONG", &[7u8; 300][..]),
        ] {
            let kind = Kind::new(kind).expect("kind");
            let e = Shared::new(kind, payload);
            let m = crate::conversation::event(kind, payload);
            let mut want = std::vec![0; crate::encoded_len(&m).expect("len")];
            crate::encode(&m, &mut want).expect("encode");
            assert_eq!(e.frame(), Some(&want[..]));
            assert_eq!(e.kind(), kind);
            assert_eq!(e.payload(), payload);
            assert_eq!(e.len(), kind.len() + payload.len());
        }
    }

    /// The feeder pauses at half the items or half the bytes, for a reader
    /// that waits for items, at most `MAX_STALLS` times until the reader
    /// catches up (a quarter full or less).
    #[test]
    fn a_feeder_pauses_at_half_for_a_waiting_reader() {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        // 8 items: half is 4, a quarter 2.
        let mut q = queue(8, 1000);
        for i in 1..=4 {
            assert!(q.push(i, 1));
        }
        // A reader that never waited (`try_recv` only, or none): no pause.
        assert!(!q.wants_pause());
        for i in 1..=4 {
            assert_eq!(pop(&mut q), Some((None, i)));
        }
        assert!(q.poll_pop(&mut cx).is_pending());
        for i in 1..=3 {
            assert!(q.push(i, 1));
        }
        assert!(!q.wants_pause());
        assert!(q.push(4, 1));
        for _ in 0..MAX_STALLS {
            assert!(q.wants_pause());
        }
        // The reader took nothing: the feeder goes on.
        assert!(!q.wants_pause());
        // Taking one is not catching up (3 of 8 wait): still no pause
        // once back at half.
        assert_eq!(pop(&mut q), Some((None, 1)));
        assert!(q.push(5, 1));
        assert!(!q.wants_pause());
        // Down to 2 of 8: caught up, pauses again at half.
        assert_eq!(pop(&mut q), Some((None, 2)));
        assert_eq!(pop(&mut q), Some((None, 3)));
        assert!(!q.wants_pause());
        assert_eq!(pop(&mut q), Some((None, 4)));
        assert!(q.push(6, 1));
        assert!(q.push(7, 1));
        assert!(!q.wants_pause());
        assert!(q.push(8, 1));
        assert!(q.wants_pause());
        // Bytes: 99 of 199 is under half (100), 100 is not; caught up at
        // 49 bytes (49 × 4 ≤ 199), not at 50.
        let mut q = queue(100, 199);
        assert!(q.poll_ready(&mut cx).is_pending());
        assert!(q.push(1, 50));
        assert!(q.push(2, 49));
        assert!(!q.wants_pause());
        assert!(q.push(3, 1));
        assert!(q.push(4, 50));
        for _ in 0..MAX_STALLS {
            assert!(q.wants_pause());
        }
        assert_eq!(pop(&mut q), Some((None, 1)));
        // 100 bytes wait: not caught up.
        assert!(!q.wants_pause());
        assert_eq!(pop(&mut q), Some((None, 2)));
        assert!(q.push(5, 49));
        // 51 + 49 = 100 bytes: half, but 51 was not caught up.
        assert!(!q.wants_pause());
        assert_eq!(pop(&mut q), Some((None, 3)));
        // 99 bytes: not caught up; 49: caught up.
        assert_eq!(pop(&mut q), Some((None, 4)));
        assert!(q.push(6, 51));
        assert!(q.wants_pause());
        // A queue of one item pauses at that item.
        let mut q = queue(0, 10);
        assert!(q.poll_pop(&mut cx).is_pending());
        assert!(!q.wants_pause());
        assert!(q.push(1, 1));
        assert!(q.wants_pause());
    }

    #[test]
    fn the_byte_count_follows_every_push_and_pop() {
        let mut q = queue(10, 40);
        assert!(q.push(1, 10));
        assert!(q.push(2, 10));
        assert_eq!(pop(&mut q), Some((None, 1)));
        // 10 bytes wait: 30 more fit, 31 do not.
        assert!(!q.push(3, 31));
        assert!(q.push(4, 30));
        assert!(!q.push(5, 1));
        assert_eq!(pop(&mut q), Some((None, 2)));
        assert_eq!(pop(&mut q), Some((Some(1), 4)));
        assert_eq!(pop(&mut q), None);
        // Empty: any item fits, the lost one told before it.
        assert!(q.push(6, 1000));
        assert_eq!(pop(&mut q), Some((Some(1), 6)));
    }

    #[test]
    fn losses_are_told_where_they_happened() {
        let mut q = queue(2, 1000);
        assert!(q.push(1, 1));
        // Lost after what waits: told with the next item queued.
        q.lost_at_back(3);
        // Lost before what waits: told with the first item waiting.
        q.lost_at_front(2);
        assert!(q.push(2, 1));
        assert_eq!(pop(&mut q), Some((Some(2), 1)));
        assert_eq!(pop(&mut q), Some((Some(3), 2)));
        // Nothing waits: a loss at the front is told with the next item.
        q.lost_at_front(4);
        assert!(q.push(3, 1));
        assert_eq!(pop(&mut q), Some((Some(4), 3)));
    }

    #[test]
    fn a_closed_queue_gives_what_waits_then_the_end() {
        let mut q = queue(2, 1000);
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(q.poll_pop(&mut cx).is_pending());
        assert!(q.poll_ready(&mut cx).is_pending());
        assert!(q.push(1, 1));
        assert!(q.poll_ready(&mut cx).is_ready());
        q.close();
        assert!(matches!(q.poll_pop(&mut cx), Poll::Ready(Some((None, 1)))));
        assert!(matches!(q.poll_pop(&mut cx), Poll::Ready(None)));
        assert!(q.poll_ready(&mut cx).is_ready());
    }
}

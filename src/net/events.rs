//! Events on a host (`docs/PROTOCOL.md` §6): the bounded queue of one
//! conversation (or of one client subscription) with its `LAGGED`
//! accounting, and the [`Publisher`] that puts an event in the queue of
//! every conversation whose filters match.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::vec::Vec;

use crate::conversation::{Filters, Lag, Lagged};
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
}

impl<T> Queue<T> {
    pub(crate) fn new(limits: EventLimits) -> Self {
        Queue {
            items: VecDeque::new(),
            bytes: 0,
            lag: Lag::new(),
            limits,
            waker: None,
            closed: false,
        }
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
                Poll::Pending
            }
        }
    }

    /// `Ready` when an item waits (or the queue is closed), else keeps
    /// `cx`'s waker for the next push.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.items.is_empty() && !self.closed {
            self.waker = Some(cx.waker().clone());
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

/// An event as a publisher gave it, shared by every queue it is in: the
/// kind's bytes, then the payload's.
#[derive(Clone)]
pub(crate) struct Shared {
    bytes: Arc<[u8]>,
    kind_len: usize,
}

impl Shared {
    pub(crate) fn new(kind: Kind<'_>, payload: &[u8]) -> Shared {
        let mut bytes = Vec::with_capacity(kind.len() + payload.len());
        bytes.extend_from_slice(kind.as_bytes());
        bytes.extend_from_slice(payload);
        Shared {
            bytes: bytes.into(),
            kind_len: kind.len(),
        }
    }

    pub(crate) fn kind(&self) -> Kind<'_> {
        // `new` took the bytes of a valid kind.
        Kind::from_bytes(self.bytes.get(..self.kind_len).unwrap_or_default()).unwrap_or(Kind::ERROR)
    }

    pub(crate) fn payload(&self) -> &[u8] {
        self.bytes.get(self.kind_len..).unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.bytes.len()
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

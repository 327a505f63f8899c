//! Publishing events (`docs/PROTOCOL.md` §6) while [`serve`](super::serve)
//! runs: [`Events`], a fixed queue that tasks and interrupt handlers share
//! with the conversation, behind a `critical-section` lock.

use core::cell::RefCell;
use core::fmt;
use core::future::poll_fn;
use core::task::{Poll, Waker};

use critical_section::Mutex;

use crate::conversation::{Filters, Lag};
use crate::message::MAX_KIND_LEN;
use crate::Kind;

/// The filters a device conversation keeps: [`serve`](super::serve)'s
/// `SUB` takes up to this many (§6), and [`Events`] holds a copy of them.
pub const FILTERS: usize = 4;

/// What [`Events::publish`] did with an event. Whichever it is, the
/// publisher goes on: an event is never waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Published {
    /// Queued: the conversation writes it (after a `LAGGED` if events
    /// were lost before it).
    Queued,
    /// No conversation is running, or none of its filters matches the
    /// kind: nobody wants it, and it is not counted anywhere.
    Unwanted,
    /// The conversation wants it but its queue is full (the peer reads
    /// slower than events come): dropped and counted, and the next event
    /// queued is preceded by `LAGGED <count>` (§6, "Slow subscribers").
    Dropped,
}

/// Why [`Events::publish`] refused an event: nothing was queued or
/// counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PublishError {
    /// The payload is longer than the queue's places (`P` bytes of
    /// [`Events<N, P>`]); it is never cut.
    TooLarge {
        /// The payload's length.
        len: usize,
        /// The longest payload a place holds (`P`).
        max: usize,
    },
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::TooLarge { len, max } => {
                write!(f, "event payload of {len} bytes, the queue holds {max}")
            }
        }
    }
}

impl core::error::Error for PublishError {}

/// One queued event: its kind and payload copied in, and the events lost
/// just before it (the `LAGGED` to write first, 0 for none).
#[derive(Clone, Copy)]
pub(super) struct Slot<const P: usize> {
    kind: [u8; MAX_KIND_LEN],
    kind_len: u8,
    lagged: u32,
    payload_len: usize,
    payload: [u8; P],
}

impl<const P: usize> Slot<P> {
    pub(super) const EMPTY: Self = Slot {
        kind: [0; MAX_KIND_LEN],
        kind_len: 0,
        lagged: 0,
        payload_len: 0,
        payload: [0; P],
    };

    /// The kind (copied in from a [`Kind`], so valid).
    pub(super) fn kind(&self) -> Kind<'_> {
        let len = usize::from(self.kind_len).min(MAX_KIND_LEN);
        Kind::from_validated(self.kind.get(..len).unwrap_or_default())
    }

    pub(super) fn payload(&self) -> &[u8] {
        self.payload.get(..self.payload_len).unwrap_or_default()
    }

    /// The count of events lost just before this one.
    pub(super) fn lagged(&self) -> u32 {
        self.lagged
    }

    fn fill(&mut self, kind: Kind<'_>, payload: &[u8], lagged: u32) {
        let k = kind.as_bytes();
        if let Some(to) = self.kind.get_mut(..k.len()) {
            to.copy_from_slice(k);
        }
        self.kind_len = k.len() as u8;
        if let Some(to) = self.payload.get_mut(..payload.len()) {
            to.copy_from_slice(payload);
        }
        self.payload_len = payload.len();
        self.lagged = lagged;
    }

    /// Copies `from` in: its length only, not the whole place.
    fn copy_from(&mut self, from: &Slot<P>) {
        self.fill(from.kind(), from.payload(), from.lagged);
    }
}

/// What the lock guards.
struct Shared<const N: usize, const P: usize> {
    /// A conversation is running (`serve_with_events` attached it).
    open: bool,
    /// The oldest queued event's place, and how many are queued.
    head: usize,
    len: usize,
    /// Events the conversation wanted and lost since the last one queued.
    lag: Lag,
    /// The running conversation's filters, as of its last `SUB` or
    /// `UNSUB` answer.
    filters: Filters<FILTERS>,
    /// The conversation waiting for bytes or events.
    waker: Option<Waker>,
    slots: [Slot<P>; N],
}

impl<const N: usize, const P: usize> Shared<N, P> {
    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.lag = Lag::new();
        self.filters.clear();
        self.waker = None;
    }
}

/// Events a device publishes to the peer of the conversation that
/// [`serve_with_events`](super::serve_with_events) runs (`docs/PROTOCOL.md`
/// §6), from any task or interrupt handler: a queue of `N` places of up to
/// `P` payload bytes each, in a `static` (`const fn new`), with no
/// allocator.
///
/// - **Who gets an event.** [`Events::publish`] queues an event only while
///   a conversation runs and one of its filters (its `SUB`s) matches the
///   kind: the conversation's filters are copied here, under the lock,
///   when a `SUB` or `UNSUB` is answered, so the publisher decides at once
///   and nothing else is queued or counted. `serve` checks
///   [`Rules::wants`](crate::conversation::Rules::wants) again when it
///   writes an event, so after an `UNSUB` answer no event follows that
///   only a removed filter matched. An event is written once however many
///   filters match.
/// - **Slow subscribers.** An event the conversation wants that finds the
///   queue full is dropped and counted ([`Published::Dropped`]); the next
///   event queued carries the count and is written just after a `LAGGED`
///   event of that count, so `LAGGED` stands exactly where events are
///   missing, and every event the conversation wanted is either written or
///   counted in one `LAGGED`. (An event the framing cannot carry, a text
///   payload with a line break, is counted the same way when it is
///   written.)
/// - **Between conversations** (before `serve_with_events` starts, after
///   it ends, including by `EXIT` or a dropped future) events are
///   [`Published::Unwanted`]: dropped, not counted; a new conversation
///   starts with no filter, an empty queue and no lag.
/// - **The lock** is `critical-section`'s: an interrupt handler publishes
///   as a task does (thumbv6m has no compare-and-swap atomics). The
///   firmware links an implementation (cortex-m's
///   `critical-section-single-core`, embassy's, `std`'s on a host). A
///   publish holds it while it checks the filters and copies the event in;
///   `serve` holds it while it copies one event out.
/// - **RAM**: `N` places of `P + 44` bytes rounded up to 4 on a 32-bit
///   target (`P + 48` rounded up to 8 on a 64-bit host: the kind's 32
///   bytes, lengths, the lag count), plus 144 bytes on a Cortex-M (the
///   copy of [`FILTERS`] filters, the waker, the queue's counters):
///   `Events<8, 16>` is 624 B there, `Events<8, 10>` 592 B
///   (`scripts/size.sh`).
///   `serve_with_events`' future holds one more place while it writes an
///   event.
///
/// # Examples
///
/// A sensor task publishes readings while the conversation runs; an
/// embassy task would hold the same `&'static Events`.
///
/// ```
/// use msgwire::embedded::{serve_with_events, Builtins, Events, Published, ServeConfig};
/// use msgwire::Kind;
///
/// /// Up to 8 events of up to 16 payload bytes wait for the peer.
/// static EVENTS: Events<8, 16> = Events::new();
///
/// /// From a timer interrupt or another task.
/// fn on_reading(celsius: &[u8]) {
///     match EVENTS.publish(Kind::lit("sensor/temp"), celsius) {
///         Ok(Published::Queued) => {}
///         // No conversation, or no `SUB` that matches.
///         Ok(Published::Unwanted) => {}
///         // The peer is slow: counted, it will read `LAGGED`.
///         Ok(_) => {}
///         Err(too_large) => panic!("{too_large}"),
///     }
/// }
///
/// async fn run<T: embedded_io_async::Read + embedded_io_async::Write>(uart: &mut T) {
///     let mut buf = [0u8; 306];
///     loop {
///         // `uart`'s `read` must be cancel safe: see `serve_with_events`.
///         let _ = serve_with_events(uart, &mut buf, &mut Builtins, ServeConfig::default(), &EVENTS).await;
///     }
/// }
///
/// on_reading(b"21.5"); // no conversation yet: unwanted
/// assert_eq!(EVENTS.publish(Kind::lit("sensor/temp"), b"21.5"), Ok(Published::Unwanted));
/// assert!(EVENTS.publish(Kind::lit("sensor/temp"), &[0; 17]).is_err());
/// ```
pub struct Events<const N: usize, const P: usize> {
    shared: Mutex<RefCell<Shared<N, P>>>,
}

impl<const N: usize, const P: usize> fmt::Debug for Events<N, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("places", &N)
            .field("max_payload", &P)
            .finish_non_exhaustive()
    }
}

impl<const N: usize, const P: usize> Default for Events<N, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const P: usize> Events<N, P> {
    /// An empty queue, attached to no conversation: fit for a `static`.
    ///
    /// # Panics
    ///
    /// Never at run time: `N == 0` (a queue with no place) does not
    /// compile.
    pub const fn new() -> Self {
        const { assert!(N > 0, "Events<N, P> needs at least one place (N > 0)") };
        Events {
            shared: Mutex::new(RefCell::new(Shared {
                open: false,
                head: 0,
                len: 0,
                lag: Lag::new(),
                filters: Filters::new(),
                waker: None,
                slots: [Slot::EMPTY; N],
            })),
        }
    }

    /// Publishes an event of `kind` with `payload` to the running
    /// conversation, if it wants it (see [`Events`]): copies it into the
    /// queue and wakes `serve`. Never waits; callable from an interrupt
    /// handler.
    ///
    /// # Errors
    ///
    /// [`PublishError::TooLarge`] for a payload over `P` bytes: refused
    /// whole, never cut, not counted.
    pub fn publish(&self, kind: Kind<'_>, payload: &[u8]) -> Result<Published, PublishError> {
        if payload.len() > P {
            return Err(PublishError::TooLarge {
                len: payload.len(),
                max: P,
            });
        }
        let (published, waker) = critical_section::with(|cs| {
            let mut s = self.shared.borrow_ref_mut(cs);
            if !s.open || !s.filters.matches(kind) {
                return (Published::Unwanted, None);
            }
            if s.len >= N {
                s.lag.dropped();
                return (Published::Dropped, None);
            }
            let at = (s.head + s.len) % N;
            let lagged = s.lag.queued().map_or(0, |l| l.count());
            if let Some(slot) = s.slots.get_mut(at) {
                slot.fill(kind, payload, lagged);
            }
            s.len += 1;
            (Published::Queued, s.waker.take())
        });
        // Woken outside the lock: an executor's wake may take it too.
        if let Some(w) = waker {
            w.wake();
        }
        Ok(published)
    }

    /// How many events are queued, waiting to be written.
    pub fn queued(&self) -> usize {
        critical_section::with(|cs| self.shared.borrow_ref(cs).len)
    }

    /// Whether a conversation is running with this queue attached.
    pub fn is_attached(&self) -> bool {
        critical_section::with(|cs| self.shared.borrow_ref(cs).open)
    }

    // ------------------------------------------------ serve's side

    /// A conversation starts: no filter, nothing queued, no lag. `false`
    /// when another conversation holds the queue.
    pub(super) fn attach(&self) -> bool {
        critical_section::with(|cs| {
            let mut s = self.shared.borrow_ref_mut(cs);
            if s.open {
                return false;
            }
            s.clear();
            s.open = true;
            true
        })
    }

    /// The conversation ended: what is queued is dropped, publishing is
    /// unwanted until the next one.
    pub(super) fn detach(&self) {
        critical_section::with(|cs| {
            let mut s = self.shared.borrow_ref_mut(cs);
            s.clear();
            s.open = false;
        });
    }

    /// The conversation answered a `SUB` or an `UNSUB`: its filters now.
    pub(super) fn set_filters(&self, filters: &Filters<FILTERS>) {
        critical_section::with(|cs| {
            self.shared.borrow_ref_mut(cs).filters.clone_from(filters);
        });
    }

    /// Copies the oldest event into `out` and frees its place; `false`
    /// when none is queued.
    pub(super) fn pop_into(&self, out: &mut Slot<P>) -> bool {
        critical_section::with(|cs| {
            let mut s = self.shared.borrow_ref_mut(cs);
            if s.len == 0 {
                return false;
            }
            let head = s.head;
            if let Some(slot) = s.slots.get(head) {
                out.copy_from(slot);
            }
            s.head = (head + 1) % N;
            s.len -= 1;
            true
        })
    }

    /// An event taken from the queue was wanted and could not be written
    /// (its framing cannot carry it): counted in the `LAGGED` before the
    /// next event.
    pub(super) fn lost_one(&self) {
        critical_section::with(|cs| {
            let mut s = self.shared.borrow_ref_mut(cs);
            let (head, len) = (s.head, s.len);
            match s.slots.get_mut(head) {
                Some(next) if len > 0 => next.lagged = next.lagged.saturating_add(1),
                _ => s.lag.dropped(),
            }
        });
    }

    /// Completes when an event is queued; the waker is kept under the
    /// lock, so a publish between the look and the wait still wakes.
    pub(super) async fn ready(&self) {
        poll_fn(|cx| {
            critical_section::with(|cs| {
                let mut s = self.shared.borrow_ref_mut(cs);
                if s.len > 0 {
                    return Poll::Ready(());
                }
                match &s.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => s.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            })
        })
        .await;
    }
}

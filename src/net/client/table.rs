//! What the requests and the connection loop share: the conversation
//! core's [`PendingTable`] (ids, matching, deadlines), each request's waker
//! and outcome in a side table at the same place, and the send buffer.
//! Everything sits behind one lock, taken once per request to start it,
//! once to collect its answer, and once per batch by the connection loop.
//!
//! Deadlines are counted in the loop's ticks ([`TICKS_PER_TIMEOUT`] of
//! them make a request timeout), not read from a clock: a request notes
//! the tick it starts in, and the loop's one timer, which ticks while
//! requests wait, fails those whose last tick has passed.

use std::boxed::Box;
use std::task::{Context, Poll, Waker};
use std::vec::Vec;

use std::string::String;
use std::sync::{Arc, Mutex};

use super::{ClientError, Closed, ClosedBy, Delivery, LOG_TARGET};
use crate::conversation::{
    answer_id, rev_has_events, Filter, Filters, Framing, Hello, Lagged, Matched, PendingTable,
    RemoteError, Rev, Slot, Wire,
};
use crate::net::events::{EventLimits, Queue};
use crate::net::message::Frame;
use crate::{DecodeError, Flags, Kind, Message};

pub(super) use crate::net::io::lock;

/// Ticks of the connection loop's timer in one request timeout: a request
/// fails between one timeout and one timeout and a tick after it starts.
pub(super) const TICKS_PER_TIMEOUT: u64 = 8;

/// Wakes the tasks in `wakers` (after the lock is let go).
pub(super) fn wake_all(wakers: &mut Vec<Waker>) {
    for w in wakers.drain(..) {
        w.wake();
    }
}

/// Records `cx`'s waker unless the one recorded wakes the same task.
fn record(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// A started request: its id and its place in the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ticket {
    pub(super) id: u32,
    at: usize,
}

/// A request's waker and, once it has one, its outcome. Free (`id` 0)
/// once the request's future has taken the outcome or was dropped.
struct Waiter {
    id: u32,
    waker: Option<Waker>,
    /// The outcome, once it came; `Ok`: the answer is in `answer`.
    done: Option<Result<(), ClientError>>,
    /// Where the loop copies the answer: in place, not built elsewhere
    /// and moved in (a frame read back whole while its pieces are still
    /// being stored stalls the CPU), and moved out once, by the request.
    answer: Frame,
}

impl Default for Waiter {
    fn default() -> Waiter {
        Waiter {
            id: 0,
            waker: None,
            done: None,
            answer: Frame::placeholder(),
        }
    }
}

impl Waiter {
    /// Free again (the answer's place is kept for the next request).
    fn clear(&mut self) {
        self.id = 0;
        self.waker = None;
        self.done = None;
    }
}

/// The connection's state as requests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Link {
    /// Connected: requests are written as they come.
    Up,
    /// The connection dropped and the client dials again: new requests
    /// wait (up to their timeout).
    Down,
    /// Closed for good; the text says how.
    Closed(Closed),
}

/// One subscription of the client's: its filter (as a table of one, to
/// match with the core's rule) and its queue.
struct Sub {
    id: u64,
    filter: Filters<1>,
    text: String,
    queue: Arc<Mutex<Queue<Delivery>>>,
}

pub(super) struct State {
    /// The requests in flight, each with the tick it fails at.
    pending: PendingTable<u64, Box<[Option<Slot<u64>>]>>,
    /// The connection loop's coarse clock: ticks of its timer, each
    /// [`TICKS_PER_TIMEOUT`]th of the request timeout, counted while
    /// something can be due.
    pub(super) tick: u64,
    waiters: Box<[Waiter]>,
    /// Encoded frames the connection loop has not taken yet.
    out: Vec<u8>,
    /// Messages in `out`, against the queue limit.
    queued: usize,
    queue: usize,
    /// Tasks waiting for a place in the table, room in `out`, or the link.
    room: Vec<Waker>,
    /// The connection loop's waker while it waits.
    driver: Option<Waker>,
    pub(super) link: Link,
    /// `close()` was called (or every `Client` dropped): what is queued is
    /// written, then the connection closes.
    pub(super) closing: bool,
    /// The subscriptions, each with its filter and queue (§6).
    subs: Vec<Sub>,
    next_sub: u64,
    limits: EventLimits,
    /// The peer answered a `SUB`, or named revision 1.2 or later in its
    /// `HELLO`: it takes events (§6, "Compatibility").
    pub(super) peer_events: bool,
    /// The schema this client expects ([`ClientConfig::schema`]).
    ///
    /// [`ClientConfig::schema`]: super::ClientConfig::schema
    schema: Option<u64>,
    /// Each connection's `HELLO` (id 0) is not answered yet: only its
    /// bytes, the first `hello_gate` of `out`, may be written.
    awaiting_hello: bool,
    hello_gate: usize,
    /// The peer named another schema (or none): the client is closed.
    mismatch: Option<Option<u64>>,
    pub(super) late: u64,
    pub(super) dropped_unsolicited: u64,
    pub(super) reconnects: u64,
}

impl State {
    pub(super) fn new(
        in_flight: usize,
        queue: usize,
        limits: EventLimits,
        schema: Option<u64>,
    ) -> State {
        let pending = PendingTable::with_capacity(crate::conversation::Framing::Binary, in_flight);
        State {
            waiters: (0..pending.capacity()).map(|_| Waiter::default()).collect(),
            pending,
            tick: 0,
            out: Vec::new(),
            queued: 0,
            queue: queue.max(1),
            room: Vec::new(),
            driver: None,
            link: Link::Up,
            closing: false,
            subs: Vec::new(),
            next_sub: 0,
            limits,
            peer_events: false,
            schema,
            awaiting_hello: false,
            hello_gate: 0,
            mismatch: None,
            late: 0,
            dropped_unsolicited: 0,
            reconnects: 0,
        }
    }

    /// Why nothing more can be sent, if so.
    fn refusal(&self) -> Option<ClientError> {
        match &self.link {
            Link::Closed(why) => Some(self.closed_error(why)),
            _ if self.closing => Some(ClientError::Closed(Closed::new(
                ClosedBy::Client,
                "closed by the client",
            ))),
            _ => None,
        }
    }

    /// What a request fails with once the client is closed.
    fn closed_error(&self, why: &Closed) -> ClientError {
        match (self.mismatch, self.schema) {
            (Some(theirs), Some(ours)) => ClientError::SchemaMismatch { ours, theirs },
            _ => ClientError::Closed(why.clone()),
        }
    }

    /// A connection starts: with [`ClientConfig::schema`] set, its first
    /// frame is a `HELLO` naming the schema (id 0), and nothing else is
    /// written until the peer's answer names the same one.
    ///
    /// [`ClientConfig::schema`]: super::ClientConfig::schema
    pub(super) fn begin_connection(&mut self) {
        let Some(ours) = self.schema else {
            return;
        };
        let mut text: heapless::String<64> = heapless::String::new();
        Hello {
            rev: Rev::THIS,
            max: None,
            app: None,
            schema: Some(ours),
        }
        .write(&mut text);
        let mut hello = Vec::new();
        // `rev` and `schema` tokens: it encodes.
        if let Ok(wire) = Wire::new(&Message::new(Kind::HELLO, text.as_bytes()), Framing::Binary) {
            wire.append_to(&mut hello);
        }
        self.hello_gate = hello.len();
        self.out.splice(0..0, hello);
        self.awaiting_hello = true;
    }

    /// The answer to a connection's `HELLO` (id 0): the schema agrees, and
    /// what waits is written; or it does not, and the client closes.
    fn on_hello_answer(&mut self, m: &Message<'_>, wake: &mut Vec<Waker>) {
        self.awaiting_hello = false;
        let theirs = match Hello::parse(m.payload) {
            Ok(h) if m.kind == Kind::HELLO => {
                if rev_has_events(h.rev) {
                    self.peer_events = true;
                }
                h.schema
            }
            // `ERROR unknown-kind` (a peer before 1.2) or a refusal.
            _ => None,
        };
        if theirs.is_some() && theirs == self.schema {
            wake.extend(self.driver.take());
            return;
        }
        self.mismatch = Some(theirs);
        let detail = match theirs {
            Some(t) => std::format!("the peer's schema is {t:016x}, not the one expected"),
            None => "the peer names no schema".into(),
        };
        self.close(Closed::new(ClosedBy::Client, detail), wake);
        self.closing = true;
    }

    /// Waits for a place, room in the send buffer and a connection.
    fn wait_for_room(&mut self, cx: &Context<'_>) {
        if !self.room.iter().any(|w| w.will_wake(cx.waker())) {
            self.room.push(cx.waker().clone());
        }
    }

    /// Lets the tasks waiting for room try again.
    fn wake_room(&mut self, wake: &mut Vec<Waker>) {
        wake.append(&mut self.room);
    }

    /// Whether a message can be queued now; if not, `cx` waits for room.
    fn has_room(&mut self, cx: &Context<'_>) -> bool {
        let room = self.link == Link::Up && self.queued < self.queue;
        if !room {
            self.wait_for_room(cx);
        }
        room
    }

    /// Starts a request `kind`/`payload`: gives it an id, a place and a
    /// deadline (the tick after [`TICKS_PER_TIMEOUT`] whole ticks from
    /// now), and queues its frame. Waits (`Pending`, `cx` recorded) while
    /// the table is full, the send buffer holds the queue limit, or the
    /// client reconnects. The connection loop's waker, if it waits, is put
    /// in `wake`.
    pub(super) fn poll_start(
        &mut self,
        cx: &Context<'_>,
        (kind, payload): (Kind<'_>, &[u8]),
        wake: &mut Vec<Waker>,
    ) -> Poll<Result<Ticket, ClientError>> {
        if let Some(e) = self.refusal() {
            return Poll::Ready(Err(e));
        }
        if !self.has_room(cx) {
            return Poll::Pending;
        }
        // A place whose last request has not collected its outcome yet is
        // skipped (its id is given up at once, never sent).
        let mut tries = self.waiters.len();
        // The tick now may be nearly over: one more makes it whole.
        let deadline = self.tick + TICKS_PER_TIMEOUT + 1;
        let (id, at) = loop {
            let Ok(id) = self.pending.start(Some(deadline)) else {
                self.wait_for_room(cx);
                return Poll::Pending;
            };
            let at = self.pending.place(id);
            if self.waiters[at].id == 0 {
                break (id, at);
            }
            self.pending.cancel(id);
            tries -= 1;
            if tries == 0 {
                self.wait_for_room(cx);
                return Poll::Pending;
            }
        };
        let m = Message::new(kind, payload).with_id(id);
        if let Err(e) = Wire::append(&m, Framing::Binary, &mut self.out) {
            self.pending.cancel(id);
            return Poll::Ready(Err(ClientError::Encode(e)));
        }
        self.queued += 1;
        let w = &mut self.waiters[at];
        w.id = id;
        w.waker = Some(cx.waker().clone());
        w.done = None;
        wake.extend(self.driver.take());
        Poll::Ready(Ok(Ticket { id, at }))
    }

    /// Queues a message that expects no answer (id 0), or waits for room.
    pub(super) fn poll_send(
        &mut self,
        cx: &Context<'_>,
        m: &Message<'_>,
        wake: &mut Vec<Waker>,
    ) -> Poll<Result<(), ClientError>> {
        if let Some(e) = self.refusal() {
            return Poll::Ready(Err(e));
        }
        if !self.has_room(cx) {
            return Poll::Pending;
        }
        Wire::append(m, Framing::Binary, &mut self.out).map_err(ClientError::Encode)?;
        self.queued += 1;
        wake.extend(self.driver.take());
        Poll::Ready(Ok(()))
    }

    /// The request's outcome if it has one (its place is then free); else
    /// `cx` waits for it. Inlined into the request's poll: the answer is
    /// moved once, from its place to the caller.
    #[inline]
    pub(super) fn poll_answer(
        &mut self,
        cx: &Context<'_>,
        t: Ticket,
        wake: &mut Vec<Waker>,
    ) -> Poll<Result<Frame, ClientError>> {
        let w = &mut self.waiters[t.at];
        if w.id != t.id {
            // Cannot happen: a place is the request's until it lets go.
            return Poll::Ready(Err(ClientError::Closed(Closed::new(
                ClosedBy::Client,
                "request lost",
            ))));
        }
        match w.done.take() {
            Some(outcome) => {
                let outcome =
                    outcome.map(|()| std::mem::replace(&mut w.answer, Frame::placeholder()));
                w.clear();
                self.wake_room(wake);
                Poll::Ready(outcome)
            }
            None => {
                record(&mut w.waker, cx);
                Poll::Pending
            }
        }
    }

    /// A request's future was dropped before it took its outcome: its
    /// place is free again, and an answer that came is counted late (as
    /// is any that comes).
    pub(super) fn forget(&mut self, t: Ticket, wake: &mut Vec<Waker>) {
        let w = &mut self.waiters[t.at];
        if w.id != t.id {
            return;
        }
        if matches!(w.done, Some(Ok(()))) {
            self.late += 1;
        }
        w.clear();
        self.pending.cancel(t.id);
        self.wake_room(wake);
    }

    /// Ends the request at place `at` with `outcome` (`Ok`: its answer is
    /// in its place).
    fn finish(&mut self, at: usize, outcome: Result<(), ClientError>, wake: &mut Vec<Waker>) {
        let w = &mut self.waiters[at];
        w.done = Some(outcome);
        wake.extend(w.waker.take());
    }

    /// A received message: an answer ends its request; an event goes to
    /// every subscription it matches; an answer to no pending request is
    /// counted late, any other message unsolicited. Whether a subscription
    /// asks the loop to let its reader run before it hands out more
    /// ([`Queue::wants_pause`]).
    pub(super) fn on_message(&mut self, m: &Message<'_>, wake: &mut Vec<Waker>) -> bool {
        if m.flags.contains(Flags::EVENT) {
            return self.on_event(m);
        }
        if self.awaiting_hello && m.id == 0 && (m.is_response() || m.kind == Kind::ERROR) {
            self.on_hello_answer(m, wake);
            return false;
        }
        if answer_id(m).is_none() {
            // The answers to the `SUB`s sent again after a reconnect (id
            // 0) are expected; anything else is not.
            if !(m.is_response() && m.kind == Kind::SUB) {
                self.dropped_unsolicited += 1;
            }
            return false;
        }
        match self.pending.on_message(m) {
            Matched::Answer(id) => {
                let at = self.pending.place(id);
                // An `ERROR` answer is the request's error.
                let outcome = match RemoteError::of(m) {
                    Some(e) => Err(ClientError::remote(&e)),
                    None => {
                        self.waiters[at].answer.set(m);
                        Ok(())
                    }
                };
                self.finish(at, outcome, wake);
            }
            Matched::Late | Matched::Unsolicited => self.late += 1,
        }
        false
    }

    /// An event (§6): to every subscription whose filter matches it, once
    /// each; `LAGGED` to every subscription. One that no subscription
    /// takes is counted unsolicited. Whether a subscription's queue asks
    /// for its reader's turn.
    fn on_event(&mut self, m: &Message<'_>) -> bool {
        if m.kind == Kind::LAGGED {
            // A count that is not a number still says events were lost.
            let n = Lagged::parse(m.payload).map_or(1, |l| l.count());
            for sub in &self.subs {
                let mut q = lock(&sub.queue);
                if !q.push(Delivery::Lagged(n), 0) {
                    // The `LAGGED` itself did not fit: its count joins
                    // this queue's own.
                    q.lost_at_back(n.saturating_sub(1));
                }
            }
            return false;
        }
        let mut taken = false;
        let mut pause = false;
        for sub in self.subs.iter().filter(|s| s.filter.matches(m.kind)) {
            taken = true;
            let len = m.kind.len() + m.payload.len();
            let mut q = lock(&sub.queue);
            q.push(Delivery::Event(Frame::from_message(m)), len);
            pause |= q.wants_pause();
        }
        if !taken {
            self.dropped_unsolicited += 1;
        }
        pause
    }

    /// Whether a subscription still asks for its reader's turn before more
    /// is handed out (each asking counts as a pause: see
    /// [`Queue::wants_pause`]).
    pub(super) fn still_paused(&mut self) -> bool {
        self.subs.iter().any(|s| lock(&s.queue).wants_pause())
    }

    /// A new subscription's queue, before its `SUB` is sent (the events
    /// right after the answer are then not missed).
    pub(super) fn add_sub(&mut self, filter: Filter<'_>) -> (u64, Arc<Mutex<Queue<Delivery>>>) {
        let mut filters = Filters::new();
        // One filter in a table of one: it fits.
        let _ = filters.add(filter);
        let queue = Arc::new(Mutex::new(Queue::new(self.limits)));
        self.next_sub += 1;
        self.subs.push(Sub {
            id: self.next_sub,
            filter: filters,
            text: filter.as_str().into(),
            queue: queue.clone(),
        });
        (self.next_sub, queue)
    }

    /// Forgets subscription `id`: whether another one has the same filter
    /// (then the peer keeps it).
    pub(super) fn remove_sub(&mut self, id: u64) -> bool {
        let Some(at) = self.subs.iter().position(|s| s.id == id) else {
            return false;
        };
        let gone = self.subs.swap_remove(at);
        self.subs.iter().any(|s| s.text == gone.text)
    }

    /// Connected again: every filter the subscriptions hold is sent again
    /// (`SUB`, id 0), first, so the new connection's events match them.
    fn resubscribe(&mut self) {
        let mut sent: Vec<&str> = Vec::new();
        for sub in &self.subs {
            if sent.contains(&sub.text.as_str()) {
                continue;
            }
            sent.push(&sub.text);
            let m = Message::new(Kind::SUB, sub.text.as_bytes());
            // A filter is at most 33 bytes of kind characters: it encodes.
            if let Ok(wire) = Wire::new(&m, Framing::Binary) {
                wire.append_to(&mut self.out);
                self.queued += 1;
            }
        }
    }

    /// An answer this side's decoder refused still ends its request.
    pub(super) fn on_refused(&mut self, e: DecodeError, wake: &mut Vec<Waker>) {
        host_debug!(target: LOG_TARGET, "client refused an answer: {} (id {:?})", e.code(), e.id);
        if let Some(id) = e.id.filter(|&id| self.pending.is_pending(id)) {
            self.pending.cancel(id);
            let at = self.pending.place(id);
            self.finish(at, Err(ClientError::BadAnswer(e)), wake);
        }
    }

    /// The loop's timer ticked: fails the requests whose last tick it was.
    pub(super) fn on_tick(&mut self, wake: &mut Vec<Waker>) {
        self.tick += 1;
        while let Some(id) = self.pending.expire(self.tick) {
            let at = self.pending.place(id);
            self.finish(at, Err(ClientError::Timeout), wake);
        }
    }

    /// Whether requests wait for answers (the loop then checks deadlines).
    pub(super) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Requests in flight.
    pub(super) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Moves the queued frames into `into` (empty) for writing; the tasks
    /// waiting for room go on. `false` when nothing is queued.
    pub(super) fn take_out(&mut self, into: &mut Vec<u8>, wake: &mut Vec<Waker>) -> bool {
        if !self.has_out() {
            return false;
        }
        if self.awaiting_hello {
            // The `HELLO` alone; the rest waits for its answer.
            into.extend(self.out.drain(..self.hello_gate));
            self.hello_gate = 0;
            return true;
        }
        std::mem::swap(&mut self.out, into);
        self.queued = 0;
        self.wake_room(wake);
        true
    }

    /// Whether frames wait to be taken.
    pub(super) fn has_out(&self) -> bool {
        !self.out.is_empty() && (!self.awaiting_hello || self.hello_gate > 0)
    }

    /// The connection loop waits: requests that queue a frame wake it.
    pub(super) fn park(&mut self, cx: &Context<'_>) {
        record(&mut self.driver, cx);
    }

    /// Fails every request in flight with `err` and drops the frames not
    /// yet taken (`send`'s messages among them: they were never written).
    fn fail_all(&mut self, err: &ClientError, wake: &mut Vec<Waker>) {
        let mut ended = Vec::new();
        self.pending.cancel_all(|id| ended.push(id));
        for id in ended {
            let at = self.pending.place(id);
            self.finish(at, Err(err.clone()), wake);
        }
        self.out.clear();
        self.queued = 0;
        self.wake_room(wake);
    }

    /// The connection dropped and the client dials again: the requests in
    /// flight fail with [`ClientError::ConnectionLost`]; new ones wait.
    pub(super) fn lost(&mut self, why: &Closed, wake: &mut Vec<Waker>) {
        host_info!(target: LOG_TARGET, "client connection lost: {}; reconnecting", why);
        self.link = Link::Down;
        self.fail_all(&ClientError::ConnectionLost(why.clone()), wake);
    }

    /// Connected again: the waiting requests go on.
    pub(super) fn up(&mut self, wake: &mut Vec<Waker>) {
        self.link = Link::Up;
        self.reconnects += 1;
        self.resubscribe();
        self.wake_room(wake);
    }

    /// Closed for good: every request in flight and every later one fails
    /// with [`ClientError::Closed`].
    pub(super) fn close(&mut self, why: Closed, wake: &mut Vec<Waker>) {
        if matches!(self.link, Link::Closed(_)) {
            return;
        }
        host_info!(target: LOG_TARGET, "client connection closed: {}", why);
        let err = self.closed_error(&why);
        self.link = Link::Closed(why);
        self.fail_all(&err, wake);
        for sub in &self.subs {
            lock(&sub.queue).close();
        }
        wake.extend(self.driver.take());
    }

    /// Asks for the close: the loop writes what is queued, then closes.
    pub(super) fn close_writes(&mut self, wake: &mut Vec<Waker>) {
        self.closing = true;
        wake.extend(self.driver.take());
        self.wake_room(wake);
    }
}

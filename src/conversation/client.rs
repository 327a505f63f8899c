//! The client side of §4: ids, a fixed table of pending requests, answers
//! matched by id, timeouts decided from a time the caller passes in.

use core::fmt;

use super::receiver::Framing;
use crate::{Flags, Kind, Message};

/// The table of pending requests is full: finish or cancel one first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Full;

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("too many requests in flight")
    }
}

impl core::error::Error for Full {}

/// What a received message is to the requests in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Matched {
    /// The answer to the pending request with this id (its slot is free
    /// again).
    Answer(u32),
    /// An answer to a request that is no longer pending (timed out or
    /// cancelled): counted in [`Pending::late`].
    Late,
    /// Not an answer to any request of this side (no `RESPONSE` flag, id 0,
    /// an id never issued, or a text line while nothing is pending):
    /// counted in [`Pending::unsolicited`].
    Unsolicited,
}

/// The request a binary message answers (§4): answers carry the
/// `RESPONSE` flag and the request's id, which is never 0. `None` for
/// anything else (a request from the peer, a notice such as `ERROR
/// overloaded` with id 0).
pub fn answer_id(m: &Message<'_>) -> Option<u32> {
    (m.flags.contains(Flags::RESPONSE) && m.id != 0).then_some(m.id)
}

#[derive(Clone, Copy, Debug)]
struct Slot<T> {
    id: u32,
    /// Order of issue, for text mode's lock-step matching.
    seq: u64,
    deadline: Option<T>,
}

/// The requests a client has in flight: at most `N`, each with an id and
/// an optional deadline. No allocation; a full table is a typed error.
///
/// `T` is whatever time the caller has (`std::time::Instant`, an
/// `embassy_time::Instant`, milliseconds as `u64`): the table only
/// compares deadlines with the `now` it is given.
///
/// In binary framing an answer is matched by id (and must carry the
/// `RESPONSE` flag); in text framing, which has no ids, each line answers
/// the oldest pending request (§3: a lock-step conversation).
///
/// # Examples
///
/// ```
/// use msgwire::conversation::{Framing, Matched, Pending};
/// use msgwire::{Flags, Kind, Message};
///
/// let mut pending = Pending::<u64, 4>::new(Framing::Binary);
/// let id = pending.start(Some(1_000))?; // deadline: t = 1000 ms
/// let pong = Message::new(Kind::PONG, b"ack").with_id(id).with_flags(Flags::RESPONSE);
/// assert_eq!(pending.on_message(&pong), Matched::Answer(id));
/// assert_eq!(pending.on_message(&pong), Matched::Late);
///
/// let id = pending.start(Some(1_000))?;
/// assert_eq!(pending.expire(999), None);
/// assert_eq!(pending.expire(1_000), Some(id));
/// # Ok::<(), msgwire::conversation::Full>(())
/// ```
#[derive(Clone, Debug)]
pub struct Pending<T, const N: usize> {
    slots: [Option<Slot<T>>; N],
    framing: Framing,
    /// The next id to try; ids below it (and above 0) have been issued.
    next_id: u32,
    /// Set once the ids wrapped: every id may then have been issued.
    wrapped: bool,
    seq: u64,
    late: u64,
    unsolicited: u64,
    timed_out: u64,
}

impl<T: Ord + Copy, const N: usize> Pending<T, N> {
    /// An empty table for a conversation in `framing`.
    pub const fn new(framing: Framing) -> Self {
        Pending {
            slots: [None; N],
            framing,
            next_id: 1,
            wrapped: false,
            seq: 0,
            late: 0,
            unsolicited: 0,
            timed_out: 0,
        }
    }

    /// Registers a new request and returns its id (never 0, never the id
    /// of another pending request). `deadline` `None` waits for ever.
    ///
    /// # Errors
    ///
    /// [`Full`] when `N` requests are pending.
    pub fn start(&mut self, deadline: Option<T>) -> Result<u32, Full> {
        let free = self.slots.iter().position(Option::is_none).ok_or(Full)?;
        let id = self.fresh_id();
        self.seq += 1;
        self.slots[free] = Some(Slot {
            id,
            seq: self.seq,
            deadline,
        });
        Ok(id)
    }

    fn fresh_id(&mut self) -> u32 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            if self.next_id == 0 {
                self.next_id = 1;
                self.wrapped = true;
            }
            // At most N ids are taken, so this ends within N + 1 tries.
            if !self.is_pending(id) {
                return id;
            }
        }
    }

    /// Whether the request `id` is pending.
    pub fn is_pending(&self, id: u32) -> bool {
        self.slots.iter().flatten().any(|s| s.id == id)
    }

    /// Matches a received message with the requests in flight; a matched
    /// request is no longer pending.
    pub fn on_message(&mut self, m: &Message<'_>) -> Matched {
        let slot = match self.framing {
            Framing::Binary => answer_id(m).and_then(|id| {
                self.slots
                    .iter()
                    .position(|s| s.is_some_and(|s| s.id == id))
            }),
            Framing::Text => self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|s| (s.seq, i)))
                .min()
                .map(|(_, i)| i),
        };
        if let Some(i) = slot {
            if let Some(s) = self.slots[i].take() {
                return Matched::Answer(s.id);
            }
        }
        let issued = self.framing == Framing::Binary
            && answer_id(m).is_some_and(|id| self.wrapped || id < self.next_id);
        if issued {
            self.late += 1;
            Matched::Late
        } else {
            self.unsolicited += 1;
            Matched::Unsolicited
        }
    }

    /// Gives up the request `id` (its future was dropped …); a later
    /// answer to it counts as late. `false` when it was not pending.
    pub fn cancel(&mut self, id: u32) -> bool {
        match self
            .slots
            .iter_mut()
            .find(|s| s.is_some_and(|s| s.id == id))
        {
            Some(slot) => {
                *slot = None;
                true
            }
            None => false,
        }
    }

    /// Removes and returns one request whose deadline is at or before
    /// `now`; call until `None`. Never early: a request times out only once
    /// `now` has reached its deadline.
    pub fn expire(&mut self, now: T) -> Option<u32> {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.is_some_and(|s| s.deadline.is_some_and(|d| d <= now)))?;
        let id = slot.take()?.id;
        self.timed_out += 1;
        Some(id)
    }

    /// The earliest deadline of the pending requests: when to call
    /// [`Pending::expire`] next.
    pub fn next_deadline(&self) -> Option<T> {
        self.slots.iter().flatten().filter_map(|s| s.deadline).min()
    }

    /// Requests pending.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Whether no request is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `N` requests are pending.
    pub fn is_full(&self) -> bool {
        self.slots.iter().all(Option::is_some)
    }

    /// Answers that came after their request timed out or was cancelled.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Messages that answered no request of this side.
    pub fn unsolicited(&self) -> u64 {
        self.unsolicited
    }

    /// Requests removed by [`Pending::expire`].
    pub fn timed_out(&self) -> u64 {
        self.timed_out
    }
}

/// An `ERROR` answer read back: its stable code and the detail for people
/// (§4: `<code>: <detail>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RemoteError<'a> {
    /// The code before the first `:` (`unknown-kind`, `too-large` …).
    pub code: &'a str,
    /// The text after it, without the space that follows the `:`.
    pub detail: &'a str,
}

impl<'a> RemoteError<'a> {
    /// The error an answer carries: `Some` for an `ERROR` message (a
    /// payload that is not UTF-8 is shown as an empty code and detail).
    pub fn of(m: &Message<'a>) -> Option<RemoteError<'a>> {
        if m.kind != Kind::ERROR {
            return None;
        }
        let text = core::str::from_utf8(m.payload).unwrap_or_default();
        let (code, detail) = text.split_once(':').unwrap_or((text, ""));
        Some(RemoteError {
            code,
            detail: detail.strip_prefix(' ').unwrap_or(detail),
        })
    }
}

impl fmt::Display for RemoteError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server answered ERROR {}: {}", self.code, self.detail)
    }
}

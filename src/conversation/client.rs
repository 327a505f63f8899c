//! The client side of §4: ids, a fixed table of pending requests, answers
//! matched by id, timeouts decided from a time the caller passes in.

use core::fmt;

use super::receiver::Framing;
use super::server::ErrorText;
use crate::{DecodeError, Error, Flags, Kind, Message};

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

/// One request's place in a [`PendingTable`]: its id, its order of
/// issue and its deadline. Opaque; it is public only so that a table's
/// storage can be named (`[Option<Slot<T>>; N]`, or a boxed slice).
#[derive(Clone, Copy, Debug)]
pub struct Slot<T> {
    id: u32,
    /// Order of issue, for text mode's lock-step matching.
    seq: u64,
    deadline: Option<T>,
}

/// The requests a client has in flight, each with an id and an optional
/// deadline, in storage the caller chooses: a fixed array
/// ([`Pending<T, N>`], no allocation) or, with `std`, a boxed slice sized
/// at run time ([`PendingTable::with_capacity`]). A full table is a typed
/// error.
///
/// `T` is whatever time the caller has (`std::time::Instant`, an
/// `embassy_time::Instant`, milliseconds as `u64`): the table only
/// compares deadlines with the `now` it is given.
///
/// In binary framing an answer is matched by id (and must carry the
/// `RESPONSE` flag); in text framing, which has no ids, each line answers
/// the oldest pending request (§3: a lock-step conversation).
///
/// Ids count up from 1, skip 0, and skip any id whose place in the table
/// (`(id - 1) % capacity`) is taken, so an id is never that of another
/// pending request and matching an answer costs one look, whatever the
/// capacity. Timeouts ([`PendingTable::expire`]) and text mode's matching
/// look at every place.
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
pub struct PendingTable<T, S> {
    slots: S,
    framing: Framing,
    /// The next id to try; ids below it (and above 0) have been issued.
    next_id: u32,
    /// Set once the ids wrapped: every id may then have been issued.
    wrapped: bool,
    len: usize,
    seq: u64,
    late: u64,
    unsolicited: u64,
    timed_out: u64,
    _time: core::marker::PhantomData<T>,
}

/// A [`PendingTable`] of at most `N` requests in a fixed array: no
/// allocation, for firmware (`msgwire::embedded`'s client).
pub type Pending<T, const N: usize> = PendingTable<T, [Option<Slot<T>>; N]>;

impl<T: Copy, const N: usize> PendingTable<T, [Option<Slot<T>>; N]> {
    /// An empty table for a conversation in `framing`.
    pub const fn new(framing: Framing) -> Self {
        Self::in_storage([None; N], framing)
    }
}

#[cfg(feature = "std")]
impl<T> PendingTable<T, std::boxed::Box<[Option<Slot<T>>]>> {
    /// An empty table of at most `capacity` requests, rounded up to a
    /// power of two (at least 1), in one allocation made now.
    pub fn with_capacity(framing: Framing, capacity: usize) -> Self {
        let capacity = capacity
            .max(1)
            .checked_next_power_of_two()
            .unwrap_or(capacity);
        Self::in_storage((0..capacity).map(|_| None).collect(), framing)
    }
}

impl<T, S> PendingTable<T, S> {
    const fn in_storage(slots: S, framing: Framing) -> Self {
        PendingTable {
            slots,
            framing,
            next_id: 1,
            wrapped: false,
            len: 0,
            seq: 0,
            late: 0,
            unsolicited: 0,
            timed_out: 0,
            _time: core::marker::PhantomData,
        }
    }
}

impl<T: Ord + Copy, S: AsRef<[Option<Slot<T>>]> + AsMut<[Option<Slot<T>>]>> PendingTable<T, S> {
    /// Registers a new request and returns its id (never 0, never the id
    /// of another pending request). `deadline` `None` waits for ever.
    ///
    /// # Errors
    ///
    /// [`Full`] when the table is full.
    pub fn start(&mut self, deadline: Option<T>) -> Result<u32, Full> {
        if self.is_full() {
            return Err(Full);
        }
        // A free place exists, so this ends within `capacity` tries.
        let (id, at) = loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            if self.next_id == 0 {
                self.next_id = 1;
                self.wrapped = true;
            }
            let at = self.place(id);
            if self.slots.as_ref()[at].is_none() {
                break (id, at);
            }
        };
        self.seq += 1;
        self.slots.as_mut()[at] = Some(Slot {
            id,
            seq: self.seq,
            deadline,
        });
        self.len += 1;
        Ok(id)
    }

    /// The place of request `id` in the table, in `0..capacity`, whether
    /// it is pending or not: an index for a side table of per-request
    /// state (wakers, results) of the same capacity. A request keeps its
    /// place while it is pending; a new request never gets a taken place.
    pub fn place(&self, id: u32) -> usize {
        // An empty array (`Pending<T, 0>`) has no place: `start` says Full
        // before asking, and lookups find nothing there.
        let n = self.slots.as_ref().len().max(1);
        let i = id.wrapping_sub(1) as usize;
        // A power of two (every boxed table) needs no division.
        if n.is_power_of_two() {
            i & (n - 1)
        } else {
            i % n
        }
    }

    /// The place of `id` if it is pending.
    fn index(&self, id: u32) -> Option<usize> {
        let at = self.place(id);
        self.slots
            .as_ref()
            .get(at)?
            .is_some_and(|s| s.id == id)
            .then_some(at)
    }

    /// Whether the request `id` is pending.
    pub fn is_pending(&self, id: u32) -> bool {
        self.index(id).is_some()
    }

    /// Frees place `at`, returning the id that was there.
    fn take(&mut self, at: usize) -> Option<u32> {
        let id = self.slots.as_mut()[at].take()?.id;
        self.len -= 1;
        Some(id)
    }

    /// Matches a received message with the requests in flight; a matched
    /// request is no longer pending.
    pub fn on_message(&mut self, m: &Message<'_>) -> Matched {
        let at = match self.framing {
            Framing::Binary => answer_id(m).and_then(|id| self.index(id)),
            Framing::Text => self
                .slots
                .as_ref()
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|s| (s.seq, i)))
                .min()
                .map(|(_, i)| i),
        };
        if let Some(id) = at.and_then(|at| self.take(at)) {
            return Matched::Answer(id);
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
        self.index(id).and_then(|at| self.take(at)).is_some()
    }

    /// Gives up every pending request (the connection dropped …), calling
    /// `each` with each one's id; later answers to them count as late.
    pub fn cancel_all(&mut self, mut each: impl FnMut(u32)) {
        for at in 0..self.slots.as_ref().len() {
            if let Some(id) = self.take(at) {
                each(id);
            }
        }
    }

    /// Removes and returns one request whose deadline is at or before
    /// `now`; call until `None`. Never early: a request times out only once
    /// `now` has reached its deadline.
    pub fn expire(&mut self, now: T) -> Option<u32> {
        let at = self
            .slots
            .as_ref()
            .iter()
            .position(|s| s.is_some_and(|s| s.deadline.is_some_and(|d| d <= now)))?;
        let id = self.take(at)?;
        self.timed_out += 1;
        Some(id)
    }

    /// The earliest deadline of the pending requests: when to call
    /// [`PendingTable::expire`] next.
    pub fn next_deadline(&self) -> Option<T> {
        self.slots
            .as_ref()
            .iter()
            .flatten()
            .filter_map(|s| s.deadline)
            .min()
    }

    /// Requests pending.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no request is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the table is full.
    pub fn is_full(&self) -> bool {
        self.len == self.slots.as_ref().len()
    }

    /// How many requests the table holds at most.
    pub fn capacity(&self) -> usize {
        self.slots.as_ref().len()
    }

    /// Answers that came after their request timed out or was cancelled.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Messages that answered no request of this side.
    pub fn unsolicited(&self) -> u64 {
        self.unsolicited
    }

    /// Requests removed by [`PendingTable::expire`].
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

/// Why a client's request failed: one set of variants for both drivers,
/// grouped by where the failure comes from. `T` is the driver's account
/// of its transport: a device's [`IoError`](crate::embedded::IoError), the
/// host's [`Closed`](crate::net::Closed). `R` holds an `ERROR` answer's
/// text: an [`ErrorText`] in place on a device, boxed on the host (where
/// the error travels in every request's result and should stay small).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ClientError<T, R = ErrorText> {
    // The transport.
    /// The transport failed or the connection closed, before the answer
    /// came; `T` says how.
    Closed(T),
    /// No answer by the request's deadline.
    Timeout,
    /// Host only (a device does not reconnect by itself): the connection
    /// dropped with the request in flight and the client is dialling
    /// again. The peer may or may not have acted on the request.
    ConnectionLost(T),
    // What the peer sent.
    /// The peer answered `ERROR <code>: <detail>` (the text, cut at
    /// [`MAX_ERROR_LEN`](super::MAX_ERROR_LEN) bytes).
    Remote(R),
    /// This side's decoder refused the answer (too large …).
    BadAnswer(DecodeError),
    // What the caller did.
    /// The request cannot be encoded (a bad kind, a text payload with
    /// `\n` …): nothing was sent.
    Encode(Error),
    /// Host only (a device client is driven by its own calls): the
    /// client's connection loop is not running, neither `run` nor `start`
    /// was called. Nothing was sent.
    NotStarted,
    // What the peer speaks.
    /// The peer speaks a revision before 1.2 (it answered `HELLO` with
    /// `ERROR unknown-kind`, or named an older `rev`): it takes no events
    /// and keeps no subscriptions (§5, §6). Nothing was sent.
    NoEvents,
    /// This side expects the peer's `HELLO` to name `schema` `ours`, and
    /// it named `theirs` (`None`: no schema, or no `HELLO` at all): their
    /// messages may not be ours (§5).
    SchemaMismatch {
        /// The schema this side expects.
        ours: u64,
        /// The schema the peer named, if any.
        theirs: Option<u64>,
    },
}

impl<T, R: From<ErrorText>> ClientError<T, R> {
    /// The `ERROR` answer this request got, from its text.
    pub fn remote(m: &RemoteError<'_>) -> Self {
        ClientError::Remote(R::from(ErrorText::from_strs(m.code, &[m.detail])))
    }
}

impl<T: fmt::Display, R: fmt::Display> fmt::Display for ClientError<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Closed(how) => write!(f, "connection closed: {how}"),
            ClientError::Timeout => f.write_str("request timed out"),
            ClientError::ConnectionLost(how) => write!(
                f,
                "connection lost with the request in flight ({how}); reconnecting"
            ),
            ClientError::Remote(t) => write!(f, "server answered ERROR {t}"),
            ClientError::BadAnswer(e) => write!(f, "answer refused: {e}"),
            ClientError::Encode(e) => write!(f, "cannot encode request: {e}"),
            ClientError::NotStarted => f.write_str(
                "client not started: drive Client::run or call Client::start with a spawner",
            ),
            ClientError::NoEvents => {
                f.write_str("the peer speaks a revision before 1.2: no events, no subscriptions")
            }
            ClientError::SchemaMismatch {
                ours,
                theirs: Some(theirs),
            } => write!(
                f,
                "schema mismatch: this side expects {ours:016x}, the peer names {theirs:016x}"
            ),
            ClientError::SchemaMismatch { ours, theirs: None } => write!(
                f,
                "schema mismatch: this side expects {ours:016x}, the peer names none"
            ),
        }
    }
}

impl<T: fmt::Display + fmt::Debug, R: fmt::Display + fmt::Debug> core::error::Error
    for ClientError<T, R>
{
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Flags;

    fn answer(id: u32) -> Message<'static> {
        Message::new(Kind::PONG, b"")
            .with_id(id)
            .with_flags(Flags::RESPONSE)
    }

    #[test]
    fn ids_wrap_past_zero_and_count_every_id_as_issued_after() {
        let mut p = Pending::<u64, 3>::new(Framing::Binary);
        p.next_id = u32::MAX - 1;
        let a = p.start(None).expect("room");
        let b = p.start(None).expect("room");
        let c = p.start(None).expect("room");
        assert_eq!((a, b), (u32::MAX - 1, u32::MAX));
        assert_eq!(c, 1, "0 is skipped");
        assert!(p.wrapped);
        // Every id may have been issued before the wrap: an answer to one
        // that is not pending is late, not unsolicited.
        assert_eq!(p.on_message(&answer(500)), Matched::Late);
        assert_eq!(p.on_message(&answer(c)), Matched::Answer(c));
        assert_eq!((p.late(), p.unsolicited()), (1, 0));
    }

    #[test]
    fn an_empty_table_is_always_full_and_matches_nothing() {
        let mut p = Pending::<u64, 0>::new(Framing::Binary);
        assert_eq!(p.start(None), Err(Full));
        assert_eq!(p.place(1), 0);
        assert!(!p.is_pending(1));
        assert_eq!(p.on_message(&answer(1)), Matched::Unsolicited);
    }
}

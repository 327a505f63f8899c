//! The client side: a [`Client`] sends requests over a transport and
//! waits for their answers, one at a time.

use core::pin::pin;

use embedded_io_async::{Read, Write};

use super::clock::{Clock, NoClock};
use super::error::{ClientError, IoError};
use super::{first, write_parts, Either};
use crate::conversation::{
    ErrorText, Filter, Framing, Matched, Pending, Receiver, RemoteError, Wire,
};
use crate::{Flags, Kind, Message};

/// Gives up the pending request if its future is dropped.
struct Abandon<'p, T: Ord + Copy> {
    pending: &'p mut Pending<T, 1>,
    id: Option<u32>,
}

impl<T: Ord + Copy> Drop for Abandon<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.pending.cancel(id);
        }
    }
}

/// A client over `embedded-io-async`: requests with ids, answers matched
/// by id (or in order, in text framing), typed errors, optional timeouts
/// through a [`Clock`]. `B` is the receive buffer (`[u8; N]`, `&mut [u8]`).
///
/// One request is in flight at a time ([`Client::request`] takes
/// `&mut self`), so the table of pending requests has one place: no
/// allocation, nothing to size.
///
/// # Events
///
/// [`Client::subscribe`] asks the peer for its events (`SUB`, §6), and
/// [`Client::next_event`] waits for the next one. The client has one
/// receive buffer and no queue: an event that arrives while a
/// [`Client::request`] waits for its answer cannot be kept for later (the
/// answer behind it must be read), so it is dropped and counted in
/// [`Client::missed_events`]. A device that must not miss events calls
/// `next_event` whenever no request is in flight, and sends its requests
/// between events. In text framing an event is a line like any answer:
/// while a request waits, the next line is taken as its answer, so
/// subscribe in binary framing.
///
/// # Examples
///
/// ```
/// use msgwire::conversation::Framing;
/// use msgwire::embedded::Client;
/// use msgwire::Kind;
///
/// async fn ask<T: embedded_io_async::Read + embedded_io_async::Write>(uart: T) {
///     let mut client = Client::new(uart, [0u8; 128], Framing::Binary).unwrap();
///     match client.request(Kind::PING, b"").await {
///         Ok(pong) => assert_eq!(pong.payload, b"ack"),
///         Err(e) => { /* typed: timeout, ERROR answer, transport … */ let _ = e; }
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Client<T, B, C: Clock = NoClock> {
    io: T,
    rx: Receiver<B>,
    pending: Pending<C::Instant, 1>,
    clock: C,
    timeout_ms: Option<u32>,
    checksum: bool,
    missed_events: u32,
}

impl<T, B> Client<T, B, NoClock>
where
    T: Read + Write,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    /// A client in `framing` with no timeouts; `buf` receives the answers
    /// (payloads up to its length minus 50 bytes).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Capacity`] for a buffer under 50 bytes.
    pub fn new(io: T, buf: B, framing: Framing) -> Result<Self, crate::Error> {
        Client::with_clock(io, buf, framing, NoClock, None)
    }
}

impl<T, B, C> Client<T, B, C>
where
    T: Read + Write,
    B: AsRef<[u8]> + AsMut<[u8]>,
    C: Clock,
{
    /// A client whose requests time out after `timeout_ms` by `clock`
    /// (`None`: no timeout).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Capacity`] for a buffer under 50 bytes.
    pub fn with_clock(
        io: T,
        buf: B,
        framing: Framing,
        clock: C,
        timeout_ms: Option<u32>,
    ) -> Result<Self, crate::Error> {
        Ok(Client {
            io,
            rx: Receiver::for_buffer(buf, Some(framing))?,
            pending: Pending::new(framing),
            clock,
            timeout_ms,
            checksum: false,
            missed_events: 0,
        })
    }

    /// Adds the CRC-32 trailer to binary requests.
    pub fn with_checksum(mut self, on: bool) -> Self {
        self.checksum = on;
        self
    }

    /// The table of pending requests (one place): late, unsolicited and
    /// timed-out counts.
    pub fn pending(&self) -> &Pending<C::Instant, 1> {
        &self.pending
    }

    /// Events (binary frames with the `EVENT` flag) that arrived while a
    /// [`Client::request`] waited for its answer, and were dropped
    /// (saturating at `u32::MAX`). They are not counted as
    /// [`unsolicited`](crate::conversation::PendingTable::unsolicited).
    pub fn missed_events(&self) -> u32 {
        self.missed_events
    }

    /// The receiver's counters.
    pub fn stats(&self) -> Option<&crate::Stats> {
        self.rx.stats()
    }

    /// The transport back.
    pub fn into_inner(self) -> T {
        self.io
    }

    fn framing(&self) -> Framing {
        self.rx.framing().unwrap_or(Framing::Binary)
    }

    async fn write_message(&mut self, m: &Message<'_>) -> Result<(), ClientError<T::Error>> {
        let wire = Wire::new(m, self.framing()).map_err(ClientError::Encode)?;
        write_parts(&mut self.io, wire.parts()).await?;
        self.io.flush().await.map_err(IoError::Io)?;
        Ok(())
    }

    /// Sends a message with id 0 and waits for nothing: `EXIT`, which has
    /// no answer. A server answers any other request, id 0 included (§4);
    /// in binary framing that answer carries no id of this client's, and
    /// the next [`Client::request`] skips it as unsolicited.
    ///
    /// # Errors
    ///
    /// [`ClientError::Encode`] before anything is written, or the
    /// transport's failure.
    pub async fn send(
        &mut self,
        kind: Kind<'_>,
        payload: &[u8],
    ) -> Result<(), ClientError<T::Error>> {
        let flags = self.flags();
        self.write_message(&Message::new(kind, payload).with_flags(flags))
            .await
    }

    fn flags(&self) -> Flags {
        if self.checksum {
            Flags::CHECKSUM
        } else {
            Flags::EMPTY
        }
    }

    /// Sends a request and waits for its answer, which is borrowed from
    /// the receive buffer until the next call. Answers to earlier requests
    /// that gave up are counted as late and skipped; messages that answer
    /// nothing are counted as unsolicited and skipped.
    ///
    /// With a timeout, one timer is armed at the request's deadline (the
    /// pending table's [`next_deadline`](crate::conversation::PendingTable::next_deadline))
    /// when the request is written, and it lasts the whole wait: it is
    /// polled when it or the transport wakes the task, never re-armed per
    /// read. A request that times out is expired from the table (counted
    /// in its `timed_out`).
    ///
    /// # Errors
    ///
    /// [`ClientError::Remote`] when the server answers `ERROR`;
    /// [`ClientError::Timeout`], [`ClientError::Closed`],
    /// [`ClientError::Encode`], [`ClientError::BadAnswer`] (the answer's
    /// frame was refused here), or the transport's failure.
    pub async fn request(
        &mut self,
        kind: Kind<'_>,
        payload: &[u8],
    ) -> Result<Message<'_>, ClientError<T::Error>> {
        let deadline = self
            .timeout_ms
            .map(|ms| self.clock.after(self.clock.now(), ms));
        // `&mut self`: no other request is in flight. A place still taken
        // is a request future that was leaked (`mem::forget`) rather than
        // dropped: it is given up as its drop would have, and the one
        // place is free at the second try.
        let id = loop {
            match self.pending.start(deadline) {
                Ok(id) => break id,
                Err(_) => self.pending.cancel_all(|_| {}),
            }
        };
        let flags = self.flags();
        let m = Message::new(kind, payload).with_id(id).with_flags(flags);
        if let Err(e) = self.write_message(&m).await {
            self.pending.cancel(id);
            return Err(e);
        }
        let Client {
            io,
            rx,
            pending,
            clock,
            missed_events,
            ..
        } = self;
        let clock = &*clock;
        let at = pending.next_deadline();
        let mut guard = Abandon {
            pending,
            id: Some(id),
        };
        // The one timer of this request. `sleep_until` completes at its
        // deadline "or later"; a clock that wakes early is waited on again.
        let mut timer = pin!(async move {
            let Some(at) = at else {
                return core::future::pending().await;
            };
            loop {
                clock.sleep_until(at).await;
                if clock.now() >= at {
                    break;
                }
            }
        });
        let at = loop {
            match rx.next_event() {
                Some(Ok(at)) => {
                    let m = rx.message_at(at);
                    if is_event(&m) {
                        // No place to keep it: the answer comes behind.
                        *missed_events = missed_events.saturating_add(1);
                        continue;
                    }
                    if guard.pending.on_message(&m) == Matched::Answer(id) {
                        guard.id = None;
                        break at;
                    }
                    continue;
                }
                Some(Err(e)) => {
                    // A refused frame whose header carried this id is this
                    // request's answer; anything else is not ours.
                    if e.id == Some(id) || (e.id.is_none() && rx.framing() == Some(Framing::Text)) {
                        return Err(ClientError::BadAnswer(e));
                    }
                    continue;
                }
                None => {}
            }
            let spare = rx.spare();
            if spare.is_empty() {
                return Err(IoError::Capacity.into());
            }
            match first(io.read(spare), timer.as_mut()).await {
                Either::Left(Ok(0)) => return Err(ClientError::Closed(IoError::Closed)),
                Either::Left(Ok(n)) => rx.commit(n),
                Either::Left(Err(e)) => return Err(IoError::Io(e).into()),
                Either::Right(()) => {
                    // Its deadline has passed: the table expires it (the
                    // guard's cancel then finds nothing), and a later
                    // answer to it counts as late.
                    guard.pending.expire(clock.now());
                    return Err(ClientError::Timeout);
                }
            }
        };
        drop(guard);
        let answer = rx.message_at(at);
        match RemoteError::of(&answer) {
            Some(e) => Err(ClientError::Remote(ErrorText::from_strs(
                e.code,
                &[e.detail],
            ))),
            None => Ok(answer),
        }
    }

    /// Subscribes to the peer's events of `filter` (`SUB`, §6): from its
    /// answer on, events whose kind the filter matches come to
    /// [`Client::next_event`].
    ///
    /// # Errors
    ///
    /// As [`Client::request`]'s: [`ClientError::Remote`] with
    /// `too-many-subscriptions` when the peer holds all the filters it
    /// keeps, or `unknown-kind` from a peer of a revision before 1.2.
    pub async fn subscribe(&mut self, filter: Filter<'_>) -> Result<(), ClientError<T::Error>> {
        self.request(Kind::SUB, filter.as_str().as_bytes())
            .await
            .map(|_| ())
    }

    /// Removes `filter` from the peer's filters for this conversation
    /// (`UNSUB`), or every filter with `None`: after its answer, no event
    /// comes that only a removed filter matched.
    ///
    /// # Errors
    ///
    /// As [`Client::request`]'s.
    pub async fn unsubscribe(
        &mut self,
        filter: Option<Filter<'_>>,
    ) -> Result<(), ClientError<T::Error>> {
        let payload = filter.map_or(&b""[..], |f| f.as_str().as_bytes());
        self.request(Kind::UNSUB, payload).await.map(|_| ())
    }

    /// Waits for the next event from the peer and returns it, borrowed from
    /// the receive buffer until the next call. `LAGGED` events come here
    /// too (read their count with
    /// [`Lagged::parse`](crate::conversation::Lagged::parse)). Other
    /// messages met on the way are counted as the table counts them (late,
    /// unsolicited) and skipped, and so are frames the decoder refuses
    /// (counted in [`Client::stats`]). In text framing every line is an
    /// event: no request is in flight.
    ///
    /// No timeout: race it with a timer to give up. Cancel safe as far as
    /// the client goes (bytes read stay buffered), if the transport's
    /// `read` is.
    ///
    /// # Errors
    ///
    /// [`ClientError::Closed`] when the peer closes the stream, or the
    /// transport's failure.
    pub async fn next_event(&mut self) -> Result<Message<'_>, ClientError<T::Error>> {
        let text = self.rx.framing() == Some(Framing::Text);
        let at = loop {
            match self.rx.next_event() {
                Some(Ok(at)) => {
                    let m = self.rx.message_at(at);
                    if text || is_event(&m) {
                        break at;
                    }
                    self.pending.on_message(&m);
                    continue;
                }
                Some(Err(_)) => continue,
                None => {}
            }
            let spare = self.rx.spare();
            if spare.is_empty() {
                return Err(IoError::Capacity.into());
            }
            match self.io.read(spare).await {
                Ok(0) => return Err(ClientError::Closed(IoError::Closed)),
                Ok(n) => self.rx.commit(n),
                Err(e) => return Err(IoError::Io(e).into()),
            }
        };
        Ok(self.rx.message_at(at))
    }
}

/// Whether a binary message is an event (§6: the `EVENT` flag, whatever
/// its id and `RESPONSE` bit).
fn is_event(m: &Message<'_>) -> bool {
    m.flags.contains(Flags::EVENT)
}

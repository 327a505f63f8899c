//! The connection loop: [`Router::serve`] and its variants read requests,
//! answer each in order through the routing table (built-ins without
//! awaiting, handlers with their time limit), answer bad input with
//! `ERROR`, and end on `EXIT`, the peer closing, a stop signal or the idle
//! timeout.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite, FutureExt};

use super::{Conn, Handler, Request, Router, LOG_TARGET};
use crate::conversation::{event, Answer, Event, Framing, Rules};
use crate::net::events::{Outbox, FILTERS};
use crate::net::framed::{Framed, RecvError, Replier, SendError};
use crate::net::io::lock;
use crate::net::Frame;
use crate::{Flags, Kind, Message};
use std::sync::Mutex;

/// What the loop tells its owner about a connection (for logs).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum ConnEvent {
    /// An `ERROR` was answered; the payload's code is given.
    ErrorAnswered {
        /// The stable code (`too-large`, `unknown-kind`, `handler-failed` …).
        code: &'static str,
        /// The request's id, or 0.
        id: u32,
    },
}

/// Why a connection's loop ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnEnd {
    /// The peer sent `EXIT`.
    Exit,
    /// The peer closed the stream.
    Closed,
    /// The transport failed.
    Io(io::Error),
    /// No request completed within the idle timeout.
    IdleTimeout,
    /// The server is shutting down; received requests were answered.
    Stopped,
}

impl fmt::Display for ConnEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnEnd::Exit => f.write_str("EXIT"),
            ConnEnd::Closed => f.write_str("closed by peer"),
            ConnEnd::Io(e) => write!(f, "i/o error: {e}"),
            ConnEnd::IdleTimeout => f.write_str("idle timeout"),
            ConnEnd::Stopped => f.write_str("shutdown"),
        }
    }
}

/// How many requests a connection's loop answers before it lets other
/// tasks on its executor thread run.
const YIELD_EVERY: u32 = 128;

/// Sends an answer (the request's id and the `RESPONSE` flag) and tells
/// the connection's owner about an `ERROR`. An answer the framing cannot
/// carry becomes `ERROR handler-failed` ([`Answer::encodable`]).
async fn send_answer<S: AsyncWrite + Unpin>(
    tx: &mut Replier<'_, S>,
    events: &mut (dyn FnMut(ConnEvent) + Send),
    answer: Answer<'_>,
) -> io::Result<()> {
    let answer = answer.encodable(tx.framing());
    if let Some(code) = answer.error_code() {
        host_debug!(target: LOG_TARGET, "answered ERROR {} (id {})", code, answer.id());
        events(ConnEvent::ErrorAnswered {
            code,
            id: answer.id(),
        });
    }
    match tx.send(&answer.message()).await {
        Err(SendError::Io(e)) => Err(e),
        // `encodable` checked the framing; nothing else refuses an answer.
        _ => Ok(()),
    }
}

/// Queues a built-in's answer without awaiting, when it is not an error
/// and fits the write buffer: `false` when it needs [`send_answer`].
fn queued_now<S: AsyncWrite + Unpin>(answer: &Answer<'_>, tx: &mut Replier<'_, S>) -> bool {
    answer.error_code().is_none() && matches!(tx.try_queue(&answer.message()), Ok(true))
}

/// Writes the events waiting in `outbox` that the conversation still
/// wants (§6: after an `UNSUB` answer, no event that only a removed filter
/// matched), each `LAGGED` just before the event it stands before. An
/// event the framing cannot carry (a text payload with a line break) is
/// lost for this conversation and counted in the next `LAGGED`.
async fn deliver<S: AsyncWrite + Unpin>(
    outbox: &Mutex<Outbox>,
    rules: &Rules<FILTERS>,
    tx: &mut Replier<'_, S>,
) -> io::Result<()> {
    loop {
        let Some((lagged, e)) = lock(outbox).queue.pop() else {
            return Ok(());
        };
        if let Some(lagged) = lagged {
            send_event(tx, &lagged.message(), outbox).await?;
        }
        if rules.wants(e.kind()) {
            match e.frame() {
                // Encoded once, when it was published.
                Some(frame) if tx.framing() == Framing::Binary => tx.send_encoded(frame).await?,
                _ => send_event(tx, &event(e.kind(), e.payload()), outbox).await?,
            }
        }
    }
}

async fn send_event<S: AsyncWrite + Unpin>(
    tx: &mut Replier<'_, S>,
    m: &Message<'_>,
    outbox: &Mutex<Outbox>,
) -> io::Result<()> {
    match tx.send(m).await {
        Ok(()) => Ok(()),
        Err(SendError::Io(e)) => Err(e),
        Err(_) => {
            lock(outbox).queue.lost_at_front(1);
            Ok(())
        }
    }
}

impl Router {
    /// Runs the handler of a request the conversation's rules handed to
    /// the application and sends its answer. `handler` is the one
    /// [`Router::handler`] found for the request's kind.
    async fn handle<S: AsyncWrite + Unpin>(
        &self,
        m: Message<'_>,
        handler: Option<&Arc<dyn Handler>>,
        conn: &Conn,
        tx: &mut Replier<'_, S>,
        events: &mut (dyn FnMut(ConnEvent) + Send),
    ) -> io::Result<()> {
        let id = m.id;
        let Some(h) = handler else {
            // The rules hand out only kinds the router said it takes.
            return send_answer(tx, events, Answer::unknown_kind(&m)).await;
        };
        let reply;
        let request = Request::new(Frame::from_message(&m), conn.clone());
        let answer = match self.run(h, request).await {
            Ok(r) => {
                reply = r;
                Answer::new(id, reply.kind(), reply.payload())
            }
            Err(e) => {
                host_warn!(
                    target: LOG_TARGET,
                    "handler for {} failed (id {}): {}: {}",
                    m.kind,
                    id,
                    e.code(),
                    e
                );
                Answer::error(id, e.code(), e)
            }
        };
        send_answer(tx, events, answer).await
    }

    /// Serves one connection until the peer sends `EXIT`, closes, or the
    /// transport fails; every request gets its answer, in order, and bad
    /// input is answered with `ERROR` without ending the loop. Buffered
    /// answers are flushed before returning.
    ///
    /// For servers of your own, or the in-memory transport; the
    /// [`Server`](crate::net::Server) runs this with timeouts and shutdown.
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        framed: &mut Framed<S>,
    ) -> ConnEnd {
        self.serve_with(framed, &Conn::new(""), &mut |_| {}, None, None)
            .await
    }

    /// [`Router::serve`] until `stop` completes too: then the requests
    /// already received are answered, the answers flushed, and the loop
    /// ends with [`ConnEnd::Stopped`]. A graceful shutdown for loops of
    /// your own; `stop` is also checked while a peer floods the connection
    /// (at the loop's cooperative yields), not only when it waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use msgwire::net::{memory, ConnEnd, Framed, FramedConfig, Router};
    ///
    /// let (_client, server_end) = memory::pipe(8);
    /// let end = futures_lite::future::block_on(async {
    ///     let mut conn = Framed::sniffing(server_end, FramedConfig::default());
    ///     Router::new().serve_until(&mut conn, async {}).await // stops at once
    /// });
    /// assert!(matches!(end, ConnEnd::Stopped));
    /// ```
    pub async fn serve_until<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        framed: &mut Framed<S>,
        stop: impl Future<Output = ()> + Send,
    ) -> ConnEnd {
        let stop = std::pin::pin!(stop);
        let stop: Pin<&mut (dyn Future<Output = ()> + Send)> = stop;
        self.serve_with(framed, &Conn::new(""), &mut |_| {}, Some(stop), None)
            .await
    }

    /// [`Router::serve`] for the connection `conn` (what its handlers
    /// see), with an event callback, a stop signal (once `stop`
    /// completes, requests already received are answered and the loop
    /// ends) and an idle timeout (no request completed for that long: the
    /// loop ends without flushing).
    pub(crate) async fn serve_with<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        framed: &mut Framed<S>,
        conn: &Conn,
        events: &mut (dyn FnMut(ConnEvent) + Send),
        mut stop: Option<Pin<&mut (dyn Future<Output = ()> + Send)>>,
        idle: Option<Duration>,
    ) -> ConnEnd {
        enum Next<T> {
            Got(T),
            Stop,
            Idle,
            Events,
        }
        // One timer for the connection. It is not re-armed per request
        // (that costs the reactor an allocation): each request only notes
        // the time, and when the timer fires early it is moved to the real
        // deadline.
        let mut timer = idle.map(async_io::Timer::after);
        let mut last_request = std::time::Instant::now();
        // Whether a request was answered since the loop last waited for
        // the peer: the idle time counts from when the last request was
        // *answered*, so a handler (or a write) slower than the idle
        // timeout does not get the connection dropped right after its
        // answer. The clock is read once per wait, not per request.
        let mut answered = false;
        let mut draining = false;
        // The conversation's rules (§4), decided by the core.
        let mut rules: Rules<FILTERS> = self.rules(framed.max_payload());
        // Requests answered since the loop last let other tasks run (it
        // waited for the peer, or yielded). A peer that keeps the socket
        // full never makes a read wait, so without this the loop would
        // hold its executor thread (and miss the stop signal) for as long
        // as the peer keeps sending.
        let mut since_yield = 0u32;
        // The conversation's queue of events, once it subscribed (§6).
        let mut outbox: Option<std::sync::Arc<Mutex<Outbox>>> = None;
        let end = loop {
            if let Some(o) = &outbox {
                if let Err(e) = deliver(o, &rules, &mut framed.replier()).await {
                    break ConnEnd::Io(e);
                }
            }
            if since_yield >= YIELD_EVERY {
                since_yield = 0;
                futures_lite::future::yield_now().await;
                if !draining {
                    if let Some(s) = stop.as_mut() {
                        if futures_lite::future::poll_once(s.as_mut()).await.is_some() {
                            draining = true;
                        }
                    }
                }
            }
            // Pipelined requests already decoded go straight to their
            // handling (no race set up, and the position of the message is
            // not wrapped into the race's result and out again: a value
            // just stored in pieces and copied whole stalls the CPU).
            let received = match framed.next_buffered() {
                Some(Ok(at)) => Ok(at),
                Some(Err(e)) => Err(RecvError::Decode(e)),
                None if draining => break ConnEnd::Stopped,
                None => {
                    if answered && idle.is_some() {
                        last_request = std::time::Instant::now();
                    }
                    answered = false;
                    let recv = async { Next::Got(framed.recv_event().await) };
                    let stopped = async {
                        match stop.as_mut() {
                            Some(s) => s.as_mut().await,
                            None => std::future::pending().await,
                        }
                        Next::Stop
                    };
                    let idle_timer = async {
                        match timer.as_mut() {
                            Some(t) => {
                                t.await;
                            }
                            None => std::future::pending().await,
                        }
                        Next::Idle
                    };
                    let waiting = async {
                        match &outbox {
                            Some(o) => {
                                futures_lite::future::poll_fn(|cx| lock(o).queue.poll_ready(cx))
                                    .await
                            }
                            None => std::future::pending().await,
                        }
                        Next::Events
                    };
                    let race = recv.or(stopped).or(idle_timer).or(waiting);
                    futures_lite::pin!(race);
                    let mut waited = false;
                    let next = futures_lite::future::poll_fn(|cx| {
                        let polled = race.as_mut().poll(cx);
                        waited |= polled.is_pending();
                        polled
                    })
                    .await;
                    if waited {
                        // The loop waited for the peer: other tasks ran.
                        since_yield = 0;
                    }
                    match next {
                        Next::Got(r) => r,
                        Next::Stop => {
                            draining = true;
                            continue;
                        }
                        Next::Events => continue,
                        Next::Idle => {
                            // A subscriber waits for events, not for its requests'
                            // answers: it is not idle.
                            if !rules.filters().is_empty() {
                                last_request = std::time::Instant::now();
                            }
                            let due = idle.map(|d| last_request + d);
                            match (timer.as_mut(), due) {
                                (Some(t), Some(due)) if due > std::time::Instant::now() => {
                                    t.set_at(due);
                                    continue;
                                }
                                _ => return ConnEnd::IdleTimeout,
                            }
                        }
                    }
                }
            };
            let step = match received {
                Ok(at) => {
                    let (m, mut tx) = framed.lend(at);
                    let mut handler = None;
                    let filters_change = !m.flags.contains(Flags::EVENT)
                        && (m.kind == Kind::SUB || m.kind == Kind::UNSUB);
                    // A built-in's answer that fits the write buffer is
                    // queued where the rules made it: no await until the
                    // buffer is full.
                    let event = rules.decide_taking(
                        Ok(m),
                        |kind| {
                            handler = self.handler(kind);
                            handler.is_some()
                        },
                        |a| queued_now(a, &mut tx),
                    );
                    if filters_change {
                        // The copy the publishers read is updated before
                        // the answer goes out (§6: from the `SUB` answer on).
                        match &outbox {
                            Some(o) => lock(o).filters = rules.filters().clone(),
                            None if !rules.filters().is_empty() => {
                                outbox = Some(self.hub.join(rules.filters().clone()));
                            }
                            None => {}
                        }
                    }
                    match event {
                        Some(Event::Answer(a)) if queued_now(&a, &mut tx) => {
                            tx.write_if_full().await.map(|()| true)
                        }
                        Some(Event::Answer(a)) => {
                            send_answer(&mut tx, events, a).await.map(|()| true)
                        }
                        Some(Event::Request(m)) => self
                            .handle(m, handler, conn, &mut tx, events)
                            .await
                            .map(|()| true),
                        Some(Event::Incoming(m)) => {
                            // The handler of its kind, if any; no answer.
                            if let Some(h) = self.handler(m.kind) {
                                let _ = self
                                    .run(h, Request::new(Frame::from_message(&m), conn.clone()))
                                    .await;
                            }
                            // A subscriber's queue half full: the loop
                            // yields before it relays more (read more), so
                            // the subscribers' loops write out what waits
                            // rather than drop what a burst brings.
                            if self.relay && self.hub.relay(m.kind, m.payload) {
                                since_yield = YIELD_EVERY;
                            }
                            Ok(true)
                        }
                        Some(Event::Exit) => Ok(false),
                        // Nothing to do, or the answer was queued.
                        None => tx.write_if_full().await.map(|()| true),
                    }
                }
                Err(RecvError::Decode(e)) => {
                    // No replier is lent with an error: answer through the
                    // framed connection itself, with the rules' id.
                    let mut tx = framed.replier();
                    match rules.decide(Err(e), |_| false) {
                        Some(Event::Answer(a)) => {
                            send_answer(&mut tx, events, a).await.map(|()| true)
                        }
                        // Noise already answered (§4); a refused frame is
                        // never handled.
                        _ => Ok(true),
                    }
                }
                Err(RecvError::Closed) => break ConnEnd::Closed,
                Err(RecvError::Io(e)) => break ConnEnd::Io(e),
            };
            answered = true;
            since_yield += 1;
            match step {
                Ok(true) => {}
                Ok(false) => break ConnEnd::Exit,
                Err(e) => break ConnEnd::Io(e),
            }
        };
        match end {
            ConnEnd::Io(e) => ConnEnd::Io(e),
            other => match framed.flush().await {
                Ok(()) => other,
                Err(e) => ConnEnd::Io(e),
            },
        }
    }
}

//! The connection loop: one future that owns the transport. It writes the
//! frames requests queued (all that are queued, in one write), reads and
//! hands each answer to its request, and fails requests whose time is up.
//! Requests never touch the transport: they queue and wait.

use std::boxed::Box;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::string::{String, ToString};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use std::vec::Vec;

use async_io::Timer;
use futures_lite::future::poll_fn;
use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt, FutureExt};

use super::table::{lock, wake_all, State, TICKS_PER_TIMEOUT};
use super::{Closed, ClosedBy, Shared};
use crate::conversation::answer_id;
use crate::net::framed::{Framing, RxState};
use crate::net::io::{or_stall, READS_BEFORE_YIELD};
use crate::Kind;

/// A transport: one object read and written by the loop alone.
pub(super) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<S: AsyncRead + AsyncWrite + Send + Unpin> Io for S {}

pub(super) type BoxIo = Box<dyn Io>;

/// A send buffer whose capacity grew past this (a large payload) is
/// given back once written.
const KEEP_CAPACITY: usize = 1 << 20;

/// Rounds of writing and reading in one poll before the loop lets other
/// tasks run.
const ROUNDS_BEFORE_YIELD: u32 = 16;

/// Tasks the loop wakes (requests answered, subscribers) before it lets
/// them run: what they queue next is written before the rest of a large
/// read is handed out, so the peer works on it while this side hands out
/// the rest, instead of each side waiting for the other's whole window.
const WAKES_BEFORE_YIELD: usize = 64;

/// What reading did.
enum Read {
    /// A read waits for the reactor (the loop is woken when data comes).
    Waits,
    /// The loop is to let other tasks run, then go on.
    Yields,
    /// The connection is over; the text says how.
    Over(Closed),
}

/// How a connection ended.
pub(super) enum End {
    /// It failed or the server closed it; the text says how.
    Lost(Closed),
    /// The client closed it (`close()`, every `Client` dropped) and what
    /// was queued is written.
    ByClient,
}

pub(super) struct Conn<'a> {
    shared: &'a Shared,
    io: BoxIo,
    rx: RxState,
    /// The batch being written, and how far.
    writing: Vec<u8>,
    pos: usize,
    /// Ticks since a write began to wait for the peer to read.
    stalled: Option<u64>,
    /// The loop's one timer, ticking while requests wait or a write
    /// stalls (see [`TICKS_PER_TIMEOUT`]).
    timer: Option<Timer>,
    /// How long a tick is.
    tick: Duration,
    /// Tasks to wake once the lock is let go (kept for its allocation).
    wake: Vec<Waker>,
    /// The last message, if it was an `ERROR` with no id (`overloaded: …`):
    /// said when the server closes right after it.
    last_error: Option<String>,
    /// A subscription asked for its reader's turn: what is read waits in
    /// the receive buffer until it has taken some.
    paused: bool,
}

impl<'a> Conn<'a> {
    pub(super) fn new(shared: &'a Shared, io: BoxIo) -> Self {
        lock(&shared.state).begin_connection();
        Conn {
            shared,
            io,
            rx: RxState::new(Some(Framing::Binary), shared.config.framed),
            writing: Vec::new(),
            pos: 0,
            stalled: None,
            timer: None,
            tick: shared.config.request_timeout / TICKS_PER_TIMEOUT as u32,
            wake: Vec::new(),
            last_error: None,
            paused: false,
        }
    }

    /// Runs the connection until it ends.
    pub(super) async fn run(&mut self) -> End {
        poll_fn(|cx| self.poll(cx)).await
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        let mut reads = 0;
        // The read side waits for the reactor (registered): no use trying
        // again in this poll.
        let mut read_waits = false;
        for _ in 0..ROUNDS_BEFORE_YIELD {
            if let Err(why) = self.poll_write(cx) {
                return Poll::Ready(End::Lost(why));
            }
            if !read_waits {
                match self.poll_read(cx, &mut reads) {
                    Read::Over(why) => return Poll::Ready(End::Lost(why)),
                    Read::Yields => break,
                    Read::Waits => read_waits = true,
                }
            }
            let mut st = lock(&self.shared.state);
            if st.has_out() && self.writing.is_empty() {
                continue;
            }
            if st.closing && self.writing.is_empty() {
                return Poll::Ready(End::ByClient);
            }
            // One timer, ticking every `TICKS_PER_TIMEOUT`th of the request
            // timeout while requests wait or a write stalls: each tick
            // fails the requests whose last tick it is (their deadlines
            // are counted in ticks: no clock is read per request) and
            // counts the stall. Once nothing waits, the next tick drops it.
            if busy(&st, self.stalled) && self.timer.is_none() {
                self.timer = Some(Timer::after(self.tick));
            }
            if let Some(t) = self.timer.as_mut() {
                if Pin::new(&mut *t).poll(cx).is_ready() {
                    st.on_tick(&mut self.wake);
                    if let Some(ticks) = self.stalled.as_mut() {
                        *ticks += 1;
                        // The stall began before the first of these
                        // ticks: this one is a whole timeout after it.
                        if *ticks > TICKS_PER_TIMEOUT {
                            // The requests this tick failed hear of it now.
                            drop(st);
                            wake_all(&mut self.wake);
                            return Poll::Ready(End::Lost(Closed::new(
                                ClosedBy::Transport,
                                "write failed: the peer is not reading",
                            )));
                        }
                    }
                    if busy(&st, self.stalled) {
                        t.set_after(self.tick);
                    } else {
                        self.timer = None;
                    }
                    drop(st);
                    wake_all(&mut self.wake);
                    continue;
                }
            }
            st.park(cx);
            return Poll::Pending;
        }
        // Polled again soon: after the requests just woken have run, and
        // a server that sends without pause, or requests that keep coming
        // from other threads, do not hold this thread.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Writes the queued frames as far as the transport takes them now.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<(), Closed> {
        if self.writing.is_empty() {
            let taken = lock(&self.shared.state).take_out(&mut self.writing, &mut self.wake);
            wake_all(&mut self.wake);
            if !taken {
                return Ok(());
            }
            self.pos = 0;
        }
        let mut io = Pin::new(&mut *self.io);
        while self.pos < self.writing.len() {
            match io.as_mut().poll_write(cx, &self.writing[self.pos..]) {
                Poll::Ready(Ok(0)) => return Err(failed(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.pos += n;
                    self.stalled = None;
                }
                Poll::Ready(Err(e)) => return Err(failed(e)),
                Poll::Pending => {
                    self.stalled.get_or_insert(0);
                    return Ok(());
                }
            }
        }
        match io.poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.writing.clear();
                if self.writing.capacity() > KEEP_CAPACITY {
                    self.writing = Vec::new();
                }
                self.stalled = None;
                Ok(())
            }
            Poll::Ready(Err(e)) => Err(failed(e)),
            Poll::Pending => {
                self.stalled.get_or_insert(0);
                Ok(())
            }
        }
    }

    /// Reads and hands out messages until a read would wait, the loop is
    /// to let the requests it woke run, or the connection is over.
    fn poll_read(&mut self, cx: &mut Context<'_>, reads: &mut u32) -> Read {
        loop {
            let (woke, more) = self.hand_out();
            // A subscription's queue is half full: its reader runs before
            // the rest of what was read is handed out (the rest waits in
            // the receive buffer, read no further), so one read of many
            // small events does not overflow a queue its reader empties.
            // Or a batch of tasks was woken and more waits: they run (and
            // queue their next frames, written first) before the rest.
            if self.paused || more {
                return Read::Yields;
            }
            if self.rx.eof() {
                let why = match self.last_error.take() {
                    Some(e) => std::format!("closed by the server after ERROR {e}"),
                    None => "closed by the server".to_string(),
                };
                let why = Closed::new(ClosedBy::Server, why);
                return Read::Over(why);
            }
            // Answers just read woke their requests: they queue their next
            // frames when they run, so the next read (most likely empty,
            // a system call for nothing) waits until after that write. The
            // loop does not wait for them, though (a woken request its
            // executor does not poll must not hold up the answers of
            // others): it is polled again at once.
            if woke && *reads > 0 {
                return Read::Yields;
            }
            if *reads >= READS_BEFORE_YIELD {
                return Read::Yields;
            }
            match self.rx.poll_fill(cx, &mut *self.io) {
                Poll::Pending => return Read::Waits,
                Poll::Ready(Ok(())) => *reads += 1,
                Poll::Ready(Err(e)) => {
                    return Read::Over(Closed::new(
                        ClosedBy::Transport,
                        std::format!("read failed: {e}"),
                    ))
                }
            }
        }
    }

    /// Gives every decoded message to its request or subscriptions (one
    /// lock for them all), until a subscription asks for its reader's
    /// turn (then `paused` is set) or [`WAKES_BEFORE_YIELD`] tasks are
    /// woken. Whether it woke a task, and whether it stopped at that
    /// limit (what is left waits, decoded or not, in the receive buffer).
    fn hand_out(&mut self) -> (bool, bool) {
        let mut st = None;
        let mut more = false;
        if self.paused {
            // Its reader has not taken enough yet: still nothing more.
            let st = st.get_or_insert_with(|| lock(&self.shared.state));
            self.paused = st.still_paused();
            if self.paused {
                return (false, false);
            }
        }
        while let Some(event) = self.rx.next_event() {
            let st = st.get_or_insert_with(|| lock(&self.shared.state));
            match event {
                Ok(at) => {
                    let m = self.rx.message_at(at);
                    self.last_error = (m.id == 0 && m.kind == Kind::ERROR)
                        .then(|| String::from_utf8_lossy(m.payload).into_owned());
                    if st.on_message(&m, &mut self.wake) {
                        self.paused = true;
                        break;
                    }
                }
                Err(e) => st.on_refused(e, &mut self.wake),
            }
            if self.wake.len() >= WAKES_BEFORE_YIELD {
                more = true;
                break;
            }
        }
        drop(st);
        let woke = !self.wake.is_empty();
        wake_all(&mut self.wake);
        (woke, more)
    }

    /// After the client closed: the requests still in flight fail, the
    /// transport is closed, and the answers still on their way are read
    /// (counted late) until the server closes, for at most a request
    /// timeout, so a server that never closes does not keep the socket.
    pub(super) async fn finish(mut self) {
        let timeout = self.shared.config.request_timeout;
        {
            let mut st = lock(&self.shared.state);
            st.close(
                Closed::new(ClosedBy::Client, "closed by the client"),
                &mut self.wake,
            );
        }
        wake_all(&mut self.wake);
        let _ = or_stall(self.io.close(), Some(timeout)).await;
        let late = poll_fn(|cx| {
            let mut late = 0u64;
            loop {
                while let Some(event) = self.rx.next_event() {
                    if let Ok(at) = event {
                        late += u64::from(answer_id(&self.rx.message_at(at)).is_some());
                    }
                }
                if self.rx.eof() {
                    return Poll::Ready(late);
                }
                match self.rx.poll_fill(cx, &mut *self.io) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(late),
                    Poll::Pending => {
                        // Counted now: the timeout may end this wait.
                        lock(&self.shared.state).late += late;
                        return Poll::Pending;
                    }
                }
            }
        })
        .or(async {
            Timer::after(timeout).await;
            0
        })
        .await;
        lock(&self.shared.state).late += late;
    }
}

/// Whether something can come due: requests wait for answers, or a write
/// waits for the peer to read (`stalled`): the loop's timer then ticks.
fn busy(st: &State, stalled: Option<u64>) -> bool {
    st.has_pending() || stalled.is_some()
}

fn failed(e: io::Error) -> Closed {
    Closed::new(ClosedBy::Transport, std::format!("write failed: {e}"))
}

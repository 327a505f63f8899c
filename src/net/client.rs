//! A client with request/response correlation over one connection.
//!
//! On the common path a request moves no work to another task:
//!
//! - **Sending.** A request encodes its frame into a send buffer shared by
//!   the connection. If other requests are in flight, the first request of a
//!   batch yields once, so that the requests ready at the same moment join
//!   the batch; then it writes the batch itself. Only a write the socket
//!   cannot take at once goes to a background writer, which finishes it
//!   (and fails the connection if the server reads nothing for a request
//!   timeout).
//! - **Receiving.** A waiting request reads the socket itself and hands
//!   every answer it decodes to the request with that id. The request that
//!   polled the socket last is the one the reactor wakes; when it ends, it
//!   passes that role to another waiting request. A background reader
//!   takes the socket over when no request waits (at once when someone
//!   subscribed, else at the next tick of the timeout check), so unsolicited
//!   messages and the server closing are noticed; it also takes over from
//!   a request that has been reading for two ticks (a slow answer, or a
//!   future nobody polls any more).

use std::boxed::Box;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use std::vec::Vec;

use async_channel::{Receiver, Sender};
use async_io::Timer;
use futures_lite::future::poll_fn;
use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt, FutureExt};

use super::framed::{or_stall, write_some, FramedConfig, Framing, RxState, READS_BEFORE_YIELD};
use super::router::Frame;
use super::runtime::Spawner;
use crate::{DecodeError, Encoder, Error, Kind, Message};

/// A client's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// How long `connect_*` waits. Default 5 s.
    pub connect_timeout: Duration,
    /// How long a request waits for its answer. It fails with
    /// [`ClientError::Timeout`] no earlier, and up to a quarter of this (at
    /// most 500 ms) later: one task per client checks the deadlines, eight
    /// times per timeout (at least every 250 ms). Also how
    /// long a write may stall (the server reads nothing) before the
    /// connection is closed and every pending request fails. Default 10 s.
    pub request_timeout: Duration,
    /// Receive limits (largest answer accepted …).
    pub framed: FramedConfig,
    /// Messages waiting in the send buffer (besides a batch being
    /// written) before `request`/`send` wait for room. Default 1024.
    pub queue: usize,
    /// Unsolicited messages (no `RESPONSE` flag) kept for
    /// [`Client::subscribe`]rs before new ones are dropped and counted.
    /// Default 1024.
    pub subscription_capacity: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            framed: FramedConfig::default(),
            queue: 1024,
            subscription_capacity: 1024,
        }
    }
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// No answer within the request timeout.
    Timeout,
    /// The connection is closed (by either side, or it failed); the text
    /// says how.
    Closed(String),
    /// The server answered `ERROR <code>: <detail>`.
    Remote {
        /// The stable code (`unknown-kind`, `too-large` …).
        code: String,
        /// The text after the code.
        detail: String,
    },
    /// The request cannot be encoded (bad kind …); nothing was sent.
    Encode(Error),
    /// The answer was refused by this side's decoder (too large …).
    BadAnswer(crate::DecodeError),
    /// The client's background work is not running: neither
    /// [`Client::run`] nor [`Client::start`] was called. Nothing was sent.
    NotStarted,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Timeout => f.write_str("request timed out"),
            ClientError::Closed(why) => write!(f, "connection closed: {why}"),
            ClientError::Remote { code, detail } => {
                write!(f, "server answered ERROR {code}: {detail}")
            }
            ClientError::Encode(e) => write!(f, "cannot encode request: {e}"),
            ClientError::BadAnswer(e) => write!(f, "answer refused: {e}"),
            ClientError::NotStarted => f.write_str(
                "client not started: drive Client::run or call Client::start with a spawner",
            ),
        }
    }
}

impl std::error::Error for ClientError {}

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// A send buffer whose capacity grew past this (a large payload) is
/// given back once written.
const KEEP_CAPACITY: usize = 1 << 20;

/// Hashes request ids: one multiplication. Only this side's ids (counted
/// up from 1) are ever inserted, so a server cannot pick colliding keys;
/// it can only look up ids, which costs no more than a lookup of ours.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type PendingMap = HashMap<u32, Pending, BuildHasherDefault<IdHasher>>;

/// Where a request stands.
enum Slot {
    /// No answer yet; the waker of the request's last poll.
    Waiting(Option<Waker>),
    /// Answered, failed or timed out; the request's future takes it.
    Done(Result<Frame, ClientError>),
}

/// A request in flight.
struct Pending {
    slot: Slot,
    /// Queued (or written): it may be handed the reading.
    sent: bool,
    /// When it times out; set by the expiry task when it first sees the
    /// request (one clock reading per tick, not one per request).
    due: Option<Instant>,
}

/// What [`Pending::finish`] did.
enum Finished {
    /// The request ended now; wake it (after letting go of the locks).
    Now(Option<Waker>),
    /// It had already ended.
    Before,
}

impl Finished {
    fn wake(self) {
        if let Finished::Now(Some(w)) = self {
            w.wake();
        }
    }
}

impl Pending {
    /// Ends the request with `result` unless it has ended.
    fn finish(&mut self, result: Result<Frame, ClientError>) -> Finished {
        match std::mem::replace(&mut self.slot, Slot::Done(result)) {
            Slot::Waiting(waker) => Finished::Now(waker),
            done => {
                self.slot = done;
                Finished::Before
            }
        }
    }
}

/// Records `cx`'s waker unless the one recorded wakes the same task.
fn record(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// The sending half: encoded frames not yet written, and who writes them.
struct TxSide {
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    pos: usize,
    /// Messages in `buf`, against [`ClientConfig::queue`].
    queued: usize,
    /// `None` while the background writer holds it, and once closed.
    io: Option<Writer>,
    /// Someone will write `buf`: a request after its yield, or the writer.
    scheduled: bool,
    /// The background writer is to write `buf`.
    writer_needed: bool,
    writer: Option<Waker>,
    /// Requests waiting for room in `buf`.
    room: Vec<Waker>,
    /// No more messages: the writer writes what is queued, then closes.
    closing: bool,
}

impl TxSide {
    /// Marks `buf` as handed over; the requests waiting for room go on.
    fn drained(&mut self) {
        self.queued = 0;
        for w in self.room.drain(..) {
            w.wake();
        }
    }

    fn wake_writer(&mut self) {
        self.writer_needed = true;
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }
}

/// Who reads the socket: whoever polled it last, so the one the reactor
/// wakes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    Nobody,
    Background,
    Request(u32),
}

/// The receiving half.
struct RxSide {
    state: RxState,
    /// `None` once reading is over.
    io: Option<Reader>,
    reading: Reading,
    /// The request reading was handed to, until it reads (if it ends first,
    /// it hands reading on).
    handed: Option<u32>,
    /// Who was reading at the expiry task's last tick: a request still
    /// reading a tick later (its answer is slow, or its future is no longer
    /// polled) leaves reading to the background reader.
    at_last_tick: Reading,
    /// A request that left reading so; it does not take reading back.
    demoted: Option<u32>,
    /// The background reader's waker, while it leaves reading to requests.
    background: Option<Waker>,
    /// The last message if it was an `ERROR` with no id (`overloaded: …`):
    /// said when the server closes right after it.
    last_error: Option<String>,
}

struct Inner {
    next_id: AtomicU32,
    pending: Mutex<PendingMap>,
    tx: Mutex<TxSide>,
    rx: Mutex<RxSide>,
    closed: AtomicBool,
    why_closed: Mutex<Option<String>>,
    subscribers: (Sender<Frame>, Receiver<Frame>),
    /// Closed with the connection: ends the background tasks, so a closed
    /// client lets go of its socket even if the server never sends or
    /// closes.
    shut: (Sender<()>, Receiver<()>),
    dropped_unsolicited: AtomicU64,
    late_answers: AtomicU64,
    /// `run` or `start` was called.
    started: AtomicBool,
    config: ClientConfig,
}

/// Locks `m`; a panic while it was held cannot leave these maps and
/// buffers inconsistent (every update is a single step).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    fn next_id(&self) -> u32 {
        loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return id;
            }
        }
    }

    fn lock_pending(&self) -> MutexGuard<'_, PendingMap> {
        lock(&self.pending)
    }

    fn closed_error(&self) -> ClientError {
        let why = lock(&self.why_closed).clone();
        ClientError::Closed(why.unwrap_or_else(|| "closed by the client".into()))
    }

    /// Marks the connection dead and fails every pending request.
    fn close(&self, why: String) {
        {
            let mut w = lock(&self.why_closed);
            if w.is_none() {
                host_info!("client connection closed: {}", why);
                *w = Some(why);
            }
        }
        self.closed.store(true, Ordering::SeqCst);
        {
            // No request gets into the buffer after this.
            let mut tx = lock(&self.tx);
            tx.closing = true;
            tx.drained();
            if let Some(w) = tx.writer.take() {
                w.wake();
            }
        }
        self.subscribers.0.close();
        self.shut.0.close();
        let err = self.closed_error();
        let ended: Vec<Finished> = self
            .lock_pending()
            .values_mut()
            .map(|p| p.finish(Err(err.clone())))
            .collect();
        ended.into_iter().for_each(Finished::wake);
    }

    /// No more messages: what is queued is written, then the connection
    /// closes.
    fn close_writes(&self) {
        let mut tx = lock(&self.tx);
        tx.closing = true;
        tx.wake_writer();
    }

    /// Appends `m` to the send buffer, or waits for room. `Ok(true)`: this
    /// message starts a batch, and its sender is to write it. Request `id`
    /// may fail (time out …) while it waits.
    fn poll_append(
        &self,
        cx: &Context<'_>,
        m: &Message<'_>,
        id: u32,
    ) -> Poll<Result<bool, ClientError>> {
        let mut tx = lock(&self.tx);
        if tx.closing {
            drop(tx);
            return Poll::Ready(Err(self.closed_error()));
        }
        if tx.queued >= self.config.queue.max(1) {
            tx.room.push(cx.waker().clone());
            drop(tx);
            // A request also wakes for its timeout (or the connection
            // failing); the answer phase reports it.
            if id != 0 && self.ended(id, cx) {
                return Poll::Ready(Ok(false));
            }
            return Poll::Pending;
        }
        Encoder::new()
            .append(m, &mut tx.buf)
            .map_err(ClientError::Encode)?;
        tx.queued += 1;
        let first = !tx.scheduled;
        tx.scheduled = true;
        drop(tx);
        if let Some(p) = self.lock_pending().get_mut(&id) {
            p.sent = true;
        }
        Poll::Ready(Ok(first))
    }

    /// Writes the send buffer from the calling task, as far as the socket
    /// takes it without waiting; the background writer does the rest.
    fn write_now(&self, cx: &mut Context<'_>) {
        let mut guard = lock(&self.tx);
        let tx = &mut *guard;
        if tx.writer_needed {
            return;
        }
        // `None`: the writer is at work and writes this too.
        let Some(io) = tx.io.as_mut() else { return };
        let mut io = Pin::new(&mut **io);
        let mut blocked = false;
        let mut failed = None;
        while tx.pos < tx.buf.len() {
            match io.as_mut().poll_write(cx, &tx.buf[tx.pos..]) {
                Poll::Ready(Ok(0)) => failed = Some(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => tx.pos += n,
                Poll::Ready(Err(e)) => failed = Some(e),
                Poll::Pending => blocked = true,
            }
            if blocked || failed.is_some() {
                break;
            }
        }
        if !blocked && failed.is_none() {
            match io.poll_flush(cx) {
                Poll::Ready(Ok(())) => {
                    tx.buf.clear();
                    if tx.buf.capacity() > KEEP_CAPACITY {
                        tx.buf = Vec::new();
                    }
                    tx.pos = 0;
                    tx.scheduled = false;
                    tx.drained();
                    return;
                }
                Poll::Ready(Err(e)) => failed = Some(e),
                Poll::Pending => {}
            }
        }
        if let Some(e) = failed {
            drop(guard);
            self.close(std::format!("write failed: {e}"));
            return;
        }
        // The socket is full: the writer waits for it, with the stall
        // timeout.
        tx.wake_writer();
    }

    /// Queues `m` and, when it starts a batch, writes the batch.
    async fn enqueue(&self, m: &Message<'_>, id: u32) -> Result<(), ClientError> {
        if !poll_fn(|cx| self.poll_append(cx, m, id)).await? {
            return Ok(());
        }
        let mut job = WriteJob {
            inner: self,
            done: false,
        };
        // With other requests in flight, those ready at the same moment
        // (answers just handed out) join this batch: one write for all.
        if self.lock_pending().len() > 1 {
            futures_lite::future::yield_now().await;
        }
        poll_fn(|cx| {
            self.write_now(cx);
            Poll::Ready(())
        })
        .await;
        job.done = true;
        Ok(())
    }

    /// Reads and hands out messages until a read would wait (`Pending`,
    /// with `cx` registered: `who` now reads) or reading is over (`Ready`).
    /// The background reader leaves reading to a request that does it.
    fn poll_read(&self, cx: &mut Context<'_>, who: Reading) -> Poll<()> {
        let mut guard = lock(&self.rx);
        let rx = &mut *guard;
        if who == Reading::Background {
            record(&mut rx.background, cx);
            if matches!(rx.reading, Reading::Request(_)) {
                return Poll::Pending;
            }
        }
        let Some(io) = rx.io.as_mut() else {
            return Poll::Ready(());
        };
        let mut reads = 0;
        let why = loop {
            loop {
                match rx.state.next_event() {
                    Some(Ok(at)) => {
                        let m = rx.state.message_at(at);
                        rx.last_error = (m.id == 0 && m.kind == Kind::ERROR)
                            .then(|| String::from_utf8_lossy(m.payload).into_owned());
                        self.dispatch(&m);
                    }
                    Some(Err(e)) => self.refused(e),
                    None => break,
                }
            }
            if rx.state.eof() {
                break "closed by the server".to_string();
            }
            // A server that sends without pause (garbage, a refused frame's
            // skipped bytes) does not hold the thread.
            if reads == READS_BEFORE_YIELD {
                rx.reading = who;
                rx.handed = None;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match rx.state.poll_fill(cx, &mut **io) {
                Poll::Pending => {
                    rx.reading = who;
                    rx.handed = None;
                    return Poll::Pending;
                }
                Poll::Ready(Ok(())) => reads += 1,
                Poll::Ready(Err(e)) => break std::format!("read failed: {e}"),
            }
        };
        rx.io = None;
        rx.reading = Reading::Nobody;
        let why = match rx.last_error.take() {
            Some(e) => std::format!("{why} after ERROR {e}"),
            None => why,
        };
        drop(guard);
        self.close(why);
        Poll::Ready(())
    }

    /// Gives a message to its request, or to the subscribers.
    fn dispatch(&self, m: &Message<'_>) {
        let frame = Frame::from_message(m);
        if let Some(id) = crate::conversation::answer_id(m) {
            let ended = match self.lock_pending().get_mut(&id) {
                Some(p) => p.finish(Ok(frame)),
                None => Finished::Before,
            };
            match ended {
                Finished::Now(w) => Finished::Now(w).wake(),
                Finished::Before => {
                    self.late_answers.fetch_add(1, Ordering::Relaxed);
                }
            }
        } else if self.subscribers.0.try_send(frame).is_err() {
            self.dropped_unsolicited.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An answer this side refuses still ends its request.
    fn refused(&self, e: DecodeError) {
        host_debug!("client refused an answer: {} (id {:?})", e.code(), e.id);
        if let Some(id) = e.id {
            let ended = self
                .lock_pending()
                .get_mut(&id)
                .map(|p| p.finish(Err(ClientError::BadAnswer(e))));
            if let Some(ended) = ended {
                ended.wake();
            }
        }
    }

    /// A request's wait for its answer, reading the socket meanwhile.
    fn poll_answer(&self, cx: &mut Context<'_>, id: u32) -> Poll<Result<Frame, ClientError>> {
        // The waker is recorded before looking at who reads: a reader that
        // ends after this hands reading on to a request it can wake.
        if let Poll::Ready(r) = self.poll_slot(id, cx) {
            return Poll::Ready(r);
        }
        // While another request reads, it hands this one its answer: no
        // read here (each would be a system call that finds nothing).
        let reads_elsewhere = {
            let rx = lock(&self.rx);
            match rx.reading {
                Reading::Request(r) => r != id,
                Reading::Background => rx.demoted == Some(id),
                Reading::Nobody => false,
            }
        };
        if reads_elsewhere {
            return Poll::Pending;
        }
        let over = self.poll_read(cx, Reading::Request(id)).is_ready();
        match self.poll_slot(id, cx) {
            Poll::Pending if over => Poll::Ready(Err(self.closed_error())),
            answer => answer,
        }
    }

    /// The request's outcome if it has one (taken); else records the waker
    /// it is to be woken with.
    fn poll_slot(&self, id: u32, cx: &Context<'_>) -> Poll<Result<Frame, ClientError>> {
        let mut pending = self.lock_pending();
        let Some(p) = pending.get_mut(&id) else {
            drop(pending);
            return Poll::Ready(Err(self.closed_error()));
        };
        match &mut p.slot {
            Slot::Waiting(w) => {
                record(w, cx);
                Poll::Pending
            }
            Slot::Done(_) => match std::mem::replace(&mut p.slot, Slot::Waiting(None)) {
                Slot::Done(r) => Poll::Ready(r),
                Slot::Waiting(_) => Poll::Pending,
            },
        }
    }

    /// Whether the request has ended (or is gone); else records the waker
    /// it is to be woken with. Leaves the outcome for [`Inner::poll_slot`].
    fn ended(&self, id: u32, cx: &Context<'_>) -> bool {
        match self.lock_pending().get_mut(&id) {
            Some(Pending {
                slot: Slot::Waiting(w),
                ..
            }) => {
                record(w, cx);
                false
            }
            _ => true,
        }
    }

    /// Forgets request `id`. If it was reading (or had been handed the
    /// reading and not taken it up), reading passes on.
    fn forget(&self, id: u32) {
        let gone = self.lock_pending().remove(&id);
        // An answer that came but was never taken (the future was dropped
        // in the same poll) is a late answer too.
        if let Some(Pending {
            slot: Slot::Done(Ok(_)),
            ..
        }) = gone
        {
            self.late_answers.fetch_add(1, Ordering::Relaxed);
        }
        let mut rx = lock(&self.rx);
        if rx.demoted == Some(id) {
            rx.demoted = None;
        }
        let was_reading = rx.reading == Reading::Request(id)
            || (rx.reading == Reading::Nobody && rx.handed == Some(id));
        if was_reading {
            rx.reading = Reading::Nobody;
            rx.handed = None;
            self.hand_on(rx);
        }
    }

    /// Nobody reads: hands reading to a waiting request that was sent, or
    /// (when someone subscribed) to the background reader. Otherwise the
    /// expiry task hands it to the background reader at its next tick; a
    /// new request reads for itself before that.
    fn hand_on(&self, mut rx: MutexGuard<'_, RxSide>) {
        let next = self
            .lock_pending()
            .iter()
            .find_map(|(&id, p)| match &p.slot {
                Slot::Waiting(Some(w)) if p.sent => Some((id, w.clone())),
                _ => None,
            });
        let wake = match next {
            Some((id, w)) => {
                rx.handed = Some(id);
                Some(w)
            }
            // The subscription queue itself holds one receiver.
            None if self.subscribers.1.receiver_count() > 1 => rx.background.take(),
            None => None,
        };
        drop(rx);
        if let Some(w) = wake {
            w.wake();
        }
    }
}

/// Hands the batch to the background writer if the request that was to
/// write it is dropped first.
struct WriteJob<'a> {
    inner: &'a Inner,
    done: bool,
}

impl Drop for WriteJob<'_> {
    fn drop(&mut self) {
        if !self.done {
            lock(&self.inner.tx).wake_writer();
        }
    }
}

/// Removes a request when its future ends, however.
struct Forget<'a> {
    inner: &'a Inner,
    id: u32,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.inner.forget(self.id);
    }
}

/// A connection to a msgwire server (binary framing).
///
/// Cheap to clone: clones share the connection, so many tasks can have
/// requests in flight at once. Each request gets a fresh non-zero id and
/// its answer is matched by id. A request whose answer does not come within
/// the timeout, or whose connection dies, fails with a [`ClientError`] — it
/// never hangs.
///
/// Requests write and read the socket from the task that awaits them (see
/// the module docs for how batches and reading are shared); three small
/// background tasks finish writes the socket could not take, read while no
/// request waits, and check timeouts. They run on an executor you choose:
///
/// - [`Client::run`] gives them as one future (it spawns nothing); spawn
///   it on any executor (smol, a `LocalExecutor`, tokio), or poll it
///   alongside the requests;
/// - [`Client::start`] spawns them through a [`Spawner`].
///
/// A client that is neither run nor started answers every request with
/// [`ClientError::NotStarted`].
///
/// ```
/// use msgwire::net::{memory, Client, ClientConfig, Framed, FramedConfig, Router};
///
/// let ex = smol::LocalExecutor::new();
/// smol::block_on(ex.run(async {
///     let (near, far) = memory::pipe(4096);
///     ex.spawn(async move {
///         Router::new().serve(&mut Framed::sniffing(far, FramedConfig::default())).await
///     })
///     .detach();
///     let client = Client::new(near, ClientConfig::default());
///     ex.spawn(client.run()).detach();
///     let pong = client.request("PING", b"").await?;
///     assert_eq!(pong.kind, "PONG");
///     Ok::<(), msgwire::net::ClientError>(())
/// }))
/// .unwrap();
/// ```
///
/// A request future that was polled and is then neither polled again nor
/// dropped can be the one the reactor wakes for the socket. The expiry task
/// notices a request that has been reading for two of its ticks and hands
/// reading to the background reader, so such a future holds up other
/// answers (and unsolicited messages) for at most two ticks (at most
/// 500 ms; see [`ClientConfig::request_timeout`]).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    _last: Arc<CloseOnDrop>,
}

/// Closes the connection when the last clone of a [`Client`] goes away
/// (the background tasks hold `Inner` too, so it cannot be `Inner`'s drop).
struct CloseOnDrop(Arc<Inner>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close_writes();
    }
}

/// `task`, closing the connection if it is dropped unfinished.
fn guarded(
    inner: &Arc<Inner>,
    task: impl std::future::Future<Output = ()> + Send + 'static,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let guard = CloseIfDropped(inner.clone());
    async move {
        task.await;
        drop(guard);
    }
}

/// Closes the connection when a background task's future is dropped
/// (finished: it is closed already, and this does nothing).
struct CloseIfDropped(Arc<Inner>);

impl Drop for CloseIfDropped {
    fn drop(&mut self) {
        if !self.0.closed.load(Ordering::SeqCst) {
            self.0
                .close("the client's background work was dropped".to_string());
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("closed", &self.is_closed())
            .field("pending", &self.inner.lock_pending().len())
            .finish()
    }
}

/// An error for a connect that did not finish in time.
fn connect_timeout() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "msgwire: connect timed out")
}

impl Client {
    /// Connects over TCP (with `TCP_NODELAY`). The client is not started
    /// yet: see [`Client::run`] and [`Client::start`].
    ///
    /// # Errors
    ///
    /// The connect error, or `TimedOut` after the connect timeout.
    pub async fn connect_tcp(addr: SocketAddr, config: ClientConfig) -> io::Result<Client> {
        let stream = async_net::TcpStream::connect(addr)
            .or(async {
                Timer::after(config.connect_timeout).await;
                Err(connect_timeout())
            })
            .await?;
        stream.set_nodelay(true)?;
        Ok(Client::with_halves(
            Box::new(stream.clone()),
            Box::new(stream),
            config,
        ))
    }

    /// Connects to a Unix socket. The client is not started yet: see
    /// [`Client::run`] and [`Client::start`].
    ///
    /// # Errors
    ///
    /// The connect error, or `TimedOut` after the connect timeout.
    #[cfg(unix)]
    pub async fn connect_unix(
        path: impl AsRef<std::path::Path>,
        config: ClientConfig,
    ) -> io::Result<Client> {
        let stream = async_net::unix::UnixStream::connect(path.as_ref())
            .or(async {
                Timer::after(config.connect_timeout).await;
                Err(connect_timeout())
            })
            .await?;
        Ok(Client::with_halves(
            Box::new(stream.clone()),
            Box::new(stream),
            config,
        ))
    }

    /// A client over any transport, e.g. one end of
    /// [`memory::pipe`](super::memory::pipe), or a tokio stream through
    /// `tokio_util::compat`. The client is not started yet: see
    /// [`Client::run`] and [`Client::start`].
    pub fn new<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
        io: S,
        config: ClientConfig,
    ) -> Client {
        let (r, w) = futures_lite::io::split(io);
        Client::with_halves(Box::new(r), Box::new(w), config)
    }

    fn with_halves(reader: Reader, writer: Writer, config: ClientConfig) -> Client {
        let inner = Arc::new(Inner {
            next_id: AtomicU32::new(1),
            pending: Mutex::new(PendingMap::default()),
            tx: Mutex::new(TxSide {
                buf: Vec::new(),
                pos: 0,
                queued: 0,
                io: Some(writer),
                scheduled: false,
                writer_needed: false,
                writer: None,
                room: Vec::new(),
                closing: false,
            }),
            rx: Mutex::new(RxSide {
                state: RxState::new(Some(Framing::Binary), config.framed),
                io: Some(reader),
                reading: Reading::Nobody,
                handed: None,
                at_last_tick: Reading::Nobody,
                demoted: None,
                background: None,
                last_error: None,
            }),
            closed: AtomicBool::new(false),
            why_closed: Mutex::new(None),
            subscribers: async_channel::bounded(config.subscription_capacity.max(1)),
            shut: async_channel::bounded(1),
            dropped_unsolicited: AtomicU64::new(0),
            late_answers: AtomicU64::new(0),
            started: AtomicBool::new(false),
            config,
        });
        Client {
            _last: Arc::new(CloseOnDrop(inner.clone())),
            inner,
        }
    }

    /// The three background tasks (writer, reader, timeouts). Each closes
    /// the connection if it is dropped unfinished (its executor shut down),
    /// so requests then fail instead of waiting for timeouts nobody checks.
    fn tasks(
        &self,
    ) -> (
        impl std::future::Future<Output = ()> + Send + 'static,
        impl std::future::Future<Output = ()> + Send + 'static,
        impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        assert!(
            !self.inner.started.swap(true, Ordering::SeqCst),
            "msgwire: this client was started already"
        );
        let inner = &self.inner;
        (
            guarded(inner, write_task(inner.clone())),
            guarded(inner, read_task(inner.clone())),
            guarded(inner, expire_task(inner.clone())),
        )
    }

    /// The client's background work as one future: it writes what requests
    /// could not write at once, reads while no request waits, and fails
    /// requests whose time is up. It spawns nothing (the three tasks run on
    /// a small executor inside it), so it runs wherever it is polled:
    /// spawn it on smol, a `LocalExecutor`, a tokio runtime.
    ///
    /// It ends when the connection has closed (every `Client` clone
    /// dropped, [`Client::close`], the server closing, a failure) and the
    /// socket is let go. Dropping it earlier closes the connection: pending
    /// requests fail with [`ClientError::Closed`].
    ///
    /// # Panics
    ///
    /// If the client was started already (`run` or `start`).
    pub fn run(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (write, read, expire) = self.tasks();
        async move {
            let ex = async_executor::Executor::new();
            let tasks = [ex.spawn(write), ex.spawn(read), ex.spawn(expire)];
            ex.run(async {
                for t in tasks {
                    t.await;
                }
            })
            .await;
        }
    }

    /// Starts the client's background work (see [`Client::run`]) as three
    /// tasks on `spawner`'s executor.
    ///
    /// # Panics
    ///
    /// If the client was started already (`run` or `start`).
    #[must_use = "dropping the last Client closes the connection"]
    pub fn start(self, spawner: &Spawner) -> Client {
        let (write, read, expire) = self.tasks();
        spawner.spawn(write);
        spawner.spawn(read);
        spawner.spawn(expire);
        self
    }

    /// Sends a request and waits for its answer.
    ///
    /// # Errors
    ///
    /// [`ClientError::Remote`] when the server answers `ERROR`;
    /// [`ClientError::Timeout`], [`ClientError::Closed`],
    /// [`ClientError::Encode`], [`ClientError::BadAnswer`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future forgets the request; its answer, if it comes,
    /// is counted in [`Client::late_answers`]. A request is queued whole or
    /// not at all, so a dropped request never leaves part of a frame.
    pub async fn request(&self, kind: &str, payload: &[u8]) -> Result<Frame, ClientError> {
        let kind = Kind::new(kind).map_err(ClientError::Encode)?;
        if !self.inner.started.load(Ordering::Relaxed) {
            return Err(ClientError::NotStarted);
        }
        if self.is_closed() {
            return Err(self.inner.closed_error());
        }
        let inner = &*self.inner;
        let id = inner.next_id();
        // No timer per request (each one would wake the reactor): the
        // expiry task fails requests whose time is up.
        inner.lock_pending().insert(
            id,
            Pending {
                slot: Slot::Waiting(None),
                sent: false,
                due: None,
            },
        );
        let _forget = Forget { inner, id };
        inner
            .enqueue(&Message::new(kind, payload).with_id(id), id)
            .await?;
        let answer = poll_fn(|cx| inner.poll_answer(cx, id)).await?;
        if answer.kind == "ERROR" {
            let m = Message::new(Kind::ERROR, &answer.payload);
            if let Some(e) = crate::conversation::RemoteError::of(&m) {
                return Err(ClientError::Remote {
                    code: e.code.to_string(),
                    detail: e.detail.to_string(),
                });
            }
        }
        Ok(answer)
    }

    /// Sends a message that expects no answer (id 0). It is queued when
    /// this returns; it is written soon after, and in order with requests.
    ///
    /// # Errors
    ///
    /// [`ClientError::Encode`] for a bad kind or payload,
    /// [`ClientError::Closed`].
    pub async fn send(&self, kind: &str, payload: &[u8]) -> Result<(), ClientError> {
        let kind = Kind::new(kind).map_err(ClientError::Encode)?;
        if !self.inner.started.load(Ordering::Relaxed) {
            return Err(ClientError::NotStarted);
        }
        self.inner.enqueue(&Message::new(kind, payload), 0).await
    }

    /// Sends `PING` and returns the round-trip time.
    ///
    /// # Errors
    ///
    /// As [`Client::request`]; an answer other than `PONG` is a
    /// [`ClientError::Remote`] with code `unexpected-answer`.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        let start = Instant::now();
        let answer = self.request("PING", b"").await?;
        if answer.kind != "PONG" {
            return Err(ClientError::Remote {
                code: "unexpected-answer".into(),
                detail: answer.kind,
            });
        }
        Ok(start.elapsed())
    }

    /// Messages the server sends without the `RESPONSE` flag. All
    /// subscribers share one queue; when it is full, new messages are
    /// dropped and counted in [`Client::dropped_unsolicited`].
    pub fn subscribe(&self) -> Receiver<Frame> {
        let sub = self.inner.subscribers.1.clone();
        // From now on the background reader reads whenever no request
        // does, without waiting for the next tick.
        let mut rx = lock(&self.inner.rx);
        if rx.reading == Reading::Nobody {
            if let Some(w) = rx.background.take() {
                drop(rx);
                w.wake();
            }
        }
        sub
    }

    /// Unsolicited messages dropped because the subscription queue was full.
    pub fn dropped_unsolicited(&self) -> u64 {
        self.inner.dropped_unsolicited.load(Ordering::Relaxed)
    }

    /// Answers that arrived for no pending request (after a timeout …).
    pub fn late_answers(&self) -> u64 {
        self.inner.late_answers.load(Ordering::Relaxed)
    }

    /// Whether the connection is closed. A server closing while no request
    /// waits is noticed within the timeout check's tick (see
    /// [`ClientConfig::request_timeout`]), or at once by a subscribed
    /// client.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// Closes the connection after the queued messages are written; pending
    /// requests fail with [`ClientError::Closed`].
    pub fn close(&self) {
        self.inner.close_writes();
    }
}

/// Fails requests whose time is up, checking eight times per timeout
/// (a request fails between its timeout and 2/8 of it later), and hands
/// reading to the background reader when no request does it, until the
/// connection closes. One timer per client instead of one per request:
/// every new timer wakes the reactor.
async fn expire_task(inner: Arc<Inner>) {
    let tick = (inner.config.request_timeout / 8)
        .clamp(Duration::from_millis(1), Duration::from_millis(250));
    let mut timer = Timer::interval(tick);
    loop {
        let closed = async {
            let _ = inner.shut.1.recv().await;
            true
        };
        let ticked = async {
            futures_lite::StreamExt::next(&mut timer).await;
            false
        };
        if ticked.or(closed).await || inner.closed.load(Ordering::SeqCst) {
            return;
        }
        let ended: Vec<Finished> = {
            let mut pending = inner.lock_pending();
            // Read under the lock: a request added after this reading
            // cannot be stamped with it.
            let now = Instant::now();
            pending
                .values_mut()
                .filter_map(|p| match p.due {
                    // Made since the last tick: its time counts from now,
                    // so it never fails early.
                    None => {
                        p.due = Some(now + inner.config.request_timeout);
                        None
                    }
                    Some(due) if due <= now => Some(p.finish(Err(ClientError::Timeout))),
                    Some(_) => None,
                })
                .collect()
        };
        ended.into_iter().for_each(Finished::wake);
        let mut rx = lock(&inner.rx);
        let reading = rx.reading;
        let stuck = matches!(reading, Reading::Request(_)) && reading == rx.at_last_tick;
        rx.at_last_tick = reading;
        if let (true, Reading::Request(id)) = (stuck, reading) {
            rx.demoted = Some(id);
            rx.reading = Reading::Nobody;
        }
        if rx.reading == Reading::Nobody {
            rx.handed = None;
            if let Some(w) = rx.background.take() {
                drop(rx);
                w.wake();
            }
        }
    }
}

/// Writes what a request could not write at once, and the last messages
/// before a close.
async fn write_task(inner: Arc<Inner>) {
    // A server that reads nothing for a whole request timeout fails the
    // connection (every request behind the blocked write would time out
    // anyway), so a dropped client never stays blocked on its socket.
    let stall = inner.config.request_timeout;
    let why = loop {
        let work = poll_fn(|cx| {
            let mut guard = lock(&inner.tx);
            let tx = &mut *guard;
            if inner.closed.load(Ordering::SeqCst) {
                tx.io = None;
                return Poll::Ready(None);
            }
            if !tx.writer_needed {
                tx.writer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let Some(io) = tx.io.take() else {
                return Poll::Ready(None);
            };
            let batch = std::mem::take(&mut tx.buf);
            let pos = std::mem::take(&mut tx.pos);
            tx.drained();
            Poll::Ready(Some((io, batch, pos)))
        })
        .await;
        // The connection was closed elsewhere; the socket is let go.
        let Some((mut io, mut batch, pos)) = work else {
            return;
        };
        let mut rest = &batch[pos..];
        let mut result = Ok(());
        while !rest.is_empty() {
            match write_some(&mut *io, rest, Some(stall)).await {
                Ok(n) => rest = &rest[n..],
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok() {
            result = or_stall(io.flush(), Some(stall)).await;
        }
        if let Err(e) = result {
            break std::format!("write failed: {e}");
        }
        let closing = {
            let mut tx = lock(&inner.tx);
            let idle = tx.buf.is_empty();
            if idle {
                // Keeps the allocation for the next batch.
                batch.clear();
                if batch.capacity() <= KEEP_CAPACITY {
                    tx.buf = batch;
                }
                tx.scheduled = false;
                tx.writer_needed = false;
            }
            let closing = idle && tx.closing;
            if !closing {
                tx.io = Some(io);
                None
            } else {
                Some(io)
            }
        };
        if let Some(mut io) = closing {
            let _ = or_stall(io.close(), Some(stall)).await;
            break "closed by the client".to_string();
        }
    };
    inner.close(why);
}

/// Reads while no request does (unsolicited messages, the server closing);
/// once this side has closed, reads the answers still on their way (counted
/// as late) until the server closes, for at most a request timeout, so a
/// server that never closes does not keep the socket.
async fn read_task(inner: Arc<Inner>) {
    let shut = inner.shut.1.clone();
    let over = poll_fn(|cx| inner.poll_read(cx, Reading::Background).map(|()| true))
        .or(async {
            let _ = shut.recv().await;
            false
        })
        .await;
    if !over {
        lock(&inner.rx).reading = Reading::Nobody;
        poll_fn(|cx| inner.poll_read(cx, Reading::Background))
            .or(async {
                Timer::after(inner.config.request_timeout).await;
            })
            .await;
    }
    lock(&inner.rx).io = None;
}

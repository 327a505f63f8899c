//! A client with request/response correlation over one connection.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use std::vec::Vec;

use async_channel::{Receiver, Sender};
use async_io::Timer;
use futures_lite::{AsyncRead, AsyncWrite, FutureExt};

use super::framed::{FramedConfig, Framing, RecvError, RxState, TxState};
use super::router::Frame;
use super::runtime::spawn;
use crate::{Error, Flags, Kind, Message};

/// A client's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// How long `connect_*` waits. Default 5 s.
    pub connect_timeout: Duration,
    /// How long a request waits for its answer (it fails with
    /// [`ClientError::Timeout`] up to an eighth of this, and at most
    /// 250 ms, later: one task per client checks the deadlines). Also how
    /// long a write may stall (the server reads nothing) before the
    /// connection is closed and every pending request fails. Default 10 s.
    pub request_timeout: Duration,
    /// Receive limits (largest answer accepted …).
    pub framed: FramedConfig,
    /// Messages queued for the writer before `request`/`send` wait.
    /// Default 1024.
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
        }
    }
}

impl std::error::Error for ClientError {}

type Waiter = Sender<Result<Frame, ClientError>>;

/// A request waiting for its answer, and when it times out.
struct Pending {
    waiter: Waiter,
    due: Instant,
}

struct Outgoing {
    kind: String,
    id: u32,
    payload: Vec<u8>,
}

struct Inner {
    next_id: AtomicU32,
    pending: Mutex<HashMap<u32, Pending>>,
    outbound: Sender<Outgoing>,
    closed: AtomicBool,
    why_closed: Mutex<Option<String>>,
    subscribers: (Sender<Frame>, Receiver<Frame>),
    /// Closed with the connection: ends the background reader, so a
    /// closed client lets go of its socket even if the server never
    /// sends or closes.
    shut: (Sender<()>, Receiver<()>),
    dropped_unsolicited: AtomicU64,
    late_answers: AtomicU64,
    config: ClientConfig,
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

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Pending>> {
        // A panic while holding the map cannot leave it inconsistent.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn closed_error(&self) -> ClientError {
        let why = self
            .why_closed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        ClientError::Closed(why.unwrap_or_else(|| "closed".into()))
    }

    /// Marks the connection dead and fails every pending request.
    fn close(&self, why: String) {
        {
            let mut w = self.why_closed.lock().unwrap_or_else(|p| p.into_inner());
            if w.is_none() {
                *w = Some(why);
            }
        }
        self.closed.store(true, Ordering::SeqCst);
        self.outbound.close();
        self.subscribers.0.close();
        self.shut.0.close();
        let err = self.closed_error();
        for (_, p) in self.lock_pending().drain() {
            let _ = p.waiter.try_send(Err(err.clone()));
        }
    }
}

/// A connection to a msgwire server (binary framing).
///
/// Cheap to clone: clones share the connection, so many tasks can have
/// requests in flight at once. Each request gets a fresh non-zero id; a
/// background reader hands every answer to the request with its id. A
/// request whose answer does not come within the timeout, or whose
/// connection dies, fails with a [`ClientError`] — it never hangs.
///
/// The background reader and writer run on the crate's executor, so the
/// client works from any runtime.
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
        self.0.outbound.close();
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
    /// Connects over TCP (with `TCP_NODELAY`).
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
        Ok(Client::with_halves(stream.clone(), stream, config))
    }

    /// Connects to a Unix socket.
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
        Ok(Client::with_halves(stream.clone(), stream, config))
    }

    /// A client over any transport, e.g. one end of
    /// [`memory::pipe`](super::memory::pipe).
    pub fn new<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
        io: S,
        config: ClientConfig,
    ) -> Client {
        let (r, w) = futures_lite::io::split(io);
        Client::with_halves(r, w, config)
    }

    fn with_halves<R, W>(reader: R, writer: W, config: ClientConfig) -> Client
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (outbound, queue) = async_channel::bounded(config.queue.max(1));
        let inner = Arc::new(Inner {
            next_id: AtomicU32::new(1),
            pending: Mutex::new(HashMap::new()),
            outbound,
            closed: AtomicBool::new(false),
            why_closed: Mutex::new(None),
            subscribers: async_channel::bounded(config.subscription_capacity.max(1)),
            shut: async_channel::bounded(1),
            dropped_unsolicited: AtomicU64::new(0),
            late_answers: AtomicU64::new(0),
            config,
        });
        spawn(write_loop(inner.clone(), queue, writer)).detach();
        spawn(read_loop(inner.clone(), reader)).detach();
        spawn(expire_loop(inner.clone())).detach();
        Client {
            _last: Arc::new(CloseOnDrop(inner.clone())),
            inner,
        }
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
    /// is counted in [`Client::late_answers`].
    pub async fn request(&self, kind: &str, payload: &[u8]) -> Result<Frame, ClientError> {
        Kind::new(kind).map_err(ClientError::Encode)?;
        if self.is_closed() {
            return Err(self.inner.closed_error());
        }
        let id = self.inner.next_id();
        let (tx, rx) = async_channel::bounded(1);
        // No timer per request (each one would wake the reactor): the
        // expiry task fails requests whose time is up.
        let due = Instant::now() + self.inner.config.request_timeout;
        self.inner
            .lock_pending()
            .insert(id, Pending { waiter: tx, due });
        let _forget = Forget {
            inner: &self.inner,
            id,
        };
        let out = Outgoing {
            kind: kind.to_string(),
            id,
            payload: payload.to_vec(),
        };
        let answer = || async {
            rx.recv()
                .await
                .unwrap_or_else(|_| Err(self.inner.closed_error()))
        };
        // The answer (or the expiry task's timeout) may come while the
        // request still waits for room in the queue.
        let answer = async {
            self.inner
                .outbound
                .send(out)
                .await
                .map_err(|_| self.inner.closed_error())?;
            answer().await
        }
        .or(answer())
        .await?;
        if answer.kind == "ERROR" {
            let text = String::from_utf8_lossy(&answer.payload);
            let (code, detail) = text.split_once(':').unwrap_or((&text, ""));
            return Err(ClientError::Remote {
                code: code.trim().to_string(),
                detail: detail.trim().to_string(),
            });
        }
        Ok(answer)
    }

    /// Sends a message that expects no answer (id 0).
    ///
    /// # Errors
    ///
    /// [`ClientError::Encode`] for a bad kind, [`ClientError::Closed`].
    pub async fn send(&self, kind: &str, payload: &[u8]) -> Result<(), ClientError> {
        Kind::new(kind).map_err(ClientError::Encode)?;
        let out = Outgoing {
            kind: kind.to_string(),
            id: 0,
            payload: payload.to_vec(),
        };
        self.inner
            .outbound
            .send(out)
            .await
            .map_err(|_| self.inner.closed_error())
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
        self.inner.subscribers.1.clone()
    }

    /// Unsolicited messages dropped because the subscription queue was full.
    pub fn dropped_unsolicited(&self) -> u64 {
        self.inner.dropped_unsolicited.load(Ordering::Relaxed)
    }

    /// Answers that arrived for no pending request (after a timeout …).
    pub fn late_answers(&self) -> u64 {
        self.inner.late_answers.load(Ordering::Relaxed)
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// Closes the connection after the queued messages are written; pending
    /// requests fail with [`ClientError::Closed`].
    pub fn close(&self) {
        self.inner.outbound.close();
    }
}

/// Removes a request from the pending map when its future ends, however.
struct Forget<'a> {
    inner: &'a Inner,
    id: u32,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.inner.lock_pending().remove(&self.id);
    }
}

/// Fails requests whose time is up, checking a few times per timeout
/// (a request fails between its timeout and 1/8 of it later), until the
/// connection closes. One timer per client instead of one per request:
/// every new timer wakes the reactor.
async fn expire_loop(inner: Arc<Inner>) {
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
        let now = Instant::now();
        let mut pending = inner.lock_pending();
        pending.retain(|_, p| {
            if p.due > now {
                return true;
            }
            let _ = p.waiter.try_send(Err(ClientError::Timeout));
            false
        });
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    inner: Arc<Inner>,
    queue: Receiver<Outgoing>,
    mut io: W,
) {
    let mut tx = TxState::new(Framing::Binary, inner.config.framed.write_buffer);
    // A server that reads nothing for a whole request timeout fails the
    // connection (every request behind the blocked write would time out
    // anyway), so a dropped client never stays blocked on its socket.
    tx.write_timeout = Some(inner.config.request_timeout);
    let why = loop {
        let Ok(first) = queue.recv().await else {
            let _ = tx.flush(&mut io).await;
            let _ = futures_lite::AsyncWriteExt::close(&mut io).await;
            break "closed by the client".to_string();
        };
        // Send what is queued in one write: pipelined requests batch.
        let mut next = Some(first);
        let mut failed = None;
        while let Some(out) = next.take() {
            let kind = Kind::new(&out.kind).unwrap_or(Kind::ERROR);
            let m = Message::new(kind, &out.payload).with_id(out.id);
            if let Err(e) = tx.send(&mut io, &m).await {
                failed = Some(e.to_string());
                break;
            }
            next = queue.try_recv().ok();
        }
        if failed.is_none() {
            if let Err(e) = tx.flush(&mut io).await {
                failed = Some(e.to_string());
            }
        }
        if let Some(e) = failed {
            break std::format!("write failed: {e}");
        }
    };
    inner.close(why);
}

async fn read_loop<R: AsyncRead + Unpin>(inner: Arc<Inner>, mut io: R) {
    let mut rx = RxState::new(Some(Framing::Binary), inner.config.framed);
    // An `ERROR` with no id that is the last thing the server says before
    // closing (`overloaded: …`) tells pending requests why.
    let mut last_error: Option<String> = None;
    let shut = inner.shut.1.clone();
    // Once the client is closed, answers still on their way are read (and
    // counted as late) until the server closes too, for at most a request
    // timeout: a server that never closes does not keep the socket.
    let mut grace: Option<Timer> = None;
    let why = loop {
        let next = async { Some(rx.recv_read(&mut io).await) }.or(async {
            match grace.as_mut() {
                None => {
                    let _ = shut.recv().await;
                }
                Some(t) => {
                    t.await;
                }
            }
            None
        });
        let Some(next) = next.await else {
            if grace.is_none() {
                grace = Some(Timer::after(inner.config.request_timeout));
                continue;
            }
            // Closed by this side; the reason is already recorded.
            break "closed".to_string();
        };
        match next {
            Ok(m) => {
                last_error = (m.id == 0 && m.kind == Kind::ERROR)
                    .then(|| String::from_utf8_lossy(m.payload).into_owned());
                let frame = Frame::from_message(&m);
                if m.flags.contains(Flags::RESPONSE) && m.id != 0 {
                    let waiter = inner.lock_pending().remove(&m.id);
                    match waiter {
                        Some(w) => {
                            let _ = w.waiter.try_send(Ok(frame));
                        }
                        None => {
                            inner.late_answers.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                } else if inner.subscribers.0.try_send(frame).is_err() {
                    inner.dropped_unsolicited.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(RecvError::Decode(e)) => {
                // An answer this side refuses still ends its request.
                if let Some(w) = e.id.and_then(|id| inner.lock_pending().remove(&id)) {
                    let _ = w.waiter.try_send(Err(ClientError::BadAnswer(e)));
                }
            }
            Err(RecvError::Closed) => break "closed by the server".to_string(),
            Err(RecvError::Io(e)) => break std::format!("read failed: {e}"),
        }
    };
    let why = match last_error {
        Some(e) => std::format!("{why} after ERROR {e}"),
        None => why,
    };
    inner.close(why);
}

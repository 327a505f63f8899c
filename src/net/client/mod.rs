//! A client with request/response correlation over one connection, built
//! on the conversation core's [`PendingTable`](crate::conversation::PendingTable).
//!
//! - this file: [`Client`], its configuration and its errors;
//! - `table.rs`: what requests and the connection share, behind one lock
//!   (the pending table, each request's waker and outcome, the send
//!   buffer);
//! - `conn.rs`: the connection loop, the only code that touches the
//!   transport ([`Client::run`]);
//! - `reconnect.rs`: dialling again, with backoff and jitter.
//!
//! A request takes the lock to get an id and queue its frame, and once more
//! to collect its answer; the loop takes it once per batch it writes or
//! reads. Requests that become ready together go out in one write.

mod conn;
mod reconnect;
mod table;

/// The log lines of every file here go under this module's path
/// (`msgwire::net::client`), as the README's "Logs" says.
const LOG_TARGET: &str = module_path!();

use std::boxed::Box;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::string::String;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use std::vec::Vec;

use async_io::Timer;
use futures_lite::future::poll_fn;
use futures_lite::{AsyncRead, AsyncWrite};

use self::conn::{BoxIo, Conn, End};
use self::reconnect::Dialer;
pub use self::reconnect::Reconnect;
use self::table::{lock, wake_all, Link, State, Ticket};
use super::framed::FramedConfig;
use super::message::Frame;
use super::runtime::{AlreadyStarted, Spawner};
use crate::conversation::{event, rev_has_events, ErrorText, Filter, Hello, Lagged, Rev};
use crate::net::events::{EventLimits, Queue};
use crate::{Kind, Message};

/// A client's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// How long `connect_*` (and each reconnect attempt) waits. Default 5 s.
    pub connect_timeout: Duration,
    /// How long a request waits for its answer, counted from the call
    /// (waiting for room or for a reconnect included). It fails with
    /// [`ClientError::Timeout`] no earlier, and at most an eighth of this
    /// later (as the executor runs the connection loop): the loop keeps
    /// one timer, which ticks every eighth of the timeout while requests
    /// wait, and deadlines are counted in its ticks, so a request reads
    /// no clock. Also how long a write may stall (the server reads
    /// nothing) before the connection is dropped, as closely. Default
    /// 10 s.
    pub request_timeout: Duration,
    /// Receive limits (largest answer accepted …).
    pub framed: FramedConfig,
    /// Requests in flight at most (rounded up to a power of two); more
    /// wait for a place, up to their timeout. The table is allocated when
    /// the client is made: 208 bytes a place on x86-64 (an answer of up
    /// to 64 bytes is copied into its place, and handed over from there
    /// without an allocation), 52 KiB for the default 256.
    pub in_flight: usize,
    /// Messages waiting in the send buffer (besides a batch being
    /// written) before `request`/`send` wait for room. Default 1024.
    pub queue: usize,
    /// How many events may wait in one [`Subscription`] before new ones
    /// are dropped there and counted in a [`Delivery::Lagged`]
    /// ([`EventLimits`]: 256 events and 256 KiB by default). When a
    /// subscription that awaits [`Subscription::recv`] is half full, the
    /// connection loop lets it run before it hands out more of what it
    /// read. A subscriber that stops taking events, or takes them slower
    /// than they come, holds the loop for at most 256 of these pauses
    /// until it catches up (its queue a quarter full), so it does not set
    /// the pace of the answers behind its events.
    pub subscription: EventLimits,
    /// The `schema` this client's application speaks (§5). When set, each
    /// connection (the first and every reconnect) opens with a `HELLO`
    /// naming it, and nothing else is written until the peer's answer
    /// names the same one; if it names another one, or none (a peer
    /// before 1.2 among them), the client closes, and every request fails
    /// with [`ClientError::SchemaMismatch`] naming both. [`Client::hello`]
    /// checks it the same way. `None` (the default): no schema is named or
    /// checked.
    pub schema: Option<u64>,
    /// Dial again when the connection drops (TCP and Unix clients made by
    /// `connect_tcp`/`connect_unix`; a client over another transport
    /// closes). `None` (the default): the client closes.
    pub reconnect: Option<Reconnect>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            framed: FramedConfig::default(),
            in_flight: 256,
            queue: 1024,
            subscription: EventLimits::default(),
            schema: None,
            reconnect: None,
        }
    }
}

/// Why a request failed: the conversation core's
/// [`ClientError`](crate::conversation::ClientError), the same variants as
/// a device client's, with the transport's account a [`Closed`] and an
/// `ERROR` answer's text boxed (so that every request's result stays
/// small).
pub type ClientError = crate::conversation::ClientError<Closed, Box<ErrorText>>;

/// How a client's connection closed (in [`ClientError::Closed`] and
/// [`ClientError::ConnectionLost`]): who closed it, for a program, and
/// how, for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed {
    by: ClosedBy,
    detail: String,
}

/// Who closed a client's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClosedBy {
    /// This side: [`Client::close`], every `Client` dropped, or the
    /// connection loop's future dropped.
    Client,
    /// The server closed the stream (after an `ERROR` such as
    /// `overloaded`, if it sent one: the detail says).
    Server,
    /// The transport failed (a read or write error, or the server did not
    /// read for the request timeout).
    Transport,
    /// Reconnecting was given up after the attempts
    /// [`ClientConfig::reconnect`] allows.
    GaveUp,
}

impl Closed {
    /// A close by `by`, told as `detail`.
    pub fn new(by: ClosedBy, detail: impl Into<String>) -> Closed {
        Closed {
            by,
            detail: detail.into(),
        }
    }

    /// Who closed the connection.
    pub fn by(&self) -> ClosedBy {
        self.by
    }

    /// How, for people (`closed by the server after ERROR overloaded: …`,
    /// `read failed: …`).
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// What a server answered [`Client::hello`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handshake {
    /// A server of revision 1.2 or later, and what it says of itself.
    Tokens(PeerHello),
    /// A server before revision 1.2 (it answered `HELLO` with
    /// `ERROR unknown-kind`): no events, no subscriptions.
    Before12,
}

/// A peer's `HELLO` tokens (§5), owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerHello {
    /// The revision both sides speak.
    pub rev: Rev,
    /// The largest payload the peer accepts (every 1.2 answer names it).
    pub max: Option<u32>,
    /// The peer's application, if it names one.
    pub app: Option<String>,
    /// The hash of the peer's application messages, if it names one.
    pub schema: Option<u64>,
}

impl fmt::Display for PeerHello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text: heapless::String<160> = heapless::String::new();
        Hello {
            rev: self.rev,
            max: self.max,
            app: self.app.as_deref(),
            schema: self.schema,
        }
        .write(&mut text);
        f.write_str(&text)
    }
}

/// What a [`Subscription`] yields.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// An event whose kind the subscription's filter matches.
    Event(Frame),
    /// This many events were lost just here, between the event before and
    /// the event after: the peer dropped them for this connection (its
    /// `LAGGED`, which every subscription of the client gets, as the peer
    /// does not say which filters the lost events matched), or this
    /// subscription's own queue was full ([`ClientConfig::subscription`]).
    Lagged(u32),
}

/// The events of one filter (§6), from [`Client::subscribe`]: every event
/// whose kind the filter matches, in the order the peer sent them, and a
/// [`Delivery::Lagged`] where events were lost. Each subscription has a
/// queue of its own: two subscriptions whose filters both match an event
/// both get it.
///
/// Dropping it stops its deliveries at once; the peer keeps the filter
/// (and the connection gets its events, counted in
/// [`Client::dropped_unsolicited`] when no other subscription matches)
/// until [`Subscription::unsubscribe`] or the connection's end. After a
/// reconnect the client subscribes again by itself; events published
/// while it was disconnected are not delivered, nor counted.
pub struct Subscription {
    shared: Arc<Shared>,
    id: u64,
    filter: String,
    queue: Arc<Mutex<Queue<Delivery>>>,
    /// The event that comes after a `LAGGED` just given.
    held: Option<Delivery>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The filter, as it was given.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    fn next(&mut self, popped: Option<(Option<Lagged>, Delivery)>) -> Option<Delivery> {
        let (lagged, item) = popped?;
        match lagged {
            Some(l) => {
                self.held = Some(item);
                Some(Delivery::Lagged(l.count()))
            }
            None => Some(item),
        }
    }

    /// The next delivery; `None` once the client is closed and the queue
    /// is empty. Cancel safe: a dropped `recv` takes nothing.
    pub async fn recv(&mut self) -> Option<Delivery> {
        if let Some(held) = self.held.take() {
            return Some(held);
        }
        let popped = poll_fn(|cx| lock(&self.queue).poll_pop(cx)).await;
        self.next(popped)
    }

    /// The next delivery if one waits.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        if let Some(held) = self.held.take() {
            return Some(held);
        }
        let popped = lock(&self.queue).pop();
        self.next(popped)
    }

    /// Ends the subscription: the peer removes the filter (`UNSUB`) unless
    /// another subscription of this client holds the same one.
    ///
    /// # Errors
    ///
    /// As [`Client::request`]; the subscription ends anyway.
    pub async fn unsubscribe(mut self) -> Result<(), ClientError> {
        let shared = self.shared.clone();
        let kept = lock(&shared.state).remove_sub(self.id);
        self.id = 0;
        if kept {
            return Ok(());
        }
        Call::new(&shared, Ok(Kind::UNSUB), self.filter.as_bytes())
            .await
            .map(|_| ())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.id != 0 {
            lock(&self.shared.state).remove_sub(self.id);
        }
    }
}

/// What the clones of a [`Client`] and its connection loop share.
struct Shared {
    state: Mutex<State>,
    config: ClientConfig,
    /// `run` or `start` was called.
    started: AtomicBool,
    /// The first transport, until `run` takes it.
    io: Mutex<Option<BoxIo>>,
    /// How to connect again, for a TCP or Unix client.
    dialer: Option<Dialer>,
}

impl Shared {
    /// Runs `f` on the state, then wakes the tasks it named.
    fn with<R>(&self, f: impl FnOnce(&mut State, &mut Vec<std::task::Waker>) -> R) -> R {
        let mut wake = Vec::new();
        let r = f(&mut lock(&self.state), &mut wake);
        if !wake.is_empty() {
            wake_all(&mut wake);
        }
        r
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
/// Requests never touch the transport: one connection loop writes what
/// they queue and hands each answer to its request. It runs on an executor
/// you choose:
///
/// - [`Client::run`] gives it as one future (it spawns nothing); spawn it
///   on any executor (smol, a `LocalExecutor`, tokio), or poll it
///   alongside the requests;
/// - [`Client::start`] spawns it through a [`Spawner`].
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
/// With [`ClientConfig::reconnect`], a TCP or Unix client dials again when
/// its connection drops: the requests in flight then fail with
/// [`ClientError::ConnectionLost`], later ones wait for the new connection
/// (up to their timeout), and [`Client::reconnects`] counts the new
/// connections.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    _last: Arc<CloseOnDrop>,
}

/// Closes the connection when the last clone of a [`Client`] goes away
/// (the connection loop holds `Shared` too, so it cannot be its drop).
struct CloseOnDrop(Arc<Shared>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.with(State::close_writes);
    }
}

/// Closes the connection when the connection loop's future is dropped
/// unfinished (its executor shut down): requests then fail instead of
/// waiting for timeouts nobody checks.
struct CloseIfDropped(Arc<Shared>);

impl Drop for CloseIfDropped {
    fn drop(&mut self) {
        self.0.with(|st, wake| {
            st.close(
                Closed::new(ClosedBy::Client, "the client's background work was dropped"),
                wake,
            )
        });
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.shared.state);
        f.debug_struct("Client")
            .field("link", &st.link)
            .field("pending", &st.pending_len())
            .finish()
    }
}

impl Client {
    /// Connects over TCP (with `TCP_NODELAY`) to `addr`: anything
    /// [`Server::bind_tcp`](crate::net::Server::bind_tcp) takes, a
    /// `SocketAddr`, `"127.0.0.1:7878"` or `("localhost", 7878)`. A name is
    /// looked up once; its addresses are tried in turn, each within the
    /// connect timeout, and the one that answered is the one a reconnect
    /// dials. The client is not started yet: see [`Client::run`] and
    /// [`Client::start`].
    ///
    /// # Errors
    ///
    /// The failed lookup, the last address's connect error, or `TimedOut`
    /// after the connect timeout.
    pub async fn connect_tcp(
        addr: impl async_net::AsyncToSocketAddrs,
        config: ClientConfig,
    ) -> io::Result<Client> {
        let mut last = None;
        for addr in addr.to_socket_addrs().await? {
            match Dialer::tcp(addr, config.connect_timeout).await {
                Ok(stream) => {
                    return Ok(Client::with(
                        Box::new(stream),
                        Some(Dialer::Tcp(addr)),
                        config,
                    ))
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "the address resolved to no socket address",
            )
        }))
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
        let path = path.as_ref().to_path_buf();
        let connect = async_net::unix::UnixStream::connect(&path);
        let stream = reconnect::within(config.connect_timeout, connect).await?;
        Ok(Client::with(
            Box::new(stream),
            Some(Dialer::Unix(path)),
            config,
        ))
    }

    /// A client over any transport, e.g. one end of
    /// [`memory::pipe`](super::memory::pipe), or a tokio stream through
    /// `tokio_util::compat`. It does not reconnect. The client is not
    /// started yet: see [`Client::run`] and [`Client::start`].
    pub fn new<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
        io: S,
        config: ClientConfig,
    ) -> Client {
        Client::with(Box::new(io), None, config)
    }

    fn with(io: BoxIo, dialer: Option<Dialer>, config: ClientConfig) -> Client {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(
                config.in_flight,
                config.queue,
                config.subscription,
                config.schema,
            )),
            config,
            started: AtomicBool::new(false),
            io: Mutex::new(Some(io)),
            dialer,
        });
        Client {
            _last: Arc::new(CloseOnDrop(shared.clone())),
            shared,
        }
    }

    /// The client's connection loop as one future: it writes what requests
    /// queue, hands out answers, fails requests whose time is up, and dials
    /// again if [`ClientConfig::reconnect`] asks. It spawns nothing, so it
    /// runs wherever it is polled: spawn it on smol, a `LocalExecutor`, a
    /// tokio runtime.
    ///
    /// It ends when the connection has closed for good (every `Client`
    /// clone dropped, [`Client::close`], the server closing without a
    /// reconnect plan, a failure) and the transport is let go. Dropping it
    /// earlier closes the connection: pending requests fail with
    /// [`ClientError::Closed`].
    ///
    /// # Where to run it
    ///
    /// Best on the executor whose tasks make the requests. The loop wakes
    /// at most 64 of them per turn and then lets them run: their next
    /// frames are written before it hands out the rest of what it read,
    /// so the server works on those while this side goes on. Requests
    /// made elsewhere (from `block_on`'s own future, or another executor)
    /// work the same, but the loop's executor may run it again before
    /// they run (in `benches/net.rs` on one thread: a reactor poll and an
    /// empty read more per round trip), and on another thread every
    /// answer is a wake-up across threads (BENCHMARKS.md, "Where the
    /// requests run, and the loop's turn").
    ///
    /// # Errors
    ///
    /// [`AlreadyStarted`], at once, when the client was started already
    /// (`run` or `start`).
    pub fn run(
        &self,
    ) -> impl std::future::Future<Output = Result<(), AlreadyStarted>> + Send + 'static {
        let run = self.claim().map(|()| self.loop_future());
        async move {
            run?.await;
            Ok(())
        }
    }

    /// Marks the client started: [`AlreadyStarted`] if it was.
    fn claim(&self) -> Result<(), AlreadyStarted> {
        if self.shared.started.swap(true, Ordering::SeqCst) {
            Err(AlreadyStarted)
        } else {
            Ok(())
        }
    }

    /// The connection loop of a client just [claimed](Client::claim).
    fn loop_future(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let shared = self.shared.clone();
        let first = lock(&shared.io).take();
        async move {
            let _closes = CloseIfDropped(shared.clone());
            let mut io = first;
            while let Some(transport) = io.take() {
                let mut conn = Conn::new(&shared, transport);
                match conn.run().await {
                    End::ByClient => conn.finish().await,
                    End::Lost(why) => io = reconnect::after_loss(&shared, why).await,
                }
            }
        }
    }

    /// Starts the client's connection loop (see [`Client::run`]) as one
    /// task on `spawner`'s executor.
    ///
    /// # Errors
    ///
    /// [`AlreadyStarted`] when the client was started already (`run` or
    /// `start`).
    pub fn start(self, spawner: &Spawner) -> Result<Client, AlreadyStarted> {
        self.claim()?;
        spawner.spawn(self.loop_future());
        Ok(self)
    }

    /// Sends a request and waits for its answer.
    ///
    /// # Errors
    ///
    /// [`ClientError::Remote`] when the server answers `ERROR`;
    /// [`ClientError::Timeout`], [`ClientError::Closed`],
    /// [`ClientError::ConnectionLost`], [`ClientError::Encode`],
    /// [`ClientError::BadAnswer`], [`ClientError::NotStarted`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future forgets the request; its answer, if it comes,
    /// is counted in [`Client::late_answers`]. A request is queued whole or
    /// not at all, so a dropped request never leaves part of a frame.
    pub fn request<'a>(
        &'a self,
        kind: &'a str,
        payload: &'a [u8],
    ) -> impl Future<Output = Result<Frame, ClientError>> + Send + 'a {
        Call::new(&self.shared, Kind::new(kind), payload)
    }

    /// Sends a message that expects no answer (id 0). It is queued when
    /// this returns; it is written soon after, and in order with requests.
    /// If the connection drops before it is written, it is not sent.
    ///
    /// # Errors
    ///
    /// [`ClientError::Encode`] for a bad kind or payload,
    /// [`ClientError::Closed`], [`ClientError::NotStarted`].
    pub async fn send(&self, kind: &str, payload: &[u8]) -> Result<(), ClientError> {
        let kind = Kind::new(kind).map_err(ClientError::Encode)?;
        if !self.shared.started.load(Ordering::Relaxed) {
            return Err(ClientError::NotStarted);
        }
        let m = Message::new(kind, payload);
        poll_fn(|cx| self.shared.with(|st, wake| st.poll_send(cx, &m, wake))).await
    }

    /// The handshake (§5): sends `HELLO` with `rev=1.2` (and
    /// [`ClientConfig::schema`], if set) and returns what the server says
    /// of itself. A server before revision 1.2 answers `ERROR
    /// unknown-kind`: that is [`Handshake::Before12`], not an error.
    ///
    /// # Errors
    ///
    /// As [`Client::request`]; an answer that is not a `HELLO` with valid
    /// tokens is a [`ClientError::Remote`] (`bad-hello`, `incompatible`,
    /// or `unexpected-answer`). With [`ClientConfig::schema`] set, a peer
    /// that names another schema, or none, is
    /// [`ClientError::SchemaMismatch`] naming both.
    pub async fn hello(&self) -> Result<Handshake, ClientError> {
        let ours = self.shared.config.schema;
        let mut text: heapless::String<64> = heapless::String::new();
        Hello {
            rev: Rev::THIS,
            max: None,
            app: None,
            schema: ours,
        }
        .write(&mut text);
        let answer = match self.request("HELLO", text.as_bytes()).await {
            Err(ClientError::Remote(e)) if e.code() == "unknown-kind" => {
                return match ours {
                    Some(ours) => Err(ClientError::SchemaMismatch { ours, theirs: None }),
                    None => Ok(Handshake::Before12),
                };
            }
            other => other?,
        };
        if answer.kind != "HELLO" {
            return Err(ClientError::Remote(Box::new(ErrorText::new(
                "unexpected-answer",
                &answer.kind,
            ))));
        }
        let tokens = Hello::parse(&answer.payload)
            .map_err(|e| ClientError::Remote(Box::new(ErrorText::new("bad-hello", e.detail()))))?;
        if rev_has_events(tokens.rev) {
            lock(&self.shared.state).peer_events = true;
        }
        if let Some(ours) = ours {
            if tokens.schema != Some(ours) {
                return Err(ClientError::SchemaMismatch {
                    ours,
                    theirs: tokens.schema,
                });
            }
        }
        Ok(Handshake::Tokens(PeerHello {
            rev: tokens.rev,
            max: tokens.max,
            app: tokens.app.map(String::from),
            schema: tokens.schema,
        }))
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
            return Err(ClientError::Remote(Box::new(ErrorText::new(
                "unexpected-answer",
                &answer.kind,
            ))));
        }
        Ok(start.elapsed())
    }

    /// Subscribes to the events whose kind `filter` matches (§6: a kind,
    /// or a prefix and `*`): sends `SUB` and, once the peer answers, gives
    /// the [`Subscription`] that yields them. Every subscription gets
    /// every event its filter matches, whatever the others'.
    ///
    /// # Errors
    ///
    /// As [`Client::request`]; the peer's refusals are
    /// [`ClientError::Remote`] (`bad-filter`, `too-many-subscriptions`),
    /// and a peer before revision 1.2 is [`ClientError::NoEvents`].
    ///
    /// # Examples
    ///
    /// ```
    /// use msgwire::net::{Client, ClientConfig, Delivery, Router, Server, ServerConfig, Spawner};
    /// use msgwire::Kind;
    ///
    /// # futures_lite::future::block_on(async {
    /// let server = Server::bind_tcp("127.0.0.1:0", Router::new(), ServerConfig::default())
    ///     .await?
    ///     .start(&Spawner::global())?;
    /// let client = Client::connect_tcp(server.local_addr().unwrap(), ClientConfig::default())
    ///     .await?
    ///     .start(&Spawner::global())?;
    /// let mut temps = client.subscribe("sensor/*").await?;
    /// server.publish(Kind::new("sensor/temp")?, b"21.5");
    /// match temps.recv().await {
    ///     Some(Delivery::Event(e)) => assert_eq!((e.kind.as_str(), &e.payload[..]), ("sensor/temp", &b"21.5"[..])),
    ///     other => panic!("{other:?}"),
    /// }
    /// # server.shutdown(std::time::Duration::from_secs(1)).await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn subscribe(&self, filter: &str) -> Result<Subscription, ClientError> {
        let Ok(parsed) = Filter::parse(filter.as_bytes()) else {
            // Not a filter: the peer says why, in its words (§6).
            self.request("SUB", filter.as_bytes()).await?;
            return Err(ClientError::Remote(Box::new(ErrorText::new(
                "unexpected-answer",
                "the peer took a payload that is not a filter",
            ))));
        };
        // The queue is there before `SUB` is sent: the events that follow
        // the answer find it.
        let (id, queue) = lock(&self.shared.state).add_sub(parsed);
        let sub = Subscription {
            shared: self.shared.clone(),
            id,
            filter: filter.into(),
            queue,
            held: None,
        };
        match self.request("SUB", filter.as_bytes()).await {
            Ok(_) => {
                lock(&self.shared.state).peer_events = true;
                Ok(sub)
            }
            Err(ClientError::Remote(e)) if e.code() == "unknown-kind" => Err(ClientError::NoEvents),
            Err(e) => Err(e),
        }
    }

    /// Publishes an event (§6): the peer hands it to its handler of the
    /// kind, or relays it to its subscribers (`msgwire serve` does); it
    /// is never answered. Waits only for room in the send buffer.
    ///
    /// A peer that has not shown it takes events (a `SUB` answered, or a
    /// `HELLO` naming 1.2 or later) is asked first with [`Client::hello`],
    /// once: a peer before 1.2 would refuse the `EVENT` flag.
    ///
    /// # Errors
    ///
    /// [`ClientError::NoEvents`] for a peer before revision 1.2 (nothing is
    /// sent); [`ClientError::Encode`] for a bad kind; as [`Client::send`].
    pub async fn publish(&self, kind: &str, payload: &[u8]) -> Result<(), ClientError> {
        let kind = Kind::new(kind).map_err(ClientError::Encode)?;
        if !lock(&self.shared.state).peer_events {
            match self.hello().await? {
                Handshake::Tokens(t) if rev_has_events(t.rev) => {}
                _ => return Err(ClientError::NoEvents),
            }
        }
        let m = event(kind, payload);
        poll_fn(|cx| self.shared.with(|st, wake| st.poll_send(cx, &m, wake))).await
    }

    /// Unsolicited messages dropped because the subscription queue was full.
    pub fn dropped_unsolicited(&self) -> u64 {
        lock(&self.shared.state).dropped_unsolicited
    }

    /// Answers that arrived for no pending request (after a timeout, a
    /// dropped request future, a close …).
    pub fn late_answers(&self) -> u64 {
        lock(&self.shared.state).late
    }

    /// Connections made again after one dropped ([`ClientConfig::reconnect`]).
    pub fn reconnects(&self) -> u64 {
        lock(&self.shared.state).reconnects
    }

    /// Whether the client is connected now (not closed, not dialling
    /// again).
    pub fn is_connected(&self) -> bool {
        lock(&self.shared.state).link == Link::Up
    }

    /// Whether the connection is closed for good.
    pub fn is_closed(&self) -> bool {
        matches!(lock(&self.shared.state).link, Link::Closed(_))
    }

    /// Closes the connection after the queued messages are written; pending
    /// requests fail with [`ClientError::Closed`].
    pub fn close(&self) {
        self.shared.with(State::close_writes);
    }
}

/// A request in flight: [`Client::request`]'s future (and
/// [`Subscription::unsubscribe`]'s). Written by hand rather than as an
/// `async fn`: the answer is handed from the shared table straight to the
/// caller, not moved through the states of nested futures.
struct Call<'a> {
    shared: &'a Shared,
    /// The kind, checked when the request was made.
    kind: Result<Kind<'a>, crate::Error>,
    payload: &'a [u8],
    step: Step,
    /// Made only if the request has to wait for room (the loop keeps
    /// every other request's deadline, in its ticks: no clock is read
    /// here); kept until the answer, so the timeout counts from the call.
    timer: Option<Timer>,
}

#[derive(Clone, Copy)]
enum Step {
    /// Not started: no id, nothing queued.
    Start,
    /// Started: the answer is awaited.
    Wait(Ticket),
    /// The outcome was given.
    Done,
}

impl<'a> Call<'a> {
    fn new(shared: &'a Shared, kind: Result<Kind<'a>, crate::Error>, payload: &'a [u8]) -> Self {
        Call {
            shared,
            kind,
            payload,
            step: Step::Start,
            timer: None,
        }
    }

    /// The request's own timer, for one that waited for room: `Ready`
    /// (the request timed out) once it fires.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.timer.as_mut() {
            Some(t) => Pin::new(t).poll(cx).map(|_| ()),
            None => Poll::Pending,
        }
    }
}

impl Future for Call<'_> {
    type Output = Result<Frame, ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let shared = this.shared;
        match this.step {
            Step::Start => {
                let kind = match this.kind {
                    Ok(kind) => kind,
                    Err(e) => {
                        this.step = Step::Done;
                        return Poll::Ready(Err(ClientError::Encode(e)));
                    }
                };
                if !shared.started.load(Ordering::Relaxed) {
                    this.step = Step::Done;
                    return Poll::Ready(Err(ClientError::NotStarted));
                }
                let payload = this.payload;
                match shared.with(|st, wake| st.poll_start(cx, (kind, payload), wake)) {
                    Poll::Ready(Ok(ticket)) => {
                        // The first look is skipped: `poll_start` recorded
                        // this task's waker, and the loop wakes it with
                        // the outcome.
                        this.step = Step::Wait(ticket);
                        if this.poll_timer(cx).is_ready() {
                            return Poll::Ready(this.give_up());
                        }
                        Poll::Pending
                    }
                    Poll::Ready(Err(e)) => {
                        this.step = Step::Done;
                        Poll::Ready(Err(e))
                    }
                    Poll::Pending => {
                        let timeout = shared.config.request_timeout;
                        let t = this.timer.get_or_insert_with(|| Timer::after(timeout));
                        if Pin::new(t).poll(cx).is_ready() {
                            this.step = Step::Done;
                            return Poll::Ready(Err(ClientError::Timeout));
                        }
                        Poll::Pending
                    }
                }
            }
            Step::Wait(ticket) => {
                let answer = shared.with(|st, wake| st.poll_answer(cx, ticket, wake));
                if answer.is_ready() {
                    this.step = Step::Done;
                    return answer;
                }
                if this.poll_timer(cx).is_ready() {
                    return Poll::Ready(this.give_up());
                }
                Poll::Pending
            }
            Step::Done => Poll::Pending,
        }
    }
}

impl Call<'_> {
    /// The request's own timer fired before its answer came: it is
    /// forgotten (an answer that comes is counted late).
    fn give_up(&mut self) -> Result<Frame, ClientError> {
        if let Step::Wait(ticket) = std::mem::replace(&mut self.step, Step::Done) {
            self.shared.with(|st, wake| st.forget(ticket, wake));
        }
        Err(ClientError::Timeout)
    }
}

impl Drop for Call<'_> {
    /// A request dropped before it has its outcome is forgotten: its
    /// place is free again, and its answer, if it comes, counted late.
    fn drop(&mut self) {
        if let Step::Wait(ticket) = self.step {
            self.shared.with(|st, wake| st.forget(ticket, wake));
        }
    }
}

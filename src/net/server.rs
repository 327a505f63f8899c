//! A TCP and Unix-socket server running a [`Router`] on every connection.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::Mutex;

use async_channel::{Receiver, Sender};
use async_executor::Executor;
use async_io::Timer;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, FutureExt};

use super::framed::{Framed, FramedConfig, Framing};
use super::router::{ConnEnd, ConnEvent, Router};
use super::runtime::{BoxTask, Spawner};
use crate::frame::MAGIC;
use crate::{Flags, Kind, Message};

/// Something that happened on a server, for logs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A connection was accepted.
    Open {
        /// The peer's address.
        peer: String,
    },
    /// A connection ended.
    Close {
        /// The peer's address.
        peer: String,
        /// Why: `EXIT`, `closed by peer`, `idle timeout`, `shutdown` …
        reason: String,
    },
    /// A request or a malformed frame was answered with `ERROR`.
    ErrorAnswered {
        /// The peer's address.
        peer: String,
        /// The error's code (`too-large`, `unknown-kind` …).
        code: &'static str,
        /// The request's id, or 0.
        id: u32,
    },
    /// A connection over the limit was answered `ERROR overloaded` and
    /// closed.
    Overloaded {
        /// The peer's address.
        peer: String,
    },
}

/// A callback for [`ServerEvent`]s.
pub type EventHook = Arc<dyn Fn(&ServerEvent) + Send + Sync>;

/// A server's limits.
#[derive(Clone)]
pub struct ServerConfig {
    /// Per-connection limits: max payload, max line, write buffer.
    pub framed: FramedConfig,
    /// Connections served at once; one more is answered
    /// `ERROR overloaded: …` and closed. Default 1024.
    pub max_connections: usize,
    /// A connection that completes no request for this long — idle, or
    /// stalled half-way through a frame — or whose answers cannot be
    /// written for this long (it does not read them) is dropped. Its
    /// unsent answers are bounded by `framed.write_buffer` plus one
    /// message. Default 60 s; `None` waits forever.
    pub idle_timeout: Option<Duration>,
    /// Called for every [`ServerEvent`] (from the connection's task: keep
    /// it quick).
    pub on_event: Option<EventHook>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            framed: FramedConfig::default(),
            max_connections: 1024,
            idle_timeout: Some(Duration::from_secs(60)),
            on_event: None,
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("framed", &self.framed)
            .field("max_connections", &self.max_connections)
            .field("idle_timeout", &self.idle_timeout)
            .field("on_event", &self.on_event.is_some())
            .finish()
    }
}

/// A signal many tasks can wait for: closing the channel wakes them all.
struct Signal(Sender<()>, Receiver<()>);

impl Signal {
    fn new() -> Self {
        let (tx, rx) = async_channel::bounded(1);
        Signal(tx, rx)
    }

    fn fire(&self) {
        self.0.close();
    }

    fn waiter(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let rx = self.1.clone();
        async move {
            let _ = rx.recv().await;
        }
    }
}

struct Shared {
    router: Router,
    config: ServerConfig,
    active: AtomicUsize,
    accepted: AtomicU64,
    overloaded: AtomicU64,
    stop: Signal,
    force: Signal,
    /// Fired when the accept loop has ended (or was dropped unpolled).
    accept_done: Signal,
}

impl Shared {
    fn emit(&self, event: ServerEvent) {
        if let Some(hook) = &self.config.on_event {
            hook(&event);
        }
    }
}

/// Counters of a running server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections being served now.
    pub active: usize,
    /// Connections accepted since the start (refused ones included).
    pub accepted: u64,
    /// Connections refused with `ERROR overloaded`.
    pub overloaded: u64,
}

/// What [`Server::shutdown`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections that finished their requests and closed in time.
    pub drained: usize,
    /// Connections still busy at the deadline, closed by force.
    pub forced: usize,
}

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket's path.
    Unix(PathBuf),
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A server: it accepts connections and serves each with its [`Router`] —
/// in the framing the peer's first byte picks, with the configured limits.
///
/// Binding starts nothing: the server runs on an executor you choose, in
/// one of two ways.
///
/// - [`Server::run`] gives one future that accepts and serves every
///   connection inside itself, spawning nothing. Spawn it (or await it) on
///   any executor: smol's, a `LocalExecutor`, a tokio runtime. All its
///   connections then share the thread that polls it.
/// - [`Server::start`] spawns the accept loop and one task per connection
///   through a [`Spawner`], so a multi-threaded executor serves
///   connections in parallel. [`Spawner::global`] is msgwire's own
///   executor, for programs that have none (opt-in: it starts threads).
///
/// Dropping a `Server` stops accepting; [`Server::shutdown`] also lets
/// connections finish their requests, up to a deadline.
///
/// # Examples
///
/// On smol:
///
/// ```
/// use msgwire::net::{Client, ClientConfig, Router, Server, ServerConfig};
///
/// # smol::block_on(async {
/// let server = Server::bind_tcp("127.0.0.1:0", Router::new(), ServerConfig::default()).await?;
/// smol::spawn(server.run()).detach();
/// let client = Client::connect_tcp(server.local_addr().unwrap(), ClientConfig::default()).await?;
/// smol::spawn(client.run()).detach();
/// let pong = client.request("PING", b"").await?;
/// assert_eq!((pong.kind.as_str(), pong.payload.as_slice()), ("PONG", &b"ack"[..]));
/// server.shutdown(std::time::Duration::from_secs(1)).await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// With connections spread over the threads of smol's executor:
///
/// ```
/// use msgwire::net::{Router, Server, ServerConfig, Spawner};
///
/// # smol::block_on(async {
/// let spawner = Spawner::new(|task| smol::spawn(task).detach());
/// let server = Server::bind_tcp("127.0.0.1:0", Router::new(), ServerConfig::default())
///     .await?
///     .start(&spawner);
/// # server.shutdown(std::time::Duration::from_secs(1)).await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Server {
    shared: Arc<Shared>,
    addr: ListenAddr,
    /// Until the server is started (`run` or `start`).
    listener: Mutex<Option<Listener>>,
    /// Shut down already: nothing left for `drop` to do.
    done: bool,
}

/// A bound socket, not yet accepting.
enum Listener {
    Tcp(async_net::TcpListener),
    #[cfg(unix)]
    Unix(async_net::unix::UnixListener),
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Server {
    /// Listens on a TCP address (`"127.0.0.1:0"` picks a free port).
    /// Connections are accepted once the server runs ([`Server::run`] or
    /// [`Server::start`]); until then they wait in the socket's backlog.
    ///
    /// # Errors
    ///
    /// The error of binding the socket.
    pub async fn bind_tcp(
        addr: impl async_net::AsyncToSocketAddrs,
        router: Router,
        config: ServerConfig,
    ) -> io::Result<Server> {
        let listener = async_net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        Ok(Server::new(
            router,
            config,
            ListenAddr::Tcp(local),
            Listener::Tcp(listener),
        ))
    }

    /// Listens on a Unix socket at `path` (which must not exist); the
    /// socket file is removed at shutdown. Connections are accepted once the
    /// server runs ([`Server::run`] or [`Server::start`]).
    ///
    /// # Errors
    ///
    /// The error of binding the socket.
    #[cfg(unix)]
    pub async fn bind_unix(
        path: impl AsRef<Path>,
        router: Router,
        config: ServerConfig,
    ) -> io::Result<Server> {
        let path = path.as_ref().to_path_buf();
        let listener = async_net::unix::UnixListener::bind(&path)?;
        Ok(Server::new(
            router,
            config,
            ListenAddr::Unix(path),
            Listener::Unix(listener),
        ))
    }

    fn new(router: Router, config: ServerConfig, addr: ListenAddr, listener: Listener) -> Server {
        Server {
            shared: Arc::new(Shared::new(router, config)),
            addr,
            listener: Mutex::new(Some(listener)),
            done: false,
        }
    }

    fn take_listener(&self) -> Listener {
        self.listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("msgwire: this server was started already")
    }

    fn started(&self) -> bool {
        self.listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// The server as one future: it accepts connections and serves each
    /// one inside itself (on a small executor of its own that it polls: no
    /// thread, no spawn), so it runs wherever it is polled — spawn it on
    /// smol, a `LocalExecutor`, a tokio runtime, or await it.
    ///
    /// It ends once the server is stopped ([`Server::shutdown`], or the
    /// `Server` dropped) and every connection has ended. Dropping it before
    /// that closes every connection at once. Until it is first polled, new
    /// connections wait in the socket's backlog.
    ///
    /// # Panics
    ///
    /// If the server was started already (`run` or `start`).
    pub fn run(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let listener = self.take_listener();
        let done = AcceptDone(self.shared.clone());
        let shared = self.shared.clone();
        async move {
            let ex = Executor::new();
            // Every connection's task holds a sender: when the last one
            // ends, the receiver hears it.
            let (alive, all_ended) = async_channel::bounded::<()>(1);
            let spawn = |task: BoxTask| {
                let alive = alive.clone();
                ex.spawn(async move {
                    task.await;
                    drop(alive);
                })
                .detach();
            };
            ex.run(accept_loop(shared, listener, done, spawn)).await;
            drop(alive);
            ex.run(async {
                let _ = all_ended.recv().await;
            })
            .await;
        }
    }

    /// Starts the server on `spawner`'s executor: the accept loop is one
    /// task, and every connection gets a task of its own, so a
    /// multi-threaded executor serves connections in parallel.
    ///
    /// # Panics
    ///
    /// If the server was started already (`run` or `start`).
    #[must_use = "dropping the returned Server stops it"]
    pub fn start(self, spawner: &Spawner) -> Server {
        let listener = self.take_listener();
        let done = AcceptDone(self.shared.clone());
        let for_tasks = spawner.clone();
        spawner.spawn(accept_loop(
            self.shared.clone(),
            listener,
            done,
            move |task| for_tasks.spawn(task),
        ));
        self
    }

    /// The TCP address the server listens on (`None` for a Unix socket).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.addr {
            ListenAddr::Tcp(a) => Some(*a),
            ListenAddr::Unix(_) => None,
        }
    }

    /// Where the server listens.
    pub fn listen_addr(&self) -> &ListenAddr {
        &self.addr
    }

    /// The counters.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            active: self.shared.active.load(Ordering::SeqCst),
            accepted: self.shared.accepted.load(Ordering::SeqCst),
            overloaded: self.shared.overloaded.load(Ordering::SeqCst),
        }
    }

    /// Graceful shutdown: stop accepting, let every connection answer the
    /// requests it has received (pipelined ones included), flush and
    /// close; connections still busy after `deadline` are closed by force.
    ///
    /// A server that was never started has no connection to drain.
    pub async fn shutdown(mut self, deadline: Duration) -> ShutdownReport {
        let started = Instant::now();
        let busy = self.shared.active.load(Ordering::SeqCst);
        self.shared.stop.fire();
        if self.started() {
            // Bounded too: a `run()` future nobody polls never ends its
            // accept loop.
            let limit = Timer::at(started + deadline);
            self.shared
                .accept_done
                .waiter()
                .or(async {
                    limit.await;
                })
                .await;
        }
        while self.shared.active.load(Ordering::SeqCst) > 0 && started.elapsed() < deadline {
            Timer::after(Duration::from_millis(5)).await;
        }
        let forced = self.shared.active.load(Ordering::SeqCst);
        if forced > 0 {
            self.shared.force.fire();
            let grace = Instant::now();
            while self.shared.active.load(Ordering::SeqCst) > 0
                && grace.elapsed() < Duration::from_secs(1)
            {
                Timer::after(Duration::from_millis(5)).await;
            }
        }
        self.remove_socket_file();
        self.done = true;
        ShutdownReport {
            drained: busy.saturating_sub(forced),
            forced,
        }
    }

    fn remove_socket_file(&self) {
        if let ListenAddr::Unix(p) = &self.addr {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.done {
            self.shared.stop.fire();
            self.remove_socket_file();
        }
    }
}

impl Shared {
    fn new(router: Router, config: ServerConfig) -> Self {
        Shared {
            router,
            config,
            active: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            overloaded: AtomicU64::new(0),
            stop: Signal::new(),
            force: Signal::new(),
            accept_done: Signal::new(),
        }
    }
}

/// Fires [`Shared::accept_done`] when the accept loop's future is dropped,
/// finished or not (even unpolled: it is one of the loop's arguments).
struct AcceptDone(Arc<Shared>);

impl Drop for AcceptDone {
    fn drop(&mut self) {
        self.0.accept_done.fire();
    }
}

/// Accepts until the stop signal, handing a task per connection to `spawn`.
async fn accept_loop(
    shared: Arc<Shared>,
    listener: Listener,
    _done: AcceptDone,
    spawn: impl Fn(BoxTask),
) {
    let mut stop = pin!(shared.stop.waiter());
    loop {
        let next = async { Some(accept_one(&shared, &listener).await) }.or(async {
            stop.as_mut().await;
            None
        });
        match next.await {
            None => return,
            Some(Ok(task)) => {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                spawn(task);
            }
            // Out of file descriptors and the like: wait a little, go on.
            Some(Err(_e)) => {
                host_warn!("accept failed: {}", _e);
                Timer::after(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Accepts one connection: its task, ready to spawn.
async fn accept_one(shared: &Arc<Shared>, listener: &Listener) -> io::Result<BoxTask> {
    Ok(match listener {
        Listener::Tcp(l) => {
            let (stream, peer) = l.accept().await?;
            // Answers are small and latency matters more than packets.
            let _ = stream.set_nodelay(true);
            std::boxed::Box::pin(connection(shared.clone(), stream, peer.to_string()))
        }
        #[cfg(unix)]
        Listener::Unix(l) => {
            let (stream, _) = l.accept().await?;
            std::boxed::Box::pin(connection(shared.clone(), stream, "unix".to_string()))
        }
    })
}

/// Decrements the active count however the connection's task ends.
struct ActiveGuard(Arc<Shared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    shared: Arc<Shared>,
    stream: S,
    peer: String,
) {
    let max = shared.config.max_connections;
    let was = shared.active.fetch_add(1, Ordering::SeqCst);
    if was >= max {
        // A refused connection holds no slot while it is told why (up to
        // a second): a slot freed meanwhile goes to the next peer.
        shared.active.fetch_sub(1, Ordering::SeqCst);
        shared.overloaded.fetch_add(1, Ordering::SeqCst);
        host_warn!("{}: refused, overloaded ({} connections)", peer, max);
        shared.emit(ServerEvent::Overloaded { peer: peer.clone() });
        refuse_overloaded(stream, max).await;
        return;
    }
    let _guard = ActiveGuard(shared.clone());
    host_info!("{}: connection open", peer);
    shared.emit(ServerEvent::Open { peer: peer.clone() });
    let force = shared.force.waiter();
    let serve = serve_connection(&shared, stream, &peer);
    let reason = match std::panic::AssertUnwindSafe(serve)
        .catch_unwind()
        .or(async {
            force.await;
            Ok("shutdown deadline".to_string())
        })
        .await
    {
        Ok(reason) => reason,
        Err(_) => "internal error (panic)".to_string(),
    };
    host_info!("{}: connection closed: {}", peer, reason);
    shared.emit(ServerEvent::Close { peer, reason });
}

async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    stream: S,
    peer: &str,
) -> String {
    let mut framed = Framed::sniffing(stream, shared.config.framed);
    // A peer that stops reading its answers is dropped after the idle time.
    framed.set_write_timeout(shared.config.idle_timeout);
    // The event is built only for a hook: with none, an ERROR answer
    // allocates nothing.
    let mut events = |e: ConnEvent| match e {
        ConnEvent::ErrorAnswered { code, id } if shared.config.on_event.is_some() => {
            shared.emit(ServerEvent::ErrorAnswered {
                peer: peer.to_string(),
                code,
                id,
            });
        }
        ConnEvent::ErrorAnswered { .. } => {}
    };
    let mut stop = pin!(shared.stop.waiter());
    let end = shared
        .router
        .serve_with(
            &mut framed,
            &mut events,
            Some(stop.as_mut()),
            shared.config.idle_timeout,
        )
        .await;
    let _ = futures_lite::AsyncWriteExt::close(framed.get_mut()).await;
    match end {
        ConnEnd::Stopped => "shutdown".to_string(),
        other => other.to_string(),
    }
}

/// Tells a connection over the limit why it is closed, in its framing
/// (picked from its first byte, waited for at most a second; binary when
/// none comes).
async fn refuse_overloaded<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, max: usize) {
    let mut first = [0u8; 1];
    let read = async { matches!(stream.read(&mut first).await, Ok(1)) }.or(async {
        Timer::after(Duration::from_secs(1)).await;
        false
    });
    let framing = if !read.await || first[0] == MAGIC {
        Framing::Binary
    } else {
        Framing::Text
    };
    let mut framed = Framed::new(stream, framing, FramedConfig::default());
    let text =
        std::format!("overloaded: the server serves at most {max} connections; try again later");
    let m = Message::new(Kind::ERROR, text.as_bytes()).with_flags(Flags::RESPONSE);
    if framed.send(&m).await.is_ok() {
        let _ = framed.close().await;
    }
}

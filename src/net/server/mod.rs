//! A TCP and Unix-socket server running a [`Router`] on every connection:
//! its configuration, events, counters and state. Binding and running it
//! ([`Server::run`], [`Server::start`]) are in `run.rs`, the accept loop in
//! `accept.rs`, each connection's task in `conn.rs`, stopping (the
//! signals, graceful shutdown, drop) in `shutdown.rs`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::string::String;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;

use super::framed::FramedConfig;
use super::router::Router;

mod accept;
mod conn;
mod run;
mod shutdown;

use accept::Listener;
use shutdown::Signal;

/// The `log` target of the lines logged in this module's files: its own
/// path (`msgwire::net::server`), as when it was one file.
const LOG_TARGET: &str = module_path!();

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
/// [`Spawner`]: crate::net::Spawner
/// [`Spawner::global`]: crate::net::Spawner::global
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
///     .start(&spawner)?;
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

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("stats", &self.stats())
            .finish()
    }
}

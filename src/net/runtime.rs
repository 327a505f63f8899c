//! How a [`Server`](super::Server)'s and a [`Client`](super::Client)'s
//! tasks are run: on the caller's executor. msgwire starts no thread of its
//! own unless asked to with [`Spawner::global`].

use std::boxed::Box;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use async_executor::Executor;

/// A task msgwire hands to a [`Spawner`]: it runs to completion and
/// returns nothing.
pub type BoxTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// `run()` or `start()` on a [`Server`](crate::net::Server) or
/// [`Client`](crate::net::Client) that was started already: each is
/// started once, by one of the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AlreadyStarted;

impl fmt::Display for AlreadyStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("started already: run() or start() was called before")
    }
}

impl std::error::Error for AlreadyStarted {}

/// Starts msgwire's tasks on an executor of your choice.
///
/// A [`Server`](super::Server) started with [`Server::start`] spawns its
/// accept loop and one task per connection through it; a
/// [`Client`](super::Client) started with [`Client::start`] spawns its
/// connection loop as one task. The tasks never need to be
/// joined: they end when the server or client does.
///
/// Without a spawner, [`Server::run`] and [`Client::run`] give one future
/// that does the same work inside itself; spawn it, or await it, on any
/// executor (a `LocalExecutor`, a tokio current-thread runtime …).
///
/// # Examples
///
/// ```
/// use msgwire::net::Spawner;
///
/// // smol's global executor:
/// let smol = Spawner::new(|task| smol::spawn(task).detach());
///
/// // A tokio runtime (from inside it, `tokio::spawn` works too):
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let handle = rt.handle().clone();
/// let tokio = Spawner::new(move |task| {
///     handle.spawn(task);
/// });
/// # drop((smol, tokio));
/// ```
///
/// [`Server::start`]: super::Server::start
/// [`Client::start`]: super::Client::start
/// [`Server::run`]: super::Server::run
/// [`Client::run`]: super::Client::run
#[derive(Clone)]
pub struct Spawner(Arc<dyn Fn(BoxTask) + Send + Sync>);

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Spawner")
    }
}

impl Spawner {
    /// A spawner that calls `spawn` with every task; `spawn` must run the
    /// task to completion (detach it), and must not block.
    pub fn new(spawn: impl Fn(BoxTask) + Send + Sync + 'static) -> Spawner {
        Spawner(Arc::new(spawn))
    }

    /// Spawns `future` through this spawner.
    pub fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        (self.0)(Box::pin(future))
    }

    /// Opt-in convenience: msgwire's own process-wide executor. The first
    /// call starts its worker threads, named `msgwire-0`, `msgwire-1` …:
    /// one per core, or `MSGWIRE_THREADS` of them; they run for the rest of
    /// the process. Nothing else in msgwire starts a thread: a program that
    /// has an executor passes it with [`Spawner::new`] instead, or drives
    /// [`Server::run`](super::Server::run) and
    /// [`Client::run`](super::Client::run) itself.
    pub fn global() -> Spawner {
        static GLOBAL: OnceLock<Spawner> = OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let ex = global_executor();
                Spawner::new(move |task| ex.spawn(task).detach())
            })
            .clone()
    }
}

fn global_executor() -> &'static Executor<'static> {
    let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
    let threads = std::env::var("MSGWIRE_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut started = 0;
    for i in 0..threads {
        let worker = std::thread::Builder::new()
            .name(std::format!("msgwire-{i}"))
            .spawn(move || async_io::block_on(ex.run(futures_lite::future::pending::<()>())));
        started += usize::from(worker.is_ok());
    }
    // Tasks on an executor nobody runs would never run.
    assert!(started > 0, "msgwire: cannot start a worker thread");
    ex
}

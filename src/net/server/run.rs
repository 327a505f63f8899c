//! Binding a server and running it: on a socket, as one future
//! ([`Server::run`]) or as tasks on an executor ([`Server::start`]), and
//! what a running server tells about itself.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;

use async_executor::Executor;

use super::accept::{accept_loop, AcceptDone, Listener};
use super::{ListenAddr, Server, ServerConfig, ServerStats, Shared};
use crate::net::events::{Published, Publisher};
use crate::net::router::Router;
use crate::net::runtime::AlreadyStarted;
use crate::net::runtime::{BoxTask, Spawner};
use crate::Kind;

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

    /// The bound socket, once: `None` when the server was started already.
    fn take_listener(&self) -> Option<Listener> {
        self.listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn accept_done(&self) -> AcceptDone {
        AcceptDone {
            shared: self.shared.clone(),
            socket_file: match &self.addr {
                ListenAddr::Unix(path) => Some(path.clone()),
                ListenAddr::Tcp(_) => None,
            },
        }
    }

    pub(super) fn started(&self) -> bool {
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
    /// It ends once the server is stopped ([`Server::shutdown`]) and every
    /// connection has ended. Dropping the `Server` handle does not stop
    /// it: a spawned `run()` serves until it is shut down through a handle
    /// or the future itself is dropped (which closes every connection at
    /// once). Until it is first polled, new connections wait in the
    /// socket's backlog.
    ///
    /// # Errors
    ///
    /// [`AlreadyStarted`], at once, when the server was started already
    /// (`run` or `start`).
    pub fn run(
        &self,
    ) -> impl std::future::Future<Output = Result<(), AlreadyStarted>> + Send + 'static {
        let listener = self.take_listener();
        let done = self.accept_done();
        let shared = self.shared.clone();
        async move {
            let listener = listener.ok_or(AlreadyStarted)?;
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
            Ok(())
        }
    }

    /// Starts the server on `spawner`'s executor: the accept loop is one
    /// task, and every connection gets a task of its own, so a
    /// multi-threaded executor serves connections in parallel. The server
    /// serves until [`Server::shutdown`]; dropping the handle does not
    /// stop it (nor can it be shut down gracefully any more).
    ///
    /// # Errors
    ///
    /// [`AlreadyStarted`] when the server was started already (`run` or
    /// `start`).
    pub fn start(self, spawner: &Spawner) -> Result<Server, AlreadyStarted> {
        let listener = self.take_listener().ok_or(AlreadyStarted)?;
        let for_tasks = spawner.clone();
        spawner.spawn(accept_loop(
            self.shared.clone(),
            listener,
            self.accept_done(),
            move |task| for_tasks.spawn(task),
        ));
        Ok(self)
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

    /// Publishes an event of `kind` with `payload` to every conversation
    /// subscribed to it (§6), as [`Publisher::publish`] does; never waits.
    pub fn publish(&self, kind: Kind<'_>, payload: &[u8]) -> Published {
        self.shared.router.publisher().publish(kind, payload)
    }

    /// A handle that publishes to this server's conversations, for tasks
    /// that do not hold the `Server` (see [`Publisher`]).
    pub fn publisher(&self) -> Publisher {
        self.shared.router.publisher()
    }

    /// The counters.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            active: self.shared.active.load(Ordering::SeqCst),
            accepted: self.shared.accepted.load(Ordering::SeqCst),
            overloaded: self.shared.overloaded.load(Ordering::SeqCst),
        }
    }
}

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
use crate::net::router::Router;
use crate::net::runtime::{BoxTask, Spawner};

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
}

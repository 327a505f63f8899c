//! Stopping a server: the signals its tasks wait for, the graceful
//! [`Server::shutdown`] (stop accepting, drain, then force), and what
//! dropping a `Server` does (for a started server: nothing).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use async_io::Timer;
use futures_lite::FutureExt;

use super::{ListenAddr, Server, ShutdownReport};

/// A signal many tasks can wait for: closing the channel wakes them all.
pub(super) struct Signal(Sender<()>, Receiver<()>);

impl Signal {
    pub(super) fn new() -> Self {
        let (tx, rx) = async_channel::bounded(1);
        Signal(tx, rx)
    }

    pub(super) fn fire(&self) {
        self.0.close();
    }

    pub(super) fn waiter(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let rx = self.1.clone();
        async move {
            let _ = rx.recv().await;
        }
    }
}

impl Server {
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

/// Dropping a handle does not stop a started server (its accept loop
/// serves on, and removes a Unix socket's file when it ends); a server
/// never started closes its socket, and its file goes with it.
impl Drop for Server {
    fn drop(&mut self) {
        if !self.done && !self.started() {
            self.remove_socket_file();
        }
    }
}

//! The accept loop: takes connections from the bound socket until the
//! stop signal and hands each one's task to the spawner.

use std::io;
use std::pin::pin;
use std::string::ToString;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_io::Timer;
use futures_lite::FutureExt;

use super::conn::connection;
use super::{Shared, LOG_TARGET};
use crate::net::runtime::BoxTask;

/// A bound socket, not yet accepting.
pub(super) enum Listener {
    Tcp(async_net::TcpListener),
    #[cfg(unix)]
    Unix(async_net::unix::UnixListener),
}

/// Fires [`Shared::accept_done`] when the accept loop's future is dropped,
/// finished or not (even unpolled: it is one of the loop's arguments), and
/// removes a Unix socket's file: the server no longer listens.
pub(super) struct AcceptDone {
    pub(super) shared: Arc<Shared>,
    pub(super) socket_file: Option<std::path::PathBuf>,
}

impl Drop for AcceptDone {
    fn drop(&mut self) {
        self.shared.accept_done.fire();
        if let Some(path) = &self.socket_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Accepts until the stop signal, handing a task per connection to `spawn`.
pub(super) async fn accept_loop(
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
                host_warn!(target: LOG_TARGET, "accept failed: {}", _e);
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

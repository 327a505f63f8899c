//! One connection's task: it takes a slot (or refuses the peer with
//! `ERROR overloaded`), runs the [`Router`](crate::net::Router) with the
//! server's limits until the connection ends or shutdown forces it, and
//! reports open, close and `ERROR` answers as events.

use std::pin::pin;
use std::string::{String, ToString};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_io::Timer;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, FutureExt};

use super::{ServerEvent, Shared, LOG_TARGET};
use crate::conversation::Answer;
use crate::net::framed::{Framed, FramedConfig, Framing};
use crate::net::router::{Conn, ConnEnd, ConnEvent};

/// Decrements the active count however the connection's task ends.
struct ActiveGuard(Arc<Shared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(super) async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
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
        host_warn!(target: LOG_TARGET, "{}: refused, overloaded ({} connections)", peer, max);
        shared.emit(ServerEvent::Overloaded { peer: peer.clone() });
        refuse_overloaded(stream, max).await;
        return;
    }
    let _guard = ActiveGuard(shared.clone());
    host_info!(target: LOG_TARGET, "{}: connection open", peer);
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
    host_info!(target: LOG_TARGET, "{}: connection closed: {}", peer, reason);
    shared.emit(ServerEvent::Close { peer, reason });
}

async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    stream: S,
    peer: &str,
) -> String {
    let mut framed = Framed::sniffing(stream, shared.config.framed);
    let conn = Conn::new(peer);
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
            &conn,
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
    // The core's sniff (§4); binary when no byte came.
    let framing = if read.await {
        Framing::sniff(first[0])
    } else {
        Framing::Binary
    };
    let mut framed = Framed::new(stream, framing, FramedConfig::default());
    let answer = Answer::error(
        0,
        "overloaded",
        format_args!("the server serves at most {max} connections; try again later"),
    );
    if framed.send(&answer.message()).await.is_ok() {
        let _ = framed.close().await;
    }
}

//! Transport helpers shared by the connections of the async layer:
//! writes, flushes and closes that give up on a peer that does not read
//! ([`write_some`], [`or_stall`]), and how many reads without a message a
//! receive makes before it lets other tasks run ([`READS_BEFORE_YIELD`]).
//! Used by [`Framed`]'s send buffer and receive state and by the client's
//! connection loop.
//!
//! [`Framed`]: super::Framed

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use futures_lite::{AsyncWrite, AsyncWriteExt, FutureExt};

/// Reads without an event after which a receive yields to other tasks
/// (the client's shared reader too).
pub(crate) const READS_BEFORE_YIELD: u32 = 16;

/// One write of at least one byte. With a timeout, a write that cannot make
/// progress for that long fails with `TimedOut` (a peer that does not read
/// its answers).
pub(crate) async fn write_some<W: AsyncWrite + Unpin + ?Sized>(
    io: &mut W,
    bytes: &[u8],
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let n = or_stall(io.write(bytes), timeout).await?;
    if n == 0 {
        return Err(io::ErrorKind::WriteZero.into());
    }
    Ok(n)
}

/// Runs a transport operation (a write, a flush, a close); with a timeout,
/// one that waits longer than that for the peer fails with `TimedOut`. The
/// timer is only made when the operation would wait, so the common path
/// costs nothing.
pub(crate) async fn or_stall<T>(
    op: impl Future<Output = io::Result<T>>,
    timeout: Option<Duration>,
) -> io::Result<T> {
    let mut op = pin!(op);
    if let Some(done) = futures_lite::future::poll_once(op.as_mut()).await {
        return done;
    }
    match timeout {
        None => op.await,
        Some(t) => {
            op.or(async {
                async_io::Timer::after(t).await;
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the peer is not reading",
                ))
            })
            .await
        }
    }
}

/// Locks `m`; a panic while it was held cannot leave the state
/// inconsistent (every update under msgwire's locks is a single step).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

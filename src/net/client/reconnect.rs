//! Dialling again after a connection drops: exponential backoff with
//! jitter, while the requests that wait for the link keep their deadlines.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use std::vec::Vec;

use async_io::Timer;
use futures_lite::future::poll_fn;
use futures_lite::FutureExt;

use super::conn::BoxIo;
use super::table::{lock, wake_all};
use super::{Closed, ClosedBy, Shared, LOG_TARGET};

/// How a TCP or Unix client dials again after its connection drops (see
/// [`ClientConfig::reconnect`](super::ClientConfig::reconnect)).
///
/// The wait before attempt *n* is `initial · 2ⁿ⁻¹`, at most `max`, and
/// then a random part of it is taken off (up to half), so that many
/// clients of one server that restarts do not all dial at the same moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reconnect {
    /// The wait before the first attempt. Default 50 ms.
    pub initial: Duration,
    /// The longest wait between attempts. Default 5 s.
    pub max: Duration,
    /// Attempts in a row before the client gives up and closes (its
    /// requests then fail with [`ClientError::Closed`](super::ClientError::Closed));
    /// `None` tries for ever. Default `None`.
    pub attempts: Option<u32>,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(5),
            attempts: None,
        }
    }
}

/// Where a client connects again.
#[derive(Clone, Debug)]
pub(super) enum Dialer {
    Tcp(SocketAddr),
    #[cfg(unix)]
    Unix(std::path::PathBuf),
}

/// An error for a connect that did not finish in time.
pub(super) fn connect_timeout() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "msgwire: connect timed out")
}

/// Runs `connect`, failing with `TimedOut` after `timeout`.
pub(super) async fn within<T>(
    timeout: Duration,
    connect: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    connect
        .or(async {
            Timer::after(timeout).await;
            Err(connect_timeout())
        })
        .await
}

impl Dialer {
    pub(super) async fn tcp(
        addr: SocketAddr,
        timeout: Duration,
    ) -> io::Result<async_net::TcpStream> {
        let stream = within(timeout, async_net::TcpStream::connect(addr)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn dial(&self, timeout: Duration) -> io::Result<BoxIo> {
        Ok(match self {
            Dialer::Tcp(addr) => std::boxed::Box::new(Dialer::tcp(*addr, timeout).await?),
            #[cfg(unix)]
            Dialer::Unix(path) => std::boxed::Box::new(
                within(timeout, async_net::unix::UnixStream::connect(path)).await?,
            ),
        })
    }
}

/// The waits between attempts: doubling up to the maximum, each with up
/// to half of it taken off at random.
struct Backoff {
    plan: Reconnect,
    next: Duration,
    tried: u32,
}

impl Backoff {
    fn new(plan: Reconnect) -> Backoff {
        Backoff {
            plan,
            next: plan.initial.min(plan.max),
            tried: 0,
        }
    }

    /// The wait before the next attempt; `None` once the attempts are used.
    fn wait(&mut self) -> Option<Duration> {
        if self.plan.attempts.is_some_and(|n| self.tried >= n) {
            return None;
        }
        self.tried += 1;
        let full = self.next;
        self.next = (self.next * 2).min(self.plan.max);
        // A random draw from the standard library's hasher: keys random per
        // process, and another pair for each `RandomState` (SipHash of
        // them). Once per attempt: its cost does not matter.
        let draw = {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        };
        // The top 53 bits as a fraction in [0, 1), halved.
        let off = full.mul_f64((draw >> 11) as f64 / (1u64 << 53) as f64 / 2.0);
        Some(full - off)
    }
}

/// After a connection ended with `why`: with a reconnect plan (and a
/// dialer), fails the requests in flight with `ConnectionLost` and dials
/// until a connection is made (returned), the attempts are used or the
/// client closes (`None`: closed for good). Without one, closes.
pub(super) async fn after_loss(shared: &Shared, why: Closed) -> Option<BoxIo> {
    let mut wake = Vec::new();
    let plan = shared.config.reconnect.zip(shared.dialer.as_ref());
    let Some((plan, dialer)) = plan.filter(|_| !lock(&shared.state).closing) else {
        lock(&shared.state).close(why, &mut wake);
        wake_all(&mut wake);
        return None;
    };
    lock(&shared.state).lost(&why, &mut wake);
    wake_all(&mut wake);
    let mut backoff = Backoff::new(plan);
    let mut last = why;
    loop {
        let Some(delay) = backoff.wait() else {
            let why = Closed::new(
                ClosedBy::GaveUp,
                std::format!(
                    "gave up reconnecting after {} attempts (last: {last})",
                    backoff.tried
                ),
            );
            lock(&shared.state).close(why, &mut wake);
            wake_all(&mut wake);
            return None;
        };
        if !pause(shared, delay).await {
            lock(&shared.state).close(
                Closed::new(ClosedBy::Client, "closed by the client"),
                &mut wake,
            );
            wake_all(&mut wake);
            return None;
        }
        match dialer.dial(shared.config.connect_timeout).await {
            Ok(io) => {
                host_info!(target: LOG_TARGET, "client reconnected after {} attempts", backoff.tried);
                lock(&shared.state).up(&mut wake);
                wake_all(&mut wake);
                return Some(io);
            }
            Err(e) => last = Closed::new(ClosedBy::Transport, std::format!("connect failed: {e}")),
        }
    }
}

/// Waits `delay`; `false` when the client closed meanwhile.
async fn pause(shared: &Shared, delay: Duration) -> bool {
    let mut timer = Timer::after(delay);
    poll_fn(|cx| {
        let mut st = lock(&shared.state);
        if st.closing {
            return Poll::Ready(false);
        }
        st.park(cx);
        drop(st);
        Pin::new(&mut timer).poll(cx).map(|_| true)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_maximum_with_up_to_half_taken_off() {
        let plan = Reconnect {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
            attempts: Some(5),
        };
        let mut b = Backoff::new(plan);
        let fulls = [10u64, 20, 40, 50, 50];
        let mut waits = Vec::new();
        for full in fulls {
            let full = Duration::from_millis(full);
            let w = b.wait().expect("an attempt left");
            assert!(w <= full && w >= full / 2, "{w:?} for {full:?}");
            waits.push(w);
        }
        assert_eq!(b.wait(), None, "five attempts, then none");
        // Jitter: the waits are not the full ones every time.
        let full: Vec<Duration> = fulls.iter().map(|&m| Duration::from_millis(m)).collect();
        assert_ne!(waits, full);
    }

    /// The part taken off is spread over the whole lower half of each
    /// wait, draw after draw (a generator that sticks at one end, or
    /// repeats, would have many clients dial together again).
    #[test]
    fn the_jitter_is_spread_over_the_lower_half() {
        let full = Duration::from_secs(1);
        let plan = Reconnect {
            initial: full,
            max: full,
            attempts: None,
        };
        let mut b = Backoff::new(plan);
        let off: Vec<f64> = (0..2000)
            .map(|_| (full - b.wait().expect("no limit")).as_secs_f64())
            .collect();
        let mean = off.iter().sum::<f64>() / off.len() as f64;
        let (lo, hi) = off
            .iter()
            .fold((1.0f64, 0.0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        assert!((0.2..0.3).contains(&mean), "mean {mean}");
        assert!(lo < 0.01 && hi > 0.49 && hi <= 0.5, "{lo}..{hi}");
        let mut sorted = off.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.dedup();
        assert!(sorted.len() > 1990, "{} distinct of 2000", sorted.len());
    }

    #[test]
    fn two_clients_do_not_wait_alike() {
        let plan = Reconnect::default();
        let a: Vec<_> = {
            let mut b = Backoff::new(plan);
            (0..8).map(|_| b.wait()).collect()
        };
        let mut b = Backoff::new(plan);
        let c: Vec<_> = (0..8).map(|_| b.wait()).collect();
        assert_ne!(a, c);
        assert!(c.iter().all(Option::is_some), "no attempt limit by default");
    }
}

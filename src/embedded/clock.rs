//! Time for the [`Client`](super::Client)'s timeouts, through a small
//! trait: msgwire needs no time driver of its own.

use core::future::Future;

/// A clock for the [`Client`](super::Client)'s timeouts: msgwire needs no
/// time driver of its own. Implement it over `embassy_time`
/// (`Instant::now()`, `Timer::at`) or a hardware timer.
pub trait Clock {
    /// A point in time.
    type Instant: Ord + Copy;

    /// Now.
    fn now(&self) -> Self::Instant;

    /// `ms` milliseconds after `from`.
    fn after(&self, from: Self::Instant, ms: u32) -> Self::Instant;

    /// Completes at `at` (or later). A [`Client`](super::Client) request
    /// with a timeout arms one such timer, at its deadline, for its whole
    /// wait.
    fn sleep_until(&self, at: Self::Instant) -> impl Future<Output = ()>;
}

/// No clock: requests wait for their answer for ever (or until the
/// transport fails or closes).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoClock;

impl Clock for NoClock {
    type Instant = ();

    fn now(&self) {}

    fn after(&self, _from: (), _ms: u32) {}

    fn sleep_until(&self, _at: ()) -> impl Future<Output = ()> {
        core::future::pending()
    }
}

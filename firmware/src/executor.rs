//! A one-future executor: poll, and sleep with `wfi` while it is pending.

use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// Set by the waker (from an interrupt handler or the task itself).
static WOKEN: AtomicBool = AtomicBool::new(false);

fn clone(_: *const ()) -> RawWaker {
    RawWaker::new(core::ptr::null(), &VTABLE)
}
fn wake(_: *const ()) {
    WOKEN.store(true, Ordering::Release);
}
fn drop(_: *const ()) {}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);

/// Runs `future` to completion on this core.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    // SAFETY: the vtable's functions ignore the data pointer (null), so they
    // are sound for every copy of it, on any context (they only touch an
    // atomic).
    let waker = unsafe { Waker::from_raw(RawWaker::new(core::ptr::null(), &VTABLE)) };
    let mut cx = Context::from_waker(&waker);
    loop {
        WOKEN.store(false, Ordering::Release);
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        // With interrupts masked, check the flag and sleep: an interrupt that
        // comes after the check is left pending, which ends `wfi` at once; it
        // is then taken when the critical section ends. No wake-up is lost.
        cortex_m::interrupt::free(|_| {
            if !WOKEN.load(Ordering::Acquire) {
                cortex_m::asm::wfi();
            }
        });
    }
}

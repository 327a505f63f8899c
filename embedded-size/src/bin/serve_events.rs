//! `serve` of the `serve` binary with events (issue 22): the same
//! entry and UART as `firmware`, behind `embedded_io_async::{Read, Write}`,
//! and the whole conversation of `docs/PROTOCOL.md` §4 from the library:
//! the framing sniffed from the first byte (binary or text), `PING` /
//! `ECHO` / `EXIT` answered by the built-ins, every refused frame or line
//! and every unknown kind answered `ERROR <code>: <detail>` with the id §4
//! gives. No application handler (`Builtins`). A 250-byte receive buffer,
//! as `firmware`'s decoder and the postcard peers' accumulator: payloads of
//! up to 200 bytes, lines of up to 249.
//!
//! `serve-events` is the same with `serve_with_events` and an
//! `Events<8, 10>` that a (polled) timer publishes `tick` into: what
//! events cost beside `serve`.
//!
//! `block_on` is the smallest correct executor: a no-op waker and a poll
//! loop (the UART's `read` is pending while its FIFO is empty, as an
//! interrupt-driven one would be, and the loop polls again).
#![no_std]
#![no_main]

use core::convert::Infallible;
use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use core::ptr::read_volatile;

use msgwire::embedded::{serve_with_events, Builtins, Events, ServeConfig};
use msgwire::Kind;
use msgwire_embedded_size::{halt, uart_read, uart_write};

/// The receive buffer: `firmware`'s decoder size.
const BUF: usize = 250;

/// The shared UART (`uart_read` / `uart_write`) as an `embedded-io-async`
/// transport. It never fails; it has no end of stream.
struct Uart;

impl embedded_io_async::ErrorType for Uart {
    type Error = Infallible;
}

/// A timer's "fired" flag (an imaginary MMIO register, as the UART's).
const TIMER_FIRED: *const u32 = 0x4000_1000 as *const u32;

/// Events for the peer: 8 of up to 10 payload bytes.
static EVENTS: Events<8, 10> = Events::new();

/// The timer's interrupt, polled: publishes `tick` when it fired.
fn timer() {
    // SAFETY: a fixed MMIO address of the (imaginary) target.
    if unsafe { read_volatile(TIMER_FIRED) } != 0 {
        let _ = EVENTS.publish(Kind::lit("tick"), b"1");
    }
}

/// The lock of `Events` on the imaginary single core without interrupts:
/// nothing to mask.
struct NoInterrupts;
critical_section::set_impl!(NoInterrupts);

// SAFETY: one core and no interrupt handler: nothing runs while the lock
// is held but its holder.
unsafe impl critical_section::Impl for NoInterrupts {
    unsafe fn acquire() -> critical_section::RawRestoreState {}
    unsafe fn release(_: critical_section::RawRestoreState) {}
}

impl embedded_io_async::Read for Uart {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        timer();
        poll_fn(|cx| match uart_read(buf) {
            // An empty FIFO: not the end of the stream, wait for a byte
            // (`read` returns 0 only for an empty `buf`).
            0 if !buf.is_empty() => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            n => Poll::Ready(Ok(n)),
        })
        .await
    }
}

impl embedded_io_async::Write for Uart {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        uart_write(buf);
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        // Written byte by byte to the data register: nothing is held back.
        Ok(())
    }
}

/// Runs `fut` to completion, polling again whenever it is pending.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// The size of the future `serve` returns for this UART and handler, the
/// RAM it needs beyond the receive buffer (on this target's layout). Kept
/// out of `.text` / `.rodata` in a section of its own, read by
/// `scripts/size.sh`.
#[used]
#[no_mangle]
#[link_section = ".msgwire_size"]
static SERVE_FUTURE_SIZE: usize = future_size(&serve_with_events::<Uart, Builtins, 8, 10>);

const fn future_size<F, R>(_: &F) -> usize
where
    F: FnOnce(
        &'static mut Uart,
        &'static mut [u8],
        &'static mut Builtins,
        ServeConfig,
        &'static Events<8, 10>,
    ) -> R,
{
    core::mem::size_of::<R>()
}

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut uart = Uart;
    let mut buf = [0u8; BUF];
    loop {
        // `EXIT` or a transport failure (none here): a new conversation,
        // its framing sniffed again.
        let _ = block_on(serve_with_events(
            &mut uart,
            &mut buf,
            &mut Builtins,
            ServeConfig::default(),
            &EVENTS,
        ));
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    halt()
}

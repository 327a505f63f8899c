//! UART0 of the LM3S6965 (a PL011-compatible UART at 0x4000_C000), as an
//! `embedded-io-async` byte stream.
//!
//! Receiving is interrupt-driven: the UART0 interrupt (IRQ 5) drains the
//! hardware FIFO into a ring buffer and wakes the task that waits in
//! [`Uart::read`]. When the ring is full the interrupt masks itself, the
//! hardware FIFO fills up and the sender is held back (in QEMU: it stops
//! reading the socket, so TCP pushes back); the next `read` that makes room
//! unmasks it. No byte is dropped by the driver.
//!
//! Transmitting polls: [`Uart::write`] waits on the TX-FIFO-full flag byte
//! by byte and returns when the whole buffer is in the FIFO.

use core::cell::{RefCell, UnsafeCell};
use core::convert::Infallible;
use core::future::poll_fn;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use core::task::{Poll, Waker};

use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::NVIC;

const BASE: usize = 0x4000_C000;
/// Data register; on read, bits 8-11 are the error flags of the byte.
const DR: usize = 0x00;
/// Flag register.
const FR: usize = 0x18;
/// Line control: word length, FIFO enable.
const LCRH: usize = 0x2C;
/// Control: UART, TX and RX enable.
const CR: usize = 0x30;
/// Interrupt mask set/clear.
const IMSC: usize = 0x38;
/// Interrupt clear.
const ICR: usize = 0x44;

const FR_BUSY: u32 = 1 << 3;
const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
/// 8 data bits (WLEN = 0b11), FIFOs on.
const LCRH_8N1_FIFO: u32 = 0x70;
const CR_UARTEN: u32 = 1 << 0;
const CR_TXE: u32 = 1 << 8;
const CR_RXE: u32 = 1 << 9;
/// RX interrupt and RX timeout interrupt.
const IM_RX: u32 = (1 << 4) | (1 << 6);
/// DR bits 8-11: framing, parity, break, overrun.
const DR_ERRORS: u32 = 0xF00;

/// UART0's interrupt number on the LM3S6965.
pub const IRQ: u16 = 5;

#[derive(Clone, Copy)]
struct Uart0Irq;

// SAFETY: 5 is UART0's interrupt number on this chip, a valid NVIC line.
unsafe impl cortex_m::interrupt::InterruptNumber for Uart0Irq {
    fn number(self) -> u16 {
        IRQ
    }
}

fn read_reg(offset: usize) -> u32 {
    // SAFETY: BASE + offset is a register of UART0, always mapped on this
    // chip; a volatile 32-bit read of it has no effect beyond the device's
    // (reading DR pops a byte, which only the ISR and `init` do).
    unsafe { ptr::read_volatile((BASE + offset) as *const u32) }
}

fn write_reg(offset: usize, value: u32) {
    // SAFETY: as in `read_reg`: an aligned, always-mapped UART0 register.
    unsafe { ptr::write_volatile((BASE + offset) as *mut u32, value) }
}

/// Capacity of the receive ring (a power of two). The `tiny-ring` build
/// (16 bytes) makes the ring fill on nearly every read, so that CI runs the
/// full-ring path (mask, drain, unmask) end to end.
const RING: usize = if cfg!(feature = "tiny-ring") { 16 } else { 512 };

/// Single-producer (the ISR), single-consumer (`Uart::read`) byte ring.
/// `head` and `tail` count bytes written and read since boot and wrap
/// around; `head - tail` bytes are buffered.
struct Ring {
    buf: UnsafeCell<[u8; RING]>,
    head: AtomicUsize,
    tail: AtomicUsize,
}

// SAFETY: a slot is written only by the ISR, and only while it is free
// (head - tail < RING), before `head` is published with Release; it is read
// only by the one `Uart` owner after an Acquire load of `head`, and freed by
// a Release store of `tail`. The two sides never touch the same slot at once.
unsafe impl Sync for Ring {}

static RX: Ring = Ring {
    buf: UnsafeCell::new([0; RING]),
    head: AtomicUsize::new(0),
    tail: AtomicUsize::new(0),
};
/// The ISR masked the RX interrupts because the ring was full.
static RX_MASKED: AtomicBool = AtomicBool::new(false);
/// Bytes received with an error flag (kept in the stream all the same).
pub static LINE_ERRORS: AtomicU32 = AtomicU32::new(0);
/// The task waiting in `read` for bytes.
static RX_WAKER: Mutex<RefCell<Option<Waker>>> = Mutex::new(RefCell::new(None));
static TAKEN: AtomicBool = AtomicBool::new(false);

/// UART0 handler: call it from the interrupt vector of IRQ 5.
pub fn on_interrupt() {
    loop {
        if read_reg(FR) & FR_RXFE != 0 {
            break;
        }
        let head = RX.head.load(Ordering::Relaxed);
        let tail = RX.tail.load(Ordering::Acquire);
        if head.wrapping_sub(tail) == RING {
            // Full: leave the rest in the hardware FIFO (which holds the
            // sender back) and stop interrupting until `read` makes room.
            write_reg(IMSC, read_reg(IMSC) & !IM_RX);
            RX_MASKED.store(true, Ordering::Release);
            break;
        }
        let data = read_reg(DR);
        if data & DR_ERRORS != 0 {
            LINE_ERRORS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: slot `head % RING` is free (checked above) and only this
        // handler writes slots; see `Ring`'s Sync comment.
        unsafe { (*RX.buf.get())[head % RING] = data as u8 };
        RX.head.store(head.wrapping_add(1), Ordering::Release);
    }
    write_reg(ICR, IM_RX);
    interrupt::free(|cs| {
        if let Some(w) = RX_WAKER.borrow(cs).borrow_mut().take() {
            w.wake();
        }
    });
}

/// UART0, owned once.
pub struct Uart {
    _private: (),
}

impl Uart {
    /// Configures UART0 (8N1, FIFOs, RX interrupts) and unmasks its
    /// interrupt in the NVIC. `None` if it was taken already.
    pub fn take() -> Option<Uart> {
        if TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        write_reg(CR, 0);
        write_reg(LCRH, LCRH_8N1_FIFO);
        write_reg(ICR, 0x7FF);
        write_reg(IMSC, IM_RX);
        write_reg(CR, CR_UARTEN | CR_TXE | CR_RXE);
        // SAFETY: the handler of IRQ 5 (`on_interrupt`) shares state with
        // `Uart` only through atomics and a critical-section mutex, so
        // unmasking it cannot break a critical section in progress.
        unsafe { NVIC::unmask(Uart0Irq) };
        Some(Uart { _private: () })
    }

    /// Copies buffered bytes into `out`; 0 if none are buffered.
    fn take_buffered(&mut self, out: &mut [u8]) -> usize {
        let head = RX.head.load(Ordering::Acquire);
        let tail = RX.tail.load(Ordering::Relaxed);
        let n = head.wrapping_sub(tail).min(out.len());
        if n == 0 {
            return 0;
        }
        let start = tail % RING;
        let first = n.min(RING - start);
        // SAFETY: slots tail..tail+n were published by the ISR (Acquire load
        // of `head` above) and it does not write them until `tail` moves
        // past them; `&mut self` makes this the only reader.
        let buf = unsafe { &*RX.buf.get() };
        out[..first].copy_from_slice(&buf[start..start + first]);
        out[first..n].copy_from_slice(&buf[..n - first]);
        RX.tail.store(tail.wrapping_add(n), Ordering::Release);
        if RX_MASKED.load(Ordering::Acquire) {
            interrupt::free(|_| {
                RX_MASKED.store(false, Ordering::Relaxed);
                write_reg(IMSC, read_reg(IMSC) | IM_RX);
            });
            // The handler cleared the RX interrupt when it masked it, with
            // bytes left in the hardware FIFO, and while that FIFO is full
            // no new byte arrives to raise it again: unmasking alone would
            // wait for ever. Run the handler now to drain the FIFO.
            NVIC::pend(Uart0Irq);
        }
        n
    }
}

impl embedded_io_async::ErrorType for Uart {
    /// The driver itself cannot fail: bytes with line errors are counted in
    /// [`LINE_ERRORS`] and kept (msgwire's checksums catch the damage).
    type Error = Infallible;
}

impl embedded_io_async::Read for Uart {
    /// Waits until at least one byte is buffered, then returns as many as
    /// fit. Cancel-safe: nothing is taken from the ring until it is copied
    /// into `buf` in the same poll that returns `Ready`.
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        poll_fn(|cx| {
            // Register first, then look: a byte arriving in between wakes us.
            interrupt::free(|cs| {
                let mut slot = RX_WAKER.borrow(cs).borrow_mut();
                match slot.as_ref() {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *slot = Some(cx.waker().clone()),
                }
            });
            match self.take_buffered(buf) {
                0 => Poll::Pending,
                n => Poll::Ready(Ok(n)),
            }
        })
        .await
    }
}

impl embedded_io_async::Write for Uart {
    /// Puts all of `buf` into the TX FIFO, polling its full flag. Never
    /// suspends, so it is trivially cancel-safe.
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        for &b in buf {
            while read_reg(FR) & FR_TXFF != 0 {}
            write_reg(DR, b as u32);
        }
        Ok(buf.len())
    }

    /// Waits until the UART has shifted out every byte.
    async fn flush(&mut self) -> Result<(), Infallible> {
        while read_reg(FR) & FR_BUSY != 0 {}
        Ok(())
    }
}

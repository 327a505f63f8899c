//! The I/O both binaries share: a memory-mapped UART read and written with
//! volatile accesses, so that the compiler can neither see the bytes nor drop
//! the code that handles them.
#![no_std]

use core::ptr::{read_volatile, write_volatile};

/// Bytes waiting in the receive FIFO.
const UART_RX_COUNT: *const u32 = 0x4000_0000 as *const u32;
/// Receive data register.
const UART_RX: *const u8 = 0x4000_0004 as *const u8;
/// Transmit data register.
const UART_TX: *mut u8 = 0x4000_0008 as *mut u8;

/// Reads what the UART has, at most `buf.len()` bytes; returns the count.
#[inline(never)]
pub fn uart_read(buf: &mut [u8]) -> usize {
    // SAFETY: fixed MMIO addresses of the (imaginary) target.
    let n = (unsafe { read_volatile(UART_RX_COUNT) } as usize).min(buf.len());
    for b in &mut buf[..n] {
        // SAFETY: as above.
        *b = unsafe { read_volatile(UART_RX) };
    }
    n
}

/// Writes every byte of `bytes` to the UART.
#[inline(never)]
pub fn uart_write(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: as above.
        unsafe { write_volatile(UART_TX, b) };
    }
}

/// Spins forever: the panic handler of both binaries.
pub fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

pub mod peer;

//! The same entry, buffers and UART loop as `firmware`, without msgwire:
//! the bytes are echoed as they come. `firmware` minus `stub` is the code
//! msgwire adds.
#![no_std]
#![no_main]

use msgwire_embedded_size::{halt, uart_read, uart_write};

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut buf = [0u8; 250];
    loop {
        let n = uart_read(&mut buf);
        uart_write(&buf[..n]);
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    halt()
}

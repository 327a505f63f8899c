#![no_std]
#![no_main]
// THROWAWAY bring-up loop: echoes bytes. Not the final firmware.
use cortex_m_rt::{entry, exception};
use embedded_io_async::{Read, Write};
use panic_halt as _;

mod executor;
mod uart;

#[entry]
fn main() -> ! {
    let mut uart = uart::Uart::take().unwrap();
    executor::block_on(async {
        let mut buf = [0u8; 64];
        loop {
            let n = uart.read(&mut buf).await.unwrap();
            uart.write_all(&buf[..n]).await.unwrap();
        }
    })
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == uart::IRQ as i16 {
        uart::on_interrupt();
    }
}

//! msgwire's no_std `serve` loop on QEMU's lm3s6965evb (a Cortex-M3), over
//! UART0. `scripts/qemu-e2e.sh` boots it and drives it from the host.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use msgwire::embedded::{serve, Builtins, Ended, ServeConfig};
use panic_halt as _;

mod executor;
mod uart;

/// The receive buffer: payloads up to 256 bytes (306 - 50), text lines up
/// to 305 bytes.
const BUF_LEN: usize = 306;

#[entry]
fn main() -> ! {
    let Some(mut uart) = uart::Uart::take() else {
        unreachable!("UART0 is taken once, here")
    };
    executor::block_on(async {
        let mut buf = [0u8; BUF_LEN];
        loop {
            // Each call is one conversation, its framing sniffed from its
            // first byte: after EXIT a text conversation can follow a binary
            // one. The UART never reads 0 bytes (`Ended::Closed`) and cannot
            // fail; whatever ended the conversation, the next one starts.
            match serve(&mut uart, &mut buf, &mut Builtins, ServeConfig::default()).await {
                Ok(Ended::Exit | Ended::Closed) | Err(_) => {}
            }
        }
    })
}

/// Every interrupt without a handler of its own lands here (no device
/// crate fills the vector table): IRQ 5 is UART0's.
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == uart::IRQ as i16 {
        uart::on_interrupt();
    }
}

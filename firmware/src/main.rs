//! msgwire's no_std `serve` loop on QEMU's lm3s6965evb (a Cortex-M3), over
//! UART0, publishing an event `tick` every 100 ms to a peer that
//! subscribed (`SUB tick`). `scripts/qemu-e2e.sh` boots it and drives it
//! from the host.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use msgwire::embedded::{serve_with_events, Builtins, Ended, Events, ServeConfig};
use msgwire::Kind;
use panic_halt as _;

mod executor;
mod uart;

/// The receive buffer: payloads up to 256 bytes (306 - 50), text lines up
/// to 305 bytes.
const BUF_LEN: usize = 306;

/// The core clock QEMU's lm3s6965evb runs SysTick from at reset: its
/// 200 MHz PLL divided by 16 (RCC's reset SYSDIV), 12.5 MHz. Measured in
/// QEMU 7.2: 12 MHz reload values gave ticks every 96 ms, these 100 ms.
/// And the tick period.
const CORE_HZ: u32 = 12_500_000;
const TICK_MS: u32 = 100;

/// Events for the peer: 8 waiting at most, payloads up to 10 bytes (a
/// `u32` in decimal). 8 × 56 + 144 = 592 B of RAM.
static EVENTS: Events<8, 10> = Events::new();

/// Ticks published so far: the next tick's payload.
static TICKS: AtomicU32 = AtomicU32::new(0);

#[entry]
fn main() -> ! {
    let Some(mut uart) = uart::Uart::take() else {
        unreachable!("UART0 is taken once, here")
    };
    let Some(mut core) = cortex_m::Peripherals::take() else {
        unreachable!("the core peripherals are taken once, here")
    };
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(CORE_HZ / 1000 * TICK_MS - 1);
    core.SYST.clear_current();
    core.SYST.enable_interrupt();
    core.SYST.enable_counter();
    executor::block_on(async {
        let mut buf = [0u8; BUF_LEN];
        loop {
            // Each call is one conversation, its framing sniffed from its
            // first byte: after EXIT a text conversation can follow a binary
            // one. The UART never reads 0 bytes (`Ended::Closed`) and cannot
            // fail; whatever ended the conversation, the next one starts,
            // with no filter (ticks are unwanted until a `SUB`). The UART's
            // `read` is cancel safe, as `serve_with_events` needs.
            match serve_with_events(
                &mut uart,
                &mut buf,
                &mut Builtins,
                ServeConfig::default(),
                &EVENTS,
            )
            .await
            {
                Ok(Ended::Exit | Ended::Closed) | Err(_) => {}
            }
        }
    })
}

/// Every 100 ms: publishes `tick` with the counter in decimal (0, 1, 2 …),
/// from the interrupt, to whoever subscribed. With no subscriber, or a
/// full queue, the tick is dropped (and, for a full queue, counted in the
/// `LAGGED` the peer reads next); the counter goes on either way.
#[exception]
fn SysTick() {
    let n = TICKS.fetch_add(1, Ordering::Relaxed);
    let mut digits = [0u8; 10];
    // A `u32` has at most 10 digits: it always fits.
    let _ = EVENTS.publish(Kind::lit("tick"), decimal(n, &mut digits));
}

/// `n` in decimal, at the end of `buf`.
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[at..]
}

/// Every interrupt without a handler of its own lands here (no device
/// crate fills the vector table): IRQ 5 is UART0's.
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == uart::IRQ as i16 {
        uart::on_interrupt();
    }
}

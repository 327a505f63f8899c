//! `firmware`'s job done with postcard's COBS framing and a CRC-32 of the
//! payload (the `crc` crate, 1-slice table): see `src/peer.rs`.
#![no_std]
#![no_main]

use msgwire_embedded_size::{halt, peer};

#[no_mangle]
pub extern "C" fn _start() -> ! {
    peer::run::<true>()
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    halt()
}

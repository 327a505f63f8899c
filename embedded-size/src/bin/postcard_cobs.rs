//! `firmware`'s job done with postcard's COBS framing and no checksum: see
//! `src/peer.rs`.
#![no_std]
#![no_main]

use msgwire_embedded_size::{halt, peer};

#[no_mangle]
pub extern "C" fn _start() -> ! {
    peer::run::<false>()
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    halt()
}

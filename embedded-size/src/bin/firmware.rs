//! What a firmware does with msgwire: read the UART into the streaming
//! decoder's spare space, decode every frame, answer `PING` with `PONG`,
//! echo any other frame (its flags kept, so checksummed frames are answered
//! with a checksum), and answer a refused frame with `ERROR` and the error
//! code. Both CRCs, every decoder check and the encoder are reachable.
#![no_std]
#![no_main]

use msgwire::{Decoder, Encoder, Flags, Kind, Message};
use msgwire_embedded_size::{halt, uart_read, uart_write};

/// Payloads of up to 200 bytes: a decoder of 250 bytes.
const MAX_PAYLOAD: u32 = 200;

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut dec = Decoder::<{ MAX_PAYLOAD as usize + 50 }>::new();
    let enc = Encoder::with_max_payload(MAX_PAYLOAD);
    let mut out = [0u8; MAX_PAYLOAD as usize + 50];
    loop {
        let n = uart_read(dec.spare());
        dec.commit(n);
        while let Some(event) = dec.decode() {
            let answer = match event {
                Ok(m) if m.kind == "PING" => Message::new(Kind::PONG, b"ack")
                    .with_id(m.id)
                    .with_flags(m.flags | Flags::RESPONSE),
                Ok(m) => Message::new(m.kind, m.payload)
                    .with_id(m.id)
                    .with_flags(m.flags | Flags::RESPONSE),
                Err(e) => Message::new(Kind::ERROR, e.code().as_bytes())
                    .with_id(e.id.unwrap_or(0))
                    .with_flags(Flags::RESPONSE),
            };
            if let Ok(len) = enc.encode(&answer, &mut out) {
                uart_write(&out[..len]);
            }
        }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    halt()
}

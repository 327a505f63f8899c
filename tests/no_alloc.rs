//! Decoding and encoding make no heap allocation: a counting global
//! allocator watches 10,000 mixed frames go through every codec.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use msgwire::{Decoder, Encoder, Flags, Kind, Message, TextDecoder, TextEncoder};

struct Counting;

thread_local! {
    /// Only allocations made by a thread while it is armed count, and each
    /// thread counts its own (the tests run in parallel).
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    if ARMED.with(Cell::get) {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
    }
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const FRAMES: usize = 10_000;

#[test]
fn ten_thousand_mixed_frames_allocate_nothing() {
    let kinds = [
        Kind::PING,
        Kind::ECHO,
        Kind::new("sensor/temp").expect("kind"),
        Kind::ERROR,
    ];
    let payload = [0xA5u8; 3000];
    let enc = Encoder::with_max_payload(2048);
    let text = TextEncoder::with_max_line(4096);
    let mut wire = [0u8; 4096];
    let mut line = [0u8; 4096];
    let mut dec = Box::new(Decoder::<4096>::with_max_payload(2048).expect("fits"));
    let mut tdec = Box::new(TextDecoder::<4096>::new());
    let (mut frames, mut errors, mut checksum) = (0usize, 0usize, 0u64);

    ARMED.with(|a| a.set(true));
    for i in 0..FRAMES {
        // Sizes from 0 to 2999: some over the decoder's limit, some with a
        // checksum, and every seventh frame corrupted.
        let len = (i * 7919) % 3000;
        let flags = if i % 3 == 0 {
            Flags::CHECKSUM
        } else {
            Flags::EMPTY
        };
        let m = Message::new(kinds[i % kinds.len()], &payload[..len])
            .with_id(i as u32)
            .with_flags(flags);
        let n = match Encoder::new().encode(&m, &mut wire) {
            Ok(n) => n,
            Err(e) => panic!("encode failed: {e}"),
        };
        // The limited encoder refuses exactly the frames the decoder will.
        assert_eq!(enc.encode_head(&m).is_err(), len > 2048);
        if i % 7 == 0 {
            wire[n / 2] ^= 0x10;
        }
        let mut rest = &wire[..n];
        while !rest.is_empty() {
            let k = dec.feed(&rest[..rest.len().min(1000)]);
            rest = &rest[k..];
            while let Some(ev) = dec.decode() {
                match ev {
                    Ok(m) => {
                        frames += 1;
                        checksum += m.payload.len() as u64 + u64::from(m.id);
                    }
                    Err(_) => errors += 1,
                }
            }
        }
        // The same through the text codec, with a payload it accepts.
        let tp = &b"hello:world"[..i % 12];
        let n = match text.encode(m.kind, tp, &mut line) {
            Ok(n) => n,
            Err(e) => panic!("text encode failed: {e}"),
        };
        tdec.feed(&line[..n]);
        while let Some(ev) = tdec.decode() {
            match ev {
                Ok(m) => checksum += m.payload.len() as u64,
                Err(_) => errors += 1,
            }
        }
    }
    ARMED.with(|a| a.set(false));

    assert_eq!(allocations(), 0, "the codec allocated");
    assert_eq!(dec.stats().frames as usize, frames);
    assert_eq!(tdec.stats().frames as usize, FRAMES);
    assert!(
        frames > FRAMES / 2 && errors > FRAMES / 10,
        "frames {frames}, errors {errors}"
    );
    assert!(checksum > 0);
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the guard: an armed allocation is counted.
    let before = allocations();
    ARMED.with(|a| a.set(true));
    let v = std::hint::black_box(vec![1u8; 64]);
    ARMED.with(|a| a.set(false));
    drop(v);
    assert!(allocations() > before);
}

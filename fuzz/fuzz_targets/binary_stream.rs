//! Arbitrary bytes and split points through the binary stream decoder.
//!
//! Input: `cfg` byte (bits 0-2 pick the payload limit, bits 3-4 the spare
//! buffer beyond `max + 50`), `n` (mod 32) and `n` chunk sizes (0 = all
//! that is left), then the stream.
//!
//! Asserts: no panic; the decoder never holds more than its capacity, and
//! while waiting for bytes never more than `max + 50` (§2.1); every frame is
//! valid (kind charset and length, flags, payload <= max); the counters
//! account for every byte; and the events are the same
//! - fed whole, fed in the fuzzed chunks (through `spare`/`commit` and
//!   through `feed`), fed one byte at a time (array-backed `Decoder`),
//! - as a loop over the one-shot `decode_slice` (drop `consumed`, stop on
//!   `Partial` or when a refused frame runs past the end),
//! - as the spec model of §2.1 in `msgwire_fuzz::binary_model`.
//!
//! All of these are checked as "equal to the model's events", event by
//! event as each run produces them (so no run's events are stored), and
//! the validity checks run once on the model's events.
//!
//! No documented difference between the three was needed: `decode_slice`
//! reports a refused frame's full length in `consumed` even when it runs
//! past the buffer, which is exactly what the stream decoder skips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgwire::{Decoder, StreamDecoder};
use msgwire_fuzz::{
    binary_model, check_binary_events, check_slice_hint, run_binary, run_slice, with_zeroed, Ev,
    Path, Sizes,
};

/// Payload limits (every test vector's limit is one of them).
const MAXES: [u32; 8] = [0, 1, 8, 32, 64, 100, 255, 1024];
/// Buffer bytes beyond `max + 50`.
const EXTRA: [usize; 4] = [0, 1, 50, 777];

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let Some((&n, rest)) = rest.split_first() else {
        return;
    };
    let n = usize::from(n % 32).min(rest.len());
    let (sizes, input) = rest.split_at(n);
    let sizes = Sizes::from_bytes(sizes);
    let max = MAXES[usize::from(cfg & 7)];
    let cap = max as usize + 50 + EXTRA[usize::from((cfg >> 3) & 3)];

    // The spec model's events are the reference: every run below is
    // checked against them as its events come (equal to the model means
    // equal to each other), and checked for validity once, here.
    let model: Vec<Ev> = binary_model(input, max)
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    check_binary_events(&model, max);

    let m = &model;
    // Each run owns a fresh zeroed buffer of `cap` bytes (`with_zeroed`).
    let run = |sizes: &Sizes, path: Path, what: &str| {
        with_zeroed(cap, |buf| {
            let mut dec = StreamDecoder::from_buffer(buf, max).expect("buffer fits max");
            run_binary(&mut dec, input, sizes, path, m, what)
        })
    };
    let whole = run(&Sizes::whole(), Path::Feed, "whole, feed");
    let whole_sc = run(&Sizes::whole(), Path::SpareCommit, "whole, spare/commit");
    let split_sc = run(&sizes, Path::SpareCommit, "split, spare/commit");
    let split_feed = run(&sizes, Path::Feed, "split, feed");
    let mut array = Decoder::<1074>::with_max_payload(max).expect("max fits");
    let bytes = run_binary(
        &mut array,
        input,
        &Sizes::bytes(),
        Path::SpareCommit,
        m,
        "byte by byte, Decoder<1074>",
    );

    for other in [&whole_sc, &split_sc, &split_feed, &bytes] {
        assert_eq!(whole.stats, other.stats, "counters depend on the split");
        assert_eq!(whole.buffered, other.buffered);
    }

    run_slice(input, max, m);

    for &cut in sizes.0.iter().take(4) {
        check_slice_hint(input, cut, max);
    }
});

//! Arbitrary bytes and split points through the text line decoder (§3).
//!
//! Input: `cfg` byte (bits 0-2 pick `max_line`, bits 3-4 the spare buffer
//! beyond `max_line + 1`), `n` (mod 32) and `n` chunk sizes (0 = all that is
//! left), then the stream.
//!
//! Asserts: no panic; the decoder never holds more than its capacity, and
//! while waiting never more than `max_line` bytes (an overlong line is
//! dropped as it arrives, never buffered); every message has a valid kind,
//! id 0, no flags, no `\n` in its payload and fits the line limit; and the
//! events (and counters) are the same fed whole, in the fuzzed chunks
//! (`spare`/`commit` and `feed`), one byte at a time (array-backed
//! `TextDecoder`), and as the spec model `msgwire_fuzz::text_model` (each
//! run is checked against the model's events as they come; validity is
//! checked once on the model's events).
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgwire::{TextDecoder, TextStreamDecoder};
use msgwire_fuzz::{check_text_events, run_text, text_model, with_zeroed, Path, Sizes};

/// Line limits (the test vectors use 64).
const MAX_LINES: [usize; 8] = [0, 1, 2, 5, 16, 64, 100, 255];
/// Buffer bytes beyond `max_line + 1`.
const EXTRA: [usize; 4] = [0, 1, 7, 300];

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
    let max_line = MAX_LINES[usize::from(cfg & 7)];
    let cap = max_line + 1 + EXTRA[usize::from((cfg >> 3) & 3)];

    // The spec model's events are the reference for every run (checked as
    // they come), and are checked for validity once.
    let model = text_model(input, max_line);
    check_text_events(&model, max_line);
    let m = &model;

    // Each run owns a fresh zeroed buffer of `cap` bytes (`with_zeroed`).
    let run = |sizes: &Sizes, path: Path, what: &str| {
        with_zeroed(cap, |buf| {
            let mut dec = TextStreamDecoder::from_buffer(buf, max_line).expect("buffer fits");
            run_text(&mut dec, input, sizes, path, cap, m, what)
        })
    };
    let whole = run(&Sizes::whole(), Path::Feed, "whole, feed");
    let whole_sc = run(&Sizes::whole(), Path::SpareCommit, "whole, spare/commit");
    let split_sc = run(&sizes, Path::SpareCommit, "split, spare/commit");
    let split_feed = run(&sizes, Path::Feed, "split, feed");
    let mut array = TextDecoder::<256>::with_max_line(max_line).expect("max fits");
    let bytes = run_text(
        &mut array,
        input,
        &Sizes::bytes(),
        Path::SpareCommit,
        256,
        m,
        "byte by byte, TextDecoder<256>",
    );

    for other in [&whole_sc, &split_sc, &split_feed, &bytes] {
        assert_eq!(whole.stats, other.stats, "counters depend on the split");
        assert_eq!(whole.buffered, other.buffered);
    }
});

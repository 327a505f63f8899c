//! Regression tests for inputs found by the fuzz targets (`fuzz/`). Each
//! replays a failing input through the public API the way the target does
//! and checks the property the target asserted.

mod common;

use common::Ev;
use msgwire::{DecodeError, Decoder, Message, Stats};

/// An event, with the id a refusal carries (`Ev` has its code alone).
fn ev(e: Result<Message<'_>, DecodeError>) -> (Ev, Option<u32>) {
    let id = e.as_ref().err().and_then(|e| e.id);
    (Ev::of(e), id)
}

/// Feeds `input` in chunks of `chunk` bytes through `feed`, draining the
/// decoder after each; returns the events, the counters and what is left.
fn run(input: &[u8], max: u32, chunk: usize) -> (Vec<(Ev, Option<u32>)>, Stats, usize) {
    let mut dec = Decoder::<1074>::with_max_payload(max).expect("max fits");
    let mut events = Vec::new();
    for mut part in input.chunks(chunk) {
        while !part.is_empty() {
            let n = dec.feed(part);
            assert!(n > 0, "a drained decoder took nothing");
            part = &part[n..];
            while let Some(e) = dec.decode() {
                events.push(ev(e));
            }
        }
    }
    (events, *dec.stats(), dec.buffered())
}

/// `binary_stream` smoke run, input `crash-c414a0afd6fc0f3039d531bd60c38b911dd78e6c`
/// (cfg 7 = max 1024, fed whole vs in pieces): a frame, a header that fails
/// its checksum, then a header that fails and garbage to the end. Found by
/// `.ci/fuzz.sh` in a work-in-progress version of the decoder's "bytes
/// still needed" shortcut (6b06f27), which also remembered a need after a
/// buffer of pure garbage: later garbage stayed buffered instead of being
/// counted as discarded, so the counters depended on the split. The
/// committed version takes the shortcut only for a frame candidate.
#[test]
fn fuzz_binary_stream_counters_do_not_depend_on_the_split() {
    let input: &[u8] = &[
        0xa5, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x0a, b'P',
        b'I', b'N', b'G', 0xa5, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x0a, b'P', b'I', b'N',
        b'G', 0xa5, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x66, 0x00,
        0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    let whole = run(input, 1024, usize::MAX);
    assert_eq!(
        whole.2, 0,
        "nothing but garbage is left, and garbage is not kept"
    );
    assert_eq!(whole.1.frames, 1);
    assert_eq!(whole.1.refused_total(), 2);
    assert_eq!(whole.1.discarded_bytes, input.len() as u64 - 18);
    for chunk in 1..=input.len() {
        assert_eq!(run(input, 1024, chunk), whole, "chunks of {chunk}");
    }
}

/// The smallest form of the same: garbage alone, however it arrives, is
/// all counted as discarded and none of it stays buffered.
#[test]
fn fuzz_binary_stream_garbage_is_discarded_whatever_the_split() {
    let garbage = b"no frame here, only noise";
    for chunk in 1..=garbage.len() {
        let (events, stats, left) = run(garbage, 64, chunk);
        assert!(events.is_empty());
        assert_eq!(left, 0, "chunks of {chunk}: garbage kept in the buffer");
        assert_eq!(
            stats.discarded_bytes,
            garbage.len() as u64,
            "chunks of {chunk}"
        );
    }
}

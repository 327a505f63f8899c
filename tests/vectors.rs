//! The protocol's test vectors (`tests/vectors/`, a copy of
//! `shared/vectors/`): every decode case fed whole, one byte at a time and
//! in random splits, through every decoder; every encode case byte for byte.

mod common;

use common::*;
use msgwire::{Encoder, Flags, Kind, Message, TextEncoder};

fn expected(case: &serde_json::Value) -> Vec<Ev> {
    case["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(Ev::from_json)
        .collect()
}

#[test]
fn binary_vectors() {
    let cases = load("binary.json");
    assert!(cases.len() >= 20, "vector file looks truncated");
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        let max = case["max_payload"].as_u64().expect("max_payload") as u32;
        let input = unhex(case["input"].as_str().expect("input"));
        let want = expected(case);

        assert_eq!(
            stream_events(&input, max, &[usize::MAX]),
            want,
            "{name}: whole"
        );
        assert_eq!(
            stream_events(&input, max, &[1]),
            want,
            "{name}: byte by byte"
        );
        assert_eq!(
            feed_events(&input, max, &[1]),
            want,
            "{name}: feed byte by byte"
        );
        assert_eq!(slice_events(&input, max), want, "{name}: one-shot");
        // Under Miri (undefined behaviour, not coverage) a few splits.
        for _ in 0..if cfg!(miri) { 5 } else { 50 } {
            let sizes = rng.sizes(16, 40);
            assert_eq!(
                stream_events(&input, max, &sizes),
                want,
                "{name}: split {sizes:?}"
            );
            assert_eq!(
                feed_events(&input, max, &sizes),
                want,
                "{name}: feed split {sizes:?}"
            );
        }
    }
}

#[test]
fn text_vectors() {
    let cases = load("text.json");
    assert!(cases.len() >= 10, "vector file looks truncated");
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        let max = case["max_line"].as_u64().expect("max_line") as usize;
        let input = unhex(case["input"].as_str().expect("input"));
        let want = expected(case);

        assert_eq!(
            text_events(&input, max, &[usize::MAX]),
            want,
            "{name}: whole"
        );
        assert_eq!(text_events(&input, max, &[1]), want, "{name}: byte by byte");
        // Under Miri (undefined behaviour, not coverage) a few splits.
        for _ in 0..if cfg!(miri) { 5 } else { 50 } {
            let sizes = rng.sizes(16, 40);
            assert_eq!(
                text_events(&input, max, &sizes),
                want,
                "{name}: split {sizes:?}"
            );
        }
    }
}

#[test]
fn encode_vectors() {
    let cases = load("encode.json");
    assert!(cases.len() >= 5, "vector file looks truncated");
    let (mut binary, mut text) = (0, 0);
    for case in &cases {
        let kind = Kind::new(case["kind"].as_str().expect("kind")).expect("valid kind");
        let payload = unhex(case["payload"].as_str().expect("payload"));
        let want = unhex(case["bytes"].as_str().expect("bytes"));
        let mut out = vec![0u8; want.len() + 64];
        if case.get("mode").and_then(|m| m.as_str()) == Some("text") {
            let enc = TextEncoder::new();
            assert_eq!(enc.encoded_len(kind, &payload), Ok(want.len()));
            let n = enc.encode(kind, &payload, &mut out).expect("encodes");
            assert_eq!(&out[..n], &want[..], "text {kind}");
            text += 1;
        } else {
            let flags =
                Flags::from_bits(case["flags"].as_u64().expect("flags") as u8).expect("flags");
            let id = case["id"].as_u64().expect("id") as u32;
            let m = Message::new(kind, &payload).with_id(id).with_flags(flags);
            let enc = Encoder::new();
            assert_eq!(enc.encoded_len(&m), Ok(want.len()));
            let n = enc.encode(&m, &mut out).expect("encodes");
            assert_eq!(&out[..n], &want[..], "binary {kind}");

            // The header-only path gives the same bytes around the payload.
            let head = enc.encode_head(&m).expect("head");
            let joined = [head.as_bytes(), &payload, head.trailer()].concat();
            assert_eq!(joined, want, "head {kind}");
            assert_eq!(head.frame_len(payload.len()), want.len());

            // And into a heapless vector, appended after what is there.
            let mut v = heapless::Vec::<u8, 1024>::new();
            v.extend_from_slice(b"xy").expect("fits");
            assert_eq!(enc.encode_to_vec(&m, &mut v), Ok(want.len()));
            assert_eq!(&v[2..], &want[..]);
            binary += 1;
        }
    }
    assert!(binary > 0 && text > 0);
}

/// `../shared`, beside the repository (it is in CI). Its absence fails the
/// test unless `MSGWIRE_NO_SHARED=1` says it is meant (a copy of the crate
/// on its own), so the comparison is never skipped without anyone asking.
fn shared_dir() -> Option<std::path::PathBuf> {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if shared.is_dir() {
        return Some(shared);
    }
    assert!(
        std::env::var_os("MSGWIRE_NO_SHARED").is_some_and(|v| v == "1"),
        "no ../shared beside the repository: put the shared specification there, \
         or set MSGWIRE_NO_SHARED=1 to skip the comparison with it"
    );
    None
}

/// The copies under `tests/vectors/` must agree with `../shared/vectors/`.
#[test]
fn vectors_match_shared_copy() {
    let Some(shared) = shared_dir() else { return };
    for name in ["binary.json", "text.json", "encode.json"] {
        let ours = std::fs::read(format!(
            "{}/tests/vectors/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("ours");
        let theirs = std::fs::read(shared.join("vectors").join(name)).expect("shared");
        assert!(
            ours == theirs,
            "tests/vectors/{name} differs from shared/vectors/{name}"
        );
    }
}

/// `docs/PROTOCOL.md` is the shared text, then a `---` line and the crate's
/// appendix.
#[test]
fn protocol_text_matches_shared_copy() {
    let Some(shared) = shared_dir() else { return };
    let theirs = std::fs::read_to_string(shared.join("PROTOCOL.md")).expect("shared");
    let ours = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md"))
        .expect("ours");
    let (normative, appendix) = ours
        .split_once("\n---\n\n## Appendix")
        .expect("docs/PROTOCOL.md has its appendix after a --- line");
    assert_eq!(
        normative, theirs,
        "docs/PROTOCOL.md differs from shared/PROTOCOL.md"
    );
    assert!(!appendix.is_empty());
}

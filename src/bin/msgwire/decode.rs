//! `msgwire decode`: a capture on stdin, decoded through
//! [`Receiver`] (the one interface over both stream decoders), one JSON
//! event per line on stdout.

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use msgwire::conversation::{Framing, Limits, Receiver};
use msgwire::{DecodeError, Message};

use crate::args::DecodeArgs;
use crate::common::hex;
use crate::json;
use crate::{Failure, Outcome};

pub fn run(a: DecodeArgs) -> Outcome {
    let mut input = Vec::new();
    io::stdin().lock().read_to_end(&mut input)?;
    if a.hex {
        input = unhex(&input)?;
    }
    let chunk = a.chunk.unwrap_or(input.len()).max(1);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let framing = if a.text {
        Framing::Text
    } else {
        Framing::Binary
    };
    let limits = Limits {
        max_payload: a.max_payload,
        max_line: a.max_line,
    };
    let mut rx = Receiver::boxed(framing, limits);
    let mut errors = 0u64;
    for piece in input.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            let n = rx.feed(rest);
            rest = &rest[n..];
            while let Some(event) = rx.decode() {
                errors += u64::from(event.is_err());
                writeln!(out, "{}", event_json(event))?;
            }
        }
    }
    out.flush()?;
    let (frames, discarded, skipped) = rx.stats().map_or((0, 0, 0), |s| {
        (s.frames, s.discarded_bytes, s.skipped_bytes)
    });
    eprintln!(
        "{}",
        summary(&Summary {
            read: input.len(),
            frames,
            errors,
            discarded,
            skipped,
            left: rx.buffered(),
            text: a.text,
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// What a capture held, for the summary line on stderr.
struct Summary {
    read: usize,
    frames: u64,
    errors: u64,
    discarded: u64,
    skipped: u64,
    /// Bytes still buffered at the end of input: an unfinished frame or line.
    left: usize,
    text: bool,
}

/// `decode: 3 bytes read: 0 frames, 0 errors; 0 bytes discarded (not a
/// frame), 0 skipped (in refused frames), 3 left over (an unfinished
/// frame)`.
fn summary(s: &Summary) -> String {
    let unit = if s.text { "line" } else { "frame" };
    format!(
        "decode: {} read: {}, {}; {} discarded (not a {unit}), {} skipped (in refused {unit}s), {} left over (an unfinished {unit})",
        plural(s.read as u64, "byte"),
        plural(s.frames, unit),
        plural(s.errors, "error"),
        plural(s.discarded, "byte"),
        s.skipped,
        s.left,
    )
}

/// `1 byte`, `2 bytes`.
fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("{n} {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// An event in the format of the test vectors:
/// `{"frame":{"kind":…,"id":…,"flags":…,"payload":"<hex>"}}` or
/// `{"error":"<code>"}` (with `"id"` when the header was trusted).
fn event_json(event: Result<Message<'_>, DecodeError>) -> String {
    match event {
        Ok(m) => {
            let mut line = String::from("{\"frame\":{\"kind\":");
            json::string(&mut line, m.kind.as_str());
            line.push_str(&format!(
                ",\"id\":{},\"flags\":{},\"payload\":\"{}\"}}}}",
                m.id,
                m.flags.bits(),
                hex(m.payload)
            ));
            line
        }
        Err(e) => {
            let error = json::Object::new().str("error", e.code());
            match e.id {
                Some(id) => error.uint("id", u64::from(id)),
                None => error,
            }
            .finish()
        }
    }
}

/// Hex digits (whitespace between them ignored) to bytes.
fn unhex(text: &[u8]) -> Result<Vec<u8>, Failure> {
    let digits: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err(Failure::Run("hex input has an odd number of digits".into()));
    }
    digits
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(|| Failure::Run(format!("invalid hex digit pair at digit {}", i * 2)))
        })
        .collect()
}

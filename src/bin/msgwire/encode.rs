//! `msgwire encode`: one message, encoded, on stdout.

use std::io::{self, Write};
use std::process::ExitCode;

use msgwire::{Encoder, Message, TextEncoder};

use crate::args::EncodeArgs;
use crate::{Failure, Outcome};

pub fn run(a: EncodeArgs) -> Outcome {
    let m = &a.message;
    let cannot = |e: msgwire::Error| Failure::Usage(format!("cannot encode: {e}"));
    let bytes = if m.text {
        let enc = TextEncoder::new();
        let mut buf = vec![0; enc.encoded_len(m.kind, &m.data).map_err(cannot)?];
        enc.encode(m.kind, &m.data, &mut buf).map_err(cannot)?;
        buf
    } else {
        let msg = Message::new(m.kind, &m.data)
            .with_id(m.id)
            .with_flags(m.flags);
        let enc = Encoder::new();
        let mut buf = vec![0; enc.encoded_len(&msg).map_err(cannot)?];
        enc.encode(&msg, &mut buf).map_err(cannot)?;
        buf
    };
    let mut out = io::stdout().lock();
    out.write_all(&bytes)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

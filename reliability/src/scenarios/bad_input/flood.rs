//! A flood connection: rounds of bad input with valid requests in them,
//! every answer checked against what the core decoder calls for.

use std::net::SocketAddr;
use std::time::Duration;

use async_net::TcpStream;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::oracle::{Decoder, Want};
use super::round::{make_round, Bad, Round};
use crate::exec::within;
use crate::mix::Rng;
use crate::wire::MAX_PAYLOAD;

/// What one flood connection sent and had answered.
pub struct Flooded {
    pub bad_bytes: u64,
    /// Valid requests among the bad input, answered right.
    pub valid: u64,
}

/// Sends `rounds` rounds of `bad` input (a binary `Huge` one round, then
/// 2 MiB more of its "payload"), checking that the answers are exactly
/// those expected, in order.
pub async fn connection(
    addr: SocketAddr,
    bad: Bad,
    text: bool,
    rounds: usize,
    seed: u64,
) -> Result<Flooded, String> {
    let connect = TcpStream::connect(addr);
    let mut s = within(Duration::from_secs(20), "connect", connect)
        .await?
        .map_err(|e| format!("connect: {e}"))?;
    let mut rng = Rng::new(seed);
    let mut next_id = 0u32;
    let mut answers = Decoder::with_limit(text, MAX_PAYLOAD + 100);
    let huge_binary = matches!(bad, Bad::Huge) && !text;
    let rounds = if huge_binary { 1 } else { rounds };
    let mut done = Flooded {
        bad_bytes: 0,
        valid: 0,
    };
    for r in 0..rounds {
        let round = make_round(&mut rng, bad, text, &mut next_id);
        done.bad_bytes += round.bad_bytes;
        let got = send_round(&mut s, &mut answers, &round).await?;
        if got != round.want {
            let framing = if text { "text" } else { "binary" };
            return Err(mismatch(
                &format!("{bad:?} {framing} round {r}"),
                &got,
                &round.want,
            ));
        }
        done.valid += round.want.iter().filter(|w| w.kind == "ECHO").count() as u64;
    }
    if huge_binary {
        // Keep streaming "payload" of the 4 GB frame: skipped, not kept.
        let mut chunk = vec![0u8; 1 << 20];
        rng.fill(&mut chunk);
        for _ in 0..2 {
            within(Duration::from_secs(30), "skip stream", s.write_all(&chunk))
                .await?
                .map_err(|e| format!("write: {e}"))?;
            done.bad_bytes += chunk.len() as u64;
        }
    }
    let _ = s.close().await;
    Ok(done)
}

/// Writes the round while reading its answers (within 30 s).
async fn send_round(
    s: &mut TcpStream,
    answers: &mut Decoder,
    round: &Round,
) -> Result<Vec<Want>, String> {
    let mut w = s.clone();
    let send = async move {
        w.write_all(&round.bytes)
            .await
            .map_err(|e| format!("write: {e}"))
    };
    let read = within(
        Duration::from_secs(30),
        "answers",
        read_answers(s, answers, round.want.len()),
    );
    let (sent, got) = futures_lite::future::zip(send, read).await;
    sent?;
    got?
}

/// Reads `n` answers in the connection's framing; a malformed one, or the
/// connection closing first, is an error.
async fn read_answers(s: &mut TcpStream, dec: &mut Decoder, n: usize) -> Result<Vec<Want>, String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        while let Some(ev) = dec.next() {
            let f = ev.map_err(|e| format!("a malformed answer: {e}"))?;
            out.push(Want::of_answer(f));
        }
        if out.len() >= n {
            return Ok(out);
        }
        let got = s.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
        if got == 0 {
            return Err(format!("closed after {} of {n} answers", out.len()));
        }
        let mut rest = &buf[..got];
        while !rest.is_empty() {
            let k = dec.feed(rest);
            rest = &rest[k..];
            if k == 0 {
                break;
            }
        }
    }
}

/// Where the answers first differ from those expected.
fn mismatch(what: &str, got: &[Want], want: &[Want]) -> String {
    let first = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    format!(
        "{what}: answer {first} is {:?}, expected {:?} ({} answers, {} expected)",
        got.get(first).map(Want::short),
        want.get(first).map(Want::short),
        got.len(),
        want.len()
    )
}

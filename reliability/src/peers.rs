//! The suite's clients: msgwire's `Client` (binary framing, requests
//! correlated by id) and, for text framing, `Framed` over a TCP stream in
//! lock-step. Each request of the load mix checks its answer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_io::Timer;
use async_net::TcpStream;
use msgwire::conversation::Framing;
use msgwire::net::{Client, ClientConfig, Framed, FramedConfig, RecvError};
use msgwire::{Flags, Kind, Message};

use crate::exec::{spawner, within};
use crate::harness::report::micros_since;
use crate::mix::{fnv_hex, make_payload, payload_size, Rng};

/// A text connection.
pub type TextConn = Framed<TcpStream>;

/// Generous timeouts: a timeout is a violation, not a figure.
pub fn client_config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(20),
        request_timeout: Duration::from_secs(60),
        ..ClientConfig::default()
    }
}

/// Connects a client, retrying a few times (a listen backlog can overflow
/// when a thousand peers connect at once).
pub async fn connect_client(addr: SocketAddr) -> Result<Client, String> {
    let mut last = String::new();
    for _ in 0..5 {
        match Client::connect_tcp(addr, client_config()).await {
            Ok(c) => return c.start(&spawner()).map_err(|e| e.to_string()),
            Err(e) => last = e.to_string(),
        }
        Timer::after(Duration::from_millis(200)).await;
    }
    Err(format!("connect: {last}"))
}

/// Connects a text connection, retrying as [`connect_client`] does.
pub async fn connect_text(addr: SocketAddr) -> Result<TextConn, String> {
    let mut last = String::new();
    for _ in 0..5 {
        match within(Duration::from_secs(20), "connect", TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(Framed::new(s, Framing::Text, FramedConfig::default()));
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(e) => last = e,
        }
        Timer::after(Duration::from_millis(200)).await;
    }
    Err(format!("connect: {last}"))
}

/// What one connection's requests add up to: the latencies (µs) and the
/// payload bytes both ways.
#[derive(Default)]
pub struct Tally {
    pub latencies: Vec<u32>,
    pub bytes: u64,
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.bytes += other.bytes;
    }
}

/// One binary request of the load mix (85 % `ECHO`, 10 % `HASH`, 5 %
/// `PING`); the answer must have the right kind, the `RESPONSE` flag and
/// the right payload.
pub async fn binary_request(
    client: &Client,
    rng: &mut Rng,
    tag: &str,
    tally: &mut Tally,
) -> Result<(), String> {
    let kind = match rng.percent() {
        0..=84 => "ECHO",
        85..=94 => "HASH",
        _ => "PING",
    };
    let size = payload_size(rng, false);
    let payload = make_payload(rng, size, tag, false);
    let t = Instant::now();
    let answer = client
        .request(kind, &payload)
        .await
        .map_err(|e| format!("{kind} {tag} ({size} B): {e}"))?;
    tally.latencies.push(micros_since(t));
    tally.bytes += (payload.len() + answer.payload.len()) as u64;
    let (want_kind, want): (&str, Vec<u8>) = match kind {
        "ECHO" => ("ECHO", payload),
        "HASH" => ("HASH", fnv_hex(&payload).into_bytes()),
        _ => ("PONG", b"ack".to_vec()),
    };
    if answer.kind != want_kind || answer.payload != want || !answer.flags.contains(Flags::RESPONSE)
    {
        // A misrouted answer carries another request's tag: say whose.
        let whose = if answer.payload.len() >= tag.len() && answer.payload.starts_with(b"c") {
            let start = &answer.payload[..tag.len().min(24)];
            format!(", which starts {:?}", String::from_utf8_lossy(start))
        } else {
            String::new()
        };
        return Err(format!(
            "{kind} {tag} ({size} B): wrong answer {} id {} ({} B){whose}",
            answer.kind,
            answer.id,
            answer.payload.len(),
        ));
    }
    Ok(())
}

/// One text request of the load mix (90 % `ECHO`, 10 % `PING`), in
/// lock-step; the answer must have the right kind and payload.
pub async fn text_request(
    conn: &mut TextConn,
    rng: &mut Rng,
    tag: &str,
    tally: &mut Tally,
) -> Result<(), String> {
    let ping = rng.percent() < 10;
    let size = payload_size(rng, true);
    let payload = make_payload(rng, size, tag, true);
    let kind = if ping { Kind::PING } else { Kind::ECHO };
    let t = Instant::now();
    conn.send(&Message::new(kind, &payload))
        .await
        .map_err(|e| format!("text {tag}: send: {e}"))?;
    conn.flush()
        .await
        .map_err(|e| format!("text {tag}: flush: {e}"))?;
    let got = within(Duration::from_secs(60), "text answer", conn.recv())
        .await?
        .map_err(|e| format!("text {tag}: recv: {e}"))?;
    tally.latencies.push(micros_since(t));
    tally.bytes += (payload.len() + got.payload.len()) as u64;
    let (want_kind, want): (&str, &[u8]) = if ping {
        ("PONG", b"ack")
    } else {
        ("ECHO", &payload)
    };
    if got.kind.as_str() != want_kind || got.payload != want {
        return Err(format!(
            "text {kind} {tag} ({size} B): wrong answer {} ({} B)",
            got.kind.as_str(),
            got.payload.len()
        ));
    }
    Ok(())
}

/// Sends `EXIT` on a text connection and checks that nothing more comes
/// (no duplicated or stray answer) before the server closes.
pub async fn text_exit(conn: &mut TextConn, what: &str) -> Result<(), String> {
    conn.send(&Message::new(Kind::EXIT, b""))
        .await
        .map_err(|e| format!("{what}: EXIT: {e}"))?;
    conn.flush()
        .await
        .map_err(|e| format!("{what}: EXIT: {e}"))?;
    match within(Duration::from_secs(30), "close after EXIT", conn.recv()).await? {
        Err(RecvError::Closed) | Err(RecvError::Io(_)) => Ok(()),
        Ok(m) => Err(format!(
            "{what}: a stray answer {} after the last one",
            m.kind.as_str()
        )),
        Err(e) => Err(format!("{what}: after EXIT: {e}")),
    }
}

/// Checks that a binary client saw no stray answers (duplicates come back
/// as answers to no pending request) and no unsolicited message.
pub fn check_client_clean(client: &Client, what: &str) -> Result<(), String> {
    if client.late_answers() != 0 || client.dropped_unsolicited() != 0 {
        return Err(format!(
            "{what}: {} answers for no pending request, {} unsolicited",
            client.late_answers(),
            client.dropped_unsolicited()
        ));
    }
    Ok(())
}

/// A clean connection beside misbehaving ones (bad-input, handlers):
/// requests of the load mix until `deadline`, every answer checked; a text
/// connection when `i % 4 == 0`. Tags are `{prefix}{i}.{r};`.
pub async fn clean_connection(
    addr: SocketAddr,
    i: u64,
    seed: u64,
    prefix: &str,
    deadline: Instant,
) -> Result<Tally, String> {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let mut r = 0;
    if i.is_multiple_of(4) {
        let mut f = connect_text(addr).await?;
        while Instant::now() < deadline {
            r += 1;
            let tag = format!("{prefix}{i}.{r};");
            text_request(&mut f, &mut rng, &tag, &mut tally).await?;
        }
    } else {
        let c = connect_client(addr).await?;
        while Instant::now() < deadline {
            r += 1;
            let tag = format!("{prefix}{i}.{r};");
            binary_request(&c, &mut rng, &tag, &mut tally).await?;
        }
        check_client_clean(&c, "clean connection")?;
    }
    Ok(tally)
}

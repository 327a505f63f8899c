//! handlers: connections that call handlers which panic, fail or take too
//! long (a 1 s handler timeout), each call followed by a valid request on
//! the same connection, beside clean connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_executor::Task;
use msgwire::net::ClientError;
use msgwire::{Kind, Message};

use crate::exec::{join_all, spawn, within};
use crate::harness::cli::Mode;
use crate::harness::report::{check, failures, ms, percentile, violation};
use crate::mix::Rng;
use crate::peers::{
    binary_request, check_client_clean, clean_connection, connect_client, connect_text,
    text_request, Tally,
};
use crate::server::ServerProc;
use crate::wire::ping_ok;

const HANDLER_TIMEOUT: Duration = Duration::from_secs(1);

/// The misbehaving calls, in turn (call `n` is `CALLS[n % 3]`): the kind,
/// its payload, the `ERROR` a text peer must see (code and detail) and the
/// detail a client must see (code `handler-failed`). `SLOW 3000` takes 3 s:
/// answered `DONE` unless the timeout cuts it.
const CALLS: [(&str, &[u8], &str, &str); 3] = [
    (
        "PANIC",
        b"x",
        "handler-failed: panicked",
        "panicked: deliberate panic",
    ),
    (
        "FAIL",
        b"x",
        "handler-failed: deliberate failure",
        "deliberate failure",
    ),
    ("SLOW", b"3000", "handler-failed: timed out", "timed out"),
];

/// Answered panics, failures and timeouts (by `n % 3`), and the valid
/// requests after them.
type Counts = [AtomicU64; 4];

pub fn scenario(mode: Mode) {
    let secs = mode.pick(8u64, 30u64);
    let server = match ServerProc::start(Some(Duration::from_secs(30)), Some(HANDLER_TIMEOUT)) {
        Ok(s) => s,
        Err(e) => return violation(format!("handlers: {e}")),
    };
    let addr = server.addr;
    println!("handlers: {secs} s; handler timeout 1 s; 16 connections calling handlers that panic, fail or take 3 s (each followed by a valid request on the same connection), beside 32 clean ones");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let counts: Arc<Counts> = Arc::new(Default::default());
    let mut tasks: Vec<Task<Result<Tally, String>>> = Vec::new();
    for i in 0..16u64 {
        let counts = counts.clone();
        tasks.push(spawn(async move {
            let mut rng = Rng::new(900 + i);
            if i.is_multiple_of(4) {
                text_misbehaving(addr, i, &mut rng, deadline, &counts).await?;
            } else {
                binary_misbehaving(addr, i, &mut rng, deadline, &counts).await?;
            }
            Ok(Tally::default())
        }));
    }
    for i in 0..32u64 {
        tasks.push(spawn(clean_connection(addr, i, 5000 + i, "k", deadline)));
    }
    let results = join_all(tasks, Duration::from_secs(secs + 60), "handlers connection");
    failures("handlers", results.iter().filter_map(|r| r.as_ref().err()));
    let mut clean = Tally::default();
    for t in results.into_iter().flatten() {
        clean.add(t);
    }
    let lat = &mut clean.latencies;
    lat.sort_unstable();
    let p99 = percentile(lat, 0.99);
    check(p99 < 1_000_000, || {
        format!(
            "handlers: clean connections' p99 latency {} while handlers misbehave",
            ms(p99)
        )
    });
    let count = |i: usize| counts[i].load(Ordering::Relaxed);
    println!(
        "handlers: {} panics, {} failures, {} timeouts answered handler-failed, each followed by a valid request answered on the same connection ({}); {} clean requests answered and checked, p50 {} p99 {}",
        count(0),
        count(1),
        count(2),
        count(3),
        lat.len(),
        ms(percentile(lat, 0.5)),
        ms(p99)
    );
    ping_ok(addr, "handlers", "after misbehaving handlers");
    server.stop("handlers");
}

/// A text connection: each call answered with its `ERROR` line, then a
/// valid request answered right, until `deadline`.
async fn text_misbehaving(
    addr: SocketAddr,
    i: u64,
    rng: &mut Rng,
    deadline: Instant,
    counts: &Counts,
) -> Result<(), String> {
    let mut f = connect_text(addr).await?;
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        let (kind, payload, want, _) = CALLS[n % 3];
        let k = Kind::new(kind).map_err(|e| e.to_string())?;
        f.send(&Message::new(k, payload))
            .await
            .map_err(|e| e.to_string())?;
        f.flush().await.map_err(|e| e.to_string())?;
        let m = within(Duration::from_secs(10), "text handler answer", f.recv())
            .await?
            .map_err(|e| format!("text {kind}: {e}"))?;
        let text = String::from_utf8_lossy(m.payload).to_string();
        if m.kind.as_str() != "ERROR" || !text.starts_with(want) {
            return Err(format!(
                "text {kind}: answered {} {text:?}",
                m.kind.as_str()
            ));
        }
        counts[n % 3].fetch_add(1, Ordering::Relaxed);
        let tag = format!("h{i}.{n};");
        text_request(&mut f, rng, &tag, &mut Tally::default()).await?;
        counts[3].fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// A client: each call fails with `Remote { code: "handler-failed" }` and
/// the right detail (a timeout after 0.95–2.9 s), then a valid request is
/// answered right, until `deadline`.
async fn binary_misbehaving(
    addr: SocketAddr,
    i: u64,
    rng: &mut Rng,
    deadline: Instant,
    counts: &Counts,
) -> Result<(), String> {
    let c = connect_client(addr).await?;
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        let (kind, payload, _, want) = CALLS[n % 3];
        let t = Instant::now();
        match c.request(kind, payload).await {
            Err(ClientError::Remote(e))
                if e.code() == "handler-failed" && e.detail().starts_with(want) => {}
            other => return Err(format!("{kind}: {other:?}")),
        }
        let took = t.elapsed();
        if kind == "SLOW"
            && (took < HANDLER_TIMEOUT - Duration::from_millis(50)
                || took > HANDLER_TIMEOUT * 29 / 10)
        {
            return Err(format!(
                "SLOW 3000 with a 1 s handler timeout answered after {took:?}"
            ));
        }
        counts[n % 3].fetch_add(1, Ordering::Relaxed);
        let tag = format!("h{i}.{n};");
        binary_request(&c, rng, &tag, &mut Tally::default()).await?;
        counts[3].fetch_add(1, Ordering::Relaxed);
    }
    check_client_clean(&c, "handler connection")?;
    Ok(())
}

//! bad-input: floods of bad input in both framings (random bytes, 4 GB
//! headers, bad checksums, overlong lines, unknown kinds), each flood
//! connection mixing valid requests in, beside clean connections. Every
//! answer on a flood connection must be exactly what the crate's core
//! decoder, fed the same bytes, calls for.

mod flood;
mod oracle;
mod round;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_executor::Task;

use self::round::{Bad, SORTS};
use crate::exec::{join_all, spawn};
use crate::harness::cli::Mode;
use crate::harness::report::{check, failures, mib, ms, percentile, violation};
use crate::peers::{clean_connection, Tally};
use crate::server::{Sampler, ServerProc};
use crate::wire::ping_ok;

/// Flood connections at a time per sort and framing.
const PER_SORT: u64 = 3;
/// Rounds per flood connection.
const ROUNDS: usize = 20;
/// Clean connections beside the floods.
const CLEAN: u64 = 8;

/// What the floods add up to.
#[derive(Default)]
struct Floods {
    bad_bytes: [AtomicU64; 5],
    valid: AtomicU64,
    connections: AtomicU64,
}

pub fn scenario(mode: Mode) {
    let secs = mode.pick(10u64, 60u64);
    let server = match ServerProc::start(Some(Duration::from_secs(30)), None) {
        Ok(s) => s,
        Err(e) => return violation(format!("bad-input: {e}")),
    };
    let addr = server.addr;
    let rss_start = server.rss();
    let sampler = Sampler::start(server.pid, Duration::from_millis(100));
    println!("bad-input: {secs} s of floods (random bytes, 4 GB headers, bad checksums, overlong lines, unknown kinds), each connection mixing valid requests in, beside clean connections");
    let floods = Arc::new(Floods::default());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks: Vec<Task<Result<Tally, String>>> = Vec::new();
    for (k, bad) in SORTS.into_iter().enumerate() {
        for text in [false, true] {
            for j in 0..PER_SORT {
                let seed = (k as u64) << 40 | u64::from(text) << 32 | j << 24;
                let task = flooder(addr, k, bad, text, seed, deadline, floods.clone());
                tasks.push(spawn(task));
            }
        }
    }
    for i in 0..CLEAN {
        tasks.push(spawn(clean_connection(addr, i, 77 + i, "clean", deadline)));
    }
    let limit = Duration::from_secs(secs + 120);
    let results = join_all(tasks, limit, "bad-input connection");
    failures("bad-input", results.iter().filter_map(|r| r.as_ref().err()));
    let peak = sampler.peak();
    // 38 connections at most at once, each entitled to its buffers
    // (~200 KiB); 4 GB claims must not be buffered.
    let bound = rss_start + 32 * 1024;
    check(peak <= bound, || {
        format!(
            "bad-input: server RSS reached {} (start {}, limit {})",
            mib(peak),
            mib(rss_start),
            mib(bound)
        )
    });
    let mut clean = Tally::default();
    for t in results.into_iter().flatten() {
        clean.add(t);
    }
    print_figures(&floods, clean);
    println!(
        "bad-input: server RSS start {} max {} end {}",
        mib(rss_start),
        mib(peak),
        mib(server.rss())
    );
    ping_ok(addr, "bad-input", "after bad input");
    server.stop("bad-input");
}

/// Opens flood connections of one sort and framing, one after the other,
/// until `deadline`. Its tally is empty: the latencies are the clean
/// connections'.
async fn flooder(
    addr: SocketAddr,
    k: usize,
    bad: Bad,
    text: bool,
    mut seed: u64,
    deadline: Instant,
    floods: Arc<Floods>,
) -> Result<Tally, String> {
    while Instant::now() < deadline {
        seed += 1;
        let done = flood::connection(addr, bad, text, ROUNDS, seed).await?;
        floods.bad_bytes[k].fetch_add(done.bad_bytes, Ordering::Relaxed);
        floods.valid.fetch_add(done.valid, Ordering::Relaxed);
        floods.connections.fetch_add(1, Ordering::Relaxed);
    }
    Ok(Tally::default())
}

fn print_figures(floods: &Floods, mut clean: Tally) {
    let lat = &mut clean.latencies;
    lat.sort_unstable();
    let bad: Vec<u64> = floods
        .bad_bytes
        .iter()
        .map(|b| b.load(Ordering::Relaxed))
        .collect();
    let to_mib = |b: u64| b as f64 / 1048576.0;
    println!(
        "bad-input: {:.1} MiB of bad input on {} flood connections; {} valid requests among it all answered and checked; {} requests on clean connections answered and checked (p99 {})",
        to_mib(bad.iter().sum()),
        floods.connections.load(Ordering::Relaxed),
        floods.valid.load(Ordering::Relaxed),
        lat.len(),
        ms(percentile(lat, 0.99))
    );
    let per: Vec<String> = SORTS
        .iter()
        .zip(&bad)
        .map(|(s, &b)| format!("{s:?} {:.1} MiB", to_mib(b)))
        .collect();
    println!("bad-input: bad bytes by sort: {}", per.join(", "));
}

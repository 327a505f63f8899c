//! soak: steady mixed load, with connections opening and closing all the
//! time; both processes' memory must stay flat.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use msgwire::net::Client;

use crate::exec::{join_all, spawn, within};
use crate::harness::cli::Mode;
use crate::harness::report::{check, failures, mib, violation};
use crate::mix::Rng;
use crate::peers::{
    binary_request, check_client_clean, connect_client, connect_text, text_exit, text_request,
    Tally,
};
use crate::server::{fd_count, rss_kib, ServerProc};

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    opened: AtomicU64,
}

pub fn scenario(mode: Mode) {
    let duration = mode.pick(Duration::from_secs(20), Duration::from_secs(600));
    let window = mode.pick(5usize, 60usize); // seconds: warm-up, baseline and final windows
    let workers = mode.pick(24usize, 48usize);
    println!(
        "soak: {} s of mixed load by {workers} workers, each opening a connection, making 1-400 requests and closing it (EXIT, close, or drop with a request in flight), again and again",
        duration.as_secs()
    );
    let mut server = match ServerProc::start(Some(Duration::from_secs(60)), None) {
        Ok(s) => s,
        Err(e) => return violation(format!("soak: {e}")),
    };
    let fds_start = fd_count(server.pid);
    let counters = Arc::new(Counters::default());
    let t0 = Instant::now();
    let deadline = t0 + duration;
    let tasks: Vec<_> = (0..workers)
        .map(|w| spawn(worker(w, server.addr, deadline, counters.clone())))
        .collect();
    // Both processes' RSS, once a second.
    let (mut server_rss, mut self_rss) = (Vec::new(), Vec::new());
    while Instant::now() < deadline {
        server_rss.push(server.rss());
        self_rss.push(rss_kib(std::process::id()));
        std::thread::sleep(Duration::from_secs(1));
    }
    let results = join_all(tasks, Duration::from_secs(120), "soak worker");
    let elapsed = t0.elapsed();
    failures("soak", results.iter().filter_map(|r| r.as_ref().err()));
    let drained = server.wait_active_at_most(0, Duration::from_secs(30));
    check(drained.is_some(), || {
        "soak: connections still open at the server 30 s after every client closed".into()
    });
    std::thread::sleep(Duration::from_millis(200));
    let fds_end = fd_count(server.pid);
    check(fds_end <= fds_start + 2, || {
        format!("soak: the server had {fds_start} descriptors open before and {fds_end} after")
    });
    let stats = server.stats();
    check(stats.overloaded == 0, || {
        format!(
            "soak: {} connections refused as overloaded",
            stats.overloaded
        )
    });
    let total = counters.requests.load(Ordering::Relaxed);
    println!(
        "soak: {total} requests checked, {} connections opened and closed ({} accepted by the server), {:.0} requests/s",
        counters.opened.load(Ordering::Relaxed),
        stats.accepted,
        total as f64 / elapsed.as_secs_f64()
    );
    for (who, samples) in [("server", &server_rss), ("client process", &self_rss)] {
        flat_check(who, samples, window);
    }
    println!("soak: server descriptors {fds_start} before, {fds_end} after");
    server.stop("soak");
}

/// Worker `w`: until `deadline`, opens a connection (25 % text), makes
/// 1–400 requests of the load mix, closes it, again.
async fn worker(
    w: usize,
    addr: SocketAddr,
    deadline: Instant,
    counters: Arc<Counters>,
) -> Result<(), String> {
    let mut rng = Rng::new(1000 + w as u64);
    let mut round = 0u64;
    while Instant::now() < deadline {
        round += 1;
        counters.opened.fetch_add(1, Ordering::Relaxed);
        let n = rng.range(1, 400);
        let tag = |r: usize| format!("w{w}.{round}.{r};");
        let done = if rng.percent() < 25 {
            text_round(addr, &mut rng, n, tag).await?
        } else {
            binary_round(addr, &mut rng, n, tag).await?
        };
        counters.requests.fetch_add(done, Ordering::Relaxed);
    }
    Ok(())
}

/// A text connection's `n` requests, then `EXIT` (half the time) or just
/// dropping the socket.
async fn text_round(
    addr: SocketAddr,
    rng: &mut Rng,
    n: usize,
    tag: impl Fn(usize) -> String,
) -> Result<u64, String> {
    let mut tally = Tally::default();
    let mut f = connect_text(addr).await?;
    for r in 0..n {
        text_request(&mut f, rng, &tag(r), &mut tally).await?;
    }
    if rng.percent() < 50 {
        text_exit(&mut f, "soak text connection").await?;
    }
    Ok(tally.latencies.len() as u64)
}

/// A client's `n` requests, then closed one of three ways: `EXIT`,
/// `Client::close`, or dropped with a request in flight.
async fn binary_round(
    addr: SocketAddr,
    rng: &mut Rng,
    n: usize,
    tag: impl Fn(usize) -> String,
) -> Result<u64, String> {
    let mut tally = Tally::default();
    let client = connect_client(addr).await?;
    for r in 0..n {
        binary_request(&client, rng, &tag(r), &mut tally).await?;
    }
    check_client_clean(&client, "soak binary connection")?;
    match rng.percent() {
        0..=32 => {
            client
                .send("EXIT", b"")
                .await
                .map_err(|e| format!("soak: EXIT: {e}"))?;
        }
        33..=65 => client.close(),
        _ => drop_in_flight(client).await,
    }
    Ok(tally.latencies.len() as u64)
}

/// Drops the client 1 ms into a request.
async fn drop_in_flight(client: Client) {
    let _ = within(Duration::from_millis(1), "x", async move {
        client.request("ECHO", &[7u8; 3000]).await
    })
    .await;
}

/// "Flat": after a warm-up window, the largest sample of the last window
/// is at most the largest sample of the first window after warm-up plus
/// max(10 %, 4 MiB).
fn flat_check(who: &str, samples: &[u64], window: usize) {
    let n = samples.len();
    if n < 3 * window {
        violation(format!(
            "soak: only {n} RSS samples of the {who} (need {})",
            3 * window
        ));
        return;
    }
    let max_of = |s: &[u64]| s.iter().copied().max().unwrap_or(0);
    let baseline = max_of(&samples[window..2 * window]);
    let last = max_of(&samples[n - window..]);
    let margin = (baseline / 10).max(4096);
    println!(
        "soak: {who} RSS start {} end {} max {}; max of seconds {window}-{} {} vs max of the last {window} s {} (limit {})",
        mib(samples[0]),
        mib(samples[n - 1]),
        mib(max_of(samples)),
        2 * window,
        mib(baseline),
        mib(last),
        mib(baseline + margin)
    );
    check(last <= baseline + margin, || {
        format!(
            "soak: {who} RSS grew: {} in the last {window} s vs {} after warm-up (limit {})",
            mib(last),
            mib(baseline),
            mib(baseline + margin)
        )
    });
}

//! load: many concurrent connections, all open at once, every answer
//! checked.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_executor::Task;
use msgwire::net::Client;

use crate::exec::{join_all, run, spawn};
use crate::harness::cli::Mode;
use crate::harness::report::{check, failures, mib, ms, percentile, violation};
use crate::mix::Rng;
use crate::peers::{
    binary_request, check_client_clean, connect_client, connect_text, text_exit, text_request,
    Tally, TextConn,
};
use crate::server::{Sampler, ServerProc};

/// Every 5th connection speaks text.
const TEXT_SHARE: usize = 5;
/// Requests in flight per binary connection.
const WINDOW: usize = 4;

enum Conn {
    Bin(Client),
    Text(Box<TextConn>),
}

pub fn scenario(mode: Mode) {
    let conns = mode.pick(200, 1000);
    let per_conn = mode.pick(500, 1000);
    println!(
        "load: {conns} connections ({} text, lock-step; {} binary, {WINDOW} requests in flight each) x {per_conn} requests",
        conns / TEXT_SHARE,
        conns - conns / TEXT_SHARE
    );
    let mut server = match ServerProc::start(Some(Duration::from_secs(120)), None) {
        Ok(s) => s,
        Err(e) => return violation(format!("load: {e}")),
    };
    let rss_start = server.rss();
    let sampler = Sampler::start(server.pid, Duration::from_millis(100));
    let t_connect = Instant::now();
    let connected = match run(connect_all(server.addr, conns)) {
        Ok(c) => c,
        Err(e) => return violation(format!("load: {e}")),
    };
    let connect_time = t_connect.elapsed();
    let active_peak = active_peak(&mut server, conns);
    let t0 = Instant::now();
    let tasks: Vec<Task<Result<(Tally, Instant), String>>> = connected
        .into_iter()
        .enumerate()
        .map(|(i, c)| spawn(connection(i, c, per_conn)))
        .collect();
    let results = join_all(tasks, Duration::from_secs(1800), "load connection");
    failures("load", results.iter().filter_map(|r| r.as_ref().err()));
    let mut tally = Tally::default();
    let mut finished = None;
    for (t, done) in results.into_iter().flatten() {
        tally.add(t);
        finished = finished.max(Some(done));
    }
    let elapsed = finished
        .unwrap_or_else(Instant::now)
        .saturating_duration_since(t0);
    let total = tally.latencies.len() as u64;
    let want = (conns * per_conn) as u64;
    check(total == want, || {
        format!("load: {total} of {want} requests answered correctly")
    });
    check(active_peak >= conns * 9 / 10, || {
        format!("load: the server held at most {active_peak} of {conns} connections at once")
    });
    println!(
        "load: {total} requests answered and checked in {:.1} s ({active_peak} connections open at once at the server, connect phase {:.1} s)",
        elapsed.as_secs_f64(),
        connect_time.as_secs_f64()
    );
    print_figures(tally, elapsed);
    // The end is a sample too: a short run can end between two.
    let rss_end = server.rss();
    println!(
        "load: server RSS start {} max {} end {}",
        mib(rss_start),
        mib(sampler.peak().max(rss_end)),
        mib(rss_end)
    );
    if server
        .wait_active_at_most(0, Duration::from_secs(30))
        .is_none()
    {
        violation("load: the server still holds connections 30 s after every client closed");
    }
    server.stop("load");
}

/// Connects everyone first, 50 at a time, so that all are open at once.
async fn connect_all(addr: SocketAddr, conns: usize) -> Result<Vec<Conn>, String> {
    let mut out = Vec::with_capacity(conns);
    for batch in (0..conns).collect::<Vec<_>>().chunks(50) {
        let tasks: Vec<_> = batch
            .iter()
            .map(|&i| {
                spawn(async move {
                    if i % TEXT_SHARE == 0 {
                        connect_text(addr).await.map(|c| Conn::Text(Box::new(c)))
                    } else {
                        connect_client(addr).await.map(Conn::Bin)
                    }
                })
            })
            .collect();
        for t in tasks {
            out.push(t.await?);
        }
    }
    Ok(out)
}

/// How many connections the server holds at once before the requests
/// start (polled for up to 10 s, until it holds them all).
fn active_peak(server: &mut ServerProc, conns: usize) -> usize {
    let mut peak = 0;
    let probe_until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < probe_until && peak < conns {
        peak = peak.max(server.stats().active);
        std::thread::sleep(Duration::from_millis(20));
    }
    peak
}

/// Connection `i` makes its `per_conn` requests, every answer checked,
/// then closes (text: `EXIT`, and nothing may follow). When it finished.
async fn connection(i: usize, conn: Conn, per_conn: usize) -> Result<(Tally, Instant), String> {
    let mut tally = Tally::default();
    match conn {
        Conn::Text(mut f) => {
            let mut rng = Rng::new(i as u64 + 1);
            for r in 0..per_conn {
                let tag = format!("c{i}.r{r};");
                text_request(&mut f, &mut rng, &tag, &mut tally).await?;
            }
            text_exit(&mut f, &format!("text connection {i}")).await?;
        }
        Conn::Bin(client) => {
            // WINDOW workers share the client, each taking every
            // WINDOW-th request.
            let workers: Vec<_> = (0..WINDOW)
                .map(|w| {
                    let client = client.clone();
                    spawn(async move {
                        let mut rng = Rng::new(((i as u64) << 8) + w as u64 + 7);
                        let mut tally = Tally::default();
                        for r in (w..per_conn).step_by(WINDOW) {
                            let tag = format!("c{i}.r{r};");
                            binary_request(&client, &mut rng, &tag, &mut tally).await?;
                        }
                        Ok::<_, String>(tally)
                    })
                })
                .collect();
            for w in workers {
                tally.add(w.await?);
            }
            check_client_clean(&client, &format!("binary connection {i}"))?;
            client.close();
        }
    }
    Ok((tally, Instant::now()))
}

fn print_figures(mut tally: Tally, elapsed: Duration) {
    let lat = &mut tally.latencies;
    lat.sort_unstable();
    let secs = elapsed.as_secs_f64();
    let mb = tally.bytes as f64 / 1048576.0;
    println!(
        "load: throughput {:.0} requests/s, {:.1} MiB/s of payload (both ways, {mb:.0} MiB in all)",
        lat.len() as f64 / secs,
        mb / secs,
    );
    println!(
        "load: latency p50 {} p99 {} p99.9 {} max {}",
        ms(percentile(lat, 0.50)),
        ms(percentile(lat, 0.99)),
        ms(percentile(lat, 0.999)),
        ms(lat.last().copied().unwrap_or(0))
    );
}

//! `Server::shutdown(3 s)` while clients are busy (the server runs in this
//! process): every request is answered right or fails with `Closed`,
//! nothing hangs; the 1 s handlers in flight are drained, the two 20 s ones
//! forced; a connection after shutdown is refused.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_executor::Task;
use async_io::Timer;
use msgwire::net::{Client, ClientError, Frame, Request, Router, ServerConfig, ShutdownReport};

use crate::exec::{run, spawn, spawner, within};
use crate::harness::cli::Mode;
use crate::harness::report::{check as holds, violation};
use crate::mix::{make_payload, Rng};
use crate::peers::{client_config, connect_client};
use crate::server::{slow, test_router};

/// The `SLOW` requests in flight when shutdown begins: four that finish
/// within its 3 s deadline, two that cannot.
const SLOW_MS: [u64; 6] = [1000, 1000, 1000, 1000, 20_000, 20_000];

struct Seen {
    report: ShutdownReport,
    took: Duration,
    answered: u64,
    /// When the last busy client got `Closed`, after shutdown began.
    last: Duration,
    slow: Vec<String>,
    refused: bool,
}

pub fn check(mode: Mode) {
    let busy = mode.pick(48usize, 200usize);
    // `SLOW` counts the handlers that have started, so that shutdown
    // begins once all six slow requests are in the server's hands.
    let started = Arc::new(AtomicU64::new(0));
    let counter = started.clone();
    let router = test_router(None).and_then(|r| {
        r.on("SLOW", move |req: Request| {
            counter.fetch_add(1, Ordering::SeqCst);
            slow(req)
        })
    });
    let router = match router {
        Ok(r) => r,
        Err(e) => return violation(format!("faults: router: {e}")),
    };
    let seen = match run(under_load(router, busy, started)) {
        Ok(s) => s,
        Err(e) => return violation(format!("faults: shutdown under load: {e}")),
    };
    let Seen {
        report,
        took,
        answered,
        last,
        slow,
        refused,
    } = seen;
    holds(took <= Duration::from_secs(5), || {
        format!("faults: shutdown(3 s) took {took:?}")
    });
    holds(report.forced == 2, || {
        format!(
            "faults: shutdown forced {} connections, expected the 2 with 20 s handlers",
            report.forced
        )
    });
    holds(refused, || {
        "faults: a connection after shutdown was served".into()
    });
    println!(
        "faults: shutdown(3 s) under load ({busy} busy clients, 6 slow): took {:.2} s, drained {} forced {}; {answered} requests answered and checked, each client's next request failed with Closed, the last {:.2} s after shutdown began; {}",
        took.as_secs_f64(),
        report.drained,
        report.forced,
        last.as_secs_f64(),
        slow.join(", ")
    );
}

async fn under_load(router: Router, busy: usize, started: Arc<AtomicU64>) -> Result<Seen, String> {
    let config = ServerConfig {
        max_connections: 4096,
        ..ServerConfig::default()
    };
    let (server, addr) = super::start_server(router, config).await?;
    let t0 = Instant::now();
    let mut busy_tasks = Vec::new();
    for i in 0..busy {
        busy_tasks.push(spawn(busy_client(connect_client(addr).await?, i)));
    }
    let mut slow_tasks = Vec::new();
    for ms in SLOW_MS {
        let client = connect_client(addr).await?;
        slow_tasks.push(spawn(async move {
            Timer::after(Duration::from_millis(1500)).await;
            let r = client.request("SLOW", ms.to_string().as_bytes()).await;
            (ms, r, Instant::now())
        }));
    }
    // Let the load run for 2 s, and the slow handlers start.
    Timer::at(t0 + Duration::from_secs(2)).await;
    within(Duration::from_secs(20), "slow handlers to start", async {
        while started.load(Ordering::SeqCst) < SLOW_MS.len() as u64 {
            Timer::after(Duration::from_millis(10)).await;
        }
    })
    .await?;
    let t_shut = Instant::now();
    let shutdown = server.shutdown(Duration::from_secs(3));
    let report = within(Duration::from_secs(10), "shutdown", shutdown).await?;
    let took = t_shut.elapsed();
    let mut answered = 0;
    let mut latest = t_shut;
    for t in busy_tasks {
        let (ok, when) = within(Duration::from_secs(10), "busy client after shutdown", t).await??;
        answered += ok;
        latest = latest.max(when);
    }
    let slow = slow_outcomes(slow_tasks, t_shut).await?;
    Ok(Seen {
        report,
        took,
        answered,
        last: latest - t_shut,
        slow,
        refused: refused_after_shutdown(addr).await?,
    })
}

/// `ECHO`s in a loop, every answer checked, until a request fails; it
/// must fail with `Closed`. The requests answered, and when it ended.
async fn busy_client(client: Client, i: usize) -> Result<(u64, Instant), String> {
    let mut rng = Rng::new(50_000 + i as u64);
    let mut ok = 0u64;
    loop {
        let size = rng.range(0, 4096);
        let p = make_payload(&mut rng, size, &format!("s{i}.{ok};"), false);
        match client.request("ECHO", &p).await {
            Ok(f) if f.kind == "ECHO" && f.payload == p => ok += 1,
            Ok(f) => return Err(format!("wrong answer {}", f.kind)),
            Err(ClientError::Closed(_)) => return Ok((ok, Instant::now())),
            Err(e) => return Err(format!("error other than Closed: {e}")),
        }
    }
}

type SlowOutcome = (u64, Result<Frame, ClientError>, Instant);

/// The 1 s requests must be answered `DONE`, the 20 s ones fail with
/// `Closed`; each within 10 s. A line for each.
async fn slow_outcomes(
    tasks: Vec<Task<SlowOutcome>>,
    t_shut: Instant,
) -> Result<Vec<String>, String> {
    let mut summary = Vec::new();
    for t in tasks {
        let (ms, r, when) =
            within(Duration::from_secs(10), "slow client after shutdown", t).await?;
        match (ms, &r) {
            (1000, Ok(f)) if f.kind == "DONE" => {}
            (20_000, Err(ClientError::Closed(_))) => {}
            _ => return Err(format!("SLOW {ms} ms: {r:?}")),
        }
        summary.push(format!(
            "SLOW {ms} ms -> {} at +{:.2} s",
            if r.is_ok() { "answered" } else { "Closed" },
            when.saturating_duration_since(t_shut).as_secs_f64()
        ));
    }
    Ok(summary)
}

/// After shutdown nobody is served: the connection or its `PING` fails.
async fn refused_after_shutdown(addr: SocketAddr) -> Result<bool, String> {
    let connect = Client::connect_tcp(addr, client_config());
    Ok(
        match within(Duration::from_secs(5), "connect after shutdown", connect).await? {
            Err(_) => true,
            Ok(c) => match c.start(&spawner()) {
                Ok(c) => c.request("PING", b"").await.is_err(),
                Err(e) => return Err(e.to_string()),
            },
        },
    )
}

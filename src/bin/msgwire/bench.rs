//! `msgwire bench`: ECHO requests as fast as the answers come back.
//!
//! It must measure the client and the server, not itself: each of the
//! `connections × pipeline` workers does per request what `bench/benches/net.rs`
//! does (a clock read before and after, the answer checked: here its
//! length, there its bytes) and records
//! the latency into a histogram allocated beforehand ([`Latencies`]). The
//! workers run on one thread, the caller's (`async_io::block_on`, which
//! polls the reactor itself, as `bench/benches/net.rs` does); the in-process
//! server runs on a thread of its own, and the clients' connection loops
//! on the workers' thread. Progress is drawn twice a second, on a terminal
//! only.

use std::cell::RefCell;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_io::block_on;
use msgwire::net::{Client, ClientConfig, FramedConfig, Router, Server, ServerConfig};

use crate::args::BenchArgs;
use crate::common::{live, open_client, Peer};
use crate::json;
use crate::stats::{ms, us, Latencies};
use crate::{Failure, Outcome};

/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What the workers count.
struct Tally {
    latencies: Latencies,
    failed: u64,
    /// The first failure's reason (the others are counted).
    first_failure: Option<String>,
}

/// A finished run.
struct Run {
    tally: Tally,
    elapsed: Duration,
}

pub fn run(mut a: BenchArgs) -> Outcome {
    let live = live(a.json);
    let (peer, server) = match a.to.take() {
        Some(peer) => (peer, None),
        None => {
            let s = InProcess::start(a.max_payload)?;
            (Peer::Tcp(s.addr), Some(s))
        }
    };
    let in_process = server.is_some();
    if !a.json {
        println!(
            "bench {peer}{}: {} connection(s) x {} in flight, {}-byte ECHO, {:.1} s",
            if in_process {
                " (in-process server)"
            } else {
                ""
            },
            a.connections,
            a.pipeline,
            a.size,
            a.duration.as_secs_f64()
        );
    }
    let run = block_on(async {
        let clients = connect(&peer, &a).await?;
        Ok::<_, Failure>(measure(&clients, &a, live).await)
    });
    // The clients are closed; the server drains what is left.
    if let Some(s) = server {
        s.stop()?;
    }
    let run = run?;
    if a.json {
        println!("{}", summary_json(&a, &peer, in_process, &run));
    } else {
        print_summary(&a, &run);
    }
    Ok(if run.tally.latencies.count() > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Opens the connections (their loops run in [`measure`]).
async fn connect(peer: &Peer, a: &BenchArgs) -> Result<Vec<Client>, Failure> {
    let config = ClientConfig {
        framed: FramedConfig {
            max_payload: a.max_payload,
            ..FramedConfig::default()
        },
        ..ClientConfig::default()
    };
    let mut clients = Vec::with_capacity(a.connections);
    for _ in 0..a.connections {
        clients.push(open_client(peer, config).await?);
    }
    Ok(clients)
}

/// Runs `a.pipeline` workers on each client for `a.duration`.
async fn measure(clients: &[Client], a: &BenchArgs, live: bool) -> Run {
    let tally = RefCell::new(Tally {
        latencies: Latencies::new(),
        failed: 0,
        first_failure: None,
    });
    let payload = vec![b'b'; a.size];
    let started = Instant::now();
    let until = started + a.duration;
    // Declared after what its tasks borrow: dropped before it.
    let ex = LocalExecutor::new();
    // Each client's connection loop on the workers' thread, as
    // `bench/benches/net.rs` runs it: no hop to another thread per batch.
    let loops: Vec<_> = clients.iter().map(|c| ex.spawn(c.run())).collect();
    let workers: Vec<_> = clients
        .iter()
        .flat_map(|c| std::iter::repeat_n(c, a.pipeline))
        .map(|c| ex.spawn(worker(c, &payload, until, &tally)))
        .collect();
    let ticker = live.then(|| ex.spawn(progress(&tally, started)));
    let elapsed = ex
        .run(async {
            for w in workers {
                w.await;
            }
            let elapsed = started.elapsed();
            // Closed, the loops end once the server has closed too.
            for (c, l) in clients.iter().zip(loops) {
                c.close();
                // Started here, once: said if it ever were not.
                if let Err(e) = l.await {
                    eprintln!("msgwire bench: client loop: {e}");
                }
            }
            elapsed
        })
        .await;
    if let Some(ticker) = ticker {
        drop(ticker); // cancelled: the last line drawn stays
        println!();
    }
    drop(ex);
    Run {
        tally: tally.into_inner(),
        elapsed,
    }
}

/// One request in flight at a time until `until`.
async fn worker(client: &Client, payload: &[u8], until: Instant, tally: &RefCell<Tally>) {
    while Instant::now() < until {
        let t = Instant::now();
        let answer = client.request("ECHO", payload).await;
        let latency = t.elapsed();
        let mut tally = tally.borrow_mut();
        match answer {
            Ok(r) if r.payload.len() == payload.len() => tally.latencies.record(latency),
            Ok(r) => tally.fail(|| {
                format!(
                    "answer {} with {} bytes of payload instead of {}",
                    r.kind,
                    r.payload.len(),
                    payload.len()
                )
            }),
            Err(e) => tally.fail(|| e.to_string()),
        }
    }
}

impl Tally {
    /// Counts a failure; only the first one's reason is written.
    fn fail(&mut self, why: impl FnOnce() -> String) {
        self.failed += 1;
        self.first_failure.get_or_insert_with(why);
    }
}

/// Redraws one line on stdout every [`PROGRESS_EVERY`] until cancelled.
async fn progress(tally: &RefCell<Tally>, started: Instant) {
    let (mut last, mut last_at) = (0, started);
    loop {
        async_io::Timer::after(PROGRESS_EVERY).await;
        let (now, at) = (tally.borrow().latencies.count(), Instant::now());
        let rate = (now - last) as f64 / at.duration_since(last_at).as_secs_f64();
        print!(
            "\r{:5.1} s  {now:>10} answers  {rate:>10.0} msg/s   ",
            at.duration_since(started).as_secs_f64()
        );
        // A progress line that cannot be drawn is no reason to stop.
        let _ = io::stdout().flush();
        (last, last_at) = (now, at);
    }
}

fn print_summary(a: &BenchArgs, run: &Run) {
    let ok = run.tally.latencies.count();
    let secs = run.elapsed.as_secs_f64();
    println!(
        "{ok} answers, {} failed, in {secs:.2} s: {:.0} messages/s, {:.2} MB/s of payload each way",
        run.tally.failed,
        ok as f64 / secs,
        ok as f64 * a.size as f64 / secs / 1e6
    );
    let s = run.tally.latencies.summary();
    if let (Some(min), Some(p50), Some(p90), Some(p99), Some(max)) =
        (s.min, s.p50, s.p90, s.p99, s.max)
    {
        println!(
            "latency min/p50/p90/p99/max = {}/{}/{}/{}/{} ms",
            ms(min),
            ms(p50),
            ms(p90),
            ms(p99),
            ms(max)
        );
    }
    if let Some(why) = &run.tally.first_failure {
        println!("first failure: {why}");
    }
}

/// The summary as one JSON object; the latencies are `null` when nothing
/// was answered.
fn summary_json(a: &BenchArgs, peer: &Peer, in_process: bool, run: &Run) -> String {
    let ok = run.tally.latencies.count();
    let secs = run.elapsed.as_secs_f64();
    let s = run.tally.latencies.summary();
    json::Object::new()
        .str("command", "bench")
        .str("to", &peer.to_string())
        .bool("in_process_server", in_process)
        .uint("connections", a.connections as u64)
        .uint("pipeline", a.pipeline as u64)
        .uint("size_bytes", a.size as u64)
        .float("duration_s", a.duration.as_secs_f64(), 3)
        .float("elapsed_s", secs, 3)
        .uint("answers", ok)
        .uint("failed", run.tally.failed)
        .opt_str("first_failure", run.tally.first_failure.as_deref())
        .float("messages_per_s", ok as f64 / secs, 1)
        .float(
            "payload_mb_per_s",
            ok as f64 * a.size as f64 / secs / 1e6,
            3,
        )
        .opt_float("min_us", us(s.min), 3)
        .opt_float("p50_us", us(s.p50), 3)
        .opt_float("p90_us", us(s.p90), 3)
        .opt_float("p99_us", us(s.p99), 3)
        .opt_float("max_us", us(s.max), 3)
        .opt_float("mean_us", us(s.mean), 3)
        .finish()
}

/// The server `bench` starts when no `--to` is given: on an ephemeral
/// loopback port, run on a thread of its own.
struct InProcess {
    server: Server,
    addr: SocketAddr,
    thread: JoinHandle<Result<(), msgwire::net::AlreadyStarted>>,
}

impl InProcess {
    fn start(max_payload: u32) -> Result<InProcess, Failure> {
        let config = ServerConfig {
            framed: FramedConfig {
                max_payload,
                ..FramedConfig::default()
            },
            ..ServerConfig::default()
        };
        let server = block_on(Server::bind_tcp("127.0.0.1:0", Router::new(), config))
            .map_err(|e| Failure::Run(format!("cannot start a server: {e}")))?;
        let addr = server
            .local_addr()
            .ok_or_else(|| Failure::Run("the in-process server has no TCP address".into()))?;
        let serving = server.run();
        let thread = std::thread::Builder::new()
            .name("msgwire-bench-server".into())
            .spawn(move || block_on(serving))?;
        Ok(InProcess {
            server,
            addr,
            thread,
        })
    }

    /// Shuts the server down and waits for its thread.
    fn stop(self) -> Result<(), Failure> {
        block_on(self.server.shutdown(Duration::from_secs(2)));
        self.thread
            .join()
            .map_err(|_| Failure::Run("the in-process server panicked".into()))?
            .map_err(Failure::from)
    }
}

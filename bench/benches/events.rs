//! Events bench (issue 24): fan-out from one publisher to 1 and to 16
//! subscribers through `msgwire serve`'s relay, beside mosquitto doing the
//! same at MQTT QoS 0, with 32-byte and 1 KiB payloads.
//!
//! - msgwire: the server `msgwire serve` runs (`Server::bind_tcp` with
//!   `Router::new().relay(true)` and `ServerConfig::default()`), in this
//!   process, on 127.0.0.1:0, driven by `Server::run` on a thread of its
//!   own (one thread, as mosquitto has; `msgwire serve` itself uses one
//!   worker per core). The publisher is a `Client` calling
//!   `Client::publish` (its first call sends `HELLO`, once); each
//!   subscriber is a `Client` of its own with one `Client::subscribe` (what
//!   a user would write), reading `Subscription::recv`. Default
//!   `ClientConfig` (subscription queue: 256 events / 256 KiB) and default
//!   `EventLimits` on the server.
//! - mosquitto: the broker the bench script starts (`MSGWIRE_BENCH_MQTT=
//!   127.0.0.1:PORT`, its pid in `MSGWIRE_BENCH_MQTT_PID` for its CPU
//!   time), driven by rumqttc (its `AsyncClient` and `EventLoop`, one per
//!   connection, TCP_NODELAY, request channel of 4096): the publisher
//!   calls `AsyncClient::publish` at QoS 0, each subscriber subscribes at
//!   QoS 0 and reads its `EventLoop::poll`. Without `MSGWIRE_BENCH_MQTT`
//!   its rows are skipped.
//!
//! Both sides run every client (the publisher and all subscribers) on one
//! thread of this process (a smol `LocalExecutor` for msgwire, a tokio
//! current-thread runtime for rumqttc), the broker on another thread or
//! process. The publisher publishes as fast as its client lets it; after a
//! warm-up the subscribers count, for `MSGWIRE_BENCH_SECS` seconds
//! (default 2), the events they receive. Every payload carries the
//! publisher's sequence number (8 bytes) and a fill byte derived from it:
//! each subscriber checks the kind or topic, the length and every byte,
//! that events come in order, and counts the numbers skipped (events lost,
//! visible on both sides); msgwire's `LAGGED` totals are counted too.
//!
//! Run from the repository root: `scripts/bench.sh events` (it installs and
//! starts mosquitto), or `cargo bench --manifest-path bench/Cargo.toml
//! --bench events` for the msgwire rows alone. `MSGWIRE_BENCH_ROUNDS`
//! (default 2) rounds alternate which contender goes first in each cell.
//! One cell alone, for profiling: `MSGWIRE_EVENTS_CELL=msgwire,16,32` (or
//! `mqtt,SUBS,SIZE`).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_io::block_on;
use msgwire::net::{Client, ClientConfig, Delivery, EventLimits, Router, Server, ServerConfig};

/// The kind (msgwire) and topic (MQTT) of one run's events: a new one per
/// run, so that nothing left of a run (a broker still working off its
/// backlog) reaches the next run's subscribers.
/// (A few bytes leaked per run, for tasks that need `'static`.)
fn topic() -> &'static str {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUN: AtomicU64 = AtomicU64::new(0);
    let name = format!("bench/ev/{}", RUN.fetch_add(1, Ordering::Relaxed));
    Box::leak(name.into_boxed_str())
}

/// Warm-up before the window: connections made, subscriptions answered,
/// buffers grown, the publisher at full speed.
const WARM: Duration = Duration::from_millis(300);

fn secs() -> Duration {
    let s = std::env::var("MSGWIRE_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(s)
}

fn rounds() -> usize {
    std::env::var("MSGWIRE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2)
}

// ------------------------------------------------------------ payloads

/// The fill byte of event `seq`.
fn fill(seq: u64) -> u8 {
    (seq as u8) ^ 0x5a
}

/// Writes event `seq`'s payload: its number, then the fill.
fn make(buf: &mut [u8], seq: u64) {
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    buf[8..].fill(fill(seq));
}

/// Checks a received payload: its number, or what is wrong.
fn check(payload: &[u8], size: usize) -> Result<u64, String> {
    if payload.len() != size {
        return Err(format!("a payload of {} bytes, not {size}", payload.len()));
    }
    let seq = u64::from_le_bytes(payload[..8].try_into().expect("8 bytes"));
    let f = fill(seq);
    if !payload[8..].iter().all(|&b| b == f) {
        return Err(format!("event {seq}: a wrong fill"));
    }
    Ok(seq)
}

// ------------------------------------------------------------ counting

/// Where the run is: warming up, counting, or over.
#[derive(Clone, Default)]
struct Phase(Rc<Cell<u8>>);

impl Phase {
    fn counting(&self) -> bool {
        self.0.get() == 1
    }
    fn over(&self) -> bool {
        self.0.get() == 2
    }
}

/// One subscriber's counts (in the window), and what it found wrong.
#[derive(Default)]
struct Tally {
    delivered: u64,
    /// Numbers skipped between two events received.
    gaps: u64,
    /// msgwire's `LAGGED` counts.
    lagged: u64,
    last: Option<u64>,
    /// The first wrong event (kind, length, fill or order), if any.
    wrong: Option<String>,
}

impl Tally {
    /// An event received: its kind or topic, and its payload.
    fn event(&mut self, kind: &str, topic: &str, payload: &[u8], size: usize, counting: bool) {
        let seq = match check(payload, size) {
            Ok(seq) if kind == topic => seq,
            Ok(_) => return self.wrong(format!("an event of kind {kind}, not {topic}")),
            Err(e) => return self.wrong(e),
        };
        if let Some(last) = self.last {
            if seq <= last {
                return self.wrong(format!("event {seq} after {last}"));
            }
            if counting {
                self.gaps += seq - last - 1;
            }
        }
        self.last = Some(seq);
        if counting {
            self.delivered += 1;
        }
    }

    fn wrong(&mut self, what: String) {
        self.wrong.get_or_insert(what);
    }
}

/// CPU time (user + system) of a thread or process from its `stat` file
/// in /proc (clock ticks of 10 ms); `None` off Linux.
fn cpu(stat: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(stat).ok()?;
    // Fields after the command name (which ends with the last ')').
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// This thread's `stat` file.
fn own_stat() -> String {
    match std::fs::read_link("/proc/thread-self") {
        Ok(p) => format!("/proc/{}/stat", p.display()),
        Err(_) => String::new(),
    }
}

/// CPU time used between two readings, in cores (over `window`).
fn cores(before: Option<Duration>, after: Option<Duration>, window: Duration) -> Option<f64> {
    Some((after? - before?).as_secs_f64() / window.as_secs_f64())
}

struct Outcome {
    subs: usize,
    window: Duration,
    published: u64,
    delivered: u64,
    gaps: u64,
    lagged: u64,
    broker_cores: Option<f64>,
    client_cores: Option<f64>,
}

impl Outcome {
    fn delivered_per_sec(&self) -> f64 {
        self.delivered as f64 / self.window.as_secs_f64()
    }
    fn published_per_sec(&self) -> f64 {
        self.published as f64 / self.window.as_secs_f64()
    }
    fn share(&self) -> f64 {
        self.delivered as f64 / (self.published as f64 * self.subs as f64)
    }
}

/// The window: warm-up, then `secs()` of counting; then the counts, read
/// at once (no other task runs in between). `sleep` is the runtime's.
async fn window<F: std::future::Future<Output = ()>>(
    sleep: impl Fn(Duration) -> F,
    phase: &Phase,
    published: &Cell<u64>,
    tallies: &[Rc<RefCell<Tally>>],
    broker_stat: &str,
) -> Outcome {
    let client_stat = own_stat();
    sleep(WARM).await;
    let (b0, c0) = (cpu(broker_stat), cpu(&client_stat));
    phase.0.set(1);
    let start = Instant::now();
    sleep(secs()).await;
    phase.0.set(2);
    let window = start.elapsed();
    let (b1, c1) = (cpu(broker_stat), cpu(&client_stat));
    let mut o = Outcome {
        subs: tallies.len(),
        window,
        published: published.get(),
        delivered: 0,
        gaps: 0,
        lagged: 0,
        broker_cores: cores(b0, b1, window),
        client_cores: cores(c0, c1, window),
    };
    for t in tallies {
        let t = t.borrow();
        if let Some(w) = &t.wrong {
            panic!("a subscriber received a wrong event: {w}");
        }
        o.delivered += t.delivered;
        o.gaps += t.gaps;
        o.lagged += t.lagged;
    }
    o
}

// ------------------------------------------------------------ msgwire

/// The subscribers' `ClientConfig`: the default, or (`big`) with a
/// subscription queue large enough not to be the bottleneck (as rumqttc's
/// incoming side, which has no bound): 65,536 events / 64 MiB.
fn subscriber_config(big: bool) -> ClientConfig {
    let mut c = ClientConfig::default();
    if big {
        c.subscription = EventLimits {
            events: 65_536,
            bytes: 64 << 20,
        };
    }
    c
}

fn run_msgwire(big_queue: bool, subs: usize, size: usize) -> Outcome {
    // `msgwire serve`'s server: the built-in router, relaying events.
    let server = block_on(Server::bind_tcp(
        "127.0.0.1:0",
        Router::new().relay(true),
        ServerConfig::default(),
    ))
    .expect("bind");
    let addr = server.local_addr().expect("a TCP address");
    let run = server.run();
    let (stat_tx, stat_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("msgwire-serve".into())
        .spawn(move || {
            stat_tx.send(own_stat()).expect("stat");
            block_on(run).expect("started once");
        })
        .expect("server thread");
    let server_stat = stat_rx.recv().expect("stat");

    let topic = topic();
    let ex = async_executor::LocalExecutor::new();
    let outcome = block_on(ex.run(async {
        let phase = Phase::default();
        let mut clients = Vec::new();
        let mut tallies = Vec::new();
        for _ in 0..subs {
            let client = Client::connect_tcp(addr, subscriber_config(big_queue))
                .await
                .expect("connect");
            ex.spawn(client.run()).detach();
            let mut sub = client.subscribe(topic).await.expect("subscribe");
            let tally = Rc::new(RefCell::new(Tally::default()));
            tallies.push(tally.clone());
            let phase = phase.clone();
            ex.spawn(async move {
                while let Some(d) = sub.recv().await {
                    let counting = phase.counting();
                    match d {
                        Delivery::Event(e) => {
                            tally
                                .borrow_mut()
                                .event(&e.kind, topic, &e.payload, size, counting);
                        }
                        Delivery::Lagged(n) if counting => {
                            tally.borrow_mut().lagged += u64::from(n);
                        }
                        _ => {}
                    }
                }
            })
            .detach();
            clients.push(client);
        }
        let publisher = Client::connect_tcp(addr, ClientConfig::default())
            .await
            .expect("connect");
        ex.spawn(publisher.run()).detach();
        let published = Rc::new(Cell::new(0u64));
        {
            let (phase, published, publisher) =
                (phase.clone(), published.clone(), publisher.clone());
            ex.spawn(async move {
                let mut buf = vec![0u8; size];
                let mut seq = 0u64;
                while !phase.over() {
                    seq += 1;
                    make(&mut buf, seq);
                    publisher.publish(topic, &buf).await.expect("publish");
                    if phase.counting() {
                        published.set(published.get() + 1);
                    }
                }
            })
            .detach();
        }
        let sleep = |d| async move {
            async_io::Timer::after(d).await;
        };
        let o = window(sleep, &phase, &published, &tallies, &server_stat).await;
        drop(publisher);
        drop(clients);
        o
    }));
    drop(ex);
    block_on(server.shutdown(Duration::from_secs(2)));
    thread.join().expect("server thread");
    outcome
}

// ------------------------------------------------------------ mosquitto

fn mqtt_options(addr: SocketAddr, name: &str) -> rumqttc::MqttOptions {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let id = format!(
        "msgwire-bench-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut o = rumqttc::MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_max_packet_size(64 * 1024, 64 * 1024);
    o
}

/// A rumqttc client and its event loop, TCP_NODELAY set.
fn mqtt_client(addr: SocketAddr, name: &str) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    let (client, mut el) = rumqttc::AsyncClient::new(mqtt_options(addr, name), 4096);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    el.set_network_options(net);
    (client, el)
}

fn run_mqtt(addr: SocketAddr, broker_stat: &str, subs: usize, size: usize) -> Outcome {
    use rumqttc::{Event, Packet, QoS};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let topic = topic();
    let outcome = local.block_on(&rt, async {
        let phase = Phase::default();
        let mut clients = Vec::new();
        let mut tallies = Vec::new();
        for _ in 0..subs {
            let (client, mut el) = mqtt_client(addr, "sub");
            client
                .subscribe(topic, QoS::AtMostOnce)
                .await
                .expect("subscribe");
            // Connected and subscribed before the publisher starts.
            loop {
                match el.poll().await.expect("connect and subscribe") {
                    Event::Incoming(Packet::SubAck(_)) => break,
                    _ => continue,
                }
            }
            let tally = Rc::new(RefCell::new(Tally::default()));
            tallies.push(tally.clone());
            let phase = phase.clone();
            tokio::task::spawn_local(async move {
                loop {
                    match el.poll().await {
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            let counting = phase.counting();
                            tally
                                .borrow_mut()
                                .event(&p.topic, topic, &p.payload, size, counting);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            eprintln!("an MQTT subscriber's connection failed: {e}");
                            return;
                        }
                    }
                }
            });
            clients.push(client);
        }
        let (publisher, mut el) = mqtt_client(addr, "pub");
        tokio::task::spawn_local(async move {
            loop {
                if let Err(e) = el.poll().await {
                    // Its requests would wait for ever: say so.
                    eprintln!("the MQTT publisher's connection failed: {e}");
                    return;
                }
            }
        });
        let published = Rc::new(Cell::new(0u64));
        {
            let (phase, published) = (phase.clone(), published.clone());
            tokio::task::spawn_local(async move {
                let mut buf = vec![0u8; size];
                let mut seq = 0u64;
                while !phase.over() {
                    seq += 1;
                    make(&mut buf, seq);
                    publisher
                        .publish(topic, QoS::AtMostOnce, false, buf.clone())
                        .await
                        .expect("publish");
                    if phase.counting() {
                        published.set(published.get() + 1);
                    }
                }
            });
        }
        let o = window(
            tokio::time::sleep,
            &phase,
            &published,
            &tallies,
            broker_stat,
        )
        .await;
        drop(clients);
        o
    });
    drop(local);
    drop(rt);
    // The broker may still be working off its backlog (what the publisher
    // wrote before it closed): the next run starts once it is idle.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = cpu(broker_stat);
    while last.is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        let now = cpu(broker_stat);
        if now == last {
            break;
        }
        last = now;
    }
    outcome
}

// ------------------------------------------------------------ table

#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// msgwire, the subscribers' queue large enough (as rumqttc's).
    Msgwire,
    /// msgwire, the subscribers with the default `ClientConfig`.
    MsgwireDefault,
    Mqtt,
}

const PEERS: [Peer; 3] = [Peer::Msgwire, Peer::MsgwireDefault, Peer::Mqtt];

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Msgwire => "msgwire serve (`Client`, subscription queue 65,536)",
            Peer::MsgwireDefault => "msgwire serve (`Client`, default `ClientConfig`)",
            Peer::Mqtt => "mosquitto (rumqttc, QoS 0)",
        }
    }
}

struct Mqtt {
    addr: SocketAddr,
    stat: String,
}

fn mqtt_env() -> Option<Mqtt> {
    let addr = std::env::var("MSGWIRE_BENCH_MQTT").ok()?;
    let addr = addr.parse().expect("MSGWIRE_BENCH_MQTT=127.0.0.1:PORT");
    let stat = std::env::var("MSGWIRE_BENCH_MQTT_PID")
        .map(|p| format!("/proc/{p}/stat"))
        .unwrap_or_default();
    Some(Mqtt { addr, stat })
}

fn run(peer: Peer, mqtt: Option<&Mqtt>, subs: usize, size: usize) -> Option<Outcome> {
    match (peer, mqtt) {
        (Peer::Msgwire, _) => Some(run_msgwire(true, subs, size)),
        (Peer::MsgwireDefault, _) => Some(run_msgwire(false, subs, size)),
        (Peer::Mqtt, Some(m)) => Some(run_mqtt(m.addr, &m.stat, subs, size)),
        (Peer::Mqtt, None) => None,
    }
}

/// Thousands separated, as the other tables.
fn count(v: f64) -> String {
    let s = format!("{v:.0}");
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn opt_cores(c: Option<f64>) -> String {
    c.map_or("n/a".into(), |c| format!("{c:.2}"))
}

/// Events delivered per CPU-second of the broker and the clients' thread
/// together (less sensitive than events/s to what else the machine runs).
fn per_cpu(o: &Outcome) -> Option<f64> {
    let cores = o.broker_cores? + o.client_cores?;
    (cores > 0.0).then(|| o.delivered_per_sec() / cores)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would not.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mqtt = mqtt_env();
    if let Ok(spec) = std::env::var("MSGWIRE_EVENTS_CELL") {
        let f: Vec<&str> = spec.split(',').collect();
        let peer = match f.first().copied() {
            Some("msgwire") => Peer::Msgwire,
            Some("msgwire-default") => Peer::MsgwireDefault,
            Some("mqtt") => Peer::Mqtt,
            other => panic!("MSGWIRE_EVENTS_CELL: unknown contender {other:?}"),
        };
        let num = |i: usize| -> usize {
            f.get(i)
                .and_then(|v| v.parse().ok())
                .expect("MSGWIRE_EVENTS_CELL=PEER,SUBS,SIZE")
        };
        let o = run(peer, mqtt.as_ref(), num(1), num(2)).expect("MSGWIRE_BENCH_MQTT is not set");
        println!(
            "{}: {} delivered/s, {} published/s, lost {} (LAGGED {}), broker {} cores, clients {} cores",
            peer.name(),
            count(o.delivered_per_sec()),
            count(o.published_per_sec()),
            o.gaps,
            o.lagged,
            opt_cores(o.broker_cores),
            opt_cores(o.client_cores)
        );
        return;
    }
    if mqtt.is_none() {
        println!(
            "(MSGWIRE_BENCH_MQTT not set: no mosquitto rows; scripts/bench.sh events starts one)"
        );
    }
    let cells = [(1usize, 32usize), (16, 32), (1, 1024), (16, 1024)];
    let rounds = rounds();
    // results[cell][peer]: one outcome per round.
    let mut results: Vec<[Vec<Outcome>; 3]> =
        cells.iter().map(|_| [vec![], vec![], vec![]]).collect();
    for round in 0..rounds {
        for (i, &(subs, size)) in cells.iter().enumerate() {
            // Who goes first alternates from round to round.
            let mut order = PEERS;
            if round % 2 == 1 {
                order.reverse();
            }
            for peer in order {
                if let Some(o) = run(peer, mqtt.as_ref(), subs, size) {
                    results[i][peer as usize].push(o);
                }
            }
        }
    }

    println!("\n### Every run (lost = sequence numbers skipped; CPU in cores over the window)\n");
    println!("| cell | round | contender | delivered/s (sum over subscribers) | published/s | delivered / (published × subscribers) | lost | of which `LAGGED` | broker CPU | clients' thread CPU | delivered per CPU-second |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, &(subs, size)) in cells.iter().enumerate() {
        for peer in PEERS {
            for (r, o) in results[i][peer as usize].iter().enumerate() {
                let lagged = match peer {
                    Peer::Mqtt => "—".to_string(),
                    _ => o.lagged.to_string(),
                };
                println!(
                    "| 1 → {subs}, {size} B | {} | {} | {} | {} | {:.3} | {} | {} | {} | {} | {} |",
                    r + 1,
                    peer.name(),
                    count(o.delivered_per_sec()),
                    count(o.published_per_sec()),
                    o.share(),
                    o.gaps,
                    lagged,
                    opt_cores(o.broker_cores),
                    opt_cores(o.client_cores),
                    per_cpu(o).map_or("n/a".into(), count)
                );
            }
        }
    }

    // The best round of each contender (the least disturbed by the
    // machine's other load).
    let best = |i: usize, peer: Peer| -> Option<&Outcome> {
        results[i][peer as usize]
            .iter()
            .max_by(|a, b| a.delivered_per_sec().total_cmp(&b.delivered_per_sec()))
    };
    let show = |o: Option<&Outcome>| o.map_or("not run".into(), |o| count(o.delivered_per_sec()));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let times = |r: Option<f64>| r.map_or("n/a".into(), |r| format!("{r:.2}×"));
    println!("\n### Events delivered per second, sum over subscribers (best of {rounds} alternated rounds)\n");
    println!("| cell | msgwire serve | mosquitto | msgwire / mosquitto | msgwire / mosquitto per CPU-second | msgwire serve, default `ClientConfig` (lost) | default / mosquitto |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut goal = (None, None);
    for (i, &(subs, size)) in cells.iter().enumerate() {
        let m = best(i, Peer::Msgwire);
        let d = best(i, Peer::MsgwireDefault);
        let q = best(i, Peer::Mqtt);
        let r = ratio(
            m.map(Outcome::delivered_per_sec),
            q.map(Outcome::delivered_per_sec),
        );
        let rd = ratio(
            d.map(Outcome::delivered_per_sec),
            q.map(Outcome::delivered_per_sec),
        );
        let rc = ratio(m.and_then(per_cpu), q.and_then(per_cpu));
        if (subs, size) == (16, 32) {
            goal = (r, rd);
        }
        let lost = d.map_or(String::new(), |d| {
            format!(
                " ({:.0} % lost)",
                100.0 * d.gaps as f64 / (d.gaps + d.delivered).max(1) as f64
            )
        });
        println!(
            "| 1 → {subs}, {size} B | {} | {} | {} | {} | {}{lost} | {} |",
            show(m),
            show(q),
            times(r),
            times(rc),
            show(d),
            times(rd)
        );
    }
    println!("\n### Goal (issue 24), from this run\n");
    let line = "Fan-out through msgwire serve ≥ 2× mosquitto's at 16 subscribers, 32 B";
    match goal {
        (Some(r), rd) => println!(
            "{line}: {r:.2}× — {} (subscribers with the default `ClientConfig`: {})",
            if r >= 2.0 { "met" } else { "**not met**" },
            times(rd)
        ),
        _ => println!("{line}: not measured (no mosquitto)"),
    }
}

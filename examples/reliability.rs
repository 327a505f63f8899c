//! The reliability suite: load, soak, faults, bad input and misbehaving
//! handlers against a real msgwire server on 127.0.0.1 (ephemeral ports).
//!
//! ```text
//! cargo run --release --example reliability --features async -- --short
//! cargo run --release --example reliability --features async -- --full
//! cargo run --release --example reliability --features async -- --short load faults
//! ```
//!
//! Scenarios: `load`, `soak`, `faults`, `bad-input`, `handlers` (all by
//! default). `--short` (the default) is scaled for CI (under two minutes
//! in all); `--full` is the real thing (1,000 connections × 1,000
//! requests, a 10-minute soak). Every scenario stops by itself: every wait
//! is bounded. Each checks what must hold and prints its figures; any
//! violation is printed and the program exits with status 1. See
//! `RELIABILITY.md` for what each scenario checks.
//!
//! The server under test runs in a child process (this program started
//! again with `--serve`), so that its memory (VmRSS from
//! `/proc/<pid>/status`) is its own and so that it can be killed; only the
//! graceful-shutdown test runs the server in this process, because it
//! calls `Server::shutdown`. Linux only (it reads `/proc`).

use std::future::Future;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use msgwire::net::{
    Client, ClientConfig, ClientError, Frame, Framed, FramedConfig, Framing, HandlerError, Reply,
    Router, Server, ServerConfig, Spawner,
};
use msgwire::{Flags, Kind, Message, StreamDecoder, TextStreamDecoder};
use smol::Executor;

// ---------------------------------------------------------------------------
// Modes, violations, small tools
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Short,
    Full,
}

impl Mode {
    fn pick<T>(self, short: T, full: T) -> T {
        match self {
            Mode::Short => short,
            Mode::Full => full,
        }
    }
}

const SCENARIOS: [&str; 5] = ["load", "soak", "faults", "bad-input", "handlers"];

/// The server's receive limits (the defaults): 64 KiB payloads and lines.
const MAX_PAYLOAD: u32 = 64 * 1024;
const MAX_LINE: usize = 64 * 1024;

static VIOLATIONS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records a violation (what must hold did not).
fn violation(msg: impl Into<String>) {
    let msg = msg.into();
    eprintln!("VIOLATION: {msg}");
    let mut v = VIOLATIONS.lock().unwrap_or_else(|p| p.into_inner());
    v.push(msg);
}

fn check(ok: bool, msg: impl FnOnce() -> String) {
    if !ok {
        violation(msg());
    }
}

fn violations() -> usize {
    VIOLATIONS.lock().unwrap_or_else(|p| p.into_inner()).len()
}

/// The executor that drives this side's tasks, the clients' background
/// tasks and the servers' (in the server process, and in this one for the
/// in-process scenarios): smol's `Executor` on two threads of its own.
fn ex() -> &'static Executor<'static> {
    static EX: OnceLock<&'static Executor<'static>> = OnceLock::new();
    EX.get_or_init(|| {
        let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
        for i in 0..2 {
            let _ = std::thread::Builder::new()
                .name(format!("rel-{i}"))
                .spawn(move || smol::block_on(ex.run(futures_lite::future::pending::<()>())));
        }
        ex
    })
}

/// Spawns msgwire's tasks on [`ex`].
fn spawner() -> Spawner {
    Spawner::new(|task| ex().spawn(task).detach())
}

fn run<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
    smol::block_on(ex().run(f))
}

fn spawn<T: Send + 'static>(
    f: impl Future<Output = T> + Send + 'static,
) -> async_executor::Task<T> {
    ex().spawn(f)
}

/// `f`, or an error naming `what` after `d`.
async fn within<T>(d: Duration, what: &str, f: impl Future<Output = T>) -> Result<T, String> {
    async { Ok(f.await) }
        .or(async {
            Timer::after(d).await;
            Err(format!("{what}: nothing within {d:?}"))
        })
        .await
}

/// xorshift64*: reproducible pseudo-random numbers.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    fn percent(&mut self) -> u64 {
        self.next() % 100
    }
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

/// The payload size distribution of the load and soak scenarios (stated
/// in RELIABILITY.md): 50 % 0–32 B, 30 % 33–512 B, 15 % 513 B–4 KiB,
/// 4 % 4–16 KiB, 1 % 16–64 KiB (mean ≈ 1.25 KiB). Text clients draw from
/// the two small buckets only.
fn payload_size(rng: &mut Rng, text: bool) -> usize {
    let p = rng.percent();
    if text {
        return if p < 62 {
            rng.range(0, 32)
        } else {
            rng.range(33, 512)
        };
    }
    match p {
        0..=49 => rng.range(0, 32),
        50..=79 => rng.range(33, 512),
        80..=94 => rng.range(513, 4096),
        95..=98 => rng.range(4097, 16 * 1024),
        _ => rng.range(16 * 1024 + 1, 64 * 1024),
    }
}

const TEXT_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,;";

/// A payload of `size` bytes that starts with `tag` (which names the
/// connection and request, so a misrouted answer cannot match), then
/// random bytes (text-safe ones for text clients).
fn make_payload(rng: &mut Rng, size: usize, tag: &str, text: bool) -> Vec<u8> {
    let mut p = vec![0u8; size];
    rng.fill(&mut p);
    if text {
        for b in p.iter_mut() {
            *b = TEXT_ALPHABET[(*b as usize) % TEXT_ALPHABET.len()];
        }
    }
    let t = tag.as_bytes();
    let n = t.len().min(size);
    p[..n].copy_from_slice(&t[..n]);
    p
}

/// FNV-1a 64 of the payload, in hex: the `HASH` handler's answer.
fn fnv_hex(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// CRC-16/IBM-3740 (the header checksum), for hand-made headers.
fn crc16(data: &[u8]) -> u16 {
    let mut c: u16 = 0xFFFF;
    for &b in data {
        c ^= u16::from(b) << 8;
        for _ in 0..8 {
            c = if c & 0x8000 != 0 {
                (c << 1) ^ 0x1021
            } else {
                c << 1
            };
        }
    }
    c
}

fn encode(kind: &str, id: u32, flags: Flags, payload: &[u8]) -> Vec<u8> {
    let kind = Kind::new(kind).unwrap_or(Kind::ERROR);
    let m = Message::new(kind, payload).with_id(id).with_flags(flags);
    let mut out = vec![0; msgwire::encoded_len(&m).unwrap_or(0)];
    let n = msgwire::encode(&m, &mut out).unwrap_or(0);
    out.truncate(n);
    out
}

/// A valid header (and kind) that claims a payload of `len` bytes.
fn header_claiming(kind: &str, id: u32, len: u32) -> Vec<u8> {
    let mut h = vec![0xA5, 1, 0, kind.len() as u8];
    h.extend_from_slice(&id.to_le_bytes());
    h.extend_from_slice(&len.to_le_bytes());
    let crc = crc16(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h.extend_from_slice(kind.as_bytes());
    h
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(us: u32) -> String {
    format!("{:.2} ms", f64::from(us) / 1000.0)
}

// ---------------------------------------------------------------------------
// The server under test (child process)
// ---------------------------------------------------------------------------

/// The router every scenario's server runs: the built-ins, plus `HASH`
/// (FNV-1a of the payload, hex), `FAIL` (an error), `PANIC` (a panic) and
/// `SLOW` (sleeps the milliseconds its payload names, then answers `DONE`).
fn test_router(handler_timeout: Option<Duration>) -> Router {
    let r = Router::new()
        .on("HASH", |req: Frame| async move {
            Ok(Some(Reply::new("HASH", fnv_hex(&req.payload))?))
        })
        .and_then(|r| {
            r.on("FAIL", |_req: Frame| async {
                Err::<Option<Reply>, _>(HandlerError::msg("deliberate failure"))
            })
        })
        .and_then(|r| {
            r.on("PANIC", |req: Frame| async move {
                if !req.payload.is_empty() || req.payload.is_empty() {
                    panic!("deliberate panic (reliability suite)");
                }
                Ok(None)
            })
        })
        .and_then(|r| {
            r.on("SLOW", |req: Frame| async move {
                let ms: u64 = req.text().and_then(|t| t.parse().ok()).unwrap_or(100);
                Timer::after(Duration::from_millis(ms)).await;
                Ok(Some(Reply::new("DONE", req.payload)?))
            })
        });
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            eprintln!("reliability: router: {e}");
            std::process::exit(2);
        }
    };
    match handler_timeout {
        Some(t) => r.handler_timeout(t),
        None => r,
    }
}

/// `--serve IDLE_MS HANDLER_TIMEOUT_MS`: prints `ADDR <addr>`, answers
/// `stats` lines on stdin with `STATS <active> <accepted> <overloaded>`,
/// and exits when stdin closes.
fn serve_child(args: &[String]) {
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
    let idle = num(0);
    let ht = num(1);
    // Deliberate panics are expected: keep stderr readable.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .unwrap_or_default();
        if !msg.starts_with("deliberate panic") {
            default_hook(info);
        }
    }));
    let config = ServerConfig {
        max_connections: 4096,
        idle_timeout: (idle > 0).then(|| Duration::from_millis(idle)),
        ..ServerConfig::default()
    };
    let router = test_router((ht > 0).then(|| Duration::from_millis(ht)));
    let server =
        match futures_lite::future::block_on(Server::bind_tcp("127.0.0.1:0", router, config)) {
            Ok(s) => s.start(&spawner()),
            Err(e) => {
                eprintln!("reliability server: bind: {e}");
                std::process::exit(1);
            }
        };
    let Some(addr) = server.local_addr() else {
        std::process::exit(1)
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ADDR {addr}");
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "stats" {
            let s = server.stats();
            let _ = writeln!(out, "STATS {} {} {}", s.active, s.accepted, s.overloaded);
            let _ = out.flush();
        }
    }
    drop(server);
}

struct ServerProc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    addr: SocketAddr,
    pid: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    active: usize,
    accepted: u64,
    overloaded: u64,
}

impl ServerProc {
    fn start(idle: Option<Duration>, handler_timeout: Option<Duration>) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let ms = |d: Option<Duration>| d.map_or(0, |d| d.as_millis().max(1)).to_string();
        let mut child = Command::new(exe)
            .arg("--serve")
            .arg(ms(idle))
            .arg(ms(handler_timeout))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the server process: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "the server process did not start".to_string())?;
        let addr = first
            .strip_prefix("ADDR ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("server process said {first:?}"))?;
        let pid = child.id();
        Ok(ServerProc {
            stdin: child.stdin.take(),
            child,
            lines,
            addr,
            pid,
        })
    }

    fn rss(&self) -> u64 {
        rss_kib(self.pid)
    }

    fn stats(&mut self) -> Stats {
        let Some(stdin) = self.stdin.as_mut() else {
            return Stats::default();
        };
        if writeln!(stdin, "stats")
            .and_then(|()| stdin.flush())
            .is_err()
        {
            violation("the server process is gone (cannot ask for stats)");
            return Stats::default();
        }
        match self.lines.recv_timeout(Duration::from_secs(10)) {
            Ok(l) => {
                let f: Vec<u64> = l
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                Stats {
                    active: f.first().copied().unwrap_or(0) as usize,
                    accepted: f.get(1).copied().unwrap_or(0),
                    overloaded: f.get(2).copied().unwrap_or(0),
                }
            }
            Err(_) => {
                violation("the server process did not answer `stats` within 10 s");
                Stats::default()
            }
        }
    }

    /// Waits until the server serves at most `n` connections; the time it
    /// took, or `None` after `limit`.
    fn wait_active_at_most(&mut self, n: usize, limit: Duration) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if self.stats().active <= n {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Closes its stdin (it drops the server and exits); kills it if it
    /// has not exited within 10 s.
    fn stop(mut self, scenario: &str) {
        if !self.alive() {
            violation(format!(
                "{scenario}: the server process died during the scenario ({:?})",
                self.child.try_wait()
            ));
            return;
        }
        self.stdin = None;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        violation(format!("{scenario}: the server process did not exit"));
        self.kill();
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if self.alive() {
            self.kill();
        }
    }
}

/// Samples a process's RSS every `every` until told to stop.
struct Sampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Vec<u64>>,
}

impl Sampler {
    fn start(pid: u32, every: Duration) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut v = Vec::new();
            while !s.load(Ordering::SeqCst) {
                v.push(rss_kib(pid));
                std::thread::sleep(every);
            }
            v
        });
        Sampler { stop, handle }
    }

    fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------
// Clients used by the scenarios
// ---------------------------------------------------------------------------

fn client_config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(20),
        request_timeout: Duration::from_secs(60),
        ..ClientConfig::default()
    }
}

/// Connects, retrying a few times (a listen backlog can overflow when a
/// thousand peers connect at once).
async fn connect_client(addr: SocketAddr) -> Result<Client, String> {
    let mut last = String::new();
    for _ in 0..5 {
        match Client::connect_tcp(addr, client_config()).await {
            Ok(c) => return Ok(c.start(&spawner())),
            Err(e) => last = e.to_string(),
        }
        Timer::after(Duration::from_millis(200)).await;
    }
    Err(format!("connect: {last}"))
}

async fn connect_text(addr: SocketAddr) -> Result<Framed<async_net::TcpStream>, String> {
    let mut last = String::new();
    for _ in 0..5 {
        let r = within(
            Duration::from_secs(20),
            "connect",
            async_net::TcpStream::connect(addr),
        )
        .await;
        match r {
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

/// One binary request of the load mix; checks its answer.
async fn binary_request(
    client: &Client,
    rng: &mut Rng,
    tag: &str,
    lat: &mut Vec<u32>,
    bytes: &mut u64,
) -> Result<(), String> {
    let p = rng.percent();
    let kind = match p {
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
    lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
    *bytes += (payload.len() + answer.payload.len()) as u64;
    let (want_kind, want): (&str, Vec<u8>) = match kind {
        "ECHO" => ("ECHO", payload),
        "HASH" => ("HASH", fnv_hex(&payload).into_bytes()),
        _ => ("PONG", b"ack".to_vec()),
    };
    if answer.kind != want_kind || answer.payload != want || !answer.flags.contains(Flags::RESPONSE)
    {
        return Err(format!(
            "{kind} {tag} ({size} B): wrong answer {} id {} ({} B){}",
            answer.kind,
            answer.id,
            answer.payload.len(),
            if answer.payload.len() >= tag.len() && answer.payload.starts_with(b"c") {
                format!(
                    ", which starts {:?}",
                    String::from_utf8_lossy(&answer.payload[..tag.len().min(24)])
                )
            } else {
                String::new()
            }
        ));
    }
    Ok(())
}

/// One text request (lock-step) of the load mix; checks its answer.
async fn text_request(
    conn: &mut Framed<async_net::TcpStream>,
    rng: &mut Rng,
    tag: &str,
    lat: &mut Vec<u32>,
    bytes: &mut u64,
) -> Result<(), String> {
    let ping = rng.percent() < 10;
    let size = payload_size(rng, true);
    let payload = make_payload(rng, size, tag, true);
    let kind = if ping { Kind::PING } else { Kind::ECHO };
    let t = Instant::now();
    let m = Message::new(kind, &payload);
    conn.send(&m)
        .await
        .map_err(|e| format!("text {tag}: send: {e}"))?;
    conn.flush()
        .await
        .map_err(|e| format!("text {tag}: flush: {e}"))?;
    let got = within(Duration::from_secs(60), "text answer", conn.recv())
        .await?
        .map_err(|e| format!("text {tag}: recv: {e}"))?;
    lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
    *bytes += (payload.len() + got.payload.len()) as u64;
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
async fn text_exit(conn: &mut Framed<async_net::TcpStream>, what: &str) -> Result<(), String> {
    conn.send(&Message::new(Kind::EXIT, b""))
        .await
        .map_err(|e| format!("{what}: EXIT: {e}"))?;
    conn.flush()
        .await
        .map_err(|e| format!("{what}: EXIT: {e}"))?;
    match within(Duration::from_secs(30), "close after EXIT", conn.recv()).await? {
        Err(msgwire::net::RecvError::Closed) => Ok(()),
        Err(msgwire::net::RecvError::Io(_)) => Ok(()),
        Ok(m) => Err(format!(
            "{what}: a stray answer {} after the last one",
            m.kind.as_str()
        )),
        Err(e) => Err(format!("{what}: after EXIT: {e}")),
    }
}

/// Checks that a binary client saw no stray answers (duplicates come back
/// as answers to no pending request).
fn check_client_clean(client: &Client, what: &str) -> Result<(), String> {
    if client.late_answers() != 0 || client.dropped_unsolicited() != 0 {
        return Err(format!(
            "{what}: {} answers for no pending request, {} unsolicited",
            client.late_answers(),
            client.dropped_unsolicited()
        ));
    }
    if let Ok(f) = client.subscribe().try_recv() {
        return Err(format!("{what}: an unsolicited message {}", f.kind));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// load
// ---------------------------------------------------------------------------

enum Conn {
    Bin(Client),
    Text(Box<Framed<async_net::TcpStream>>),
}

fn scenario_load(mode: Mode) {
    let conns = mode.pick(200, 1000);
    let per_conn = mode.pick(500, 1000);
    let text_share = 5; // every 5th connection speaks text
    let window = 4; // requests in flight per binary connection
    println!(
        "load: {conns} connections ({} text, lock-step; {} binary, {window} requests in flight each) x {per_conn} requests",
        conns / text_share,
        conns - conns / text_share
    );
    let mut server = match ServerProc::start(Some(Duration::from_secs(120)), None) {
        Ok(s) => s,
        Err(e) => return violation(format!("load: {e}")),
    };
    let addr = server.addr;
    let rss_start = server.rss();
    let sampler = Sampler::start(server.pid, Duration::from_millis(500));
    // Connect everyone first, 50 at a time, so that all are open at once.
    let t_connect = Instant::now();
    let connected: Result<Vec<Conn>, String> = run(async move {
        let mut out = Vec::with_capacity(conns);
        for batch in (0..conns).collect::<Vec<_>>().chunks(50) {
            let tasks: Vec<_> = batch
                .iter()
                .map(|&i| {
                    spawn(async move {
                        if i % text_share == 0 {
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
    });
    let connected = match connected {
        Ok(c) => c,
        Err(e) => return violation(format!("load: {e}")),
    };
    // Text connections are only counted once they send their first byte;
    // binary clients too. Prime each with one PING so that all are live.
    let connect_time = t_connect.elapsed();
    // Every connection open at the server before the requests start.
    let mut active_peak = 0;
    let probe_until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < probe_until && active_peak < conns {
        active_peak = active_peak.max(server.stats().active);
        std::thread::sleep(Duration::from_millis(20));
    }
    let lat_all = Arc::new(Mutex::new(Vec::<u32>::with_capacity(conns * per_conn)));
    let bytes = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let tasks: Vec<async_executor::Task<Result<Instant, String>>> = connected
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let lat_all = lat_all.clone();
            let bytes = bytes.clone();
            let done = done.clone();
            spawn(async move {
                let mut lat = Vec::with_capacity(per_conn);
                let mut b = 0u64;
                match c {
                    Conn::Text(mut f) => {
                        let mut rng = Rng::new(i as u64 + 1);
                        for r in 0..per_conn {
                            let tag = format!("c{i}.r{r};");
                            text_request(&mut f, &mut rng, &tag, &mut lat, &mut b).await?;
                        }
                        text_exit(&mut f, &format!("text connection {i}")).await?;
                    }
                    Conn::Bin(client) => {
                        let workers: Vec<_> = (0..window)
                            .map(|w| {
                                let client = client.clone();
                                spawn(async move {
                                    let mut rng = Rng::new(((i as u64) << 8) + w as u64 + 7);
                                    let mut lat = Vec::new();
                                    let mut b = 0u64;
                                    for r in (w..per_conn).step_by(window) {
                                        let tag = format!("c{i}.r{r};");
                                        binary_request(&client, &mut rng, &tag, &mut lat, &mut b)
                                            .await?;
                                    }
                                    Ok::<_, String>((lat, b))
                                })
                            })
                            .collect();
                        for w in workers {
                            let (l, wb) = w.await?;
                            lat.extend(l);
                            b += wb;
                        }
                        check_client_clean(&client, &format!("binary connection {i}"))?;
                        client.close();
                    }
                }
                done.fetch_add(lat.len() as u64, Ordering::Relaxed);
                bytes.fetch_add(b, Ordering::Relaxed);
                lat_all
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(lat);
                Ok(Instant::now())
            })
        })
        .collect();
    // While they run: how many connections does the server hold at once?
    let results: Vec<Result<Instant, String>> = run(async move {
        let mut v = Vec::new();
        for t in tasks {
            v.push(within(Duration::from_secs(1800), "load connection", t).await);
        }
        v.into_iter().map(|r| r.and_then(|x| x)).collect()
    });
    let finished = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .max()
        .copied()
        .unwrap_or_else(Instant::now);
    let elapsed = finished.saturating_duration_since(t0);
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    for f in failures.iter().take(10) {
        violation(format!("load: {f}"));
    }
    if failures.len() > 10 {
        violation(format!(
            "load: ... {} failed connections in all",
            failures.len()
        ));
    }
    let rss = sampler.finish();
    let mut lat = std::mem::take(&mut *lat_all.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort_unstable();
    let total = done.load(Ordering::Relaxed);
    let want = (conns * per_conn) as u64;
    check(total == want, || {
        format!("load: {total} of {want} requests answered correctly")
    });
    check(active_peak >= conns * 9 / 10, || {
        format!("load: the server held at most {active_peak} of {conns} connections at once")
    });
    let b = bytes.load(Ordering::Relaxed);
    println!(
        "load: {total} requests answered and checked in {:.1} s ({} connections open at once at the server, connect phase {:.1} s)",
        elapsed.as_secs_f64(),
        active_peak,
        connect_time.as_secs_f64()
    );
    println!(
        "load: throughput {:.0} requests/s, {:.1} MiB/s of payload (both ways, {:.0} MiB in all)",
        total as f64 / elapsed.as_secs_f64(),
        b as f64 / 1048576.0 / elapsed.as_secs_f64(),
        b as f64 / 1048576.0
    );
    println!(
        "load: latency p50 {} p99 {} p99.9 {} max {}",
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(percentile(&lat, 0.999)),
        ms(lat.last().copied().unwrap_or(0))
    );
    println!(
        "load: server RSS start {} max {} end {}",
        mib(rss_start),
        mib(rss.iter().copied().max().unwrap_or(0)),
        mib(server.rss())
    );
    if server
        .wait_active_at_most(0, Duration::from_secs(30))
        .is_none()
    {
        violation("load: the server still holds connections 30 s after every client closed");
    }
    server.stop("load");
}

// ---------------------------------------------------------------------------
// soak
// ---------------------------------------------------------------------------

fn scenario_soak(mode: Mode) {
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
    let addr = server.addr;
    let fds_start = fd_count(server.pid);
    let requests = Arc::new(AtomicU64::new(0));
    let opened = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let deadline = t0 + duration;
    let tasks: Vec<async_executor::Task<Result<(), String>>> = (0..workers)
        .map(|w| {
            let requests = requests.clone();
            let opened = opened.clone();
            spawn(async move {
                let mut rng = Rng::new(1000 + w as u64);
                let mut round = 0u64;
                while Instant::now() < deadline {
                    round += 1;
                    opened.fetch_add(1, Ordering::Relaxed);
                    let n = rng.range(1, 400);
                    let mut lat = Vec::new();
                    let mut b = 0;
                    if rng.percent() < 25 {
                        let mut f = connect_text(addr).await?;
                        for r in 0..n {
                            let tag = format!("w{w}.{round}.{r};");
                            text_request(&mut f, &mut rng, &tag, &mut lat, &mut b).await?;
                        }
                        if rng.percent() < 50 {
                            text_exit(&mut f, "soak text connection").await?;
                        }
                    } else {
                        let client = connect_client(addr).await?;
                        for r in 0..n {
                            let tag = format!("w{w}.{round}.{r};");
                            binary_request(&client, &mut rng, &tag, &mut lat, &mut b).await?;
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
                            _ => {
                                // Drop with a request in flight.
                                let c = client.clone();
                                let _ = within(Duration::from_millis(1), "x", async move {
                                    c.request("ECHO", &[7u8; 3000]).await
                                })
                                .await;
                            }
                        }
                    }
                    requests.fetch_add(lat.len() as u64, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    // Sample both processes' RSS once a second.
    let mut server_rss = Vec::new();
    let mut self_rss = Vec::new();
    let me = std::process::id();
    while Instant::now() < deadline {
        server_rss.push(server.rss());
        self_rss.push(rss_kib(me));
        std::thread::sleep(Duration::from_secs(1));
    }
    let results: Vec<Result<(), String>> = run(async move {
        let mut v = Vec::new();
        for t in tasks {
            v.push(
                within(Duration::from_secs(120), "soak worker", t)
                    .await
                    .and_then(|x| x),
            );
        }
        v
    });
    let elapsed = t0.elapsed();
    for e in results.iter().filter_map(|r| r.as_ref().err()).take(10) {
        violation(format!("soak: {e}"));
    }
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
    let total = requests.load(Ordering::Relaxed);
    println!(
        "soak: {total} requests checked, {} connections opened and closed ({} accepted by the server), {:.0} requests/s",
        opened.load(Ordering::Relaxed),
        stats.accepted,
        total as f64 / elapsed.as_secs_f64()
    );
    for (who, samples) in [("server", &server_rss), ("client process", &self_rss)] {
        flat_check(who, samples, window);
    }
    println!("soak: server descriptors {fds_start} before, {fds_end} after");
    server.stop("soak");
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
    let baseline = samples[window..2 * window]
        .iter()
        .copied()
        .max()
        .unwrap_or(0);
    let last = samples[n - window..].iter().copied().max().unwrap_or(0);
    let max = samples.iter().copied().max().unwrap_or(0);
    let margin = (baseline / 10).max(4096);
    println!(
        "soak: {who} RSS start {} end {} max {}; max of seconds {window}-{} {} vs max of the last {window} s {} (limit {})",
        mib(samples[0]),
        mib(samples[n - 1]),
        mib(max),
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

// ---------------------------------------------------------------------------
// faults
// ---------------------------------------------------------------------------

fn raw_connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_nodelay(true);
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(15)))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// Reads binary answers from a blocking socket until `n` frames or EOF.
/// An answer read from a raw socket: kind, id, payload.
type RawAnswer = (String, u32, Vec<u8>);

fn read_frames(s: &mut TcpStream, n: usize) -> Result<(Vec<RawAnswer>, bool), String> {
    let mut dec = StreamDecoder::boxed(MAX_PAYLOAD);
    let mut out = Vec::new();
    loop {
        while let Some(ev) = dec.decode() {
            let m = ev.map_err(|e| format!("bad answer: {e}"))?;
            out.push((m.kind.as_str().to_owned(), m.id, m.payload.to_vec()));
        }
        if out.len() >= n {
            return Ok((out, false));
        }
        let got = s.read(dec.spare()).map_err(|e| format!("read: {e}"))?;
        if got == 0 {
            return Ok((out, true));
        }
        dec.commit(got);
    }
}

/// How long until the server closes `s` (reads discarded), or an error.
fn time_to_close(s: &mut TcpStream, limit: Duration) -> Result<Duration, String> {
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(t.elapsed()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(t.elapsed()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e.to_string()),
        }
        if t.elapsed() > limit {
            return Err(format!("still open after {limit:?}"));
        }
    }
}

fn ping_ok(addr: SocketAddr, what: &str) {
    let r = (|| {
        let mut s = raw_connect(addr)?;
        s.write_all(&encode("PING", 9, Flags::EMPTY, b""))
            .map_err(|e| e.to_string())?;
        let (f, _) = read_frames(&mut s, 1)?;
        match f.first() {
            Some((k, 9, p)) if k == "PONG" && p == b"ack" => Ok(()),
            other => Err(format!("answer {other:?}")),
        }
    })();
    if let Err(e) = r {
        violation(format!(
            "faults: {what}: the server no longer answers PING: {e}"
        ));
    }
}

fn scenario_faults(mode: Mode) {
    let idle = Duration::from_secs(2);
    let n = mode.pick(100usize, 500usize);
    let mut server = match ServerProc::start(Some(idle), Some(Duration::from_secs(5))) {
        Ok(s) => s,
        Err(e) => return violation(format!("faults: {e}")),
    };
    let addr = server.addr;
    println!(
        "faults: server idle timeout {} s; {n} peers of each abrupt kind",
        idle.as_secs()
    );

    // 1. Peers that vanish mid-header, mid-payload, mid-reply.
    let rss0 = server.rss();
    let frame = encode("ECHO", 1, Flags::CHECKSUM, &[0x5Au8; 32 * 1024]);
    let big = encode("ECHO", 2, Flags::EMPTY, &[0x33u8; 64 * 1024]);
    let mut abrupt_err = None;
    for i in 0..n {
        let r = (|| -> Result<(), String> {
            let mut s = raw_connect(addr)?;
            s.write_all(&frame[..7]).map_err(|e| e.to_string())?;
            drop(s);
            let mut s = raw_connect(addr)?;
            s.write_all(&frame[..frame.len() / 2])
                .map_err(|e| e.to_string())?;
            drop(s);
            if i % 2 == 0 {
                let mut s = raw_connect(addr)?;
                for _ in 0..4 {
                    s.write_all(&big).map_err(|e| e.to_string())?;
                }
                let mut some = [0u8; 100];
                s.read_exact(&mut some).map_err(|e| e.to_string())?;
                // Reset, not FIN: the server is mid-write.
                drop(s);
            }
            Ok(())
        })();
        if let Err(e) = r {
            abrupt_err = Some(e);
            break;
        }
    }
    if let Some(e) = abrupt_err {
        violation(format!("faults: abrupt peers: {e}"));
    }
    let drained = server.wait_active_at_most(0, idle * 3);
    match drained {
        Some(d) => println!(
            "faults: {} peers gone mid-header / mid-payload / mid-reply: all connections released {:.0} ms after the last ({} accepted so far)",
            n * 2 + n / 2,
            d.as_secs_f64() * 1000.0,
            server.stats().accepted
        ),
        None => violation("faults: connections of vanished peers still held after 3x the idle timeout"),
    }
    ping_ok(addr, "after vanished peers");

    // 2. Half-closed: requests, then shutdown(Write): every answer, then EOF.
    let mut half_ok = 0;
    for c in 0..20u32 {
        let r = (|| -> Result<(), String> {
            let mut s = raw_connect(addr)?;
            let mut bytes = Vec::new();
            for id in 1..=50u32 {
                bytes.extend(encode(
                    "ECHO",
                    id,
                    Flags::EMPTY,
                    format!("{c}/{id}").as_bytes(),
                ));
            }
            s.write_all(&bytes).map_err(|e| e.to_string())?;
            s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
            let (f, _) = read_frames(&mut s, 50)?;
            for (i, (k, id, p)) in f.iter().enumerate() {
                let want = format!("{c}/{}", i + 1);
                if k != "ECHO" || *id != i as u32 + 1 || p != want.as_bytes() {
                    return Err(format!("answer {i}: {k} id {id}"));
                }
            }
            let (extra, eof) = read_frames(&mut s, 1)?;
            if !extra.is_empty() || !eof {
                return Err("more than one answer per request".into());
            }
            Ok(())
        })();
        match r {
            Ok(()) => half_ok += 1,
            Err(e) => violation(format!("faults: half-closed peer {c}: {e}")),
        }
    }
    println!("faults: {half_ok}/20 half-closed peers got all 50 answers, in order, then EOF");

    // 3. Silent peers, and a peer silent after one answer: dropped at the
    //    idle timeout.
    let mut closes = Vec::new();
    for k in 0..4 {
        let r = (|| -> Result<Duration, String> {
            let mut s = raw_connect(addr)?;
            if k % 2 == 1 {
                s.write_all(&encode("PING", 1, Flags::EMPTY, b""))
                    .map_err(|e| e.to_string())?;
                read_frames(&mut s, 1)?;
            }
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .map_err(|e| e.to_string())?;
            time_to_close(&mut s, idle + Duration::from_secs(5))
        })();
        match r {
            Ok(d) => closes.push(d),
            Err(e) => violation(format!("faults: silent peer: {e}")),
        }
    }
    for d in &closes {
        check(
            *d + Duration::from_millis(100) >= idle && *d <= idle + Duration::from_secs(3),
            || format!("faults: a silent peer was dropped after {d:?} (idle timeout {idle:?})"),
        );
    }
    println!(
        "faults: silent peers dropped after {:?}",
        closes
            .iter()
            .map(|d| format!("{:.2} s", d.as_secs_f64()))
            .collect::<Vec<_>>()
    );

    // 4. Peers that send but never read.
    let peers = mode.pick(16usize, 64usize);
    let before = server.rss();
    let sampler = Sampler::start(server.pid, Duration::from_millis(100));
    let handles: Vec<_> = (0..peers)
        .map(|_| {
            std::thread::spawn(move || -> Result<(u64, Duration, ErrorKind), String> {
                let mut s = raw_connect(addr)?;
                s.set_write_timeout(Some(Duration::from_secs(12)))
                    .map_err(|e| e.to_string())?;
                let req = encode("ECHO", 5, Flags::EMPTY, &[0x42u8; 64 * 1024]);
                let t = Instant::now();
                let mut sent = 0u64;
                loop {
                    match s.write(&req) {
                        Ok(k) => sent += k as u64,
                        Err(e) => return Ok((sent, t.elapsed(), e.kind())),
                    }
                    if t.elapsed() > Duration::from_secs(60) {
                        return Err("still writing after 60 s".into());
                    }
                }
            })
        })
        .collect();
    let mut worst = Duration::ZERO;
    let mut sent_total = 0u64;
    for h in handles {
        match h.join() {
            Ok(Ok((sent, t, kind))) => {
                sent_total += sent;
                worst = worst.max(t);
                check(
                    matches!(kind, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
                    || {
                        format!("faults: a peer that never reads: its write ended with {kind:?} after {t:?}, not a reset by the server")
                    },
                );
            }
            Ok(Err(e)) => violation(format!("faults: a peer that never reads: {e}")),
            Err(_) => violation("faults: a never-reading peer's thread panicked"),
        }
    }
    let samples = sampler.finish();
    let peak = samples.iter().copied().max().unwrap_or(0);
    let bound = before + 16 * 1024 + peers as u64 * 1024;
    check(peak <= bound, || {
        format!(
            "faults: never-reading peers: server RSS reached {} (before {}, limit {})",
            mib(peak),
            mib(before),
            mib(bound)
        )
    });
    check(worst <= idle + Duration::from_secs(8), || {
        format!("faults: a never-reading peer was dropped only after {worst:?}")
    });
    println!(
        "faults: {peers} peers that never read: each sent until its writes blocked ({} MiB in all) and was reset by the server within {:.1} s of connecting; server RSS {} before, {} max",
        sent_total / 1048576,
        worst.as_secs_f64(),
        mib(before),
        mib(peak)
    );
    ping_ok(addr, "after never-reading peers");

    // 5. Slowloris: one byte per second, binary and text.
    for (name, bytes) in [
        ("binary", encode("ECHO", 3, Flags::EMPTY, b"slowloris")),
        ("text", b"ECHO:slowloris\n".to_vec()),
    ] {
        let r = (|| -> Result<(usize, Duration), String> {
            let mut s = raw_connect(addr)?;
            s.set_read_timeout(Some(Duration::from_secs(1)))
                .map_err(|e| e.to_string())?;
            let t = Instant::now();
            let mut buf = [0u8; 256];
            for (i, b) in bytes.iter().enumerate() {
                if s.write_all(&[*b]).is_err() {
                    return Ok((i, t.elapsed()));
                }
                match s.read(&mut buf) {
                    Ok(0) => return Ok((i + 1, t.elapsed())),
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                        return Ok((i + 1, t.elapsed()))
                    }
                    Ok(_) => return Err("an answer to an incomplete request".into()),
                    Err(_) => {}
                }
            }
            Err(format!(
                "the whole request went through at 1 B/s in {:?}",
                t.elapsed()
            ))
        })();
        match r {
            Ok((sent, d)) => {
                check(d <= idle + Duration::from_secs(2), || {
                    format!("faults: {name} slowloris dropped only after {d:?}")
                });
                println!(
                    "faults: {name} slowloris (1 B/s) dropped after {:.1} s, {sent} of {} bytes sent",
                    d.as_secs_f64(),
                    bytes.len()
                );
            }
            Err(e) => violation(format!("faults: {name} slowloris: {e}")),
        }
    }
    let after = server.rss();
    println!(
        "faults: server RSS {} at the start, {} at the end",
        mib(rss0),
        mib(after)
    );
    ping_ok(addr, "at the end");
    server.stop("faults");

    overload();
    limits();
    shutdown_under_load(mode);
    server_dies_mid_request(mode);
}

/// A server at its connection limit answers `ERROR overloaded` (in the
/// peer's framing) and closes; a client sees why; a freed slot is reused.
fn overload() {
    let max = 16usize;
    let r = run(async move {
        let server = Server::bind_tcp(
            "127.0.0.1:0",
            Router::new(),
            ServerConfig {
                max_connections: max,
                ..ServerConfig::default()
            },
        )
        .await
        .map_err(|e| format!("bind: {e}"))?
        .start(&spawner());
        let addr = server.local_addr().ok_or("no address")?;
        let mut clients = Vec::new();
        for _ in 0..max {
            let c = connect_client(addr).await?;
            c.ping()
                .await
                .map_err(|e| format!("ping under the limit: {e}"))?;
            clients.push(c);
        }
        // One more, in text framing: one ERROR line, then EOF.
        let mut f = connect_text(addr).await?;
        f.send(&Message::new(Kind::PING, b""))
            .await
            .map_err(|e| e.to_string())?;
        f.flush().await.map_err(|e| e.to_string())?;
        let line = within(Duration::from_secs(10), "overloaded answer", f.recv())
            .await?
            .map(|m| (m.kind.as_str().to_string(), m.payload.to_vec()))
            .map_err(|e| format!("text peer over the limit: {e}"))?;
        if line.0 != "ERROR" || !line.1.starts_with(b"overloaded:") {
            return Err(format!("text peer over the limit got {line:?}"));
        }
        // One more, a binary client: its request must fail, saying why.
        let c = connect_client(addr).await?;
        let why = match within(Duration::from_secs(10), "overloaded client", c.ping()).await? {
            Ok(_) => return Err("a client over the limit was served".into()),
            Err(e) => e.to_string(),
        };
        // A freed slot is served again at once, even while a silent peer
        // over the limit is being refused (the server waits up to 1 s for
        // its first byte).
        let silent = async_net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        Timer::after(Duration::from_millis(100)).await;
        drop(clients.pop());
        let t = Instant::now();
        let reused = loop {
            if server.stats().active < max {
                let c = connect_client(addr).await?;
                if c.ping().await.is_ok() {
                    break Some(t.elapsed());
                }
            }
            if t.elapsed() > Duration::from_secs(10) {
                break None;
            }
            Timer::after(Duration::from_millis(20)).await;
        };
        drop(silent);
        let stats = server.stats();
        server.shutdown(Duration::from_secs(2)).await;
        Ok::<_, String>((why, reused, stats.overloaded))
    });
    match r {
        Ok((why, reused, overloaded)) => {
            check(why.contains("overloaded"), || {
                format!("faults: a client refused as overloaded is told only {why:?}")
            });
            check(
                reused.is_some_and(|d| d < Duration::from_millis(900)),
                || {
                    format!(
                        "faults: a freed connection slot was served again only after {reused:?}"
                    )
                },
            );
            println!(
                "faults: over the limit of {max} connections: a text peer got `ERROR:overloaded: ...` then EOF, a client's request failed with {why:?}; {overloaded} refused; a freed slot served again after {:.0} ms",
                reused.unwrap_or_default().as_secs_f64() * 1000.0
            );
        }
        Err(e) => violation(format!("faults: overload: {e}")),
    }
}

/// Requests and answers over the limits: refused with the right error,
/// and the connection goes on.
fn limits() {
    let r = run(async move {
        // The server accepts 128 KiB payloads; the client only 64 KiB.
        let server = Server::bind_tcp(
            "127.0.0.1:0",
            Router::new(),
            ServerConfig {
                framed: FramedConfig {
                    max_payload: 128 * 1024,
                    ..FramedConfig::default()
                },
                ..ServerConfig::default()
            },
        )
        .await
        .map_err(|e| format!("bind: {e}"))?
        .start(&spawner());
        let addr = server.local_addr().ok_or("no address")?;
        let c = connect_client(addr).await?;
        let mut notes = Vec::new();
        // A request over the server's limit: `too-large`, then go on.
        match c.request("ECHO", &vec![1u8; 200 * 1024]).await {
            Err(ClientError::Remote { code, .. }) if code == "too-large" => {
                notes.push("a 200 KiB request: ERROR too-large".to_string())
            }
            other => return Err(format!("a 200 KiB request: {other:?}")),
        }
        c.ping()
            .await
            .map_err(|e| format!("PING after too-large: {e}"))?;
        // An answer over the client's limit: `BadAnswer`, then go on.
        match c.request("ECHO", &vec![2u8; 100 * 1024]).await {
            Err(ClientError::BadAnswer(e)) if e.code() == "too-large" => {
                notes.push("a 100 KiB answer: refused by the client (too-large)".to_string())
            }
            other => return Err(format!("a 100 KiB answer: {other:?}")),
        }
        c.ping()
            .await
            .map_err(|e| format!("PING after a refused answer: {e}"))?;
        let echo = c
            .request("ECHO", &vec![3u8; 60 * 1024])
            .await
            .map_err(|e| format!("ECHO 60 KiB after: {e}"))?;
        if echo.payload.len() != 60 * 1024 {
            return Err("ECHO 60 KiB after: wrong answer".into());
        }
        // A closed client fails at once.
        c.close();
        let t = Instant::now();
        match within(Duration::from_secs(5), "request after close", c.ping()).await? {
            Err(ClientError::Closed(_)) => {}
            other => return Err(format!("request after close: {other:?}")),
        }
        notes.push(format!(
            "a request after close: Closed in {:.1} ms",
            t.elapsed().as_secs_f64() * 1000.0
        ));
        server.shutdown(Duration::from_secs(2)).await;
        Ok::<_, String>(notes)
    });
    match r {
        Ok(notes) => println!(
            "faults: limits: {}; the connection went on",
            notes.join(", ")
        ),
        Err(e) => violation(format!("faults: limits: {e}")),
    }
}

/// Graceful shutdown while clients are busy: every request is answered or
/// fails with `Closed`; nothing hangs.
fn shutdown_under_load(mode: Mode) {
    let busy = mode.pick(48usize, 200usize);
    // `SLOW` counts the handlers that have started, so that shutdown
    // begins once all six slow requests are in the server's hands.
    let started = Arc::new(AtomicU64::new(0));
    let s2 = started.clone();
    let router = test_router(None).on("SLOW", move |req: Frame| {
        s2.fetch_add(1, Ordering::SeqCst);
        async move {
            let ms: u64 = req.text().and_then(|t| t.parse().ok()).unwrap_or(100);
            Timer::after(Duration::from_millis(ms)).await;
            Ok(Some(Reply::new("DONE", req.payload)?))
        }
    });
    let router = match router {
        Ok(r) => r,
        Err(e) => return violation(format!("faults: router: {e}")),
    };
    let r = run(async move {
        let server = Server::bind_tcp(
            "127.0.0.1:0",
            router,
            ServerConfig {
                max_connections: 4096,
                ..ServerConfig::default()
            },
        )
        .await
        .map_err(|e| format!("bind: {e}"))?
        .start(&spawner());
        let addr = server.local_addr().ok_or("no address")?;
        let t0 = Instant::now();
        // Busy clients: ECHO in a loop until their connection closes.
        let mut tasks = Vec::new();
        for i in 0..busy {
            let client = connect_client(addr).await?;
            tasks.push(spawn(async move {
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
            }));
        }
        // Slow requests: some finish within the deadline, two cannot.
        let mut slow = Vec::new();
        for ms in [1000u64, 1000, 1000, 1000, 20_000, 20_000] {
            let client = connect_client(addr).await?;
            slow.push(spawn(async move {
                Timer::after(Duration::from_millis(1500)).await;
                let r = client.request("SLOW", ms.to_string().as_bytes()).await;
                (ms, r, Instant::now())
            }));
        }
        // Let the load run for 2 s, and the slow handlers start.
        Timer::at(t0 + Duration::from_secs(2)).await;
        within(Duration::from_secs(20), "slow handlers to start", async {
            while started.load(Ordering::SeqCst) < 6 {
                Timer::after(Duration::from_millis(10)).await;
            }
        })
        .await?;
        let t_shut = Instant::now();
        let report = within(
            Duration::from_secs(10),
            "shutdown",
            server.shutdown(Duration::from_secs(3)),
        )
        .await?;
        let shut_took = t_shut.elapsed();
        let mut answered = 0;
        let mut latest = t_shut;
        for t in tasks {
            let (ok, when) =
                within(Duration::from_secs(10), "busy client after shutdown", t).await??;
            answered += ok;
            latest = latest.max(when);
        }
        let mut slow_summary = Vec::new();
        for t in slow {
            let (ms, r, when) =
                within(Duration::from_secs(10), "slow client after shutdown", t).await?;
            let after = when.saturating_duration_since(t_shut);
            match (ms, &r) {
                (1000, Ok(f)) if f.kind == "DONE" => {}
                (20_000, Err(ClientError::Closed(_))) => {}
                _ => return Err(format!("SLOW {ms} ms: {r:?}")),
            }
            slow_summary.push(format!(
                "SLOW {ms} ms -> {} at +{:.2} s",
                if r.is_ok() { "answered" } else { "Closed" },
                after.as_secs_f64()
            ));
        }
        // After shutdown nobody is accepted.
        let refused = match within(
            Duration::from_secs(5),
            "connect after shutdown",
            Client::connect_tcp(addr, client_config()),
        )
        .await?
        {
            Err(_) => true,
            Ok(c) => c.start(&spawner()).request("PING", b"").await.is_err(),
        };
        Ok::<_, String>((
            report,
            shut_took,
            answered,
            latest - t_shut,
            slow_summary,
            refused,
        ))
    });
    match r {
        Ok((report, took, answered, last, slow, refused)) => {
            check(took <= Duration::from_secs(5), || {
                format!("faults: shutdown(3 s) took {took:?}")
            });
            check(report.forced == 2, || {
                format!(
                    "faults: shutdown forced {} connections, expected the 2 with 20 s handlers",
                    report.forced
                )
            });
            check(refused, || {
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
        Err(e) => violation(format!("faults: shutdown under load: {e}")),
    }
}

/// The server process is killed while requests are pending: each fails
/// with `Closed`, promptly (well before the 60 s request timeout).
fn server_dies_mid_request(mode: Mode) {
    let clients = mode.pick(32usize, 128usize);
    let mut server = match ServerProc::start(Some(Duration::from_secs(60)), None) {
        Ok(s) => s,
        Err(e) => return violation(format!("faults: {e}")),
    };
    let addr = server.addr;
    let killed_at = Arc::new(Mutex::new(None::<Instant>));
    let k2 = killed_at.clone();
    let tasks = run(async move {
        let mut tasks = Vec::new();
        for i in 0..clients {
            let client = connect_client(addr).await?;
            tasks.push(spawn(async move {
                // Half wait on a slow handler, half stream echoes.
                let mut n = 0u64;
                loop {
                    let r = if i % 2 == 0 {
                        client.request("SLOW", b"30000").await.map(|_| ())
                    } else {
                        client.request("ECHO", &[1u8; 2000]).await.map(|_| ())
                    };
                    match r {
                        Ok(()) => n += 1,
                        Err(e) => return (n, e, Instant::now()),
                    }
                }
            }));
        }
        Ok::<_, String>(tasks)
    });
    let tasks = match tasks {
        Ok(t) => t,
        Err(e) => return violation(format!("faults: server death: {e}")),
    };
    std::thread::sleep(Duration::from_secs(1));
    *k2.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    server.kill();
    let res = run(async move {
        let mut v = Vec::new();
        for t in tasks {
            v.push(within(Duration::from_secs(10), "request after the server died", t).await);
        }
        v
    });
    let killed = killed_at
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .unwrap_or_else(Instant::now);
    let mut worst = Duration::ZERO;
    let mut echoes = 0;
    for r in res {
        match r {
            Ok((n, e, when)) => {
                echoes += n;
                let after = when.saturating_duration_since(killed);
                worst = worst.max(after);
                check(matches!(e, ClientError::Closed(_)), || {
                    format!("faults: server killed: a pending request failed with {e}, not Closed")
                });
            }
            Err(e) => violation(format!("faults: server killed: {e}")),
        }
    }
    check(worst <= Duration::from_secs(2), || {
        format!("faults: server killed: a pending request failed only {worst:?} later")
    });
    println!(
        "faults: server process killed with {clients} clients busy ({} on 30 s handlers; {echoes} echoes answered before): every pending request failed with Closed within {:.0} ms",
        clients / 2,
        worst.as_secs_f64() * 1000.0
    );
}

// ---------------------------------------------------------------------------
// bad-input
// ---------------------------------------------------------------------------

/// What the server must answer, derived from the crate's own decoder fed
/// the same bytes: (kind, id, payload or error-code prefix).
#[derive(Debug, Clone, PartialEq)]
struct Want {
    kind: String,
    id: u32,
    /// For `ERROR`: the code; else the payload.
    body: Vec<u8>,
}

enum Oracle {
    Bin(StreamDecoder<Box<[u8]>>),
    Text(TextStreamDecoder<Box<[u8]>>),
}

impl Oracle {
    /// Feeds `bytes`; the answers they call for, or `None` when they hold
    /// a frame the scenario does not want (a routed kind made by chance).
    fn feed(&mut self, bytes: &[u8], mine: &[u32]) -> Option<Vec<Want>> {
        let mut out = Vec::new();
        let mut rest = bytes;
        loop {
            loop {
                let ev = match self {
                    Oracle::Bin(d) => d.decode().map(|e| e.map(|m| Frame::from_message(&m))),
                    Oracle::Text(d) => d.decode().map(|e| e.map(|m| Frame::from_message(&m))),
                };
                let Some(ev) = ev else { break };
                match ev {
                    Ok(f) => {
                        let text = matches!(self, Oracle::Text(_));
                        let is_mine = if text {
                            f.kind == "ECHO" && f.payload.starts_with(b"valid ")
                        } else {
                            mine.contains(&f.id)
                        };
                        match f.kind.as_str() {
                            "ECHO" if is_mine => out.push(Want {
                                kind: "ECHO".into(),
                                id: f.id,
                                body: f.payload,
                            }),
                            "ECHO" | "PING" | "EXIT" | "HASH" | "FAIL" | "PANIC" | "SLOW" => {
                                return None
                            }
                            _ => out.push(Want {
                                kind: "ERROR".into(),
                                id: f.id,
                                body: b"unknown-kind".to_vec(),
                            }),
                        }
                    }
                    Err(e) => out.push(Want {
                        kind: "ERROR".into(),
                        id: e.id.unwrap_or(0),
                        body: e.code().as_bytes().to_vec(),
                    }),
                }
            }
            if rest.is_empty() {
                return Some(out);
            }
            let n = match self {
                Oracle::Bin(d) => d.feed(rest),
                Oracle::Text(d) => d.feed(rest),
            };
            if n == 0 {
                return None;
            }
            rest = &rest[n..];
        }
    }

    fn snapshot(&self) -> Self {
        // Decoders are not Clone; rounds are generated from a fresh state
        // (each round ends with a complete valid request, which leaves the
        // decoder scanning with nothing buffered).
        match self {
            Oracle::Bin(_) => Oracle::Bin(StreamDecoder::boxed(MAX_PAYLOAD)),
            Oracle::Text(_) => Oracle::Text(TextStreamDecoder::boxed(MAX_LINE)),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Bad {
    Random,
    Huge,
    Checksum,
    LongLine,
    Unknown,
}

/// One round on a connection: bad input of `bad`'s sort with valid
/// requests around it. Returns the bytes, the answers they call for, and
/// how many of the bytes were bad.
fn make_round(
    rng: &mut Rng,
    bad: Bad,
    text: bool,
    next_id: &mut u32,
    oracle: &Oracle,
) -> (Vec<u8>, Vec<Want>, u64) {
    loop {
        let mut bytes = Vec::new();
        let mut bad_bytes = 0u64;
        let mut mine = Vec::new();
        let valid = |rng: &mut Rng, next_id: &mut u32, mine: &mut Vec<u32>| -> Vec<u8> {
            *next_id += 1;
            let size = rng.range(0, 300);
            let p = make_payload(rng, size, &format!("valid {};", *next_id), true);
            let mut p = [b"valid ".as_slice(), &p].concat();
            p.truncate(p.len().max(6));
            if text {
                let mut l = b"ECHO:".to_vec();
                l.extend(&p);
                l.push(b'\n');
                l
            } else {
                mine.push(*next_id);
                encode("ECHO", *next_id, Flags::EMPTY, &p)
            }
        };
        bytes.extend(valid(rng, next_id, &mut mine));
        let junk: Vec<u8> = match (bad, text) {
            (Bad::Random, _) => {
                let mut j = vec![0u8; rng.range(1, 8192)];
                rng.fill(&mut j);
                if text {
                    j.push(b'\n');
                }
                j
            }
            (Bad::Huge, false) => {
                *next_id += 1;
                let mut h = header_claiming("ECHO", *next_id, u32::MAX - rng.range(0, 1000) as u32);
                // Then some of the "payload" the server must skip, never
                // buffer; the valid request is not sent after it (it
                // would be skipped as part of the 4 GB).
                let mut tail = vec![0u8; rng.range(0, 256 * 1024)];
                rng.fill(&mut tail);
                h.extend(tail);
                h
            }
            (Bad::Huge, true) | (Bad::LongLine, _) => {
                let len = rng.range(MAX_LINE + 1, 4 * MAX_LINE);
                let mut l = make_payload(rng, len, "ECHO:", true);
                l.push(b'\n');
                l
            }
            (Bad::Checksum, false) => {
                *next_id += 1;
                let mut p = vec![0u8; rng.range(0, 2000)];
                rng.fill(&mut p);
                let mut f = encode("ECHO", *next_id, Flags::CHECKSUM, &p);
                if rng.percent() < 50 {
                    // Bad payload checksum (trailer).
                    let n = f.len();
                    f[n - 1] ^= 0x5A;
                } else {
                    // Bad header checksum.
                    f[12] ^= 0x5A;
                }
                f
            }
            (Bad::Checksum, true) => {
                // Text has no checksums: lines with no separator or a bad
                // kind instead.
                let len = rng.range(1, 200);
                let mut l = make_payload(rng, len, "", true);
                l.retain(|&b| b != b':');
                if rng.percent() < 50 {
                    l.extend(b":x");
                    l.insert(0, b'!');
                }
                l.push(b'\n');
                l
            }
            (Bad::Unknown, false) => {
                *next_id += 1;
                let k = format!("KIND{}", rng.next() % 100_000);
                encode(&k, *next_id, Flags::EMPTY, b"whatever")
            }
            (Bad::Unknown, true) => format!("NOPE{}:data\n", rng.next() % 100_000).into_bytes(),
        };
        bad_bytes += junk.len() as u64;
        bytes.extend(&junk);
        if !matches!(bad, Bad::Huge) || text {
            bytes.extend(valid(rng, next_id, &mut mine));
        }
        let mut o = oracle.snapshot();
        if let Some(want) = o.feed(&bytes, &mine) {
            // The round must leave the decoder as it found it (scanning,
            // nothing buffered), except a huge frame, which ends the
            // connection's use.
            let clean = match &o {
                Oracle::Bin(d) => {
                    d.buffered() == 0 && (d.skipping() == 0 || matches!(bad, Bad::Huge))
                }
                Oracle::Text(d) => d.buffered() == 0,
            };
            if clean {
                return (bytes, want, bad_bytes);
            }
        }
    }
}

/// Reads `n` answers in the connection's framing.
async fn read_answers(
    s: &mut async_net::TcpStream,
    dec: &mut Oracle,
    n: usize,
) -> Result<Vec<Want>, String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        loop {
            let ev = match dec {
                Oracle::Bin(d) => d.decode().map(|e| e.map(|m| Frame::from_message(&m))),
                Oracle::Text(d) => d.decode().map(|e| e.map(|m| Frame::from_message(&m))),
            };
            let Some(ev) = ev else { break };
            let f = ev.map_err(|e| format!("a malformed answer: {e}"))?;
            out.push(f);
        }
        if out.len() >= n {
            break;
        }
        let got = s.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
        if got == 0 {
            return Err(format!("closed after {} of {n} answers", out.len()));
        }
        let mut rest = &buf[..got];
        while !rest.is_empty() {
            let k = match dec {
                Oracle::Bin(d) => d.feed(rest),
                Oracle::Text(d) => d.feed(rest),
            };
            rest = &rest[k..];
            if k == 0 {
                break;
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|f| Want {
            body: if f.kind == "ERROR" {
                f.payload
                    .split(|&b| b == b':')
                    .next()
                    .unwrap_or_default()
                    .to_vec()
            } else {
                f.payload
            },
            kind: f.kind,
            id: f.id,
        })
        .collect())
}

/// A connection that sends `rounds` rounds of `bad` input with valid
/// requests, checking every answer. Returns (bad bytes, valid answered).
async fn bad_connection(
    addr: SocketAddr,
    bad: Bad,
    text: bool,
    rounds: usize,
    seed: u64,
) -> Result<(u64, u64), String> {
    let mut s = within(
        Duration::from_secs(20),
        "connect",
        async_net::TcpStream::connect(addr),
    )
    .await?
    .map_err(|e| format!("connect: {e}"))?;
    let mut rng = Rng::new(seed);
    let mut next_id = 0u32;
    let fresh = if text {
        Oracle::Text(TextStreamDecoder::boxed(MAX_LINE))
    } else {
        Oracle::Bin(StreamDecoder::boxed(MAX_PAYLOAD))
    };
    let mut answers = if text {
        Oracle::Text(TextStreamDecoder::boxed(MAX_LINE))
    } else {
        Oracle::Bin(StreamDecoder::boxed(MAX_PAYLOAD + 100))
    };
    let rounds = if matches!(bad, Bad::Huge) && !text {
        1
    } else {
        rounds
    };
    let (mut bad_total, mut valid) = (0, 0);
    for r in 0..rounds {
        let (bytes, want, b) = make_round(&mut rng, bad, text, &mut next_id, &fresh);
        bad_total += b;
        let mut w = s.clone();
        let send = async move { w.write_all(&bytes).await.map_err(|e| format!("write: {e}")) };
        let (sent, got) = futures_lite::future::zip(
            send,
            within(
                Duration::from_secs(30),
                "answers",
                read_answers(&mut s, &mut answers, want.len()),
            ),
        )
        .await;
        sent?;
        let got = got??;
        if got != want {
            let first = got
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(want.len()));
            return Err(format!(
                "{bad:?} {} round {r}: answer {first} is {:?}, expected {:?} ({} answers, {} expected)",
                if text { "text" } else { "binary" },
                got.get(first).map(short),
                want.get(first).map(short),
                got.len(),
                want.len()
            ));
        }
        valid += want.iter().filter(|w| w.kind == "ECHO").count() as u64;
    }
    if matches!(bad, Bad::Huge) && !text {
        // Keep streaming "payload" of the 4 GB frame: skipped, not kept.
        let mut chunk = vec![0u8; 1 << 20];
        rng.fill(&mut chunk);
        for _ in 0..2 {
            within(Duration::from_secs(30), "skip stream", s.write_all(&chunk))
                .await?
                .map_err(|e| format!("write: {e}"))?;
            bad_total += chunk.len() as u64;
        }
    }
    let _ = s.close().await;
    Ok((bad_total, valid))
}

fn short(w: &Want) -> String {
    format!(
        "{} id {} {:?}",
        w.kind,
        w.id,
        String::from_utf8_lossy(&w.body[..w.body.len().min(40)])
    )
}

fn scenario_bad_input(mode: Mode) {
    let secs = mode.pick(10u64, 60u64);
    let server = match ServerProc::start(Some(Duration::from_secs(30)), None) {
        Ok(s) => s,
        Err(e) => return violation(format!("bad-input: {e}")),
    };
    let addr = server.addr;
    let rss_start = server.rss();
    let sampler = Sampler::start(server.pid, Duration::from_millis(100));
    println!("bad-input: {secs} s of floods (random bytes, 4 GB headers, bad checksums, overlong lines, unknown kinds), each connection mixing valid requests in, beside clean connections");
    let bad_bytes: Arc<[AtomicU64; 5]> = Arc::new(Default::default());
    let valid_answered = Arc::new(AtomicU64::new(0));
    let floods = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let sorts = [
        Bad::Random,
        Bad::Huge,
        Bad::Checksum,
        Bad::LongLine,
        Bad::Unknown,
    ];
    let mut tasks: Vec<async_executor::Task<Result<(), String>>> = Vec::new();
    for (k, bad) in sorts.into_iter().enumerate() {
        for text in [false, true] {
            for j in 0..3u64 {
                let (bb, va, fl) = (bad_bytes.clone(), valid_answered.clone(), floods.clone());
                tasks.push(spawn(async move {
                    let mut seed = (k as u64) << 40 | u64::from(text) << 32 | j << 24;
                    while Instant::now() < deadline {
                        seed += 1;
                        let (b, v) = bad_connection(addr, bad, text, 20, seed).await?;
                        bb[k].fetch_add(b, Ordering::Relaxed);
                        va.fetch_add(v, Ordering::Relaxed);
                        fl.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                }));
            }
        }
    }
    // Clean connections beside them: ordinary load, every answer checked.
    let clean_requests = Arc::new(AtomicU64::new(0));
    let lat_all = Arc::new(Mutex::new(Vec::new()));
    for i in 0..8 {
        let (cr, la) = (clean_requests.clone(), lat_all.clone());
        tasks.push(spawn(async move {
            let mut rng = Rng::new(77 + i);
            let mut lat = Vec::new();
            let mut b = 0;
            let mut r = 0;
            if i % 4 == 0 {
                let mut f = connect_text(addr).await?;
                while Instant::now() < deadline {
                    r += 1;
                    text_request(
                        &mut f,
                        &mut rng,
                        &format!("clean{i}.{r};"),
                        &mut lat,
                        &mut b,
                    )
                    .await?;
                }
            } else {
                let c = connect_client(addr).await?;
                while Instant::now() < deadline {
                    r += 1;
                    binary_request(&c, &mut rng, &format!("clean{i}.{r};"), &mut lat, &mut b)
                        .await?;
                }
                check_client_clean(&c, "clean connection")?;
            }
            cr.fetch_add(lat.len() as u64, Ordering::Relaxed);
            la.lock().unwrap_or_else(|p| p.into_inner()).extend(lat);
            Ok(())
        }));
    }
    let results = run(async move {
        let mut v = Vec::new();
        for t in tasks {
            v.push(
                within(Duration::from_secs(secs + 120), "bad-input connection", t)
                    .await
                    .and_then(|x| x),
            );
        }
        v
    });
    for e in results.iter().filter_map(|r| r.as_ref().err()).take(10) {
        violation(format!("bad-input: {e}"));
    }
    let samples = sampler.finish();
    let peak = samples.iter().copied().max().unwrap_or(0);
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
    let mut lat = std::mem::take(&mut *lat_all.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort_unstable();
    println!(
        "bad-input: {:.1} MiB of bad input on {} flood connections; {} valid requests among it all answered and checked; {} requests on clean connections answered and checked (p99 {})",
        bad_bytes.iter().map(|b| b.load(Ordering::Relaxed)).sum::<u64>() as f64 / 1048576.0,
        floods.load(Ordering::Relaxed),
        valid_answered.load(Ordering::Relaxed),
        clean_requests.load(Ordering::Relaxed),
        ms(percentile(&lat, 0.99))
    );
    let per: Vec<String> = sorts
        .iter()
        .zip(bad_bytes.iter())
        .map(|(s, b)| {
            format!(
                "{s:?} {:.1} MiB",
                b.load(Ordering::Relaxed) as f64 / 1048576.0
            )
        })
        .collect();
    println!("bad-input: bad bytes by sort: {}", per.join(", "));
    println!(
        "bad-input: server RSS start {} max {} end {}",
        mib(rss_start),
        mib(peak),
        mib(server.rss())
    );
    ping_ok(addr, "after bad input");
    server.stop("bad-input");
}

// ---------------------------------------------------------------------------
// handlers
// ---------------------------------------------------------------------------

fn scenario_handlers(mode: Mode) {
    let secs = mode.pick(8u64, 30u64);
    let timeout = Duration::from_secs(1);
    let server = match ServerProc::start(Some(Duration::from_secs(30)), Some(timeout)) {
        Ok(s) => s,
        Err(e) => return violation(format!("handlers: {e}")),
    };
    let addr = server.addr;
    println!("handlers: {secs} s; handler timeout 1 s; 16 connections calling handlers that panic, fail or take 3 s (each followed by a valid request on the same connection), beside 32 clean ones");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let counts = Arc::new([
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    ]);
    let mut tasks: Vec<async_executor::Task<Result<(), String>>> = Vec::new();
    for i in 0..16u64 {
        let counts = counts.clone();
        tasks.push(spawn(async move {
            let mut rng = Rng::new(900 + i);
            if i % 4 == 0 {
                // Text framing.
                let mut f = connect_text(addr).await?;
                let mut n = 0;
                while Instant::now() < deadline {
                    n += 1;
                    let (kind, want) = match n % 3 {
                        0 => ("PANIC", "handler-failed: panicked"),
                        1 => ("FAIL", "handler-failed: deliberate failure"),
                        _ => ("SLOW", "handler-failed: timed out"),
                    };
                    let payload: &[u8] = if kind == "SLOW" { b"3000" } else { b"x" };
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
                    counts[(n % 3) as usize].fetch_add(1, Ordering::Relaxed);
                    let (mut l, mut b) = (Vec::new(), 0);
                    text_request(&mut f, &mut rng, &format!("h{i}.{n};"), &mut l, &mut b).await?;
                    counts[3].fetch_add(1, Ordering::Relaxed);
                }
                return Ok(());
            }
            let c = connect_client(addr).await?;
            let mut n = 0;
            while Instant::now() < deadline {
                n += 1;
                let (kind, payload, want) = match n % 3 {
                    0 => ("PANIC", &b"x"[..], "panicked: deliberate panic"),
                    1 => ("FAIL", &b"x"[..], "deliberate failure"),
                    _ => ("SLOW", &b"3000"[..], "timed out"),
                };
                let t = Instant::now();
                match c.request(kind, payload).await {
                    Err(ClientError::Remote { code, detail })
                        if code == "handler-failed" && detail.starts_with(want) => {}
                    other => return Err(format!("{kind}: {other:?}")),
                }
                let took = t.elapsed();
                if kind == "SLOW"
                    && (took < timeout - Duration::from_millis(50) || took > timeout * 29 / 10)
                {
                    return Err(format!(
                        "SLOW 3000 with a 1 s handler timeout answered after {took:?}"
                    ));
                }
                counts[(n % 3) as usize].fetch_add(1, Ordering::Relaxed);
                let (mut l, mut b) = (Vec::new(), 0);
                binary_request(&c, &mut rng, &format!("h{i}.{n};"), &mut l, &mut b).await?;
                counts[3].fetch_add(1, Ordering::Relaxed);
            }
            check_client_clean(&c, "handler connection")?;
            Ok(())
        }));
    }
    let clean_requests = Arc::new(AtomicU64::new(0));
    let lat_all = Arc::new(Mutex::new(Vec::new()));
    for i in 0..32u64 {
        let (cr, la) = (clean_requests.clone(), lat_all.clone());
        tasks.push(spawn(async move {
            let mut rng = Rng::new(5000 + i);
            let (mut lat, mut b, mut r) = (Vec::new(), 0, 0);
            if i % 4 == 0 {
                let mut f = connect_text(addr).await?;
                while Instant::now() < deadline {
                    r += 1;
                    text_request(&mut f, &mut rng, &format!("k{i}.{r};"), &mut lat, &mut b).await?;
                }
            } else {
                let c = connect_client(addr).await?;
                while Instant::now() < deadline {
                    r += 1;
                    binary_request(&c, &mut rng, &format!("k{i}.{r};"), &mut lat, &mut b).await?;
                }
                check_client_clean(&c, "clean connection")?;
            }
            cr.fetch_add(lat.len() as u64, Ordering::Relaxed);
            la.lock().unwrap_or_else(|p| p.into_inner()).extend(lat);
            Ok(())
        }));
    }
    let results = run(async move {
        let mut v = Vec::new();
        for t in tasks {
            v.push(
                within(Duration::from_secs(secs + 60), "handlers connection", t)
                    .await
                    .and_then(|x| x),
            );
        }
        v
    });
    for e in results.iter().filter_map(|r| r.as_ref().err()).take(10) {
        violation(format!("handlers: {e}"));
    }
    let mut lat = std::mem::take(&mut *lat_all.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort_unstable();
    let p99 = percentile(&lat, 0.99);
    check(p99 < 1_000_000, || {
        format!(
            "handlers: clean connections' p99 latency {} while handlers misbehave",
            ms(p99)
        )
    });
    println!(
        "handlers: {} panics, {} failures, {} timeouts answered handler-failed, each followed by a valid request answered on the same connection ({}); {} clean requests answered and checked, p50 {} p99 {}",
        counts[0].load(Ordering::Relaxed),
        counts[1].load(Ordering::Relaxed),
        counts[2].load(Ordering::Relaxed),
        counts[3].load(Ordering::Relaxed),
        clean_requests.load(Ordering::Relaxed),
        ms(percentile(&lat, 0.5)),
        ms(p99)
    );
    ping_ok(addr, "after misbehaving handlers");
    server.stop("handlers");
}

// ---------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        serve_child(&args[1..]);
        return;
    }
    let mut mode = Mode::Short;
    let mut chosen = Vec::new();
    for a in &args {
        match a.as_str() {
            "--short" => mode = Mode::Short,
            "--full" => mode = Mode::Full,
            "--list" => {
                println!("{}", SCENARIOS.join("\n"));
                return;
            }
            s if SCENARIOS.contains(&s) => chosen.push(s.to_string()),
            _ => {
                eprintln!(
                    "usage: reliability [--short | --full] [{}]...",
                    SCENARIOS.join(" | ")
                );
                std::process::exit(2);
            }
        }
    }
    if chosen.is_empty() {
        chosen = SCENARIOS.iter().map(|s| s.to_string()).collect();
    }
    let t0 = Instant::now();
    println!(
        "reliability: {} mode, scenarios: {}",
        if mode == Mode::Full { "full" } else { "short" },
        chosen.join(", ")
    );
    for s in &chosen {
        let t = Instant::now();
        let before = violations();
        match s.as_str() {
            "load" => scenario_load(mode),
            "soak" => scenario_soak(mode),
            "faults" => scenario_faults(mode),
            "bad-input" => scenario_bad_input(mode),
            _ => scenario_handlers(mode),
        }
        let bad = violations() - before;
        println!(
            "== {s}: {} in {:.1} s",
            if bad == 0 {
                "PASS".to_string()
            } else {
                format!("FAIL ({bad} violations)")
            },
            t.elapsed().as_secs_f64()
        );
    }
    let v = VIOLATIONS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    println!("reliability: {:.1} s in all", t0.elapsed().as_secs_f64());
    if !v.is_empty() {
        eprintln!("reliability: {} violations:", v.len());
        for m in &v {
            eprintln!("  - {m}");
        }
        std::process::exit(1);
    }
    println!("reliability: all checks held");
}

//! Network benchmarks on loopback TCP (TCP_NODELAY), side by side in one run:
//!
//! - msgwire: `Framed` client ↔ `Router::serve` server (ECHO);
//! - raw smol: a 4-byte length prefix echo on async-net streams (the floor);
//! - tokio + tokio-util `Framed<LengthDelimitedCodec>` echo;
//! - tarpc (issue 24): an `echo` RPC over tarpc's serde transport with
//!   bincode on tokio, its generated client with `depth` calls awaited at
//!   once (as msgwire's `Client` row), a spawned task per request on the
//!   server (tarpc's own way).
//!
//! Round trip with one request in flight (client and server on one thread,
//! and on two threads), then pipelined throughput at depth 1, 32 and 256 on
//! one connection and across 16 connections, with 32-byte and 1 KiB payloads.
//! Every contender checks that each answer is the request's payload.
//!
//! Run from the repository root:
//! `cargo bench --manifest-path bench/Cargo.toml --bench net` (or
//! `scripts/bench.sh net`). Each cell runs for `MSGWIRE_BENCH_SECS` seconds
//! (default 2); it prints Markdown tables. `MSGWIRE_BENCH_CELL=PEER,CONNS,
//! DEPTH,SIZE[,one]` runs one cell alone (`,one`: client and server on one
//! thread).
//!
//! The `Client` has three rows: its requests on the harness's executor (as
//! every other contender's work: nested in the main future of the
//! executor its connection loop runs on); on tasks of its loop's own
//! executor, as `Client::run`'s documentation advises; and its loop on
//! smol's global executor (a thread of its own), as the README starts it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

// smol's own `block_on`: the blocked thread runs the reactor itself (no hop
// through the async-io driver thread on every wake-up).
use async_io::block_on;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use msgwire::conversation::Framing;
use msgwire::net::{Client, ClientConfig, Framed, FramedConfig, Router};
use msgwire::{Kind, Message};

fn secs() -> Duration {
    let s = std::env::var("MSGWIRE_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(s)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    Msgwire,
    MsgwireClient,
    /// The `Client` with its requests on tasks of the executor its
    /// connection loop runs on (as its documentation advises).
    MsgwireClientLoop,
    /// The `Client` as the README starts it: its loop spawned on smol's
    /// global executor (a thread of its own), the requests on the
    /// harness's executor.
    MsgwireClientSmol,
    RawSmol,
    Tokio,
    Tarpc,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Msgwire => "msgwire",
            Peer::MsgwireClient => "msgwire `Client` (correlated requests)",
            Peer::MsgwireClientLoop => "msgwire `Client`, requests on its loop's executor",
            Peer::MsgwireClientSmol => {
                "msgwire `Client`, loop on smol's executor (the README's way)"
            }
            Peer::RawSmol => "raw smol echo (length prefix)",
            Peer::Tokio => "tokio-util LengthDelimitedCodec",
            Peer::Tarpc => "tarpc (serde transport, bincode)",
        }
    }
}

// ------------------------------------------------------------ servers

/// Serves one msgwire connection with the built-in router.
async fn msgwire_server(stream: async_net::TcpStream) {
    let mut framed = Framed::sniffing(stream, FramedConfig::default());
    let _ = Router::new().serve(&mut framed).await;
}

/// Echoes length-prefixed frames until EOF.
async fn raw_server(mut stream: async_net::TcpStream) {
    let mut reader = futures_lite::io::BufReader::with_capacity(64 * 1024, stream.clone());
    let mut out = Vec::with_capacity(64 * 1024);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut len = [0u8; 4];
        if reader.read_exact(&mut len).await.is_err() {
            return;
        }
        let n = u32::from_le_bytes(len) as usize;
        if n > buf.len() || reader.read_exact(&mut buf[..n]).await.is_err() {
            return;
        }
        out.extend_from_slice(&len);
        out.extend_from_slice(&buf[..n]);
        // Flush before the next read would block (no whole frame buffered),
        // so pipelined answers batch, as msgwire's and tokio's do.
        if !whole_frame(reader.buffer(), false) {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}

/// Whether `buf` starts with a whole length-prefixed frame (the raw echo's
/// prefix is little-endian, tokio-util's big-endian).
fn whole_frame(buf: &[u8], big_endian: bool) -> bool {
    match buf.first_chunk::<4>() {
        Some(&len) => {
            let len = if big_endian {
                u32::from_be_bytes(len)
            } else {
                u32::from_le_bytes(len)
            };
            buf.len() >= 4 + len as usize
        }
        None => false,
    }
}

async fn tokio_server(stream: tokio::net::TcpStream) {
    use futures::{SinkExt, StreamExt};
    let mut framed =
        tokio_util::codec::Framed::new(stream, tokio_util::codec::LengthDelimitedCodec::new());
    while let Some(Ok(frame)) = framed.next().await {
        // feed buffers; flush when the read side has nothing ready.
        if framed.feed(frame.freeze()).await.is_err() {
            return;
        }
        if !whole_frame(framed.read_buffer(), true)
            && SinkExt::<bytes::Bytes>::flush(&mut framed).await.is_err()
        {
            return;
        }
    }
}

/// The tarpc service: one RPC that answers its argument. `ByteBuf` has
/// bincode copy the bytes at once (`serialize_bytes`), where a `Vec<u8>`
/// would go through serde byte by byte.
#[tarpc::service]
trait Echo {
    async fn echo(payload: serde_bytes::ByteBuf) -> serde_bytes::ByteBuf;
}

#[derive(Clone)]
struct EchoServer;

impl Echo for EchoServer {
    async fn echo(
        self,
        _: tarpc::context::Context,
        payload: serde_bytes::ByteBuf,
    ) -> serde_bytes::ByteBuf {
        payload
    }
}

/// tarpc's TCP transport over a connected stream: what
/// `tarpc::serde_transport::tcp::{connect, listen}` build (tokio-util's
/// default length prefix, bincode), on a stream whose TCP_NODELAY the
/// caller set (tarpc's own functions do not set it).
fn tarpc_transport<Item, SinkItem>(
    stream: tokio::net::TcpStream,
) -> tarpc::serde_transport::Transport<
    tokio::net::TcpStream,
    Item,
    SinkItem,
    tarpc::tokio_serde::formats::Bincode<Item, SinkItem>,
>
where
    Item: for<'de> tarpc::serde::Deserialize<'de>,
    SinkItem: tarpc::serde::Serialize,
{
    tarpc::serde_transport::new(
        tokio_util::codec::Framed::new(stream, tokio_util::codec::LengthDelimitedCodec::new()),
        tarpc::tokio_serde::formats::Bincode::default(),
    )
}

/// Serves one tarpc connection as tarpc's examples do: each request's
/// future on a task of its own (`tokio::spawn`).
async fn tarpc_server(stream: tokio::net::TcpStream) {
    use futures::StreamExt;
    use tarpc::server::Channel;
    tarpc::server::BaseChannel::with_defaults(tarpc_transport(stream))
        .execute(EchoServer.serve())
        .for_each(|answer| async {
            tokio::spawn(answer);
        })
        .await;
}

// ------------------------------------------------------------ clients

/// Keeps `depth` requests in flight on one connection until `until`;
/// returns (answers, sum of round-trip times).
trait Pipe {
    fn run(
        &mut self,
        depth: usize,
        payload: &[u8],
        until: Instant,
    ) -> impl std::future::Future<Output = (u64, Duration)>;
}

struct MsgwireClient(Framed<async_net::TcpStream>);

impl Pipe for MsgwireClient {
    async fn run(&mut self, depth: usize, payload: &[u8], until: Instant) -> (u64, Duration) {
        let mut sent = std::collections::VecDeque::new();
        let (mut done, mut total) = (0u64, Duration::ZERO);
        let mut id = 0u32;
        loop {
            while sent.len() < depth && Instant::now() < until {
                id = id.wrapping_add(1).max(1);
                self.0
                    .send(&Message::new(Kind::ECHO, payload).with_id(id))
                    .await
                    .expect("send");
                sent.push_back(Instant::now());
            }
            let Some(t) = sent.pop_front() else { break };
            let m = self.0.recv().await.expect("answer");
            assert_eq!(m.payload, payload, "the answer is the request");
            total += t.elapsed();
            done += 1;
        }
        (done, total)
    }
}

/// msgwire's `Client`: `depth` futures each awaiting one `request` at a
/// time on the shared connection (ids, correlation, timeouts), as an
/// application would use it.
struct CorrelatingClient(Client);

impl Pipe for CorrelatingClient {
    async fn run(&mut self, depth: usize, payload: &[u8], until: Instant) -> (u64, Duration) {
        let client = &self.0;
        let one = || async move {
            let (mut done, mut total) = (0u64, Duration::ZERO);
            while Instant::now() < until {
                let t = Instant::now();
                let answer = client.request("ECHO", payload).await.expect("answer");
                assert_eq!(answer.payload, payload, "the answer is the request");
                total += t.elapsed();
                done += 1;
            }
            (done, total)
        };
        let results = futures::future::join_all((0..depth).map(|_| one())).await;
        results
            .into_iter()
            .fold((0, Duration::ZERO), |(d, t), (d2, t2)| (d + d2, t + t2))
    }
}

/// tarpc's generated client: like `CorrelatingClient`, `depth` futures each
/// awaiting one call at a time on the shared connection.
struct TarpcClient(EchoClient);

impl Pipe for TarpcClient {
    async fn run(&mut self, depth: usize, payload: &[u8], until: Instant) -> (u64, Duration) {
        let client = &self.0;
        let one = || async move {
            let (mut done, mut total) = (0u64, Duration::ZERO);
            while Instant::now() < until {
                let t = Instant::now();
                let request = serde_bytes::ByteBuf::from(payload);
                let answer = client
                    .echo(tarpc::context::current(), request)
                    .await
                    .expect("answer");
                assert_eq!(answer.as_slice(), payload, "the answer is the request");
                total += t.elapsed();
                done += 1;
            }
            (done, total)
        };
        let results = futures::future::join_all((0..depth).map(|_| one())).await;
        results
            .into_iter()
            .fold((0, Duration::ZERO), |(d, t), (d2, t2)| (d + d2, t + t2))
    }
}

struct RawClient {
    stream: async_net::TcpStream,
    reader: futures_lite::io::BufReader<async_net::TcpStream>,
    out: Vec<u8>,
}

impl Pipe for RawClient {
    async fn run(&mut self, depth: usize, payload: &[u8], until: Instant) -> (u64, Duration) {
        let mut sent = std::collections::VecDeque::new();
        let (mut done, mut total) = (0u64, Duration::ZERO);
        let mut buf = vec![0u8; payload.len()];
        loop {
            while sent.len() < depth && Instant::now() < until {
                self.out
                    .extend_from_slice(&(payload.len() as u32).to_le_bytes());
                self.out.extend_from_slice(payload);
                sent.push_back(Instant::now());
            }
            // Write before a read would block, like the others.
            if !self.out.is_empty() && !whole_frame(self.reader.buffer(), false) {
                self.stream.write_all(&self.out).await.expect("write");
                self.out.clear();
            }
            let Some(t) = sent.pop_front() else { break };
            let mut len = [0u8; 4];
            self.reader.read_exact(&mut len).await.expect("read");
            assert_eq!(u32::from_le_bytes(len) as usize, payload.len());
            self.reader.read_exact(&mut buf).await.expect("read");
            assert_eq!(buf, payload, "the answer is the request");
            total += t.elapsed();
            done += 1;
        }
        (done, total)
    }
}

struct TokioClient(
    tokio_util::codec::Framed<tokio::net::TcpStream, tokio_util::codec::LengthDelimitedCodec>,
);

impl Pipe for TokioClient {
    async fn run(&mut self, depth: usize, payload: &[u8], until: Instant) -> (u64, Duration) {
        use futures::{SinkExt, StreamExt};
        let mut sent = std::collections::VecDeque::new();
        let (mut done, mut total) = (0u64, Duration::ZERO);
        let payload = bytes::Bytes::copy_from_slice(payload);
        loop {
            while sent.len() < depth && Instant::now() < until {
                self.0.feed(payload.clone()).await.expect("feed");
                sent.push_back(Instant::now());
            }
            // Flush before a read would block, like the others.
            if !whole_frame(self.0.read_buffer(), true) {
                SinkExt::<bytes::Bytes>::flush(&mut self.0)
                    .await
                    .expect("flush");
            }
            let Some(t) = sent.pop_front() else { break };
            let m = self.0.next().await.expect("answer").expect("frame");
            assert_eq!(m, payload, "the answer is the request");
            total += t.elapsed();
            done += 1;
        }
        (done, total)
    }
}

// ------------------------------------------------------------ topologies

struct Cell {
    msgs_per_sec: f64,
    mean_rtt: Duration,
}

fn cell(done: u64, total: Duration, elapsed: Duration) -> Cell {
    Cell {
        msgs_per_sec: done as f64 / elapsed.as_secs_f64(),
        mean_rtt: if done == 0 {
            Duration::ZERO
        } else {
            total / done as u32
        },
    }
}

/// Client and server for `conns` connections on the current thread
/// (`one_thread`) or with the server on a thread of its own.
fn run_smol(peer: Peer, conns: usize, depth: usize, size: usize, one_thread: bool) -> Cell {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let ex = async_executor::LocalExecutor::new();
    let server_side = move |ex: &async_executor::LocalExecutor<'_>| {
        let listener = async_net::TcpListener::try_from(listener).expect("async listener");
        ex.spawn(async move {
            let mut tasks = Vec::new();
            let ex2 = async_executor::LocalExecutor::new();
            let accept = async {
                for _ in 0..conns {
                    let (s, _) = listener.accept().await.expect("accept");
                    s.set_nodelay(true).expect("nodelay");
                    tasks.push(ex2.spawn(async move {
                        match peer {
                            Peer::Msgwire
                            | Peer::MsgwireClient
                            | Peer::MsgwireClientLoop
                            | Peer::MsgwireClientSmol => msgwire_server(s).await,
                            _ => raw_server(s).await,
                        }
                    }));
                }
                for t in tasks {
                    t.await;
                }
            };
            ex2.run(accept).await;
        })
    };
    let payload = vec![b'x'; size];
    // The clients' connection loops run on this executor, on the thread
    // of the requests (as the other contenders do all their work there).
    let loops = async_executor::LocalExecutor::new();
    let client_side = loops.run(async {
        let mut clients: Vec<Box<dyn PipeDyn>> = Vec::new();
        let mut client_loops = Vec::new();
        for _ in 0..conns {
            if matches!(
                peer,
                Peer::MsgwireClient | Peer::MsgwireClientLoop | Peer::MsgwireClientSmol
            ) {
                let client = Client::connect_tcp(addr, ClientConfig::default())
                    .await
                    .expect("connect");
                client_loops.push(if peer == Peer::MsgwireClientSmol {
                    loops.spawn(smol::spawn(client.run()))
                } else {
                    loops.spawn(client.run())
                });
                clients.push(Box::new(CorrelatingClient(client)));
                continue;
            }
            let s = async_net::TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).expect("nodelay");
            clients.push(match peer {
                Peer::Msgwire => Box::new(MsgwireClient(Framed::new(
                    s,
                    Framing::Binary,
                    FramedConfig::default(),
                ))),
                _ => Box::new(RawClient {
                    reader: futures_lite::io::BufReader::with_capacity(64 * 1024, s.clone()),
                    stream: s,
                    out: Vec::new(),
                }),
            });
        }
        // Warm up, then measure.
        let warm = Instant::now() + Duration::from_millis(200);
        // The `Client`'s requests on tasks of the executor its connection
        // loop runs on, or (every other row) on the harness's own executor,
        // nested in that one's main future.
        let same = peer == Peer::MsgwireClientLoop;
        if same {
            clients = run_on(&loops, clients, depth, &payload, warm).await.0;
        } else {
            run_all(&mut clients, depth, &payload, warm).await;
        }
        let start = Instant::now();
        let (done, total) = if same {
            let (c, r) = run_on(&loops, clients, depth, &payload, start + secs()).await;
            clients = c;
            r
        } else {
            run_all(&mut clients, depth, &payload, start + secs()).await
        };
        let elapsed = start.elapsed();
        drop(clients);
        // The connections close (the server then ends).
        for l in client_loops {
            l.await.expect("started once");
        }
        cell(done, total, elapsed)
    });
    if one_thread {
        let server = server_side(&ex);
        let result = block_on(ex.run(client_side));
        block_on(ex.run(server));
        result
    } else {
        let handle = std::thread::Builder::new()
            .name("server".into())
            .spawn(move || {
                let ex = async_executor::LocalExecutor::new();
                let server = server_side(&ex);
                block_on(ex.run(server));
            })
            .expect("server thread");
        let result = block_on(client_side);
        handle.join().expect("server thread");
        result
    }
}

/// Object-safe wrapper so one loop drives every kind of client.
trait PipeDyn {
    fn run_boxed<'a>(
        &'a mut self,
        depth: usize,
        payload: &'a [u8],
        until: Instant,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = (u64, Duration)> + 'a>>;
}

impl<P: Pipe> PipeDyn for P {
    fn run_boxed<'a>(
        &'a mut self,
        depth: usize,
        payload: &'a [u8],
        until: Instant,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = (u64, Duration)> + 'a>> {
        Box::pin(self.run(depth, payload, until))
    }
}

/// Like [`run_all`], each connection's pipeline a task of `ex` (taking
/// its client and giving it back).
async fn run_on(
    ex: &async_executor::LocalExecutor<'_>,
    clients: Vec<Box<dyn PipeDyn>>,
    depth: usize,
    payload: &[u8],
    until: Instant,
) -> (Vec<Box<dyn PipeDyn>>, (u64, Duration)) {
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let payload = payload.to_vec();
            ex.spawn(async move {
                let r = c.run_boxed(depth, &payload, until).await;
                (c, r)
            })
        })
        .collect();
    let (mut out, mut done, mut total) = (Vec::new(), 0, Duration::ZERO);
    for t in tasks {
        let (c, (d, tt)) = t.await;
        out.push(c);
        done += d;
        total += tt;
    }
    (out, (done, total))
}

/// Runs every connection's pipeline at once and sums the results.
async fn run_all(
    clients: &mut [Box<dyn PipeDyn>],
    depth: usize,
    payload: &[u8],
    until: Instant,
) -> (u64, Duration) {
    let futures: Vec<_> = clients
        .iter_mut()
        .map(|c| c.run_boxed(depth, payload, until))
        .collect();
    let mut done = 0;
    let mut total = Duration::ZERO;
    let ex = async_executor::LocalExecutor::new();
    let tasks: Vec<_> = futures.into_iter().map(|f| ex.spawn(f)).collect();
    ex.run(async {
        for t in tasks {
            let (d, t) = t.await;
            done += d;
            total += t;
        }
    })
    .await;
    (done, total)
}

/// The tokio contenders (tokio-util's echo or tarpc): each side on a
/// current-thread runtime, the server on a thread of its own unless
/// `one_thread`.
fn run_tokio(peer: Peer, conns: usize, depth: usize, size: usize, one_thread: bool) -> Cell {
    let payload = vec![b'x'; size];
    let server_rt = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    };
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let addr: SocketAddr = std_listener.local_addr().expect("addr");
    let serve = move || async move {
        let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let (s, _) = listener.accept().await.expect("accept");
            s.set_nodelay(true).expect("nodelay");
            tasks.push(match peer {
                Peer::Tarpc => tokio::task::spawn_local(tarpc_server(s)),
                _ => tokio::task::spawn_local(tokio_server(s)),
            });
        }
        for t in tasks {
            let _ = t.await;
        }
    };
    let client = |payload: Vec<u8>| async move {
        let mut clients: Vec<Box<dyn PipeDyn>> = Vec::new();
        let mut dispatches = Vec::new();
        for _ in 0..conns {
            let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).expect("nodelay");
            if peer == Peer::Tarpc {
                // The client's dispatch (its connection loop) on this
                // thread, as `Client::run` is for msgwire.
                let new = EchoClient::new(tarpc::client::Config::default(), tarpc_transport(s));
                dispatches.push(tokio::task::spawn_local(new.dispatch));
                clients.push(Box::new(TarpcClient(new.client)));
                continue;
            }
            clients.push(Box::new(TokioClient(tokio_util::codec::Framed::new(
                s,
                tokio_util::codec::LengthDelimitedCodec::new(),
            ))));
        }
        let warm = Instant::now() + Duration::from_millis(200);
        run_all_tokio(&mut clients, depth, &payload, warm).await;
        let start = Instant::now();
        let (done, total) = run_all_tokio(&mut clients, depth, &payload, start + secs()).await;
        let elapsed = start.elapsed();
        drop(clients);
        // tarpc's dispatch ends once its clients are gone, closing the
        // connection (the server then ends).
        for d in dispatches {
            d.await.expect("dispatch task").expect("tarpc dispatch");
        }
        cell(done, total, elapsed)
    };
    if one_thread {
        let rt = server_rt();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let server = tokio::task::spawn_local(serve());
            let result = client(payload).await;
            let _ = server.await;
            result
        })
    } else {
        let handle = std::thread::spawn(move || {
            let rt = server_rt();
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, serve());
        });
        let rt = server_rt();
        let local = tokio::task::LocalSet::new();
        let result = local.block_on(&rt, client(payload));
        handle.join().expect("server thread");
        result
    }
}

async fn run_all_tokio(
    clients: &mut [Box<dyn PipeDyn>],
    depth: usize,
    payload: &[u8],
    until: Instant,
) -> (u64, Duration) {
    let results = futures::future::join_all(
        clients
            .iter_mut()
            .map(|c| c.run_boxed(depth, payload, until)),
    )
    .await;
    results
        .into_iter()
        .fold((0, Duration::ZERO), |(d, t), (d2, t2)| (d + d2, t + t2))
}

fn run(peer: Peer, conns: usize, depth: usize, size: usize, one_thread: bool) -> Cell {
    match peer {
        Peer::Tokio | Peer::Tarpc => run_tokio(peer, conns, depth, size, one_thread),
        _ => run_smol(peer, conns, depth, size, one_thread),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass
    // other flags: run only when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // One cell alone, for profiling (`perf record`):
    // MSGWIRE_BENCH_CELL=client,CONNS,DEPTH,SIZE (or client-loop, client-smol,
    // msgwire, raw, tokio, tarpc),
    // and `,one` after SIZE for client and server on one thread.
    if let Ok(spec) = std::env::var("MSGWIRE_BENCH_CELL") {
        let f: Vec<&str> = spec.split(',').collect();
        let peer = match f.first().copied() {
            Some("client") => Peer::MsgwireClient,
            Some("client-loop") => Peer::MsgwireClientLoop,
            Some("client-smol") => Peer::MsgwireClientSmol,
            Some("msgwire") => Peer::Msgwire,
            Some("raw") => Peer::RawSmol,
            Some("tokio") => Peer::Tokio,
            Some("tarpc") => Peer::Tarpc,
            other => panic!("MSGWIRE_BENCH_CELL: unknown contender {other:?}"),
        };
        let num = |i: usize| -> usize {
            f.get(i)
                .and_then(|v| v.parse().ok())
                .expect("MSGWIRE_BENCH_CELL=PEER,CONNS,DEPTH,SIZE")
        };
        let one_thread = f.get(4) == Some(&"one");
        let c = run(peer, num(1), num(2), num(3), one_thread);
        println!(
            "{}: {:.0} msg/s, mean RTT {:.1} µs",
            peer.name(),
            c.msgs_per_sec,
            c.mean_rtt.as_secs_f64() * 1e6
        );
        return;
    }
    let peers = [
        Peer::Msgwire,
        Peer::MsgwireClient,
        Peer::MsgwireClientLoop,
        Peer::MsgwireClientSmol,
        Peer::RawSmol,
        Peer::Tokio,
        Peer::Tarpc,
    ];

    println!("\n### Round trip, one request in flight, 64-byte payload\n");
    println!("| contender | one thread: mean RTT | two threads: mean RTT | vs raw smol (one / two threads) |");
    println!("|---|---|---|---|");
    let rtts: Vec<(Peer, Duration, Duration)> = peers
        .iter()
        .map(|&p| {
            (
                p,
                run(p, 1, 1, 64, true).mean_rtt,
                run(p, 1, 1, 64, false).mean_rtt,
            )
        })
        .collect();
    let raw = rtts
        .iter()
        .find(|r| r.0 == Peer::RawSmol)
        .map(|r| (r.1, r.2))
        .expect("raw");
    for (p, one, two) in &rtts {
        println!(
            "| {} | {:.1} µs | {:.1} µs | {:.2}× / {:.2}× |",
            p.name(),
            one.as_secs_f64() * 1e6,
            two.as_secs_f64() * 1e6,
            one.as_secs_f64() / raw.0.as_secs_f64(),
            two.as_secs_f64() / raw.1.as_secs_f64()
        );
    }

    let rtt_of = |peer| {
        rtts.iter()
            .find(|r| r.0 == peer)
            .map(|r| (r.1, r.2))
            .expect("measured")
    };
    let tarpc_rtt = rtt_of(Peer::Tarpc);
    let clients = [
        Peer::MsgwireClient,
        Peer::MsgwireClientLoop,
        Peer::MsgwireClientSmol,
    ];
    // The `Client`'s goals (issue 13): ≥ 0.8× of `Framed` at depth 32, 256
    // and 16 × 32; round trip ≤ 1.1× of raw smol. One column per row of
    // the `Client`.
    let each = |f: &dyn Fn(Peer) -> String| -> String {
        clients
            .iter()
            .map(|&c| f(c))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    // Each row's round trips (one thread / two) against `base`'s.
    let rtt_vs = |base: (Duration, Duration)| {
        each(&|c| {
            let rtt = rtt_of(c);
            format!(
                "{:.2}× / {:.2}×",
                rtt.0.as_secs_f64() / base.0.as_secs_f64(),
                rtt.1.as_secs_f64() / base.1.as_secs_f64()
            )
        })
    };
    let mut goals = vec![format!(
        "| round trip vs raw smol, one / two threads | {} | ≤ 1.1× |",
        rtt_vs(raw)
    )];
    // Against tarpc (issue 24): the `Client`'s round trip at most 0.8× of
    // tarpc's, and at least 3× its throughput at 32 B, depth 256.
    goals.push(format!(
        "| round trip vs tarpc, one / two threads | {} | ≤ 0.8× |",
        rtt_vs(tarpc_rtt)
    ));
    for size in [32usize, 1024] {
        println!("\n### Pipelined throughput, {size}-byte payload, server on its own thread (messages/s)\n");
        println!("| contender | 1 conn, depth 1 | 1 conn, depth 32 | 1 conn, depth 256 | 16 conns, depth 32 |");
        println!("|---|---|---|---|---|");
        let mut rows = Vec::new();
        for &p in &peers {
            let cells: Vec<f64> = [(1, 1), (1, 32), (1, 256), (16, 32)]
                .iter()
                .map(|&(c, d)| run(p, c, d, size, false).msgs_per_sec)
                .collect();
            rows.push((p, cells));
        }
        let tokio = rows
            .iter()
            .find(|r| r.0 == Peer::Tokio)
            .map(|r| r.1.clone())
            .expect("tokio");
        for (p, cells) in &rows {
            let shown: Vec<String> = cells
                .iter()
                .zip(&tokio)
                .map(|(v, t)| format!("{:.0} ({:.2}× tokio)", v, v / t))
                .collect();
            println!("| {} | {} |", p.name(), shown.join(" | "));
        }
        let row = |peer| {
            rows.iter()
                .find(|r| r.0 == peer)
                .map(|r| r.1.clone())
                .expect("measured")
        };
        if size == 32 {
            let tarpc = row(Peer::Tarpc);
            goals.push(format!(
                "| `Client` vs tarpc, 32 B, 1 conn, depth 256 | {} | ≥ 3× |",
                each(&|c| format!("{:.2}×", row(c)[2] / tarpc[2]))
            ));
        }
        let framed = row(Peer::Msgwire);
        for (i, cell) in [
            "1 conn, depth 32",
            "1 conn, depth 256",
            "16 conns, depth 32",
        ]
        .iter()
        .enumerate()
        {
            goals.push(format!(
                "| `Client` vs `Framed`, {size} B, {cell} | {} | ≥ 0.8× |",
                each(&|c| format!("{:.2}×", row(c)[i + 1] / framed[i + 1]))
            ));
        }
    }
    println!("\n### The `Client`'s goals, from this run\n");
    println!("| measure | requests on the harness's executor | on the loop's executor | loop on smol's executor | goal |");
    println!("|---|---|---|---|---|");
    for g in goals {
        println!("{g}");
    }
}

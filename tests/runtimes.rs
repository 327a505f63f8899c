//! `msgwire::net` on the executors its users bring: smol (`smol::block_on`,
//! `smol::spawn`, a `LocalExecutor` on one thread) and tokio (current-thread
//! and multi-thread runtimes, tokio's own sockets through
//! `tokio_util::compat`), with the server and the client driven either as
//! one future each (`run()`) or through a `Spawner` (`start`).
//!
//! One test counts the process's threads (by id, from `/proc/self/task`):
//! serving and requesting on a `LocalExecutor` in one thread starts no
//! thread of msgwire's. It runs in
//! a child process of its own (this test binary again, with only that test
//! selected), so that the other tests' runtimes are not counted. The only
//! thread that may appear there is async-io's reactor thread, named
//! `async-io`: async-io starts it the first time a socket or timer is
//! used, whoever the executor is (it is not msgwire's). msgwire's own
//! executor, opted into with `Spawner::global()`, names its threads
//! `msgwire-N`; the same child run with it shows them, so the count can
//! tell.
#![cfg(feature = "async")]

#[path = "common/watchdog.rs"]
mod watchdog;

use watchdog::watchdog;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::FutureExt;
use msgwire::conversation::Framing;
use msgwire::net::{
    AlreadyStarted, Client, ClientConfig, ClientError, ConnEnd, Frame, Framed, FramedConfig, Reply,
    Request, Router, Server, ServerConfig, Spawner,
};
use msgwire::{Kind, Message};
use tokio_util::compat::TokioAsyncReadCompatExt;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The built-ins plus `SLOW`, answered after 200 ms.
fn router() -> Router {
    Router::new()
        .on("SLOW", |req: Request| async move {
            async_io::Timer::after(Duration::from_millis(200)).await;
            Ok(Reply::new(Kind::lit("DONE"), req.payload()))
        })
        .expect("kind")
}

async fn bind() -> Server {
    Server::bind_tcp("127.0.0.1:0", router(), ServerConfig::default())
        .await
        .expect("bind")
}

fn addr(server: &Server) -> SocketAddr {
    server.local_addr().expect("tcp")
}

/// Fails instead of hanging.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    let what = what.to_string();
    f.or(async move {
        async_io::Timer::after(Duration::from_secs(10)).await;
        panic!("{what}: no result within 10 s");
    })
    .await
}

/// PING, ECHO, an unknown kind answered with ERROR, and `n` requests in
/// flight at once on one connection.
async fn conversation(client: &Client, n: usize) {
    let pong = client.request("PING", b"hi").await.expect("ping");
    assert_eq!(
        (pong.kind.as_str(), &pong.payload[..]),
        ("PONG", &b"ack"[..])
    );
    let echo = client.request("ECHO", b"a:b").await.expect("echo");
    assert_eq!(echo.payload, b"a:b");
    let err = client.request("FOO", b"").await.expect_err("no handler");
    assert!(
        matches!(&err, ClientError::Remote(e) if e.code() == "unknown-kind"),
        "{err:?}"
    );
    let mut all = Vec::new();
    for i in 0..n {
        let client = client.clone();
        all.push(async move {
            let payload = format!("req-{i}");
            let r = client.request("ECHO", payload.as_bytes()).await;
            (payload, r)
        });
    }
    for f in all {
        let (payload, r) = f.await;
        assert_eq!(r.expect("echo").payload, payload.as_bytes());
    }
}

// ------------------------------------------------------------------ smol

#[test]
fn smol_block_on_with_server_and_client_spawned_as_one_future_each() {
    let _watchdog = watchdog();
    smol::block_on(within("smol run()", async {
        let server = bind().await;
        let served = smol::spawn(server.run());
        let client = Client::connect_tcp(addr(&server), ClientConfig::default())
            .await
            .expect("connect");
        let driver = smol::spawn(client.run());
        conversation(&client, 32).await;
        // A request in flight at shutdown is answered (drained), then the
        // server's future ends, and so does the client's once it is closed.
        let slow = client.request("SLOW", b"z");
        let shutdown = async {
            async_io::Timer::after(Duration::from_millis(50)).await;
            server.shutdown(Duration::from_secs(5)).await
        };
        let (slow, report) = futures_lite::future::zip(slow, shutdown).await;
        assert_eq!(slow.expect("drained").payload, b"z");
        assert_eq!((report.drained, report.forced), (1, 0));
        assert_eq!(served.await, Ok(()));
        drop(client);
        assert_eq!(driver.await, Ok(()));
    }));
}

#[test]
fn smol_spawner_serves_connections_as_tasks_of_their_own() {
    let _watchdog = watchdog();
    let spawner = Spawner::new(|task| smol::spawn(task).detach());
    smol::block_on(within("smol start()", async {
        let server = bind().await.start(&spawner).expect("start");
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(
                Client::connect_tcp(addr(&server), ClientConfig::default())
                    .await
                    .expect("connect")
                    .start(&spawner)
                    .expect("start"),
            );
        }
        let all: Vec<_> = clients
            .iter()
            .map(|c| {
                let c = c.clone();
                smol::spawn(async move { conversation(&c, 16).await })
            })
            .collect();
        for t in all {
            t.await;
        }
        assert_eq!(server.stats().active, 4);
        let report = server.shutdown(Duration::from_secs(5)).await;
        assert_eq!((report.drained, report.forced), (4, 0));
    }));
}

#[test]
fn smol_local_executor_runs_server_and_client_on_one_thread() {
    let _watchdog = watchdog();
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(within("LocalExecutor", async {
        let server = bind().await;
        let served = ex.spawn(server.run());
        let client = Client::connect_tcp(addr(&server), ClientConfig::default())
            .await
            .expect("connect");
        let driver = ex.spawn(client.run());
        conversation(&client, 32).await;
        // Timeouts are checked by the client's own future, here too.
        let quick = Client::connect_tcp(
            addr(&server),
            ClientConfig {
                request_timeout: Duration::from_millis(50),
                ..ClientConfig::default()
            },
        )
        .await
        .expect("connect");
        ex.spawn(quick.run()).detach();
        assert_eq!(
            quick.request("SLOW", b"").await.map(|f| f.kind),
            Err(ClientError::Timeout)
        );
        client.close();
        assert_eq!(driver.await, Ok(()));
        let report = server.shutdown(Duration::from_secs(5)).await;
        assert_eq!(report.forced, 0);
        assert_eq!(served.await, Ok(()));
    })));
}

#[test]
fn a_client_nobody_runs_says_so_instead_of_hanging() {
    let _watchdog = watchdog();
    smol::block_on(within("not started", async {
        let server = bind().await;
        smol::spawn(server.run()).detach();
        let client = Client::connect_tcp(addr(&server), ClientConfig::default())
            .await
            .expect("connect");
        assert_eq!(
            client.request("PING", b"").await.map(|f| f.kind),
            Err(ClientError::NotStarted)
        );
        assert_eq!(client.send("PING", b"").await, Err(ClientError::NotStarted));
        // Once run, the same client works.
        smol::spawn(client.run()).detach();
        client.ping().await.expect("ping");
    }));
}

#[test]
fn dropping_the_client_future_fails_its_requests() {
    let _watchdog = watchdog();
    smol::block_on(within("driver dropped", async {
        let server = bind().await;
        smol::spawn(server.run()).detach();
        let client = Client::connect_tcp(addr(&server), ClientConfig::default())
            .await
            .expect("connect");
        let driver = smol::spawn(client.run());
        client.ping().await.expect("ping");
        let slow = client.request("SLOW", b"");
        let cancel = async {
            async_io::Timer::after(Duration::from_millis(50)).await;
            driver.cancel().await;
        };
        let (slow, ()) = futures_lite::future::zip(slow, cancel).await;
        assert!(matches!(slow, Err(ClientError::Closed(_))), "{slow:?}");
        assert!(client.is_closed());
    }));
}

#[test]
fn shutting_down_a_server_whose_future_nobody_polls_is_bounded() {
    let _watchdog = watchdog();
    smol::block_on(within("unpolled run()", async {
        let server = bind().await;
        let unpolled = server.run();
        let t = std::time::Instant::now();
        let report = server.shutdown(Duration::from_millis(100)).await;
        assert_eq!((report.drained, report.forced), (0, 0));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        drop(unpolled);
    }));
}

/// A server and a client start once: a second `run` or `start` is the
/// typed `AlreadyStarted`, not a panic, and the first goes on serving.
#[test]
fn a_second_start_is_a_typed_error() {
    let _watchdog = watchdog();
    smol::block_on(within("second start", async {
        let server = bind().await;
        let first = server.run();
        assert_eq!(server.run().await, Err(AlreadyStarted));
        let addr = addr(&server);
        smol::spawn(first).detach();
        let client = Client::connect_tcp(addr, ClientConfig::default())
            .await
            .expect("connect");
        let background = client.run();
        assert_eq!(client.run().await, Err(AlreadyStarted));
        smol::spawn(background).detach();
        assert!(matches!(
            client.clone().start(&Spawner::global()),
            Err(AlreadyStarted)
        ));
        let pong = client
            .request("PING", b"")
            .await
            .expect("the first run serves");
        assert_eq!(pong.kind, "PONG");
        assert!(matches!(
            server.start(&Spawner::global()),
            Err(AlreadyStarted)
        ));
        assert_eq!(
            AlreadyStarted.to_string(),
            "started already: run() or start() was called before"
        );
    }));
}

/// Dropping the `Server` handle does not stop a server whose `run()` was
/// spawned: it serves new connections until the future itself is dropped.
#[test]
fn dropping_the_handle_does_not_stop_a_spawned_server() {
    let _watchdog = watchdog();
    smol::block_on(within("dropped handle", async {
        let server = bind().await;
        let addr = addr(&server);
        let task = smol::spawn(server.run());
        drop(server);
        for _ in 0..2 {
            let client = Client::connect_tcp(addr, ClientConfig::default())
                .await
                .expect("still listening")
                .start(&Spawner::global())
                .expect("start");
            let pong = client.request("PING", b"").await.expect("answered");
            assert_eq!(pong.kind, "PONG");
        }
        // Dropping the future stops it: the port is closed.
        let _ = task.cancel().await;
        assert!(Client::connect_tcp(addr, ClientConfig::default())
            .await
            .is_err());
    }));
}

// ----------------------------------------------------------------- tokio

/// A tokio spawner: `tokio::spawn` on the runtime of the calling task.
fn tokio_spawner() -> Spawner {
    let handle = tokio::runtime::Handle::current();
    Spawner::new(move |task| {
        handle.spawn(task);
    })
}

/// On a tokio runtime: a msgwire server (its future on `tokio::spawn`, or
/// started with a tokio spawner), msgwire clients over tokio's
/// `TcpStream`s, and a msgwire router loop over a tokio stream answering
/// msgwire's own client and a text-mode `Framed` over tokio.
async fn on_tokio(requests: usize) -> TestResult {
    // The server's whole work as one tokio task; a client over a tokio
    // socket, its background future as another task.
    let server = bind().await;
    let served = tokio::spawn(server.run());
    let stream = tokio::net::TcpStream::connect(addr(&server)).await?;
    stream.set_nodelay(true)?;
    let client = Client::new(stream.compat(), ClientConfig::default());
    tokio::spawn(client.run());
    conversation(&client, requests).await;
    // Requests from many tokio tasks at once (several threads on a
    // multi-thread runtime).
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { conversation(&c, requests / 8).await })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    let report = server.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.forced, 0);
    assert_eq!(served.await?, Ok(()));

    // Started on a tokio spawner: the accept loop and each connection are
    // tokio tasks; clients' background tasks too.
    let spawner = tokio_spawner();
    let server = bind().await.start(&spawner).expect("start");
    let stream = tokio::net::TcpStream::connect(addr(&server)).await?;
    let tokio_side = Client::new(stream.compat(), ClientConfig::default())
        .start(&spawner)
        .expect("start");
    let smol_side = Client::connect_tcp(addr(&server), ClientConfig::default())
        .await?
        .start(&spawner)
        .expect("start");
    let (a, b) = (tokio_side.clone(), smol_side.clone());
    let (x, y) = tokio::join!(
        tokio::spawn(async move { conversation(&a, requests).await }),
        tokio::spawn(async move { conversation(&b, requests).await }),
    );
    x?;
    y?;
    // A slow request in flight is drained by the graceful shutdown.
    let slow = tokio::spawn(async move { tokio_side.request("SLOW", b"s").await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let report = server.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.drained, report.forced), (2, 0));
    assert_eq!(slow.await??.payload, b"s");
    drop(smol_side);

    // msgwire's router loop over tokio streams.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let at = listener.local_addr()?;
    let loops = tokio::spawn(async move {
        let mut ends = Vec::new();
        for _ in 0..2 {
            let (stream, _) = listener.accept().await.expect("accept");
            ends.push(tokio::spawn(async move {
                let mut conn = Framed::sniffing(stream.compat(), FramedConfig::default());
                router().serve(&mut conn).await
            }));
        }
        let mut out = Vec::new();
        for e in ends {
            out.push(e.await.expect("router loop"));
        }
        out
    });
    // msgwire's client (its own socket, tasks on tokio) …
    let client = Client::connect_tcp(at, ClientConfig::default())
        .await?
        .start(&spawner)
        .expect("start");
    conversation(&client, requests).await;
    client.send("EXIT", b"").await?;
    // … and a text-mode Framed over a tokio socket, like netcat would.
    let stream = tokio::net::TcpStream::connect(at).await?;
    let mut text = Framed::new(stream.compat(), Framing::Text, FramedConfig::default());
    text.send(&Message::new(Kind::ECHO, b"over tokio")).await?;
    text.flush().await?;
    let answer = Frame::from_message(&text.recv().await?);
    assert_eq!(
        (answer.kind.as_str(), &answer.payload[..]),
        ("ECHO", &b"over tokio"[..])
    );
    drop(text);
    let ends = loops.await?;
    assert!(matches!(ends[0], ConnEnd::Exit), "{:?}", ends[0]);
    assert!(matches!(ends[1], ConnEnd::Closed), "{:?}", ends[1]);
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_current_thread() -> TestResult {
    tokio::time::timeout(Duration::from_secs(30), on_tokio(32)).await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_multi_thread() -> TestResult {
    tokio::time::timeout(Duration::from_secs(30), on_tokio(64)).await?
}

// ------------------------------------------------------ threads, counted

/// This process's threads: id → name.
fn threads() -> BTreeMap<u32, String> {
    let mut all = BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let path = task.expect("task").path();
        let Some(tid) = path.file_name().and_then(|n| n.to_str()?.parse().ok()) else {
            continue;
        };
        // A thread that ended meanwhile has no comm any more.
        if let Ok(name) = std::fs::read_to_string(path.join("comm")) {
            all.insert(tid, name.trim().to_string());
        }
    }
    all
}

/// The threads seen `during` or `after` that were not there `before`, by
/// name. A new thread has its creator's name until it has set its own
/// (a moment after it starts, later on a loaded machine): `after` is
/// re-read until no new thread has a name of one of `before`'s.
fn new_threads(before: &BTreeMap<u32, String>, during: &BTreeMap<u32, String>) -> Vec<String> {
    let old_names: Vec<&String> = before.values().collect();
    let mut after = threads();
    for _ in 0..100 {
        let unnamed = after
            .iter()
            .any(|(tid, name)| !before.contains_key(tid) && old_names.contains(&name));
        if !unnamed {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        after = threads();
    }
    let mut new = BTreeMap::new();
    for (tid, name) in during.iter().chain(after.iter()) {
        if !before.contains_key(tid) {
            // The later name wins: `after` comes second.
            new.insert(*tid, name.clone());
        }
    }
    new.into_values().collect()
}

/// Set in the child process: which scenario it runs (`local` or `global`).
const CHILD: &str = "MSGWIRE_RUNTIMES_CHILD";

/// The child's part (does nothing in a normal run): before any socket or
/// timer is used, notes the threads; serves and requests on a
/// `LocalExecutor` in this one thread, with timeouts and a graceful
/// shutdown; notes the threads while the server and the clients run and
/// after; prints the new ones.
#[test]
fn child_serves_and_requests_on_a_local_executor() {
    let _watchdog = watchdog();
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let before = threads();
    let ex = smol::LocalExecutor::new();
    let during = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let requests = Arc::new(AtomicUsize::new(0));
    smol::block_on(ex.run(async {
        let server = bind().await;
        let client = Client::connect_tcp(addr(&server), ClientConfig::default())
            .await
            .expect("connect");
        let server = if mode == "global" {
            // The positive control: msgwire's own executor, opted into.
            let client = client.clone().start(&Spawner::global()).expect("start");
            drop(client);
            server.start(&Spawner::global()).expect("start")
        } else {
            ex.spawn(server.run()).detach();
            ex.spawn(client.run()).detach();
            server
        };
        let clients: Vec<_> = (0..4).map(|_| client.clone()).collect();
        let work: Vec<_> = clients
            .into_iter()
            .map(|c| {
                let requests = requests.clone();
                ex.spawn(async move {
                    for _ in 0..50 {
                        c.request("ECHO", b"x").await.expect("echo");
                        requests.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for w in work {
            w.await;
        }
        let slow = client.request("SLOW", b"");
        *during.lock().unwrap() = threads();
        slow.await.expect("slow");
        client.close();
        server.shutdown(Duration::from_secs(2)).await;
    }));
    assert_eq!(requests.load(Ordering::Relaxed), 200);
    let during = during.lock().unwrap().clone();
    let new = new_threads(&before, &during);
    println!(
        "THREADS before={} during={} after={}",
        before.len(),
        during.len(),
        threads().len()
    );
    println!("NEW-THREADS {}", new.join(","));
}

/// Runs the child in `mode`; returns the new threads' names it printed.
fn run_child(mode: &str) -> Vec<String> {
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            "child_serves_and_requests_on_a_local_executor",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, mode)
        .env("MSGWIRE_THREADS", "2")
        .output()
        .expect("child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child ({mode}) failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts = stdout
        .lines()
        .find_map(|l| l.find("THREADS before=").map(|at| &l[at..]))
        .unwrap_or("?");
    println!("child ({mode}): {counts}");
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("NEW-THREADS"))
        .expect("the child's NEW-THREADS line");
    line.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect()
}

#[test]
#[cfg(target_os = "linux")]
fn a_local_executor_starts_no_thread_of_msgwires() {
    let _watchdog = watchdog();
    let new = run_child("local");
    // At most async-io's reactor thread, started by async-io on first use.
    assert!(
        new.iter().all(|n| n == "async-io") && new.len() <= 1,
        "threads started while serving on a LocalExecutor: {new:?}"
    );
    // The count can tell: with msgwire's own executor (opted into), its
    // threads show.
    let global = run_child("global");
    let ours = global.iter().filter(|n| n.starts_with("msgwire-")).count();
    assert_eq!(
        ours, 2,
        "with Spawner::global and MSGWIRE_THREADS=2: {global:?}"
    );
}

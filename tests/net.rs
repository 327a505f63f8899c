//! The async layer: the prototype's tests over the in-memory transport, then
//! real sockets on 127.0.0.1 (ephemeral ports), in both framings.
#![cfg(feature = "async")]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::net::{fixture, serve_router, tcp_server, Flood, Peer};
use common::watchdog::watchdog;
use common::{encode_frame, fix_header_crc, read_frames, Ev};
use futures_lite::future::block_on;
use futures_lite::FutureExt;
use msgwire::conversation::Framing;
use msgwire::net::{
    memory, Client, ClientConfig, ClientError, ConnEnd, Delivery, Framed, FramedConfig,
    HandlerError, RecvError, Reply, Request, Router, Server, ServerConfig, Spawner,
};
use msgwire::{Flags, Kind, Message};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A router with a failing, a panicking and a slow handler besides the
/// built-ins.
fn test_router() -> Router {
    Router::new()
        .on("FAIL", |_req: Request| async {
            Err::<Reply, _>(HandlerError::msg("disk on fire"))
        })
        .expect("kind")
        .on("PANIC", |_req: Request| async {
            if true {
                panic!("handler bug");
            }
            Ok(Reply::new(Kind::lit("PANIC"), ""))
        })
        .expect("kind")
        .on("SLOW", |req: Request| async move {
            async_io::Timer::after(Duration::from_millis(300)).await;
            Ok(Reply::new(Kind::lit("DONE"), req.payload()))
        })
        .expect("kind")
}

/// Serves one in-memory connection (a pipe of 64 chunks) on a thread;
/// returns the client end.
fn memory_server(router: Router) -> (memory::MemStream, std::thread::JoinHandle<ConnEnd>) {
    serve_router(router, 64, FramedConfig::default())
}

#[test]
fn prototype_conversation_in_memory() -> TestResult {
    let _watchdog = watchdog();
    let (end, server) = memory_server(test_router());
    let mut conn = Framed::new(end, Framing::Binary, FramedConfig::default());
    block_on(async {
        // PING -> PONG ack, with the request's id and the RESPONSE flag.
        conn.send(&Message::new(Kind::PING, b"hello").with_id(5))
            .await?;
        let m = conn.recv().await?;
        assert_eq!((m.kind.as_str(), m.id, m.payload), ("PONG", 5, &b"ack"[..]));
        assert!(m.flags.contains(Flags::RESPONSE));

        // A failing handler and a panicking one are answered; the loop goes on.
        conn.send(&Message::new(Kind::new("FAIL")?, b"").with_id(6))
            .await?;
        conn.send(&Message::new(Kind::new("PANIC")?, b"").with_id(7))
            .await?;
        conn.send(&Message::new(Kind::ECHO, b"still here").with_id(8))
            .await?;
        let m = conn.recv().await?;
        assert_eq!(
            (m.kind.as_str(), m.id, m.payload),
            ("ERROR", 6, &b"handler-failed: disk on fire"[..])
        );
        let m = conn.recv().await?;
        assert_eq!((m.kind.as_str(), m.id), ("ERROR", 7));
        assert_eq!(m.payload, b"handler-failed: panicked: handler bug");
        let m = conn.recv().await?;
        assert_eq!(
            (m.kind.as_str(), m.id, m.payload),
            ("ECHO", 8, &b"still here"[..])
        );

        // Unknown kind: answered, and the next answer is the PING's.
        conn.send(&Message::new(Kind::new("FOO")?, b"").with_id(9))
            .await?;
        conn.send(&Message::new(Kind::PING, b"").with_id(11))
            .await?;
        let m = conn.recv().await?;
        assert_eq!(
            (m.kind.as_str(), m.id, m.payload),
            ("ERROR", 9, &b"unknown-kind: FOO"[..])
        );
        let m = conn.recv().await?;
        assert_eq!((m.kind.as_str(), m.id), ("PONG", 11));

        // A header with a good CRC-16 but a reserved flag is not trusted
        // (§2.1 step 2): ERROR with id 0, and the loop goes on.
        let mut bad = encode_frame("DATA", 12, b"xy");
        bad[2] = 0x80; // reserved flag: header CRC now fails...
        fix_header_crc(&mut bad); // ...so fix it: refused on its shape
        futures_lite::AsyncWriteExt::write_all(conn.get_mut(), &bad).await?;
        conn.send(&Message::new(Kind::PING, b"").with_id(13))
            .await?;
        let m = conn.recv().await?;
        assert_eq!((m.kind.as_str(), m.id), ("ERROR", 0));
        assert!(
            m.payload.starts_with(b"reserved-flags: "),
            "{:?}",
            String::from_utf8_lossy(m.payload)
        );
        let m = conn.recv().await?;
        assert_eq!((m.kind.as_str(), m.id), ("PONG", 13));

        // EXIT ends the loop with no answer.
        conn.send(&Message::new(Kind::EXIT, b"")).await?;
        conn.flush().await?;
        assert!(matches!(conn.recv().await, Err(RecvError::Closed)));
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    assert!(matches!(
        server.join().expect("server thread"),
        ConnEnd::Exit
    ));
    Ok(())
}

#[test]
fn text_mode_in_memory_and_client_over_memory() -> TestResult {
    let _watchdog = watchdog();
    let (end, server) = memory_server(test_router());
    block_on(async {
        let mut conn = Framed::new(end, Framing::Text, FramedConfig::default());
        futures_lite::AsyncWriteExt::write_all(
            conn.get_mut(),
            b"PING:hi\r\nECHO:a:b\nnope\nFOO:1\nEXIT:\n",
        )
        .await?;
        let mut got = Vec::new();
        loop {
            match conn.recv().await {
                Ok(m) => got.push(format!("{}:{}", m.kind, String::from_utf8_lossy(m.payload))),
                Err(RecvError::Closed) => break,
                Err(e) => return Err(e.into()),
            }
        }
        assert_eq!(
            got,
            [
                "PONG:ack",
                "ECHO:a:b",
                "ERROR:missing-separator: text line has no ':'",
                "ERROR:unknown-kind: FOO"
            ]
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    assert!(matches!(
        server.join().expect("server thread"),
        ConnEnd::Exit
    ));

    // The correlating client works over the in-memory transport too.
    let (client, _server) = fixture().chunks(64).router(test_router());
    block_on(async {
        let slow = client.request("SLOW", b"z");
        let ping = client.ping();
        let (slow, ping) = futures_lite::future::zip(slow, ping).await;
        assert_eq!(slow?.kind, "DONE");
        ping?;
        Ok(())
    })
}

#[test]
fn recv_is_cancel_safe() -> TestResult {
    let _watchdog = watchdog();
    let (a, b) = memory::pipe(8);
    let mut tx = Framed::new(a, Framing::Binary, FramedConfig::default());
    let mut rx = Framed::new(b, Framing::Binary, FramedConfig::default());
    let frame = encode_frame("DATA", 3, b"0123456789");
    block_on(async {
        futures_lite::AsyncWriteExt::write_all(tx.get_mut(), &frame[..9]).await?;
        // The timer wins; the recv future is dropped after reading 9 bytes.
        let raced = async { Some(rx.recv().await.map(|m| m.id)) }
            .or(async {
                async_io::Timer::after(Duration::from_millis(50)).await;
                None
            })
            .await;
        assert!(raced.is_none());
        futures_lite::AsyncWriteExt::write_all(tx.get_mut(), &frame[9..]).await?;
        let m = rx.recv().await?;
        assert_eq!(
            (m.kind.as_str(), m.id, m.payload),
            ("DATA", 3, &b"0123456789"[..])
        );
        Ok(())
    })
}

/// Waits for a handler's "started" signal; fails after 20 s instead of
/// hanging.
fn wait_for(started: &async_channel::Receiver<()>) {
    let got = block_on(async { started.recv().await.ok() }.or(async {
        async_io::Timer::after(Duration::from_secs(20)).await;
        None
    }));
    got.expect("the handler started");
}

fn start(config: ServerConfig) -> Server {
    tcp_server(test_router(), config)
}

fn addr(server: &Server) -> SocketAddr {
    server.local_addr().expect("tcp")
}

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(addr(server)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

fn read_lines(s: &mut TcpStream, n: usize) -> Vec<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.iter().filter(|&&b| b == b'\n').count() < n {
        let got = s.read(&mut chunk).expect("read");
        assert!(got > 0, "server closed early");
        buf.extend_from_slice(&chunk[..got]);
    }
    String::from_utf8(buf)
        .expect("utf8")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn pipelining_1000_requests_in_one_write_both_framings() {
    let _watchdog = watchdog();
    let server = start(ServerConfig::default());
    let mut s = connect(&server);
    let mut batch = Vec::new();
    for i in 1..=1000u32 {
        batch.extend(encode_frame("ECHO", i, format!("n{i}").as_bytes()));
    }
    s.write_all(&batch).expect("write");
    let answers = read_frames(&mut s, 1000);
    for (i, got) in answers.iter().enumerate() {
        let n = i as u32 + 1;
        assert_eq!(got, &Ev::answer("ECHO", n, format!("n{n}")));
    }

    let mut t = connect(&server);
    let text: String = (1..=1000).map(|i| format!("ECHO:n{i}\n")).collect();
    t.write_all(text.as_bytes()).expect("write");
    let lines = read_lines(&mut t, 1000);
    assert_eq!(lines.len(), 1000);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line, &format!("ECHO:n{}", i + 1));
    }
}

#[test]
fn two_hundred_clients_fifty_requests_each() {
    let _watchdog = watchdog();
    let server = start(ServerConfig::default());
    let addr = addr(&server);
    let failures = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let failures = failures.clone();
            std::thread::spawn(move || {
                block_on(async move {
                    // 50 binary clients per thread, each with 50 requests in
                    // flight at once from one connection.
                    let mut clients = Vec::new();
                    for _ in 0..50 {
                        clients.push(
                            Client::connect_tcp(addr, ClientConfig::default())
                                .await
                                .expect("connect")
                                .start(&Spawner::global())
                                .expect("start"),
                        );
                    }
                    let mut all = Vec::new();
                    for (c, client) in clients.iter().enumerate() {
                        for r in 0..50 {
                            let payload = format!("t{t}c{c}r{r}");
                            all.push(async move {
                                let got = client.request("ECHO", payload.as_bytes()).await;
                                matches!(got, Ok(f) if f.payload == payload.as_bytes())
                            });
                        }
                    }
                    for ok in futures_lite::stream::iter(all)
                        .then(|f| f)
                        .collect::<Vec<bool>>()
                        .await
                    {
                        if !ok {
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    assert_eq!(failures.load(Ordering::SeqCst), 0);

    // And in text framing, lock-step, 200 connections x 50 lines.
    let texts: Vec<_> = (0..200)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                let mut reader = std::io::BufReader::new(s.try_clone().expect("clone"));
                for r in 0..50 {
                    s.write_all(format!("ECHO:c{c}r{r}\n").as_bytes())
                        .expect("write");
                    let mut line = String::new();
                    std::io::BufRead::read_line(&mut reader, &mut line).expect("read");
                    assert_eq!(line, format!("ECHO:c{c}r{r}\n"));
                }
            })
        })
        .collect();
    for t in texts {
        t.join().expect("text client");
    }
}

use futures_lite::StreamExt;

#[test]
fn a_client_vanishing_mid_frame_disturbs_no_one() {
    let _watchdog = watchdog();
    let server = start(ServerConfig::default());
    let mut good = connect(&server);
    for i in 0..20 {
        let mut bad = connect(&server);
        let frame = encode_frame("ECHO", 1, &[7u8; 500]);
        bad.write_all(&frame[..(i * 37) % frame.len()])
            .expect("write");
        drop(bad);
        good.write_all(&encode_frame("ECHO", i as u32 + 1, b"ok"))
            .expect("write");
        let got = read_frames(&mut good, 1);
        assert_eq!(got[0], Ev::answer("ECHO", i as u32 + 1, b"ok"));
    }
}

/// A `Server` in a process of its own: this test binary run again with
/// `MSGWIRE_CHILD_SERVER` set, running only [`child_server_process`]. Memory
/// is then measured on the server alone, not on the test runner with every
/// other test beside it.
struct ChildServer {
    child: std::process::Child,
    addr: SocketAddr,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl ChildServer {
    /// Starts a child serving with the named configuration (see
    /// [`child_config`]) and waits for its address.
    fn start(config: &str) -> ChildServer {
        use std::process::{Command, Stdio};
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "child_server_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("MSGWIRE_CHILD_SERVER", config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the server process");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let addr = loop {
            let line = ChildServer::line(&mut out);
            // libtest may print `test child_server_process ... ` first.
            if let Some((_, a)) = line.split_once("CHILD_SERVER_ADDR ") {
                break a.parse().expect("address");
            }
        };
        ChildServer { child, addr, out }
    }

    fn line(out: &mut impl std::io::BufRead) -> String {
        let mut line = String::new();
        let n = out.read_line(&mut line).expect("read the child's output");
        assert!(n > 0, "the server process ended");
        line.trim_end().to_owned()
    }

    /// The server's connections being served now.
    fn active(&mut self) -> usize {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"active\n").expect("ask the child");
        stdin.flush().expect("flush");
        loop {
            let line = ChildServer::line(&mut self.out);
            if let Some((_, n)) = line.split_once("CHILD_SERVER_ACTIVE ") {
                return n.parse().expect("count");
            }
        }
    }

    /// A field of the child's `/proc/PID/status`, in bytes: `VmRSS` (now)
    /// or `VmHWM` (the peak).
    fn memory(&self, field: &str) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status of the server process");
        let kib: usize = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("memory field");
        kib * 1024
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // Closing its stdin ends the child; kill it if that did not.
        drop(self.child.stdin.take());
        if self.child.try_wait().ok().flatten().is_none() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn child_config(name: &str) -> ServerConfig {
    match name {
        "default" => ServerConfig::default(),
        "never-reads" => ServerConfig {
            idle_timeout: Some(Duration::from_millis(400)),
            framed: FramedConfig {
                max_payload: 256 * 1024,
                ..FramedConfig::default()
            },
            ..ServerConfig::default()
        },
        other => panic!("no child configuration {other:?}"),
    }
}

/// Not a test of its own: the body of a [`ChildServer`]. Does nothing
/// unless `MSGWIRE_CHILD_SERVER` names a configuration.
#[test]
fn child_server_process() {
    let _watchdog = watchdog();
    let Ok(name) = std::env::var("MSGWIRE_CHILD_SERVER") else {
        return;
    };
    let server = start(child_config(&name));
    println!("CHILD_SERVER_ADDR {}", addr(&server));
    // Answers `active` until the parent closes stdin.
    let mut line = String::new();
    while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
        if line.trim() == "active" {
            println!("CHILD_SERVER_ACTIVE {}", server.stats().active);
        }
        line.clear();
    }
}

#[test]
fn a_100_mb_frame_is_refused_at_once_and_skipped_without_buffering() {
    let _watchdog = watchdog();
    let server = ChildServer::start("default");
    let mut s = TcpStream::connect(server.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let size = 100 * 1024 * 1024;
    let mut header = encode_frame("BLOB", 77, b"");
    header[8..12].copy_from_slice(&(size as u32).to_le_bytes());
    fix_header_crc(&mut header);
    s.write_all(&header).expect("write");
    // The answer comes from the header alone, before any payload byte.
    let got = read_frames(&mut s, 1);
    assert_eq!((got[0].kind(), got[0].id()), ("ERROR", 77));
    assert!(got[0].payload().starts_with(b"too-large: "));

    let before = server.memory("VmRSS");
    let chunk = vec![0u8; 1024 * 1024];
    for _ in 0..100 {
        s.write_all(&chunk).expect("write body");
    }
    s.write_all(&encode_frame("PING", 78, b"")).expect("write");
    let got = read_frames(&mut s, 1);
    assert_eq!((got[0].kind(), got[0].id()), ("PONG", 78));
    // The server process's peak, not the test runner's RSS.
    let grown = server.memory("VmHWM").saturating_sub(before);
    assert!(
        grown < 16 * 1024 * 1024,
        "the server's peak RSS grew by {grown} bytes while 100 MB were skipped"
    );
}

#[test]
fn an_idle_half_frame_is_dropped_after_the_timeout() {
    let _watchdog = watchdog();
    let server = start(ServerConfig {
        idle_timeout: Some(Duration::from_millis(300)),
        ..ServerConfig::default()
    });
    let mut s = connect(&server);
    s.write_all(&encode_frame("ECHO", 1, b"abcdef")[..10])
        .expect("write");
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    let waited = started.elapsed();
    assert_eq!(n, 0, "the server should close, not answer");
    assert!(
        waited >= Duration::from_millis(250),
        "closed too early: {waited:?}"
    );
}

#[test]
fn the_connection_limit_answers_overloaded() {
    let _watchdog = watchdog();
    let server = start(ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    });
    let mut kept = Vec::new();
    for i in 0..2 {
        let mut s = connect(&server);
        s.write_all(&encode_frame("PING", i + 1, b""))
            .expect("write");
        assert_eq!(read_frames(&mut s, 1)[0].kind(), "PONG");
        kept.push(s);
    }
    // Binary newcomer.
    let mut s = connect(&server);
    s.write_all(&encode_frame("PING", 9, b"")).expect("write");
    let got = read_frames(&mut s, 1);
    assert_eq!(got[0].kind(), "ERROR");
    assert!(got[0].payload().starts_with(b"overloaded: "));
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).expect("closed"), 0);
    // Text newcomer gets a text answer.
    let mut t = connect(&server);
    t.write_all(b"PING:x\n").expect("write");
    let lines = read_lines(&mut t, 1);
    assert!(lines[0].starts_with("ERROR:overloaded: "), "{lines:?}");
    assert_eq!(server.stats().overloaded, 2);
    // Once a slot frees, new connections are served again.
    drop(kept.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats().active >= 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut s = connect(&server);
    s.write_all(&encode_frame("PING", 10, b"")).expect("write");
    assert_eq!(read_frames(&mut s, 1)[0].kind(), "PONG");
}

#[test]
fn graceful_shutdown_answers_in_flight_requests() {
    let _watchdog = watchdog();
    // SLOW says when it starts, then takes 200 ms: shutdown begins while it
    // runs, with the pipelined requests behind it already sent.
    let (started_tx, started_rx) = async_channel::bounded::<()>(1);
    let router = Router::new()
        .on("SLOW", move |req: Request| {
            let started = started_tx.clone();
            async move {
                let _ = started.send(()).await;
                async_io::Timer::after(Duration::from_millis(200)).await;
                Ok(Reply::new(Kind::lit("DONE"), req.payload()))
            }
        })
        .expect("kind");
    let server = tcp_server(router, ServerConfig::default());
    let mut s = connect(&server);
    // A slow request, then pipelined ones behind it.
    let mut batch = encode_frame("SLOW", 1, b"a");
    for i in 2..=5 {
        batch.extend(encode_frame("ECHO", i, b"b"));
    }
    s.write_all(&batch).expect("write");
    wait_for(&started_rx);
    let report = block_on(server.shutdown(Duration::from_secs(5)));
    assert_eq!((report.drained, report.forced), (1, 0));
    let got = read_frames(&mut s, 5);
    assert_eq!(got[0], Ev::answer("DONE", 1, b"a"));
    assert_eq!(
        got.iter().map(|g| g.id()).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).expect("closed"), 0);
}

#[test]
fn shutdown_deadline_forces_stuck_connections() {
    let _watchdog = watchdog();
    let (started_tx, started_rx) = async_channel::bounded::<()>(1);
    let router = Router::new()
        .on("HANG", move |_req: Request| {
            let started = started_tx.clone();
            async move {
                let _ = started.send(()).await;
                futures_lite::future::pending::<()>().await;
                Ok(Reply::new(Kind::lit("HANG"), ""))
            }
        })
        .expect("kind");
    let server = tcp_server(router, ServerConfig::default());
    let client = fixture().tcp(&server);
    let pending = std::thread::spawn(move || block_on(client.request("HANG", b"")));
    wait_for(&started_rx);
    let started = Instant::now();
    let report = block_on(server.shutdown(Duration::from_millis(200)));
    assert_eq!(report.forced, 1);
    assert!(started.elapsed() >= Duration::from_millis(200));
    // The client's pending request fails promptly instead of hanging.
    let result = pending.join().expect("client thread");
    assert!(matches!(result, Err(ClientError::Closed(_))), "{result:?}");
}

#[test]
fn handler_panic_is_answered_and_the_server_keeps_serving() {
    let _watchdog = watchdog();
    let server = start(ServerConfig::default());
    let client = fixture().tcp(&server);
    block_on(async {
        for _ in 0..3 {
            let err = client.request("PANIC", b"").await.unwrap_err();
            assert_eq!(
                err,
                ClientError::Remote(Box::new(msgwire::conversation::ErrorText::new(
                    "handler-failed",
                    "panicked: handler bug"
                )))
            );
            assert_eq!(
                client
                    .request("ECHO", b"alive")
                    .await
                    .expect("echo")
                    .payload,
                b"alive"
            );
        }
    });
    // Other connections were never disturbed.
    let other = fixture().tcp(&server);
    assert!(block_on(other.ping()).is_ok());
}

#[test]
fn client_errors_are_clear() {
    let _watchdog = watchdog();
    let server = start(ServerConfig::default());
    let client = fixture().timeout(Duration::from_millis(100)).tcp(&server);
    block_on(async {
        // Never early; well before the answer (300 ms) would come.
        let start = std::time::Instant::now();
        assert_eq!(client.request("SLOW", b"").await, Err(ClientError::Timeout));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(100),
            "timed out after {waited:?}"
        );
        assert!(matches!(
            client.request("bad kind", b"").await,
            Err(ClientError::Encode(_))
        ));
        // The late answer is counted, not misdelivered.
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.late_answers() == 0 && Instant::now() < deadline {
            async_io::Timer::after(Duration::from_millis(10)).await;
        }
        assert_eq!(client.late_answers(), 1);
        assert_eq!(
            client.request("ECHO", b"x").await.expect("echo").payload,
            b"x"
        );
    });
    drop(server);
    // A refused connection is an error, not a hang.
    let dead: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    assert!(block_on(Client::connect_tcp(dead, ClientConfig::default())).is_err());
}

#[test]
fn server_dying_mid_request_fails_pending_requests() {
    let _watchdog = watchdog();
    let (client, mut server) = fixture().scripted();
    let c2 = client.clone();
    let pending = std::thread::spawn(move || block_on(c2.request("PING", b"")));
    // The "server" reads the request, then vanishes without answering.
    assert_eq!(server.recv().kind, "PING", "the request arrives");
    drop(server);
    let result = pending.join().expect("thread");
    assert!(
        matches!(&result, Err(ClientError::Closed(c)) if c.by() == msgwire::net::ClosedBy::Server),
        "{result:?}"
    );
    assert!(client.is_closed());
    assert!(matches!(
        block_on(client.request("PING", b"")),
        Err(ClientError::Closed(_))
    ));
}

#[cfg(unix)]
#[test]
fn unix_socket_server_and_client() {
    let _watchdog = watchdog();
    let path = std::env::temp_dir().join(format!("msgwire-test-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let server = block_on(Server::bind_unix(
        &path,
        test_router(),
        ServerConfig::default(),
    ))
    .expect("bind")
    .start(&Spawner::global())
    .expect("start");
    let client = block_on(Client::connect_unix(&path, ClientConfig::default()))
        .expect("connect")
        .start(&Spawner::global())
        .expect("start");
    let answer = block_on(client.request("ECHO", b"over unix")).expect("echo");
    assert_eq!(answer.payload, b"over unix");
    block_on(server.shutdown(Duration::from_secs(1)));
    assert!(!path.exists(), "socket file removed at shutdown");
}

#[test]
fn events_reach_the_subscriptions_their_kind_matches() {
    let _watchdog = watchdog();
    let (client, mut server) = fixture().scripted();
    let subscribe = |filter: &'static str, server: &mut Peer| {
        std::thread::scope(|s| {
            let c = &client;
            let r = s.spawn(move || block_on(c.subscribe(filter)));
            let req = server.recv();
            server.send(
                &Message::new(Kind::SUB, &req.payload)
                    .with_id(req.id)
                    .with_flags(Flags::RESPONSE),
            );
            r.join().expect("thread").expect("subscribe")
        })
    };
    let mut all_news = subscribe("NEWS*", &mut server);
    let mut flash = subscribe("NEWS/flash", &mut server);
    server.send(&msgwire::conversation::event(
        Kind::new("NEWS/flash").expect("kind"),
        b"one",
    ));
    server.send(&msgwire::conversation::event(
        Kind::new("NEWS/slow").expect("kind"),
        b"two",
    ));
    let got = |sub: &mut msgwire::net::Subscription| match block_on(sub.recv()) {
        Some(Delivery::Event(f)) => (
            f.kind.to_string(),
            String::from_utf8(f.payload.into_vec()).expect("utf-8"),
        ),
        other => panic!("{other:?}"),
    };
    // Each subscription gets every event its filter matches, in order.
    assert_eq!(got(&mut all_news), ("NEWS/flash".into(), "one".into()));
    assert_eq!(got(&mut all_news), ("NEWS/slow".into(), "two".into()));
    assert_eq!(got(&mut flash), ("NEWS/flash".into(), "one".into()));
    assert_eq!(flash.try_recv(), None, "NEWS/slow is not flash's");
    assert_eq!(flash.filter(), "NEWS/flash");
    // An event no subscription matches is counted, not delivered.
    server.send(&msgwire::conversation::event(
        Kind::new("OTHER").expect("kind"),
        b"x",
    ));
    server.send(&msgwire::conversation::event(
        Kind::new("NEWS/last").expect("kind"),
        b"3",
    ));
    assert_eq!(got(&mut all_news), ("NEWS/last".into(), "3".into()));
    assert_eq!(client.dropped_unsolicited(), 1);
}

#[test]
fn a_peer_that_never_reads_is_dropped_and_memory_stays_bounded() {
    let _watchdog = watchdog();
    let mut server = ChildServer::start("never-reads");
    let mut s = TcpStream::connect(server.addr).expect("connect");
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // Larger than the write buffer: answers are written straight from the
    // receive buffer, outside the read path's idle timer.
    let request = encode_frame("ECHO", 1, &[b'z'; 200_000]);
    let before = server.memory("VmRSS");
    let started = Instant::now();
    // Keep sending echoes and never read: socket buffers fill both ways,
    // the server's write stalls, and it must drop us (our write then fails;
    // the loop's bound only keeps a broken server from hanging the test).
    let mut sent = 0usize;
    while started.elapsed() < Duration::from_secs(30) {
        if s.write_all(&request).is_err() {
            break;
        }
        sent += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.active() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        server.active(),
        0,
        "the server kept a peer that never reads ({sent} requests sent)"
    );
    let grown = server.memory("VmHWM").saturating_sub(before);
    assert!(
        grown < 32 * 1024 * 1024,
        "the server's peak RSS grew by {grown} bytes"
    );
}

/// The built-ins' fast path (answer queued without a future) and its
/// fallbacks: an echo larger than the write buffer goes out through the
/// large-payload path, a text echo that cannot be encoded is answered
/// with `ERROR handler-failed`, and pipelined requests stay in order.
#[test]
fn builtin_answers_fall_back_when_they_cannot_be_queued() -> TestResult {
    let _watchdog = watchdog();
    let (end, server) = memory_server(Router::new());
    let config = FramedConfig {
        write_buffer: 256,
        ..FramedConfig::default()
    };
    let mut conn = Framed::new(end, Framing::Binary, config);
    let big: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    block_on(async {
        conn.send(&Message::new(Kind::PING, b"").with_id(1)).await?;
        conn.send(&Message::new(Kind::ECHO, &big).with_id(2))
            .await?;
        conn.send(&Message::new(Kind::ECHO, b"small").with_id(3))
            .await?;
        let m = conn.recv().await?;
        assert_eq!((m.kind.as_str(), m.id, m.payload), ("PONG", 1, &b"ack"[..]));
        let m = conn.recv().await?;
        assert_eq!((m.kind.as_str(), m.id), ("ECHO", 2));
        assert_eq!(m.payload, &big[..]);
        let m = conn.recv().await?;
        assert_eq!(
            (m.kind.as_str(), m.id, m.payload),
            ("ECHO", 3, &b"small"[..])
        );
        conn.send(&Message::new(Kind::EXIT, b"")).await?;
        conn.flush().await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    assert!(matches!(server.join().expect("server"), ConnEnd::Exit));

    // Text framing: `ECHO:a\r\r\n` carries the payload `a\r`, which no text
    // line can carry back (a trailing `\r` would be taken for the line end).
    let (mut end, server) = memory_server(Router::new());
    block_on(async {
        use futures_lite::{AsyncReadExt, AsyncWriteExt};
        end.write_all(b"ECHO:a\r\r\nPING:\nEXIT:\n").await?;
        end.flush().await?;
        let mut got = Vec::new();
        end.read_to_end(&mut got).await?;
        let text = String::from_utf8(got)?;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text:?}");
        assert!(
            lines[0].starts_with("ERROR:handler-failed: reply cannot be encoded"),
            "{text:?}"
        );
        assert_eq!(lines[1], "PONG:ack");
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    assert!(matches!(server.join().expect("server"), ConnEnd::Exit));
    Ok(())
}

/// A peer that never lets a read wait must not hold the executor thread:
/// the loop yields now and then, so other connections on the same thread
/// are served while it floods — with requests, with garbage that makes no
/// event at all, or with the skipped bytes of a refused frame.
#[test]
fn a_flooding_peer_does_not_starve_other_tasks() {
    let _watchdog = watchdog();
    let mut huge = encode_frame("BLOB", 1, b"");
    // The same header claiming 4 GB: refused, then its bytes are skipped.
    huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    fix_header_crc(&mut huge);
    let mut skipped = huge;
    skipped.resize(64 * 1024, 0);
    for (unit, count) in [
        (encode_frame("PING", 1, b""), 100_000),
        (vec![0u8; 4096], 5_000),
        (skipped, 300),
    ] {
        flood_beside_another_task(unit, count);
    }
}

fn flood_beside_another_task(unit: Vec<u8>, frames: u64) {
    let (flood, read) = Flood::new(unit, frames);
    let ex = async_executor::LocalExecutor::new();
    let served = ex.spawn(async move {
        let mut conn = Framed::sniffing(flood, FramedConfig::default());
        Router::new().serve(&mut conn).await
    });
    let seen = read.clone();
    let other = ex.spawn(async move { seen.load(Ordering::SeqCst) });
    let (end, seen_by_other) = block_on(ex.run(async { (served.await, other.await) }));
    assert!(matches!(end, ConnEnd::Closed), "{end:?}");
    assert_eq!(read.load(Ordering::SeqCst), frames);
    assert!(
        seen_by_other < frames / 2,
        "the other task ran only after {seen_by_other} of {frames} frames"
    );
}

/// The write timeout also bounds a flush: over a transport that holds
/// bytes until flushed (the in-memory pipe, TLS, a `BufWriter`), a peer that
/// reads nothing does not block the writer forever.
#[test]
fn a_flush_the_peer_never_takes_times_out() {
    let _watchdog = watchdog();
    let (end, _peer_that_never_reads) = memory::pipe(1);
    let mut framed = Framed::new(end, Framing::Binary, FramedConfig::default());
    framed.set_write_timeout(Some(Duration::from_millis(100)));
    block_on(async {
        // The first chunk fits the pipe; the second is held until a flush
        // finds room, which never comes.
        let ping = Message::new(Kind::PING, b"x").with_id(1);
        framed.send(&ping).await.expect("send");
        framed.flush().await.expect("the first flush has room");
        framed.send(&ping).await.expect("send");
        let start = std::time::Instant::now();
        let err = framed.flush().await.expect_err("the peer never reads");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
    });
}

/// A handler sees its connection: an id of its own, the peer's address,
/// and state that its connection's handlers share and no other
/// connection sees.
#[test]
fn handlers_see_their_connection() {
    let _watchdog = watchdog();
    let router = Router::new()
        .on("WHO", |req: Request| async move {
            let conn = req.conn();
            Ok(Reply::new(
                req.kind(),
                format!("{} {}", conn.id(), conn.peer()),
            ))
        })
        .expect("kind")
        .on("COUNT", |req: Request| async move {
            let n = req.conn().with_state(|n: &mut u32| {
                *n += 1;
                *n
            });
            Ok(Reply::new(req.kind(), n.to_string()))
        })
        .expect("kind");
    let server = tcp_server(router, ServerConfig::default());
    let (a, b) = (fixture().tcp(&server), fixture().tcp(&server));
    block_on(async {
        let text = |f: msgwire::net::Frame| String::from_utf8(f.payload.into_vec()).expect("utf-8");
        let who_a = text(a.request("WHO", b"").await.expect("WHO"));
        let who_b = text(b.request("WHO", b"").await.expect("WHO"));
        let (id_a, peer_a) = who_a.split_once(' ').expect("id and peer");
        let (id_b, peer_b) = who_b.split_once(' ').expect("id and peer");
        assert_ne!(id_a, id_b, "two connections, two ids");
        for peer in [peer_a, peer_b] {
            let addr: std::net::SocketAddr = peer.parse().expect("the peer's address");
            assert!(addr.ip().is_loopback(), "{peer}");
        }
        assert_ne!(peer_a, peer_b, "two sockets, two ports");
        // The same connection sees the same id again.
        assert_eq!(text(a.request("WHO", b"").await.expect("WHO")), who_a);
        for want in ["1", "2", "3"] {
            assert_eq!(text(a.request("COUNT", b"").await.expect("COUNT")), want);
        }
        // b's counter is its own.
        assert_eq!(text(b.request("COUNT", b"").await.expect("COUNT")), "1");
    });
}

/// `connect_tcp` takes what `bind_tcp` takes: a "host:port" string (the
/// name looked up), a (host, port) pair or a `SocketAddr`; a name that
/// does not resolve is an error, not a panic.
#[test]
fn connect_tcp_takes_any_address() {
    let _watchdog = watchdog();
    let server = tcp_server(Router::new(), ServerConfig::default());
    let port = server.local_addr().expect("tcp").port();
    block_on(async {
        for client in [
            Client::connect_tcp(format!("localhost:{port}"), ClientConfig::default()).await,
            Client::connect_tcp(("127.0.0.1", port), ClientConfig::default()).await,
            Client::connect_tcp(server.local_addr().expect("tcp"), ClientConfig::default()).await,
        ] {
            let client = client
                .expect("connect")
                .start(&Spawner::global())
                .expect("start");
            let pong = client.request("PING", b"").await.expect("PING");
            assert_eq!(
                (pong.kind.as_str(), pong.payload.as_slice()),
                ("PONG", &b"ack"[..])
            );
        }
        let err = Client::connect_tcp("no-such-host.invalid:7878", ClientConfig::default())
            .await
            .expect_err("no such host");
        assert_ne!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    });
}

/// `Client::hello`: a 1.2 server's tokens, and a server before 1.2 (which
/// answers `ERROR unknown-kind`) as a typed `Before12`, not an error.
#[test]
fn hello_tells_a_1_2_server_from_an_older_one() {
    let _watchdog = watchdog();
    use msgwire::conversation::Rev;
    use msgwire::net::{Handshake, PeerHello};
    let config = FramedConfig {
        max_payload: 4096,
        ..FramedConfig::default()
    };
    let (client, served) = fixture().router_with(Router::new(), config);
    let got = block_on(client.hello()).expect("hello");
    let want = PeerHello {
        rev: Rev::THIS,
        max: Some(4096),
        app: None,
        schema: None,
    };
    assert_eq!(got, Handshake::Tokens(want.clone()));
    assert_eq!(want.to_string(), "rev=1.2 max=4096");
    drop(client);
    let _ = served.join();

    // An older peer, played by hand.
    let (client, mut peer) = fixture().scripted();
    let asked = std::thread::spawn(move || block_on(client.hello()));
    let req = peer.recv();
    assert_eq!(
        (req.kind.as_str(), req.payload.as_slice()),
        ("HELLO", &b"rev=1.2"[..])
    );
    peer.send(
        &Message::new(Kind::ERROR, b"unknown-kind: HELLO")
            .with_id(req.id)
            .with_flags(Flags::RESPONSE),
    );
    assert_eq!(asked.join().expect("thread"), Ok(Handshake::Before12));

    // A 1.2 peer that refuses the HELLO is an error, not an older peer.
    let (client, mut peer) = fixture().scripted();
    let asked = std::thread::spawn(move || block_on(client.hello()));
    let req = peer.recv();
    peer.send(
        &Message::new(Kind::ERROR, b"incompatible: this side speaks 2.0")
            .with_id(req.id)
            .with_flags(Flags::RESPONSE),
    );
    match asked.join().expect("thread") {
        Err(ClientError::Remote(e)) => assert_eq!(e.code(), "incompatible"),
        other => panic!("{other:?}"),
    }

    // A peer that answers something else is a typed error.
    let (client, mut peer) = fixture().scripted();
    let asked = std::thread::spawn(move || block_on(client.hello()));
    let req = peer.recv();
    peer.answer(req.id, b"not a hello");
    match asked.join().expect("thread") {
        Err(ClientError::Remote(e)) => assert_eq!(e.code(), "unexpected-answer"),
        other => panic!("{other:?}"),
    }
}

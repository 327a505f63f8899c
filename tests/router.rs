//! The router's rules (`docs/PROTOCOL.md` §4), through its public API only
//! (`Router::new().on(..)`, `Router::serve` over `memory::pipe`, `Framed`,
//! `Server`): overriding built-ins, the fallback, the handler timeout, the
//! `ERROR` payload's scrub and cut, the ids of `ERROR` answers, request
//! order behind a slow handler, text and binary limits through a server.
//! Each test fails on a one-line change that breaks its rule (mutation
//! testing, `TESTING.md`). No sleeps: waits are on conditions, with a
//! deadline so that a broken rule fails instead of hanging.
#![cfg(feature = "async")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::net::{serve_router, Flood};
use common::{encode_frame, raw, Ev};
use futures_lite::future::block_on;
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use msgwire::conversation::Framing;
use msgwire::net::{
    memory, ConnEnd, Frame, Framed, FramedConfig, HandlerError, Outcome, RecvError, Reply, Request,
    Router, Server, ServerConfig, Spawner,
};
use msgwire::{Flags, Kind, Message};

/// How long a test waits for something that should come at once before it
/// fails (a guard against hanging on a broken rule, not a speed check).
const HANG: Duration = Duration::from_secs(20);

/// Serves one in-memory connection (a pipe of 4096 chunks) on a thread;
/// returns the client end.
fn serve(
    router: Router,
    config: FramedConfig,
) -> (memory::MemStream, std::thread::JoinHandle<ConnEnd>) {
    serve_router(router, 4096, config)
}

fn answer(kind: &str, id: u32, payload: &str) -> Ev {
    Ev::answer(kind, id, payload)
}

/// The next message, or a failure after [`HANG`].
async fn recv<S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin>(
    conn: &mut Framed<S>,
) -> Ev {
    let got = async {
        let m = conn.recv().await.expect("an answer");
        Some(Ev::of(Ok(m)))
    }
    .or(async {
        async_io::Timer::after(HANG).await;
        None
    })
    .await;
    got.expect("no answer in time")
}

/// Sends binary requests `(kind, id, payload)` in one flush and returns
/// the `n` answers that follow, then sends `EXIT` and checks the loop ends.
fn exchange(router: Router, requests: &[(&str, u32, &[u8])], n: usize) -> Vec<Ev> {
    let (end, server) = serve(router, FramedConfig::default());
    let mut conn = Framed::new(end, Framing::Binary, FramedConfig::default());
    let got = block_on(send_then_recv(&mut conn, requests, n));
    drop(conn);
    assert!(matches!(server.join().expect("server"), ConnEnd::Closed));
    got
}

/// Sends binary requests `(kind, id, payload)` on `conn` in one flush and
/// returns the `n` answers that follow.
async fn send_then_recv(
    conn: &mut Framed<memory::MemStream>,
    requests: &[(&str, u32, &[u8])],
    n: usize,
) -> Vec<Ev> {
    for &(kind, id, payload) in requests {
        let m = Message::new(Kind::new(kind).expect("kind"), payload).with_id(id);
        conn.send(&m).await.expect("send");
    }
    conn.flush().await.expect("flush");
    let mut got = Vec::new();
    for _ in 0..n {
        got.push(recv(conn).await);
    }
    got
}

fn replying(kind: &'static str) -> impl Fn(Request) -> std::future::Ready<Outcome> {
    let kind = Kind::new(kind).expect("kind");
    move |req: Request| {
        let payload = format!("{} {}", req.kind(), String::from_utf8_lossy(req.payload()));
        std::future::ready(Ok(Reply::new(kind, payload)))
    }
}

/// §4: the built-in kinds "an application may override" (`PING`, `ECHO`;
/// `EXIT`, `HELLO`, `SUB` and `UNSUB` are the protocol's own since
/// revision 1.2). Each one is overridden in turn; the others stay
/// built-in, and `EXIT` ends the loop even when a handler is registered
/// for it. Catches a router that looks the built-ins up before the
/// registered handlers, or drops one.
#[test]
fn each_builtin_can_be_overridden_and_the_others_stay() {
    for kind in ["PING", "ECHO", "EXIT"] {
        let router = Router::new().on(kind, replying("MINE")).expect("kind");
        // EXIT last: it ends the loop with no answer.
        let requests: [(&str, u32, &[u8]); 3] =
            [("PING", 1, b"p"), ("ECHO", 2, b"e"), ("EXIT", 3, b"x")];
        let n = 2;
        let (end, server) = serve(router, FramedConfig::default());
        let mut conn = Framed::new(end, Framing::Binary, FramedConfig::default());
        let got = block_on(send_then_recv(&mut conn, &requests, n));
        let builtin = |k: &str, id: u32| match k {
            "PING" => answer("PONG", id, "ack"),
            "ECHO" => answer("ECHO", id, "e"),
            _ => unreachable!(),
        };
        let want: Vec<Ev> = requests[..n]
            .iter()
            .map(|&(k, id, p)| {
                if k == kind {
                    answer("MINE", id, &format!("{k} {}", String::from_utf8_lossy(p)))
                } else {
                    builtin(k, id)
                }
            })
            .collect();
        assert_eq!(got, want, "{kind} overridden");
        // EXIT closed the connection, a handler for it or not.
        let end = server.join().expect("server");
        assert!(matches!(block_on(conn.recv()), Err(RecvError::Closed)));
        assert!(matches!(end, ConnEnd::Exit), "{kind}: {end:?}");
    }
}

/// §4: a kind with no handler gets the fallback when there is one, else
/// `ERROR unknown-kind`; registered kinds and built-ins never reach the
/// fallback.
#[test]
fn the_fallback_gets_unknown_kinds_only() {
    let router = Router::new()
        .on("KNOWN", replying("HANDLED"))
        .expect("kind")
        .fallback(replying("FALLBACK"));
    let got = exchange(
        router,
        &[
            ("FOO", 1, b"a"),
            ("KNOWN", 2, b"b"),
            ("PING", 3, b""),
            ("bar/baz", 4, b"c"),
        ],
        4,
    );
    assert_eq!(
        got,
        [
            answer("FALLBACK", 1, "FOO a"),
            answer("HANDLED", 2, "KNOWN b"),
            answer("PONG", 3, "ack"),
            answer("FALLBACK", 4, "bar/baz c"),
        ]
    );
}

/// `Router::handler_timeout`: a handler slower than the timeout gets
/// `ERROR handler-failed: timed out` for its request, never before the
/// timeout, and the next request is answered; a fast one is not touched.
#[test]
fn the_handler_timeout_answers_and_goes_on() {
    let timeout = Duration::from_millis(100);
    let router = Router::new()
        .on("HANG", |_req: Request| async {
            futures_lite::future::pending::<()>().await;
            Ok(Reply::new(Kind::lit("HANG"), ""))
        })
        .expect("kind")
        .on("FAST", replying("DONE"))
        .expect("kind")
        .handler_timeout(timeout);
    let started = Instant::now();
    let got = exchange(
        router,
        &[("FAST", 1, b"a"), ("HANG", 2, b""), ("FAST", 3, b"b")],
        3,
    );
    assert!(started.elapsed() >= timeout, "{:?}", started.elapsed());
    assert_eq!(
        got,
        [
            answer("DONE", 1, "FAST a"),
            answer("ERROR", 2, "handler-failed: timed out"),
            answer("DONE", 3, "FAST b"),
        ]
    );
}

/// A router whose `FAIL` handler fails with the request's payload as its
/// message.
fn failing() -> Router {
    Router::new()
        .on("FAIL", |req: Request| async move {
            Err::<Reply, _>(HandlerError::msg(String::from_utf8_lossy(req.payload())))
        })
        .expect("kind")
}

/// §3/§4: an `ERROR` payload is one line (a handler's `\n` or `\r` would
/// split a text-mode answer line: they become spaces) and is cut at 160
/// bytes, on a character boundary.
#[test]
fn error_payloads_are_one_line_and_cut_at_160_bytes() {
    let long_x = "x".repeat(1000);
    let long_e = "é".repeat(300);
    let odd = format!("y{}", "é".repeat(300));
    let cases: [(&str, String); 5] = [
        ("a\nb\r\nc", "handler-failed: a b  c".into()),
        ("\n", "handler-failed:  ".into()),
        (&long_x, format!("handler-failed: {}", "x".repeat(160 - 16))),
        (
            &long_e,
            format!("handler-failed: {}", "é".repeat((160 - 16) / 2)),
        ),
        // 17 + 2k bytes: the last 2-byte character that fits ends at 159.
        (&odd, format!("handler-failed: y{}", "é".repeat(71))),
    ];
    // Binary framing carries any bytes: the message goes in a payload.
    let requests: Vec<(&str, u32, &[u8])> = cases
        .iter()
        .enumerate()
        .map(|(i, (msg, _))| ("FAIL", i as u32 + 1, msg.as_bytes()))
        .collect();
    let got = exchange(failing(), &requests, cases.len());
    for (i, ((msg, want), got)) in cases.iter().zip(&got).enumerate() {
        assert!(got.payload().len() <= 160, "{msg:?}");
        assert_eq!(got, &answer("ERROR", i as u32 + 1, want), "{msg:?}");
    }

    // Text framing: a failure message with line breaks (from a handler, not
    // from the peer: a text request cannot carry `\n`) stays one line.
    let router = Router::new()
        .on("FAIL", |_req: Request| async {
            Err::<Reply, _>(HandlerError::msg("line one\nline two\r\nthree"))
        })
        .expect("kind");
    let (mut end, server) = serve(router, FramedConfig::default());
    let text = block_on(async {
        end.write_all(b"FAIL:\nPING:\nEXIT:\n")
            .await
            .expect("write");
        end.flush().await.expect("flush");
        let mut got = Vec::new();
        end.read_to_end(&mut got).await.expect("read");
        String::from_utf8(got).expect("utf8")
    });
    assert_eq!(
        text,
        "ERROR:handler-failed: line one line two  three\nPONG:ack\n"
    );
    assert!(matches!(server.join().expect("server"), ConnEnd::Exit));
}

/// §4: an `ERROR` for a malformed frame carries the frame's id when its
/// header was trusted (§2.1 step 3), else 0; each is followed by the next
/// request's answer. Catches an id taken from an untrusted header, an id
/// dropped from a trusted one, or a wrong code.
#[test]
fn error_answers_carry_the_id_only_of_a_trusted_header() {
    let mut bad_crc = encode_frame("PING", 9, b"");
    bad_crc[13] ^= 1;
    let mut bad_trailer = raw(1, 1, 4, 9, 1, b"DATAz");
    bad_trailer.extend_from_slice(&[0, 0, 0, 0]);
    let cases: [(Vec<u8>, u32, &str); 7] = [
        (bad_crc, 0, "header-checksum"),
        (raw(2, 0, 4, 9, 0, b"DATA"), 0, "unsupported-version"),
        (raw(1, 0x80, 4, 9, 0, b"DATA"), 0, "reserved-flags"),
        (raw(1, 0, 0, 9, 0, b""), 0, "invalid-kind-length"),
        (raw(1, 0, 4, 9, 2000, &[b'D'; 2004]), 9, "too-large"),
        (bad_trailer, 9, "payload-checksum"),
        (raw(1, 0, 4, 9, 0, b"DA A"), 9, "invalid-kind"),
    ];
    let config = FramedConfig {
        max_payload: 1000,
        ..FramedConfig::default()
    };
    for (frame, id, code) in cases {
        let (end, server) = serve(Router::new(), config);
        let mut conn = Framed::new(end, Framing::Binary, config);
        let got = block_on(async {
            conn.get_mut().write_all(&frame).await.expect("write");
            conn.send(&Message::new(Kind::PING, b"").with_id(77))
                .await
                .expect("send");
            conn.flush().await.expect("flush");
            // Untrusted headers leave bytes that are rescanned as garbage:
            // one ERROR, then the PING's answer.
            (recv(&mut conn).await, recv(&mut conn).await)
        });
        assert_eq!((got.0.kind(), got.0.id()), ("ERROR", id), "{code}");
        assert!(
            got.0.payload().starts_with(format!("{code}: ").as_bytes()),
            "{code}: {:?}",
            got.0
        );
        assert_eq!(got.1, answer("PONG", 77, "ack"), "{code}");
        drop(conn);
        assert!(matches!(server.join().expect("server"), ConnEnd::Closed));
    }
}

/// §4: answers come in the order of the requests, also behind a slow
/// handler. The handler waits on a gate the test opens once it knows the
/// handler runs, with the next requests already sent: no sleep.
#[test]
fn answers_keep_request_order_behind_a_slow_handler() {
    let (started_tx, started_rx) = async_channel::bounded::<()>(1);
    let (gate_tx, gate_rx) = async_channel::bounded::<()>(1);
    let router = Router::new()
        .on("GATED", move |req: Request| {
            let (started, gate) = (started_tx.clone(), gate_rx.clone());
            async move {
                started.send(()).await.expect("test alive");
                gate.recv().await.expect("test alive");
                Ok(Reply::new(Kind::lit("DONE"), req.payload()))
            }
        })
        .expect("kind");
    let (end, server) = serve(router, FramedConfig::default());
    let mut conn = Framed::new(end, Framing::Binary, FramedConfig::default());
    let got = block_on(async {
        let requests: [(Kind<'_>, &[u8]); 4] = [
            (Kind::new("GATED").expect("kind"), b"1"),
            (Kind::ECHO, b"2"),
            (Kind::PING, b""),
            (Kind::new("NOPE").expect("kind"), b""),
        ];
        for (i, (kind, payload)) in requests.iter().enumerate() {
            conn.send(&Message::new(*kind, payload).with_id(i as u32 + 1))
                .await
                .expect("send");
        }
        conn.flush().await.expect("flush");
        started_rx.recv().await.expect("the handler runs");
        gate_tx.send(()).await.expect("open the gate");
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(recv(&mut conn).await);
        }
        got
    });
    assert_eq!(
        got,
        [
            answer("DONE", 1, "1"),
            answer("ECHO", 2, "2"),
            answer("PONG", 3, "ack"),
            answer("ERROR", 4, "unknown-kind: NOPE"),
        ]
    );
    drop(conn);
    assert!(matches!(server.join().expect("server"), ConnEnd::Closed));
}

/// The receive buffer the server uses holds `max_payload + 50` bytes: the
/// largest frame (32-byte kind, checksum) after a small one must complete.
/// Catches a decoder that does not move its bytes to the front in time
/// (the connection would wait forever for room).
#[test]
fn the_largest_frame_after_a_small_one_reaches_its_handler() {
    const MAX: u32 = 3000;
    let kind = "k".repeat(32);
    let router = Router::new()
        .on(&kind, |req: Request| async move {
            Ok(Reply::new(
                Kind::lit("GOT"),
                req.payload().len().to_string(),
            ))
        })
        .expect("kind");
    let config = FramedConfig {
        max_payload: MAX,
        ..FramedConfig::default()
    };
    let (end, server) = serve(router, config);
    let mut conn = Framed::new(end, Framing::Binary, config);
    let payload = vec![7u8; MAX as usize];
    let got = block_on(async {
        for round in 0..3u32 {
            conn.send(&Message::new(Kind::PING, b"").with_id(round * 2 + 1))
                .await
                .expect("send");
            let big = Message::new(Kind::new(&kind).expect("kind"), &payload)
                .with_id(round * 2 + 2)
                .with_flags(Flags::CHECKSUM);
            assert_eq!(msgwire::encoded_len(&big), Ok(MAX as usize + 50));
            conn.send(&big).await.expect("send");
        }
        conn.flush().await.expect("flush");
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(recv(&mut conn).await);
        }
        got
    });
    let want: Vec<Ev> = (0..3u32)
        .flat_map(|r| {
            [
                answer("PONG", r * 2 + 1, "ack"),
                answer("GOT", r * 2 + 2, "3000"),
            ]
        })
        .collect();
    assert_eq!(got, want);
    drop(conn);
    assert!(matches!(server.join().expect("server"), ConnEnd::Closed));
}

/// The server's limits as configured, in text mode (`max_line`, §3) and
/// binary mode (`max_payload`, §2.1 step 3), through a real `Server`:
/// a request at the limit passes, one byte over is refused, and the
/// connection goes on.
#[test]
fn a_server_applies_its_line_and_payload_limits() {
    let config = ServerConfig {
        framed: FramedConfig {
            max_payload: 100,
            max_line: 16,
            ..FramedConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = block_on(Server::bind_tcp("127.0.0.1:0", Router::new(), config))
        .expect("bind")
        .start(&Spawner::global())
        .expect("start");
    let addr = server.local_addr().expect("tcp");
    let connect = || {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(HANG)).expect("timeout");
        s
    };

    // Text: "ECHO:" and 11 bytes is 16, the limit; 12 is one over.
    let mut t = connect();
    let at_limit = format!("ECHO:{}\n", "a".repeat(11));
    let over = format!("ECHO:{}\n", "b".repeat(12));
    t.write_all(format!("{at_limit}{over}PING:\nEXIT:\n").as_bytes())
        .expect("write");
    let mut text = String::new();
    t.read_to_string(&mut text).expect("read until EXIT closes");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert_eq!(lines[0], at_limit.trim_end());
    assert!(lines[1].starts_with("ERROR:line-too-long: "), "{text:?}");
    assert_eq!(lines[2], "PONG:ack");

    // Binary: a payload of 100 bytes passes, 101 is too large.
    let mut b = connect();
    let mut batch = encode_frame("ECHO", 1, &[b'p'; 100]);
    batch.extend(encode_frame("ECHO", 2, &[b'q'; 101]));
    batch.extend(encode_frame("PING", 3, b""));
    b.write_all(&batch).expect("write");
    let got = common::read_frames(&mut b, 3);
    assert_eq!(got[0], Ev::answer("ECHO", 1, [b'p'; 100]));
    assert_eq!((got[1].kind(), got[1].id()), ("ERROR", 2));
    assert!(got[1].payload().starts_with(b"too-large: "), "{:?}", got[1]);
    assert_eq!(got[2], Ev::answer("PONG", 3, b"ack"));
    block_on(server.shutdown(Duration::from_secs(5)));
}

/// The owned types' accessors give back what was put in.
#[test]
fn owned_types_give_back_their_parts() {
    let m = Message::new(Kind::new("NOTE").expect("kind"), b"hi").with_id(3);
    let f = Frame::from_message(&m);
    assert_eq!(
        (f.kind.as_str(), f.id, f.payload.as_slice()),
        ("NOTE", 3, &b"hi"[..])
    );
    assert_eq!(f.text(), Some("hi"));
    let binary = Frame::from_message(&Message::new(Kind::ECHO, &[0xFF, 0xFE]));
    assert_eq!(binary.text(), None);
    // A request gives back its message's parts and its connection.
    let conn = msgwire::net::Conn::new("peer-1");
    let req = Request::new(f.clone(), conn.clone());
    assert_eq!(
        (req.kind().as_str(), req.id(), req.payload(), req.text()),
        ("NOTE", 3, &b"hi"[..], Some("hi"))
    );
    assert_eq!((req.conn().id(), req.conn().peer()), (conn.id(), "peer-1"));
    assert_eq!(req.clone().into_message(), f);
    assert_eq!(
        format!("{:?}", req.conn()),
        format!("Conn {{ id: {}, peer: \"peer-1\", .. }}", req.conn().id())
    );
    let req = Request::new(binary.clone(), conn.clone());
    assert_eq!((req.id(), req.text()), (0, None));
    // A frame's kind is valid by construction: an invalid one is refused
    // before a frame (or a request) can hold it.
    assert_eq!(
        msgwire::net::KindBuf::new("no spaces"),
        Err(msgwire::Error::InvalidKind)
    );
    let mut other = f.clone();
    other.kind = msgwire::net::KindBuf::new("OTHER").expect("kind");
    assert_eq!(Request::new(other, conn).kind(), "OTHER");
    let r = Reply::new(Kind::lit("TEMP"), "21.5");
    assert_eq!((r.kind().as_str(), r.payload()), ("TEMP", &b"21.5"[..]));
    let e = HandlerError::msg("sensor gone");
    assert_eq!(
        (e.message(), e.to_string().as_str()),
        ("sensor gone", "sensor gone")
    );
}

/// A transport whose writes fail; reads come from a memory pipe.
struct BrokenWrites(memory::MemStream);

impl futures_lite::AsyncRead for BrokenWrites {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl futures_lite::AsyncWrite for BrokenWrites {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        _buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// An answer that cannot be written ends the connection at once: the
/// requests behind it are not handled (their answers could not be sent).
#[test]
fn a_failed_write_ends_the_loop_before_the_next_request() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let notes = Arc::new(AtomicUsize::new(0));
    let seen = notes.clone();
    let router = Router::new()
        // Larger than the write buffer: written at once, so the write fails
        // while this answer is sent.
        .on("BIG", |_req: Request| async {
            Ok(Reply::new(Kind::lit("BIG"), vec![0u8; 100 * 1024]))
        })
        .expect("kind")
        .on("NOTE", move |_req: Request| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(Reply::new(Kind::lit("NOTE"), ""))
            }
        })
        .expect("kind");
    let (client_end, server_end) = memory::pipe(64);
    let mut input = encode_frame("BIG", 1, b"");
    input.extend(encode_frame("NOTE", 2, b""));
    let end = block_on(async {
        let mut peer = client_end;
        peer.write_all(&input).await.expect("write");
        let mut conn = Framed::new(
            BrokenWrites(server_end),
            Framing::Binary,
            FramedConfig::default(),
        );
        router.serve(&mut conn).await
    });
    assert!(matches!(end, ConnEnd::Io(_)), "{end:?}");
    assert_eq!(
        notes.load(Ordering::SeqCst),
        0,
        "a request after the failed write was handled"
    );
}

/// What the loop and the router say about themselves (for logs).
#[test]
fn conn_end_and_router_describe_themselves() {
    let cases = [
        (ConnEnd::Exit, "EXIT"),
        (ConnEnd::Closed, "closed by peer"),
        (ConnEnd::IdleTimeout, "idle timeout"),
        (ConnEnd::Stopped, "shutdown"),
        (
            ConnEnd::Io(std::io::ErrorKind::BrokenPipe.into()),
            "i/o error: broken pipe",
        ),
    ];
    for (end, want) in cases {
        assert_eq!(end.to_string(), want);
    }
    let router = Router::new()
        .on("b/two", replying("X"))
        .expect("kind")
        .on("a/one", replying("Y"))
        .expect("kind")
        .handler_timeout(Duration::from_secs(2));
    let text = format!("{router:?}");
    assert_eq!(
        text,
        "Router { kinds: [\"a/one\", \"b/two\"], fallback: false, handler_timeout: Some(2s), relay: false, app: None, schema: None }"
    );
}

/// A stop signal that comes while a peer floods the connection is seen at
/// the loop's next cooperative yield: the loop does not wait for the peer
/// to pause (it never does here) before it drains and stops.
#[test]
fn a_stop_during_a_flood_is_seen_without_the_peer_pausing() {
    use std::sync::atomic::Ordering;
    const FRAMES: u64 = 50_000;
    let (flood, read) = Flood::new(encode_frame("PING", 1, b""), FRAMES);
    let seen = read.clone();
    // Not ready at the loop's first wait; ready once 1,000 frames are in.
    let stop = futures_lite::future::poll_fn(move |_cx| {
        if seen.load(Ordering::SeqCst) >= 1_000 {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    });
    let end = block_on(async {
        let mut conn = Framed::new(flood, Framing::Binary, FramedConfig::default());
        Router::new().serve_until(&mut conn, stop).await
    });
    assert!(matches!(end, ConnEnd::Stopped), "{end:?}");
    let got = read.load(Ordering::SeqCst);
    assert!(
        got < FRAMES / 2,
        "the loop read {got} of {FRAMES} frames before it stopped"
    );
}

/// Revision 1.2 through the host router: `HELLO` is answered with the
/// server's `max`, `SUB`/`UNSUB` are the protocol's, and an event reaches
/// the handler of its kind with no answer (the next answer on the wire is
/// the `PING`'s).
#[test]
fn the_router_speaks_revision_1_2() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let notes = Arc::new(AtomicUsize::new(0));
    let seen = notes.clone();
    let router = Router::new()
        .on("NOTE", move |req: Request| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(Reply::new(req.kind(), "never sent"))
            }
        })
        .expect("kind");
    let config = FramedConfig {
        max_payload: 1000,
        ..FramedConfig::default()
    };
    let (end, server) = serve(router, config);
    let mut conn = Framed::new(end, Framing::Binary, FramedConfig::default());
    let got = block_on(async {
        for m in [
            Message::new(Kind::HELLO, b"rev=1.2").with_id(1),
            Message::new(Kind::SUB, b"tick").with_id(2),
            Message::new(Kind::lit("NOTE"), b"e").with_flags(Flags::EVENT),
            Message::new(Kind::lit("other"), b"e").with_flags(Flags::EVENT),
            Message::new(Kind::UNSUB, b"").with_id(3),
            Message::new(Kind::PING, b"").with_id(4),
        ] {
            conn.send(&m).await.expect("send");
        }
        conn.flush().await.expect("flush");
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(recv(&mut conn).await);
        }
        got
    });
    assert_eq!(
        got,
        [
            answer("HELLO", 1, "rev=1.2 max=1000"),
            answer("SUB", 2, "tick"),
            answer("UNSUB", 3, ""),
            answer("PONG", 4, "ack"),
        ]
    );
    assert_eq!(
        notes.load(Ordering::SeqCst),
        1,
        "the NOTE event ran its handler"
    );
    drop(conn);
    server.join().expect("server");
}

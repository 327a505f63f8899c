//! Events on a host (`docs/PROTOCOL.md` §6) through a real server on
//! 127.0.0.1: `Server::publish`, the relay, delivery once per conversation
//! however many filters match, `UNSUB` stopping them, text subscribers,
//! and a slow subscriber's exact `LAGGED` arithmetic while answers are
//! never dropped and other conversations are not slowed.

#![cfg(feature = "async")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::net::tcp_server;
use common::watchdog::watchdog;
use common::{encode_frame, frame, read_frames, Ev};
use futures_lite::future::block_on;
use msgwire::net::{
    Client, ClientConfig, ClientError, Delivery, EventLimits, Router, ServerConfig, Spawner,
};
use msgwire::{Decoder, Flags, Kind};

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

fn client(addr: std::net::SocketAddr) -> Client {
    block_on(Client::connect_tcp(addr, ClientConfig::default()))
        .expect("connect")
        .start(&Spawner::global())
        .expect("start")
}

fn event(kind: &str, payload: &[u8]) -> Vec<u8> {
    frame(kind, 0, Flags::EVENT, payload)
}

fn ev(kind: &str, payload: &[u8]) -> Ev {
    Ev::Frame {
        kind: kind.into(),
        id: 0,
        flags: Flags::EVENT.bits(),
        payload: payload.to_vec(),
    }
}

/// Whatever arrives within `wait`, decoded (none expected: a quiet check).
fn frames_within(s: &mut TcpStream, wait: Duration) -> Vec<Ev> {
    s.set_read_timeout(Some(wait)).expect("timeout");
    let mut dec = Decoder::<70_000>::new();
    let mut out = Vec::new();
    while let Ok(n) = s.read(dec.spare()) {
        if n == 0 {
            break;
        }
        dec.commit(n);
        while let Some(e) = dec.decode() {
            out.push(Ev::of(e));
        }
    }
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    out
}

#[test]
fn a_relaying_server_delivers_each_event_once_to_every_matching_conversation() {
    let _watchdog = watchdog();
    let server = tcp_server(Router::new().relay(true), ServerConfig::default());
    let addr = server.local_addr().expect("tcp");
    let mut a = connect(addr);
    let mut b = connect(addr);
    let mut idle = connect(addr);
    // Overlapping filters on A: each event once, not once per filter.
    a.write_all(&encode_frame("SUB", 1, b"sensor/*"))
        .expect("write");
    a.write_all(&encode_frame("SUB", 2, b"sensor/temp"))
        .expect("write");
    assert_eq!(
        read_frames(&mut a, 2),
        [
            Ev::answer("SUB", 1, "sensor/*"),
            Ev::answer("SUB", 2, "sensor/temp")
        ]
    );
    b.write_all(&encode_frame("SUB", 1, b"sensor/temp"))
        .expect("write");
    assert_eq!(
        read_frames(&mut b, 1),
        [Ev::answer("SUB", 1, "sensor/temp")]
    );
    idle.write_all(&encode_frame("PING", 1, b""))
        .expect("write");
    assert_eq!(read_frames(&mut idle, 1), [Ev::answer("PONG", 1, "ack")]);

    // B publishes: relayed to A and to B itself; never answered.
    b.write_all(&event("sensor/temp", b"21.5")).expect("write");
    b.write_all(&event("sensor/hum", b"40")).expect("write");
    b.write_all(&encode_frame("PING", 2, b"")).expect("write");
    assert_eq!(
        read_frames(&mut a, 2),
        [ev("sensor/temp", b"21.5"), ev("sensor/hum", b"40")]
    );
    assert_eq!(
        read_frames(&mut b, 2),
        [ev("sensor/temp", b"21.5"), Ev::answer("PONG", 2, "ack")]
    );
    // Published by the server itself, in order, to the matching ones only.
    let report = server.publish(Kind::new("sensor/temp").expect("kind"), b"22.0");
    assert_eq!((report.queued, report.dropped), (2, 0));
    assert_eq!(read_frames(&mut a, 1), [ev("sensor/temp", b"22.0")]);
    assert_eq!(read_frames(&mut b, 1), [ev("sensor/temp", b"22.0")]);
    assert_eq!(frames_within(&mut idle, Duration::from_millis(200)), []);

    // UNSUB of one filter leaves the other; of all, nothing follows the
    // answer.
    a.write_all(&encode_frame("UNSUB", 3, b"sensor/*"))
        .expect("write");
    assert_eq!(read_frames(&mut a, 1), [Ev::answer("UNSUB", 3, "sensor/*")]);
    server.publish(Kind::new("sensor/hum").expect("kind"), b"41");
    server.publish(Kind::new("sensor/temp").expect("kind"), b"23");
    assert_eq!(read_frames(&mut a, 1), [ev("sensor/temp", b"23")]);
    a.write_all(&encode_frame("UNSUB", 4, b"")).expect("write");
    assert_eq!(read_frames(&mut a, 1), [Ev::answer("UNSUB", 4, "")]);
    let report = server.publish(Kind::new("sensor/temp").expect("kind"), b"24");
    assert_eq!(report.queued, 1, "B only");
    assert_eq!(frames_within(&mut a, Duration::from_millis(200)), []);
    block_on(server.shutdown(Duration::from_secs(1)));
}

#[test]
fn without_the_relay_an_event_reaches_its_handler_only() {
    let _watchdog = watchdog();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let router = Router::new()
        .on("note", move |r: msgwire::net::Request| {
            let _ = tx.lock().expect("lock").send(r.payload().to_vec());
            async { Ok(msgwire::net::Reply::new(Kind::lit("IGNORED"), "")) }
        })
        .expect("kind");
    let server = tcp_server(router, ServerConfig::default());
    let addr = server.local_addr().expect("tcp");
    let mut a = connect(addr);
    a.write_all(&encode_frame("SUB", 1, b"*")).expect("write");
    assert_eq!(read_frames(&mut a, 1), [Ev::answer("SUB", 1, "*")]);
    a.write_all(&event("note", b"hi")).expect("write");
    a.write_all(&encode_frame("PING", 2, b"")).expect("write");
    // No answer to the event, no relay: the PONG comes next.
    assert_eq!(read_frames(&mut a, 1), [Ev::answer("PONG", 2, "ack")]);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).expect("handled"),
        b"hi"
    );
    block_on(server.shutdown(Duration::from_secs(1)));
}

#[test]
fn a_text_conversation_subscribes_and_gets_events_as_lines() {
    let _watchdog = watchdog();
    let server = tcp_server(Router::new(), ServerConfig::default());
    let addr = server.local_addr().expect("tcp");
    let mut s = connect(addr);
    s.write_all(b"SUB:sensor/*\n").expect("write");
    let mut lines = BufReader::new(s.try_clone().expect("clone"));
    let mut line = String::new();
    lines.read_line(&mut line).expect("read");
    assert_eq!(line, "SUB:sensor/*\n");
    server.publish(Kind::new("sensor/temp").expect("kind"), b"21.5");
    // A payload a line cannot carry is lost for this conversation and
    // counted: the next event is preceded by LAGGED:1.
    server.publish(Kind::new("sensor/temp").expect("kind"), b"two\nlines");
    server.publish(Kind::new("sensor/temp").expect("kind"), b"22");
    let mut got = Vec::new();
    for _ in 0..3 {
        line.clear();
        lines.read_line(&mut line).expect("read");
        got.push(line.clone());
    }
    assert_eq!(
        got,
        ["sensor/temp:21.5\n", "LAGGED:1\n", "sensor/temp:22\n"]
    );
    block_on(server.shutdown(Duration::from_secs(1)));
}

/// A subscriber that stops reading while another connection publishes
/// 20,000 events: the publisher is never slowed, a third connection's
/// requests are all answered, the subscriber's own pipelined requests are
/// all answered (answers are never dropped), and what it reads afterwards
/// is every event in order with a `LAGGED` exactly where events are
/// missing, each count equal to the gap in the counters.
#[test]
fn a_slow_subscriber_loses_events_counted_exactly_and_slows_no_one() {
    let _watchdog = watchdog();
    const PUBLISHED: u32 = 20_000;
    let limits = EventLimits {
        events: 64,
        bytes: 1 << 20,
    };
    let server = tcp_server(
        Router::new().relay(true).event_limits(limits),
        ServerConfig::default(),
    );
    let addr = server.local_addr().expect("tcp");
    let mut slow = connect(addr);
    slow.write_all(&encode_frame("SUB", 1, b"flood"))
        .expect("write");
    assert_eq!(read_frames(&mut slow, 1), [Ev::answer("SUB", 1, "flood")]);
    // Requests the slow subscriber sends and does not read the answers of.
    for id in 2..52 {
        slow.write_all(&encode_frame("PING", id, b""))
            .expect("write");
    }

    let publisher = client(addr);
    let other = client(addr);
    // 1 KiB each, 20 MB in all: more than the loopback socket's buffers
    // hold, so the subscriber that does not read falls behind (a burst no
    // longer overflows a queue whose conversation keeps writing: the
    // relay lets it run at half).
    let payload = |i: u32| format!("{i:08}-{}", "x".repeat(1015));
    block_on(async {
        for i in 0..PUBLISHED {
            publisher
                .publish("flood", payload(i).as_bytes())
                .await
                .expect("publish");
            if i % 1000 == 0 {
                // Another conversation is answered while the flood goes on.
                other.ping().await.expect("ping");
            }
        }
        // A round trip after the flood: the server has relayed it all.
        publisher.ping().await.expect("ping");
    });

    // Now the subscriber reads everything, on a thread, while more events
    // (counters from PUBLISHED on) are published until it has seen one of
    // them: a loss at the end of the flood is told with the next event
    // delivered, so there must be one.
    let done = std::sync::atomic::AtomicBool::new(false);
    let (pongs, events, lagged_sum, last) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut dec = Decoder::<70_000>::new();
            let (mut pongs, mut events, mut lagged_sum) = (0u32, 0u32, 0u32);
            let mut last: Option<u32> = None;
            let mut pending_lag: Option<u32> = None;
            while pongs < 50 || last.is_none_or(|l| l < PUBLISHED) {
                let n = slow.read(dec.spare()).expect("read");
                assert!(n > 0, "server closed");
                dec.commit(n);
                while let Some(m) = dec.decode() {
                    let m = m.expect("valid frame");
                    match m.kind.as_str() {
                        "PONG" => {
                            assert_eq!(m.id, pongs + 2, "answers in order");
                            pongs += 1;
                        }
                        "LAGGED" => {
                            assert!(m.flags.contains(Flags::EVENT));
                            assert!(pending_lag.is_none(), "two LAGGED in a row");
                            let n: u32 = std::str::from_utf8(m.payload)
                                .expect("utf-8")
                                .parse()
                                .expect("decimal");
                            assert!(n > 0);
                            pending_lag = Some(n);
                            lagged_sum += n;
                        }
                        "flood" => {
                            let i: u32 = std::str::from_utf8(&m.payload[..8])
                                .expect("utf-8")
                                .parse()
                                .expect("counter");
                            assert_eq!(m.payload, payload(i).as_bytes());
                            let expected = last.map_or(0, |l| l + 1);
                            let lost = pending_lag.take().unwrap_or(0);
                            assert_eq!(i, expected + lost, "a LAGGED counts exactly the gap");
                            last = Some(i);
                            events += 1;
                        }
                        other => panic!("unexpected {other}"),
                    }
                }
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            (pongs, events, lagged_sum, last.unwrap_or(0))
        });
        let mut i = PUBLISHED;
        while !done.load(std::sync::atomic::Ordering::SeqCst) && !reader.is_finished() {
            server.publish(Kind::new("flood").expect("kind"), payload(i).as_bytes());
            i += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        reader.join().expect("reader")
    });
    assert_eq!(
        events + lagged_sum,
        last + 1,
        "every event delivered or counted"
    );
    assert_eq!(pongs, 50, "every answer arrived");
    assert!(lagged_sum > 0, "the subscriber did fall behind");
    assert_eq!(publisher.dropped_unsolicited(), 0);
    block_on(server.shutdown(Duration::from_secs(1)));
}

#[test]
fn client_subscriptions_publish_and_the_schema_check() {
    let _watchdog = watchdog();
    let server = tcp_server(Router::new().relay(true), ServerConfig::default());
    let addr = server.local_addr().expect("tcp");
    let a = client(addr);
    let b = client(addr);
    block_on(async {
        let mut all = a.subscribe("*").await.expect("subscribe");
        let mut temps = a.subscribe("sensor/temp").await.expect("subscribe");
        b.publish("sensor/temp", b"21.5").await.expect("publish");
        b.publish("tick", b"1").await.expect("publish");
        let got = |d: Option<Delivery>| match d {
            Some(Delivery::Event(f)) => (f.kind.to_string(), f.payload.into_vec()),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            got(all.recv().await),
            ("sensor/temp".into(), b"21.5".to_vec())
        );
        assert_eq!(got(all.recv().await), ("tick".into(), b"1".to_vec()));
        assert_eq!(
            got(temps.recv().await),
            ("sensor/temp".into(), b"21.5".to_vec())
        );
        // Refusals are the peer's, typed.
        match a.subscribe("a*b").await {
            Err(ClientError::Remote(e)) => assert_eq!(e.code(), "bad-filter"),
            other => panic!("{other:?}"),
        }
        // Unsubscribing one keeps the other.
        temps.unsubscribe().await.expect("unsubscribe");
        b.publish("sensor/temp", b"22").await.expect("publish");
        assert_eq!(
            got(all.recv().await),
            ("sensor/temp".into(), b"22".to_vec())
        );
        assert_eq!(a.dropped_unsolicited(), 0);
    });
    // A client that expects a schema refuses a server naming none.
    let config = ClientConfig {
        schema: Some(0x0123_4567_89ab_cdef),
        ..ClientConfig::default()
    };
    let strict = block_on(Client::connect_tcp(addr, config))
        .expect("connect")
        .start(&Spawner::global())
        .expect("start");
    assert_eq!(
        block_on(strict.hello()),
        Err(ClientError::SchemaMismatch {
            ours: 0x0123_4567_89ab_cdef,
            theirs: None
        })
    );
    block_on(server.shutdown(Duration::from_secs(1)));
}

#[test]
fn a_client_expecting_a_schema_writes_nothing_to_a_server_with_another() {
    let _watchdog = watchdog();
    let ours = 0x0123_4567_89ab_cdef_u64;
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let tx = std::sync::Mutex::new(tx);
    let router = |schema: Option<u64>| {
        let tx = std::sync::Mutex::new(tx.lock().expect("lock").clone());
        Router::new()
            .hello_tokens(Some(Kind::lit("thermo")), schema)
            .on("SET", move |r: msgwire::net::Request| {
                let _ = tx.lock().expect("lock").send(r.payload().to_vec());
                async { Ok(msgwire::net::Reply::new(Kind::lit("SET"), "ok")) }
            })
            .expect("kind")
    };
    let strict = |addr| {
        let config = ClientConfig {
            schema: Some(ours),
            ..ClientConfig::default()
        };
        block_on(Client::connect_tcp(addr, config))
            .expect("connect")
            .start(&Spawner::global())
            .expect("start")
    };
    // The same schema: requests go through, and HELLO names both tokens.
    let same = tcp_server(router(Some(ours)), ServerConfig::default());
    let c = strict(same.local_addr().expect("tcp"));
    assert_eq!(
        block_on(c.request("SET", b"1")).expect("set").payload,
        b"ok"
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).expect("handled"),
        b"1"
    );
    match block_on(c.hello()).expect("hello") {
        msgwire::net::Handshake::Tokens(t) => {
            assert_eq!((t.app.as_deref(), t.schema), (Some("thermo"), Some(ours)));
        }
        other => panic!("{other:?}"),
    }
    // Another schema, or none: the request fails naming both, and the
    // server never saw it.
    for (theirs, server_schema) in [(Some(7), Some(7)), (None, None)] {
        let other = tcp_server(router(server_schema), ServerConfig::default());
        let c = strict(other.local_addr().expect("tcp"));
        assert_eq!(
            block_on(c.request("SET", b"2")),
            Err(ClientError::SchemaMismatch { ours, theirs })
        );
        assert!(c.is_closed());
        assert!(format!("{}", ClientError::SchemaMismatch { ours, theirs })
            .contains("0123456789abcdef"));
        block_on(other.shutdown(Duration::from_secs(1)));
    }
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "no SET reached a mismatched server"
    );
    block_on(same.shutdown(Duration::from_secs(1)));
}

/// The queue's limits, exactly, seen from `Published` while the
/// conversation's loop is not polled (nothing is drained): `events`
/// events wait, or `bytes` bytes of kinds and payloads, and an empty queue
/// takes any event. Then the loop writes them, each `LAGGED` where the
/// events are missing.
#[test]
fn a_conversations_queue_holds_exactly_its_limits() {
    use futures_lite::future::poll_once;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use msgwire::net::{memory, Framed, FramedConfig, Published};

    let router = Router::new().event_limits(EventLimits {
        events: 3,
        bytes: 40,
    });
    let publisher = router.publisher();
    let (mut client_end, server_end) = memory::pipe(64);
    let mut framed = Framed::sniffing(server_end, FramedConfig::default());
    let e = |k: &'static str| Kind::new(k).expect("kind");
    let counts = |p: Published| (p.queued, p.dropped);
    assert_eq!(format!("{publisher:?}"), "Publisher { subscribed: 0 }");
    block_on(async {
        let serve = router.serve(&mut framed);
        futures_lite::pin!(serve);
        let mut dec = Decoder::<4096>::new();
        // Polls the loop and reads until `n` frames came.
        macro_rules! pump {
            ($n:expr) => {{
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while got.len() < $n {
                    assert!(poll_once(serve.as_mut()).await.is_none(), "the loop ended");
                    if let Some(Ok(n)) = poll_once(client_end.read(&mut buf)).await {
                        dec.feed(&buf[..n]);
                        while let Some(m) = dec.decode() {
                            got.push(Ev::of(m));
                        }
                    }
                }
                got
            }};
        }
        // An UNSUB, and a SUB refused: still no filter, not subscribed.
        client_end
            .write_all(&encode_frame("UNSUB", 7, b""))
            .await
            .expect("write");
        client_end
            .write_all(&encode_frame("SUB", 8, b"a*b"))
            .await
            .expect("write");
        let refused = pump!(2);
        assert_eq!(refused[0], Ev::answer("UNSUB", 7, ""));
        assert_eq!(refused[1].kind(), "ERROR");
        assert_eq!(format!("{publisher:?}"), "Publisher { subscribed: 0 }");
        client_end
            .write_all(&encode_frame("SUB", 1, b"e*"))
            .await
            .expect("write");
        assert_eq!(pump!(1), [Ev::answer("SUB", 1, "e*")]);
        assert_eq!(format!("{publisher:?}"), "Publisher { subscribed: 1 }");

        // Three events of 10 bytes fit; a fourth does not (events).
        for k in ["e1", "e2", "e3"] {
            assert_eq!(counts(publisher.publish(e(k), b"12345678")), (1, 0), "{k}");
        }
        assert_eq!(counts(publisher.publish(e("e4"), b"12345678")), (0, 1));
        assert_eq!(
            counts(publisher.publish(e("x"), b"")),
            (0, 0),
            "not matching"
        );
        let p = b"12345678";
        assert_eq!(pump!(3), [ev("e1", p), ev("e2", p), ev("e3", p)]);

        // Two events of 18 bytes fit in 40; a third does not (bytes).
        let big = [b'x'; 16];
        assert_eq!(counts(publisher.publish(e("e5"), &big)), (1, 0));
        assert_eq!(counts(publisher.publish(e("e6"), &big)), (1, 0));
        assert_eq!(counts(publisher.publish(e("e7"), &big)), (0, 1));
        // e4 was lost before e5 was queued: its LAGGED stands before e5.
        assert_eq!(
            pump!(3),
            [ev("LAGGED", b"1"), ev("e5", &big), ev("e6", &big)]
        );

        // An empty queue takes an event larger than `bytes`; e7's loss is
        // told before it.
        let huge = [b'y'; 100];
        assert_eq!(counts(publisher.publish(e("e8"), &huge)), (1, 0));
        assert_eq!(pump!(2), [ev("LAGGED", b"1"), ev("e8", &huge)]);
    });
    // The conversation is over: the hub no longer counts it.
    drop(framed);
    assert_eq!(format!("{publisher:?}"), "Publisher { subscribed: 0 }");
}

#[test]
fn a_subscription_ends_when_its_client_closes_after_what_waits() {
    let server = tcp_server(Router::new(), ServerConfig::default());
    let c = client(server.local_addr().expect("tcp"));
    let mut sub = block_on(c.subscribe("tick")).expect("subscribe");
    server.publish(Kind::lit("tick"), b"1");
    block_on(async {
        // The event waits, then the client closes: it is still delivered,
        // then the end.
        let first = sub.recv().await;
        assert!(
            matches!(&first, Some(Delivery::Event(f)) if f.payload == b"1"),
            "{first:?}"
        );
        server.publish(Kind::lit("tick"), b"2");
        futures_lite::future::yield_now().await;
    });
    c.close();
    let rest = block_on(async {
        let mut rest = Vec::new();
        while let Some(d) = futures_lite::future::or(sub.recv(), async {
            async_io::Timer::after(Duration::from_secs(5)).await;
            panic!("the subscription did not end");
        })
        .await
        {
            rest.push(d);
        }
        rest
    });
    assert!(rest.len() <= 1, "{rest:?}");
    assert_eq!(sub.try_recv(), None);
    block_on(server.shutdown(Duration::from_secs(1)));
}

/// A scripted peer on a thread answers `kind` requests with `answer` (an
/// answer kind and payload, `ERROR` included); every other request gets
/// its kind and payload back; events are collected. For the client's
/// rules against peers `msgwire serve` is not (older ones).
fn scripted_peer(
    answers: Vec<(&'static str, &'static str, &'static [u8])>,
) -> (Client, std::thread::JoinHandle<Vec<String>>) {
    use msgwire::net::{memory, Framed, FramedConfig};
    let (client_end, server_end) = memory::pipe(64);
    let peer = std::thread::spawn(move || {
        block_on(async {
            let mut conn = Framed::sniffing(server_end, FramedConfig::default());
            let mut seen = Vec::new();
            while let Ok(m) = conn.recv().await {
                let (kind, id, flags) = (m.kind.as_str().to_owned(), m.id, m.flags);
                let payload = m.payload.to_vec();
                seen.push(format!("{kind} {}", String::from_utf8_lossy(&payload)));
                if flags.contains(Flags::EVENT) {
                    continue;
                }
                let (k, p) = match answers.iter().find(|(k, _, _)| *k == kind) {
                    Some((_, k, p)) => (Kind::new(k).expect("kind"), p.to_vec()),
                    None => (Kind::new(&kind).expect("kind"), payload),
                };
                let answer = msgwire::Message::new(k, &p)
                    .with_id(id)
                    .with_flags(Flags::RESPONSE);
                if conn.send(&answer).await.is_err() || conn.flush().await.is_err() {
                    break;
                }
            }
            seen
        })
    });
    let client = Client::new(client_end, ClientConfig::default())
        .start(&Spawner::global())
        .expect("start");
    (client, peer)
}

#[test]
fn publish_and_subscribe_know_a_peer_before_revision_1_2() {
    // A 1.1 peer: HELLO and SUB are unknown kinds.
    let unknown = |k| (k, "ERROR", &b"unknown-kind: that"[..]);
    let (c, peer) = scripted_peer(vec![unknown("HELLO"), unknown("SUB")]);
    assert_eq!(
        block_on(c.publish("tick", b"1")),
        Err(ClientError::NoEvents)
    );
    assert_eq!(
        block_on(c.subscribe("tick")).map(|_| ()),
        Err(ClientError::NoEvents)
    );
    c.close();
    // No event frame was ever sent to it: a 1.1 peer refuses the flag.
    assert_eq!(peer.join().expect("peer"), ["HELLO rev=1.2", "SUB tick"]);

    // A peer that answers HELLO with rev=1.1 takes no events either.
    let (c, peer) = scripted_peer(vec![("HELLO", "HELLO", b"rev=1.1 max=100")]);
    assert_eq!(
        block_on(c.publish("tick", b"1")),
        Err(ClientError::NoEvents)
    );
    c.close();
    assert_eq!(peer.join().expect("peer"), ["HELLO rev=1.2"]);

    // A 1.2 peer: one HELLO, then events go straight out; after a SUB
    // answered, no HELLO at all.
    let (c, peer) = scripted_peer(vec![("HELLO", "HELLO", b"rev=1.2 max=100")]);
    block_on(c.publish("tick", b"1")).expect("publish");
    block_on(c.publish("tick", b"2")).expect("publish");
    block_on(c.request("PING", b"")).expect("ping");
    c.close();
    assert_eq!(
        peer.join().expect("peer"),
        ["HELLO rev=1.2", "tick 1", "tick 2", "PING "]
    );
    let (c, peer) = scripted_peer(vec![]);
    let _sub = block_on(c.subscribe("tick")).expect("subscribe");
    block_on(c.publish("tick", b"3")).expect("publish");
    block_on(c.request("PING", b"")).expect("ping");
    c.close();
    assert_eq!(peer.join().expect("peer"), ["SUB tick", "tick 3", "PING "]);
}

#[test]
fn subscriptions_end_where_they_should() {
    let server = tcp_server(Router::new().relay(true), ServerConfig::default());
    let addr = server.local_addr().expect("tcp");
    let a = client(addr);
    let tick = Kind::lit("tick");
    block_on(async {
        let mut sub = a.subscribe("tick").await.expect("subscribe");
        assert_eq!(format!("{sub:?}"), "Subscription { filter: \"tick\", .. }");
        // try_recv takes an event that waits.
        server.publish(tick, b"1");
        a.ping().await.expect("ping");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let got = loop {
            if let Some(d) = sub.try_recv() {
                break d;
            }
            assert!(std::time::Instant::now() < deadline, "the event never came");
            futures_lite::future::yield_now().await;
        };
        assert!(
            matches!(got, Delivery::Event(ref f) if f.payload == b"1"),
            "{got:?}"
        );
        // Dropped: the server still sends (the filter is held), and the
        // client counts what no subscription takes.
        drop(sub);
        assert_eq!(server.publish(tick, b"2").queued, 1);
        a.ping().await.expect("ping");
        assert_eq!(a.dropped_unsolicited(), 1);
        // Unsubscribed: the server removes the filter.
        let sub = a.subscribe("tick").await.expect("subscribe");
        sub.unsubscribe().await.expect("unsubscribe");
        assert_eq!(server.publish(tick, b"3").queued, 0);
        // Two subscriptions of one filter: unsubscribing one keeps the
        // server's filter for the other.
        let one = a.subscribe("tick").await.expect("subscribe");
        let mut two = a.subscribe("tick").await.expect("subscribe");
        one.unsubscribe().await.expect("unsubscribe");
        assert_eq!(server.publish(tick, b"4").queued, 1);
        assert!(matches!(two.recv().await, Some(Delivery::Event(f)) if f.payload == b"4"));
        // The peer's other refusals stay the peer's: too many filters.
        let mut held = Vec::new();
        let refused = loop {
            match a.subscribe(&format!("f{}", held.len())).await {
                Ok(s) => held.push(s),
                Err(e) => break e,
            }
        };
        match refused {
            ClientError::Remote(e) => assert_eq!(e.code(), "too-many-subscriptions"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            held.len(),
            31,
            "32 filters a conversation, `tick` among them"
        );
    });
    block_on(server.shutdown(Duration::from_secs(1)));
}

#[test]
fn a_subscriber_is_not_idle_while_it_holds_a_filter() {
    let config = ServerConfig {
        idle_timeout: Some(Duration::from_millis(200)),
        ..ServerConfig::default()
    };
    let server = tcp_server(Router::new(), config);
    let mut s = connect(server.local_addr().expect("tcp"));
    s.write_all(&encode_frame("SUB", 1, b"tick"))
        .expect("write");
    assert_eq!(read_frames(&mut s, 1), [Ev::answer("SUB", 1, "tick")]);
    // Three idle timeouts later, it still gets events.
    std::thread::sleep(Duration::from_millis(600));
    server.publish(Kind::lit("tick"), b"1");
    assert_eq!(read_frames(&mut s, 1), [ev("tick", b"1")]);
    // With no filter left it is idle like any other connection.
    s.write_all(&encode_frame("UNSUB", 2, b"")).expect("write");
    assert_eq!(read_frames(&mut s, 1), [Ev::answer("UNSUB", 2, "")]);
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).expect("closed by the server"), 0);
    block_on(server.shutdown(Duration::from_secs(1)));
}

#[test]
fn lagged_is_the_protocols_own_kind_and_is_never_published() {
    let server = tcp_server(Router::new().relay(true), ServerConfig::default());
    let addr = server.local_addr().expect("tcp");
    let mut a = connect(addr);
    a.write_all(&encode_frame("SUB", 1, b"*")).expect("write");
    assert_eq!(read_frames(&mut a, 1), [Ev::answer("SUB", 1, "*")]);
    let report = server.publish(Kind::LAGGED, b"99");
    assert_eq!(
        (report.queued, report.dropped, report.refused),
        (0, 0, true)
    );
    // A peer's LAGGED is not relayed: a subscriber would take it for its
    // own count of lost events.
    a.write_all(&event("LAGGED", b"5")).expect("write");
    a.write_all(&event("tick", b"1")).expect("write");
    assert_eq!(read_frames(&mut a, 1), [ev("tick", b"1")]);
    let report = server.publish(Kind::lit("tick"), b"2");
    assert_eq!((report.queued, report.refused), (1, false));
    block_on(server.shutdown(Duration::from_secs(1)));
}

/// The client's side of §6 against a peer the test scripts: what a peer
/// before 1.2 and a peer's refusals make of `subscribe` and `publish`,
/// `try_recv`, and a subscription's end (dropped: its events are no
/// longer its own; `unsubscribe`: an `UNSUB` goes out).
#[test]
fn client_subscriptions_and_publish_against_a_scripted_peer() {
    use common::net::{fixture, Peer};
    use common::wait_until;
    use msgwire::Message;

    let _watchdog = watchdog();
    let answer = |peer: &mut Peer, id: u32, kind: Kind<'_>, payload: &[u8]| {
        peer.send(
            &Message::new(kind, payload)
                .with_id(id)
                .with_flags(Flags::RESPONSE),
        );
    };
    let (client, mut peer) = fixture().scripted();
    let subscribe = |filter: &'static str| {
        let c = client.clone();
        std::thread::spawn(move || block_on(c.subscribe(filter)))
    };
    // A peer before 1.2 refuses `SUB` as an unknown kind: no events.
    let sub = subscribe("a/*");
    let m = peer.recv();
    assert_eq!((m.kind.as_str(), &m.payload[..]), ("SUB", &b"a/*"[..]));
    answer(&mut peer, m.id, Kind::ERROR, b"unknown-kind: SUB");
    assert!(matches!(
        sub.join().expect("thread"),
        Err(ClientError::NoEvents)
    ));
    // Any other refusal is the peer's, as it said it.
    let sub = subscribe("a/*");
    let m = peer.recv();
    answer(&mut peer, m.id, Kind::ERROR, b"too-many-subscriptions: 4");
    match sub.join().expect("thread") {
        Err(ClientError::Remote(e)) => assert_eq!(e.code(), "too-many-subscriptions"),
        other => panic!("{other:?}"),
    }
    // Accepted.
    let sub = subscribe("a/*");
    let m = peer.recv();
    answer(&mut peer, m.id, Kind::SUB, b"a/*");
    let mut a = sub.join().expect("thread").expect("subscribed");
    assert!(format!("{a:?}").contains("a/*"), "{a:?}");
    assert_eq!(a.filter(), "a/*");
    assert!(a.try_recv().is_none(), "nothing yet");
    let sub = subscribe("b/*");
    let m = peer.recv();
    answer(&mut peer, m.id, Kind::SUB, b"b/*");
    let b = sub.join().expect("thread").expect("subscribed");
    let publish = |peer: &mut Peer, kind: &str, payload: &[u8]| {
        peer.send(&msgwire::conversation::event(
            Kind::new(kind).expect("kind"),
            payload,
        ));
    };
    publish(&mut peer, "a/x", b"1");
    let mut got = None;
    wait_until(Duration::from_secs(5), "a/x delivered", || {
        got = a.try_recv();
        got.is_some()
    });
    match got {
        Some(Delivery::Event(f)) => {
            assert_eq!((f.kind.as_str(), &f.payload[..]), ("a/x", &b"1"[..]))
        }
        other => panic!("{other:?}"),
    }
    // Dropped, `b/*` is no longer the client's: its event is counted
    // unsolicited, and goes to no other subscription.
    drop(b);
    publish(&mut peer, "b/y", b"2");
    wait_until(Duration::from_secs(5), "b/y counted", || {
        client.dropped_unsolicited() == 1
    });
    assert!(a.try_recv().is_none());
    // `unsubscribe` sends `UNSUB` with the filter and waits for its answer.
    let done = std::thread::spawn(move || block_on(a.unsubscribe()));
    let m = peer.recv();
    assert_eq!((m.kind.as_str(), &m.payload[..]), ("UNSUB", &b"a/*"[..]));
    answer(&mut peer, m.id, Kind::UNSUB, b"a/*");
    done.join().expect("thread").expect("unsubscribed");

    // `publish` asks a peer not yet known to take events (`HELLO`, once)
    // and sends nothing to one before 1.2 (an `ERROR unknown-kind`, or an
    // older `rev`); to a 1.2 peer the event goes out with the flag.
    for (hello, takes) in [
        (Message::new(Kind::ERROR, b"unknown-kind: HELLO"), false),
        (Message::new(Kind::HELLO, b"rev=1.1"), false),
        (Message::new(Kind::HELLO, b"rev=1.2 max=65536"), true),
    ] {
        let (client, mut peer) = fixture().scripted();
        let c = client.clone();
        let sent = std::thread::spawn(move || block_on(c.publish("a/x", b"3")));
        let m = peer.recv();
        assert_eq!(m.kind, "HELLO");
        peer.send(&hello.with_id(m.id).with_flags(Flags::RESPONSE));
        let sent = sent.join().expect("thread");
        if takes {
            sent.expect("published");
            let e = peer.recv();
            assert_eq!(
                (e.kind.as_str(), e.id, e.flags, &e.payload[..]),
                ("a/x", 0, Flags::EVENT, &b"3"[..])
            );
            // Known now: the next event is not preceded by a `HELLO`.
            block_on(client.publish("a/y", b"4")).expect("published");
            assert_eq!(peer.recv().kind, "a/y");
        } else {
            assert!(matches!(sent, Err(ClientError::NoEvents)), "{sent:?}");
            assert!(
                peer.try_recv(Duration::from_millis(100)).is_none(),
                "nothing sent"
            );
        }
    }
}

/// What the client makes of what a peer sends unasked, told apart: a
/// notice with no id (an `ERROR`, another kind) is counted unsolicited and
/// closes nothing; the answer to a `SUB` sent again after a reconnect (a
/// response of kind `SUB`, id 0) is expected and not counted; a `LAGGED`
/// is told once, with its count, before the next event; and a
/// subscription's queue holds what its byte limit allows (the kind and the
/// payload of each event count).
#[test]
fn unsolicited_messages_resubscribe_answers_and_lagged_are_told_apart() {
    use common::net::{fixture, Peer};
    use common::wait_until;
    use msgwire::Message;

    let _watchdog = watchdog();
    // Room for 20 bytes: two events of 3 + 5.
    let limits = EventLimits {
        events: 10,
        bytes: 20,
    };
    let (client, mut peer) = fixture().subscription(limits).scripted();
    let c = client.clone();
    let sub = std::thread::spawn(move || block_on(c.subscribe("a/*")));
    let m = peer.recv();
    peer.send(
        &Message::new(Kind::SUB, b"a/*")
            .with_id(m.id)
            .with_flags(Flags::RESPONSE),
    );
    let mut a = sub.join().expect("thread").expect("subscribed");
    let send = |peer: &mut Peer, kind: &str, id: u32, flags: Flags, payload: &[u8]| {
        peer.send(
            &Message::new(Kind::new(kind).expect("kind"), payload)
                .with_id(id)
                .with_flags(flags),
        );
    };
    // Unasked, with no id: counted, and the client stays open.
    send(&mut peer, "ERROR", 0, Flags::EMPTY, b"overloaded: busy");
    send(&mut peer, "NOTE", 0, Flags::EMPTY, b"hi");
    send(&mut peer, "SUB", 0, Flags::EMPTY, b"a/*");
    send(&mut peer, "PONG", 0, Flags::RESPONSE, b"ack");
    send(&mut peer, "PONG", 0, Flags::RESPONSE, b"ack");
    // Expected: a resubscription's answer.
    send(&mut peer, "SUB", 0, Flags::RESPONSE, b"a/*");
    // Three events of 8 bytes: the third does not fit.
    for p in [b"11111", b"22222", b"33333"] {
        send(&mut peer, "a/x", 0, Flags::EVENT, p);
    }
    // A last notice: once it is counted, the events before it are queued
    // (or dropped).
    send(&mut peer, "NOTE", 0, Flags::EMPTY, b"after");
    wait_until(Duration::from_secs(5), "the notices counted", || {
        client.dropped_unsolicited() == 6
    });
    let mut next = || {
        let mut got = None;
        wait_until(Duration::from_secs(5), "a delivery", || {
            got = a.try_recv();
            got.is_some()
        });
        match got.expect("some") {
            Delivery::Event(f) => format!("{}:{}", f.kind, f.text().expect("text")),
            Delivery::Lagged(n) => format!("lagged {n}"),
            other => format!("{other:?}"),
        }
    };
    assert_eq!(next(), "a/x:11111");
    assert_eq!(next(), "a/x:22222");
    // The peer's own `LAGGED 5`, then an event: told once each, in order
    // (the event the queue dropped is told with the next one queued).
    send(&mut peer, "LAGGED", 0, Flags::EVENT, b"5");
    send(&mut peer, "a/x", 0, Flags::EVENT, b"44444");
    assert_eq!(next(), "lagged 1");
    assert_eq!(next(), "lagged 5");
    assert_eq!(next(), "a/x:44444");
    assert!(a.try_recv().is_none());
    assert!(!client.is_closed());
    assert_eq!(client.dropped_unsolicited(), 6);
    let c = client.clone();
    let r = std::thread::spawn(move || block_on(c.request("PING", b"")));
    let m = peer.recv();
    send(&mut peer, "PONG", m.id, Flags::RESPONSE, b"ack");
    assert!(r.join().expect("thread").is_ok());
}

/// Two subscriptions of one filter: the peer keeps it until the last one
/// ends (only then an `UNSUB`).
#[test]
fn the_last_of_two_subscriptions_of_a_filter_unsubscribes() {
    use common::net::fixture;
    use msgwire::Message;

    let _watchdog = watchdog();
    let (client, mut peer) = fixture().scripted();
    let mut subs = Vec::new();
    for _ in 0..2 {
        let c = client.clone();
        let sub = std::thread::spawn(move || block_on(c.subscribe("a/*")));
        let m = peer.recv();
        peer.send(
            &Message::new(Kind::SUB, b"a/*")
                .with_id(m.id)
                .with_flags(Flags::RESPONSE),
        );
        subs.push(sub.join().expect("thread").expect("subscribed"));
    }
    let second = subs.pop().expect("two");
    let first = subs.pop().expect("two");
    block_on(first.unsubscribe()).expect("kept: nothing sent");
    assert!(
        peer.try_recv(Duration::from_millis(100)).is_none(),
        "UNSUB sent while another subscription holds the filter"
    );
    let done = std::thread::spawn(move || block_on(second.unsubscribe()));
    let m = peer.recv();
    assert_eq!((m.kind.as_str(), &m.payload[..]), ("UNSUB", &b"a/*"[..]));
    peer.send(
        &Message::new(Kind::UNSUB, b"a/*")
            .with_id(m.id)
            .with_flags(Flags::RESPONSE),
    );
    done.join().expect("thread").expect("unsubscribed");
}

/// A publisher's burst arrives in one read of thousands of small events.
/// The connection loop and the subscriber share one thread: the loop lets
/// the subscriber run each time its queue is half full, so with the
/// default queue (256 events) none of them is lost. A subscription whose
/// reader waited once and then stopped reading costs a bounded number of
/// pauses (it keeps its queue's worth), and the answer behind the burst
/// still comes.
#[test]
fn a_burst_in_one_read_reaches_a_subscriber_on_the_loops_thread() {
    use common::net::{fixture, Peer};
    use msgwire::Message;

    const N: usize = 3_000;
    let _watchdog = watchdog();
    let (client, end) = fixture().by_hand().silent();
    let peer = std::thread::spawn(move || {
        let mut peer = Peer::new(end);
        for _ in 0..2 {
            let m = peer.recv();
            assert_eq!(m.kind.as_str(), "SUB");
            peer.send(
                &Message::new(Kind::SUB, &m.payload)
                    .with_id(m.id)
                    .with_flags(Flags::RESPONSE),
            );
        }
        // The burst once both subscriptions are set, then the answer.
        let go = peer.recv();
        assert_eq!(go.kind.as_str(), "GO");
        let burst: Vec<u8> = (0..N)
            .flat_map(|i| event("t", i.to_string().as_bytes()))
            .collect();
        assert!(burst.len() < 64 * 1024, "one read: {}", burst.len());
        peer.write_raw(&burst);
        peer.answer(go.id, b"after");
        peer
    });
    let ex = smol::LocalExecutor::new();
    let run = ex.spawn(client.run());
    let (mut idle, got, answer) = block_on(ex.run(async {
        let mut idle = client.subscribe("*").await.expect("subscribed");
        let mut sub = client.subscribe("t").await.expect("subscribed");
        // Waits once (nothing yet), then never reads again.
        assert!(futures_lite::future::poll_once(idle.recv()).await.is_none());
        let c = client.clone();
        let go = ex.spawn(async move { c.request("GO", b"").await.map(|f| f.payload.to_vec()) });
        let mut got = Vec::new();
        while got.len() < N {
            let next = sub.recv().await;
            let Some(next) = next else {
                panic!("closed after {} events", got.len())
            };
            match next {
                Delivery::Event(f) => {
                    got.push(String::from_utf8(f.payload.to_vec()).expect("utf8"))
                }
                other => panic!("{other:?} after {} events", got.len()),
            }
        }
        (idle, got, go.await)
    }));
    assert_eq!(answer.expect("answered"), b"after");
    let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(got, want);
    // The stopped subscription: the default queue's 256 events; the count
    // of the rest comes before its next event.
    for i in 0..256 {
        match idle.try_recv() {
            Some(Delivery::Event(f)) => assert_eq!(f.payload.to_vec(), i.to_string().into_bytes()),
            other => panic!("event {i}: {other:?}"),
        }
    }
    assert_eq!(idle.try_recv(), None);
    drop(peer.join().expect("peer"));
    client.close();
    block_on(ex.run(run)).expect("ran");
}

/// Events are encoded once and written as they are: a subscriber gets the
/// very bytes of each event's frame, in order, an event longer than the
/// connection's write buffer (64 KiB) among them (written after what was
/// buffered, straight from the shared frame).
#[test]
fn events_larger_than_the_write_buffer_arrive_whole_and_in_order() {
    let _watchdog = watchdog();
    let server = tcp_server(Router::new().relay(true), ServerConfig::default());
    let addr = server.local_addr().expect("tcp");
    let mut s = connect(addr);
    s.write_all(&encode_frame("SUB", 1, b"big/*"))
        .expect("write");
    assert_eq!(read_frames(&mut s, 1), [Ev::answer("SUB", 1, "big/*")]);
    let large: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let sent = [
        ("big/a", &b"first"[..]),
        ("big/b", &large[..]),
        ("big/c", &b"last"[..]),
    ];
    let mut want = Vec::new();
    for (kind, payload) in sent {
        let report = server.publish(Kind::new(kind).expect("kind"), payload);
        assert_eq!(report.queued, 1);
        want.extend(event(kind, payload));
    }
    let mut got = vec![0; want.len()];
    s.read_exact(&mut got).expect("read");
    assert!(got == want, "the frames differ from their encoding");
    assert_eq!(frames_within(&mut s, Duration::from_millis(100)), []);
    block_on(server.shutdown(Duration::from_secs(1)));
}

/// A relaying conversation that reads a burst of events in one read lets
/// the subscribers' conversations run whenever one's queue is half full,
/// so a queue smaller than a read's worth of events (16 here) loses none
/// of a burst its subscriber keeps up with. Both conversations are served
/// on one thread.
#[test]
fn a_relayed_burst_fits_a_small_queue_its_subscriber_empties() {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use msgwire::net::{memory, Framed, FramedConfig};

    const N: usize = 2_000;
    let _watchdog = watchdog();
    let router = Router::new().relay(true).event_limits(EventLimits {
        events: 16,
        bytes: 1 << 20,
    });
    let (mut publisher, pub_end) = memory::pipe(8);
    let (mut subscriber, sub_end) = memory::pipe(8);
    let served = std::thread::spawn(move || {
        let ex = smol::LocalExecutor::new();
        let serve = |end| {
            let router = router.clone();
            ex.spawn(async move {
                let mut conn = Framed::sniffing(end, FramedConfig::default());
                router.serve(&mut conn).await
            })
        };
        let (a, b) = (serve(pub_end), serve(sub_end));
        block_on(ex.run(async { (a.await, b.await) }))
    });
    block_on(async {
        subscriber
            .write_all(&encode_frame("SUB", 1, b"t"))
            .await
            .expect("write");
        subscriber.flush().await.expect("flush");
        let mut dec = Decoder::<70_000>::new();
        let mut got: Vec<Ev> = Vec::new();
        let mut read_until = |sub: &mut memory::MemStream, n: usize, got: &mut Vec<Ev>| {
            while got.len() < n {
                let k = block_on(sub.read(dec.spare())).expect("read");
                assert!(k > 0, "closed after {} frames", got.len());
                dec.commit(k);
                while let Some(e) = dec.decode() {
                    let e = Ev::of(e);
                    if let Ev::Frame { kind, payload, .. } = &e {
                        assert_ne!(
                            kind,
                            "LAGGED",
                            "{} lost after {} events",
                            String::from_utf8_lossy(payload),
                            got.len()
                        );
                    }
                    got.push(e);
                }
            }
        };
        read_until(&mut subscriber, 1, &mut got);
        assert_eq!(got, [Ev::answer("SUB", 1, "t")]);
        got.clear();
        let burst: Vec<u8> = (0..N)
            .flat_map(|i| event("t", i.to_string().as_bytes()))
            .collect();
        assert!(burst.len() < 64 * 1024, "one read: {}", burst.len());
        publisher.write_all(&burst).await.expect("write");
        publisher.flush().await.expect("flush");
        read_until(&mut subscriber, N, &mut got);
        let want: Vec<Ev> = (0..N).map(|i| ev("t", i.to_string().as_bytes())).collect();
        assert!(
            got == want,
            "lost or out of order: {:?}",
            got.iter().find(|e| !want.contains(e))
        );
        publisher.close().await.expect("close");
        subscriber.close().await.expect("close");
    });
    drop(served.join().expect("server thread"));
}

//! Events on the device (`docs/PROTOCOL.md` §6): `embedded::Events`
//! published while `serve_with_events` runs over an in-memory pipe, the
//! peer's `SUB`/`UNSUB`, `LAGGED` for a slow reader, text mode, and the
//! device `Client`'s subscriptions.
#![cfg(feature = "embedded-io-async")]

use std::cell::Cell;
use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::task::Poll;

use embedded_io_async::{Read, Write};
use msgwire::conversation::{Filter, Framing, Lagged};
use msgwire::embedded::{
    serve, serve_with_events, Builtins, Client, Ended, Events, Handler, IoError, Outcome,
    PublishError, Published, ServeConfig,
};
use msgwire::{Flags, Kind, Message};

#[path = "common/embedded_pipe.rs"]
mod embedded_pipe;
use embedded_pipe::{allocations, pipe, End};

fn run<T>(f: impl Future<Output = T>) -> T {
    futures_lite::future::block_on(f)
}

/// Lets the other futures of a `zip` run once.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// Yields until `f` holds (the other futures of a `zip` make it so).
async fn until(mut f: impl FnMut() -> bool) {
    while !f() {
        yield_now().await;
    }
}

const TICK: Kind<'static> = Kind::lit("tick");

/// A message as the peer read it: kind, id, flags, payload.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Got {
    kind: String,
    id: u32,
    flags: Flags,
    payload: Vec<u8>,
}

impl Got {
    fn is_event(&self) -> bool {
        self.flags.contains(Flags::EVENT)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// The peer of `serve_with_events`: writes binary frames, reads them back
/// one at a time.
struct Peer {
    io: End,
    dec: Box<msgwire::Decoder<512>>,
}

impl Peer {
    fn new(io: End) -> Self {
        Peer {
            io,
            dec: Box::new(msgwire::Decoder::new()),
        }
    }

    async fn send(&mut self, kind: &str, id: u32, payload: &[u8]) {
        let m = Message::new(Kind::new(kind).expect("kind"), payload).with_id(id);
        let mut out = vec![0u8; msgwire::encoded_len(&m).expect("len")];
        msgwire::encode(&m, &mut out).expect("encode");
        self.io.write_all(&out).await.expect("write");
    }

    /// The next message, or `None` when the server closed its end.
    async fn next(&mut self) -> Option<Got> {
        loop {
            if let Some(ev) = self.dec.decode() {
                let m = ev.expect("the server writes valid frames");
                return Some(Got {
                    kind: m.kind.as_str().to_owned(),
                    id: m.id,
                    flags: m.flags,
                    payload: m.payload.to_vec(),
                });
            }
            let n = self.io.read(self.dec.spare()).await.expect("read");
            if n == 0 {
                return None;
            }
            self.dec.commit(n);
        }
    }

    /// Sends a request and reads up to its answer: the events before it,
    /// then the answer.
    async fn ask(&mut self, kind: &str, id: u32, payload: &[u8]) -> (Vec<Got>, Got) {
        self.send(kind, id, payload).await;
        let mut events = Vec::new();
        loop {
            let m = self.next().await.expect("an answer");
            if m.is_event() {
                events.push(m);
            } else {
                assert_eq!(m.id, id, "{m:?}");
                return (events, m);
            }
        }
    }
}

/// Runs `serve_with_events` (`Builtins`, 306-byte buffer) on `events`
/// beside `peer`, then closes the peer's end; returns how the server
/// ended and what `peer` returned.
fn with_server<const N: usize, const P: usize, R>(
    events: &Events<N, P>,
    peer: impl AsyncFnOnce(&mut Peer) -> R,
) -> (Result<Ended, IoError<Infallible>>, R) {
    let (peer_end, mut server_end) = pipe();
    let server = async {
        let mut buf = [0u8; 306];
        let ended = serve_with_events(
            &mut server_end,
            &mut buf,
            &mut Builtins,
            ServeConfig::default(),
            events,
        )
        .await;
        server_end.close();
        ended
    };
    let peer = async {
        let mut p = Peer::new(peer_end);
        let r = peer(&mut p).await;
        p.io.close();
        r
    };
    run(futures_lite::future::zip(server, peer))
}

#[test]
fn sub_delivers_events_in_order_and_unsub_stops_them() {
    let events = Events::<8, 16>::new();
    assert_eq!(events.publish(TICK, b"early"), Ok(Published::Unwanted));
    let (ended, ()) = with_server(&events, async |peer: &mut Peer| {
        assert!(events.is_attached());
        // Before any SUB: nobody wants it, nothing is queued.
        let (before, _) = peer.ask("PING", 1, b"").await;
        assert!(before.is_empty());
        assert_eq!(events.publish(TICK, b"0"), Ok(Published::Unwanted));
        let (_, sub) = peer.ask("SUB", 2, b"tick").await;
        assert_eq!((sub.kind.as_str(), sub.text().as_str()), ("SUB", "tick"));
        for i in 1..=5u32 {
            assert_eq!(
                events.publish(TICK, i.to_string().as_bytes()),
                Ok(Published::Queued)
            );
        }
        // Other kinds are not the peer's.
        assert_eq!(
            events.publish(Kind::lit("tock"), b"x"),
            Ok(Published::Unwanted)
        );
        for i in 1..=5u32 {
            let e = peer.next().await.expect("event");
            assert_eq!(
                (e.kind.as_str(), e.id, e.flags, e.text()),
                ("tick", 0, Flags::EVENT, i.to_string())
            );
        }
        // Queued, not yet written: the UNSUB answer comes first (the
        // request is read before the queue is written), and the event,
        // which only the removed filter matched, never follows it.
        assert_eq!(events.publish(TICK, b"6"), Ok(Published::Queued));
        let (before, unsub) = peer.ask("UNSUB", 3, b"tick").await;
        assert_eq!(
            (unsub.kind.as_str(), unsub.text().as_str()),
            ("UNSUB", "tick")
        );
        assert!(before.is_empty(), "{before:?}");
        assert_eq!(events.publish(TICK, b"7"), Ok(Published::Unwanted));
        let (after, pong) = peer.ask("PING", 4, b"").await;
        assert!(after.is_empty(), "{after:?}");
        assert_eq!(pong.kind, "PONG");
        peer.send("EXIT", 5, b"").await;
        assert_eq!(peer.next().await, None);
    });
    assert_eq!(ended, Ok(Ended::Exit));
    // Detached: the next conversation starts afresh.
    assert!(!events.is_attached());
    assert_eq!(events.publish(TICK, b"8"), Ok(Published::Unwanted));
    assert_eq!(events.queued(), 0);
}

/// What a conversation leaves in the queue (an event, a lag count, its
/// filters) is gone when the next one starts.
#[test]
fn a_new_conversation_starts_afresh() {
    let events = Events::<1, 8>::new();
    assert_eq!(
        format!("{events:?}"),
        "Events { places: 1, max_payload: 8, .. }"
    );
    let (ended, ()) = with_server(&events, async |peer: &mut Peer| {
        peer.ask("SUB", 1, b"tick").await;
        assert_eq!(events.publish(TICK, b"a"), Ok(Published::Queued));
        assert_eq!(events.publish(TICK, b"b"), Ok(Published::Dropped));
        assert_eq!(events.queued(), 1);
        // EXIT is read before the queue is written: `a` is never sent.
        peer.send("EXIT", 2, b"").await;
        assert_eq!(peer.next().await, None);
    });
    assert_eq!(ended, Ok(Ended::Exit));
    let (_, ()) = with_server(&events, async |peer: &mut Peer| {
        assert_eq!(events.queued(), 0);
        assert_eq!(events.publish(TICK, b"c"), Ok(Published::Unwanted));
        peer.ask("SUB", 1, b"tick").await;
        assert_eq!(events.publish(TICK, b"d"), Ok(Published::Queued));
        let e = peer.next().await.expect("event");
        assert_eq!(
            (e.kind.as_str(), e.text().as_str()),
            ("tick", "d"),
            "no LAGGED"
        );
    });
}

#[test]
fn overlapping_filters_deliver_an_event_once() {
    let events = Events::<4, 8>::new();
    let (_, ()) = with_server(&events, async |peer: &mut Peer| {
        for (id, f) in [(1, "tick"), (2, "ti*"), (3, "*"), (4, "tick")] {
            let (_, a) = peer.ask("SUB", id, f.as_bytes()).await;
            assert_eq!(a.text(), f);
        }
        assert_eq!(events.publish(TICK, b"once"), Ok(Published::Queued));
        assert_eq!(
            events.publish(Kind::lit("other"), b"star"),
            Ok(Published::Queued)
        );
        // `UNSUB *` leaves `tick` and `ti*`: `other` was queued for `*`
        // alone, so the re-check at write time drops it (not counted).
        let (before, _) = peer.ask("UNSUB", 5, b"*").await;
        let kinds: Vec<_> = before.iter().map(|e| (e.kind.clone(), e.text())).collect();
        assert!(
            kinds.is_empty() || kinds == [("tick".into(), "once".into())],
            "{kinds:?}"
        );
        let (after, _) = peer.ask("PING", 6, b"").await;
        let mut all = before;
        all.extend(after);
        let kinds: Vec<_> = all.iter().map(|e| (e.kind.clone(), e.text())).collect();
        assert_eq!(kinds, [("tick".to_owned(), "once".to_owned())]);
        // A fifth filter is one too many (4 kept).
        for (id, f) in [(7, "a"), (8, "b")] {
            peer.ask("SUB", id, f.as_bytes()).await;
        }
        let (_, refused) = peer.ask("SUB", 9, b"c").await;
        assert_eq!(refused.kind, "ERROR");
        assert!(refused.text().starts_with("too-many-subscriptions"));
    });
}

/// A peer that reads nothing while 200 events are published: the queue
/// (4 places) fills, the rest are dropped and counted, and every `LAGGED`
/// stands where its events are missing.
#[test]
fn a_slow_reader_gets_exact_lagged_counts() {
    const PUBLISHED: u32 = 200;
    let events = Events::<4, 8>::new();
    let (subscribed, published) = (Cell::new(false), Cell::new(false));
    let (queued, dropped) = (Cell::new(0u32), Cell::new(0u32));
    let (peer_end, mut server_end) = pipe();
    let server = async {
        let mut buf = [0u8; 306];
        let ended = serve_with_events(
            &mut server_end,
            &mut buf,
            &mut Builtins,
            ServeConfig::default(),
            &events,
        )
        .await;
        server_end.close();
        ended
    };
    let publisher = async {
        until(|| subscribed.get()).await;
        for i in 0..PUBLISHED {
            match events.publish(TICK, i.to_string().as_bytes()) {
                Ok(Published::Queued) => queued.set(queued.get() + 1),
                Ok(Published::Dropped) => dropped.set(dropped.get() + 1),
                other => panic!("{other:?}"),
            }
            // The server writes some, until the pipe (512 bytes) is full.
            yield_now().await;
        }
        published.set(true);
    };
    let peer = async {
        let mut peer = Peer::new(peer_end);
        peer.ask("SUB", 1, b"tick").await;
        subscribed.set(true);
        until(|| published.get()).await;
        peer.send("EXIT", 2, b"").await;
        let mut got = Vec::new();
        while let Some(m) = peer.next().await {
            got.push(m);
        }
        got
    };
    let ((ended, ()), got) = run(futures_lite::future::zip(
        futures_lite::future::zip(server, publisher),
        peer,
    ));
    assert_eq!(ended, Ok(Ended::Exit));
    assert_eq!(queued.get() + dropped.get(), PUBLISHED);
    assert!(dropped.get() > 0, "the reader was slow enough to lose some");
    let (mut delivered, mut lagged, mut next) = (0u32, 0u32, 0u32);
    let mut gap = 0u32;
    for m in &got {
        assert!(m.is_event(), "{m:?}");
        match m.kind.as_str() {
            "LAGGED" => {
                assert_eq!(gap, 0, "two LAGGED in a row");
                gap = Lagged::parse(&m.payload).expect("a count").count();
                assert!(gap > 0);
                lagged += gap;
            }
            "tick" => {
                let n: u32 = m.text().parse().expect("counter");
                assert_eq!(n, next + gap, "LAGGED stands exactly at the gap");
                next = n + 1;
                gap = 0;
                delivered += 1;
            }
            other => panic!("{other}"),
        }
    }
    // Events lost after the last delivered one are counted but have no
    // event after them to carry their LAGGED yet.
    assert_eq!(delivered, queued.get());
    assert_eq!(delivered + lagged + (PUBLISHED - next), PUBLISHED);
    assert_eq!(lagged + (PUBLISHED - next), dropped.get());
}

#[test]
fn events_in_text_mode_are_lines() {
    let events = Events::<4, 16>::new();
    let (peer_end, mut server_end) = pipe();
    let server = async {
        let mut buf = [0u8; 128];
        let ended = serve_with_events(
            &mut server_end,
            &mut buf,
            &mut Builtins,
            ServeConfig::default(),
            &events,
        )
        .await;
        server_end.close();
        ended
    };
    let peer = async {
        let mut io = peer_end;
        let mut got = Vec::new();
        let line = async |io: &mut End, got: &mut Vec<u8>| -> String {
            let mut buf = [0u8; 64];
            loop {
                if let Some(at) = got.iter().position(|&b| b == b'\n') {
                    let l: Vec<u8> = got.drain(..=at).collect();
                    return String::from_utf8(l).expect("utf-8");
                }
                let n = io.read(&mut buf).await.expect("read");
                assert!(n > 0, "closed");
                got.extend_from_slice(&buf[..n]);
            }
        };
        io.write_all(b"SUB:sensor/*\n").await.expect("write");
        assert_eq!(line(&mut io, &mut got).await, "SUB:sensor/*\n");
        let temp = Kind::lit("sensor/temp");
        assert_eq!(events.publish(temp, b"21.5"), Ok(Published::Queued));
        assert_eq!(line(&mut io, &mut got).await, "sensor/temp:21.5\n");
        // A line cannot carry a line break: that event is lost and
        // counted, and the next one comes after `LAGGED:1`.
        assert_eq!(events.publish(temp, b"a\nb"), Ok(Published::Queued));
        assert_eq!(events.publish(temp, b"22"), Ok(Published::Queued));
        assert_eq!(line(&mut io, &mut got).await, "LAGGED:1\n");
        assert_eq!(line(&mut io, &mut got).await, "sensor/temp:22\n");
        // Lost while nothing else waits: counted, and carried by the
        // next event published.
        assert_eq!(events.publish(temp, b"c\nd"), Ok(Published::Queued));
        until(|| events.queued() == 0).await;
        assert_eq!(events.publish(temp, b"23"), Ok(Published::Queued));
        assert_eq!(line(&mut io, &mut got).await, "LAGGED:1\n");
        assert_eq!(line(&mut io, &mut got).await, "sensor/temp:23\n");
        io.write_all(b"EXIT:\n").await.expect("write");
    };
    let (ended, ()) = run(futures_lite::future::zip(server, peer));
    assert_eq!(ended, Ok(Ended::Exit));
}

/// Counts its wake-ups.
struct Counter(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Counter {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The waker kept under the lock is the one of the last poll: a future
/// moved to another task is woken there.
#[test]
fn a_publish_wakes_the_last_poller() {
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::Arc;
    let events = Events::<2, 4>::new();
    let (mut peer, mut server_end) = pipe();
    let mut sub = Vec::new();
    let m = Message::new(Kind::SUB, b"tick").with_id(1);
    sub.resize(msgwire::encoded_len(&m).expect("len"), 0);
    msgwire::encode(&m, &mut sub).expect("encode");
    run(peer.write_all(&sub)).expect("write");
    let mut buf = [0u8; 64];
    let mut app = Builtins;
    let mut fut = std::pin::pin!(serve_with_events(
        &mut server_end,
        &mut buf,
        &mut app,
        ServeConfig::default(),
        &events,
    ));
    let (a, b) = (Arc::new(Counter(0.into())), Arc::new(Counter(0.into())));
    let (wa, wb) = (
        std::task::Waker::from(a.clone()),
        std::task::Waker::from(b.clone()),
    );
    assert!(fut
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&wa))
        .is_pending());
    assert!(fut
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&wb))
        .is_pending());
    assert_eq!(events.publish(TICK, b"1"), Ok(Published::Queued));
    assert_eq!((a.0.load(SeqCst), b.0.load(SeqCst)), (0, 1));
}

#[test]
fn publishing_refuses_a_payload_over_the_place() {
    let events = Events::<2, 4>::new();
    assert_eq!(
        events.publish(TICK, b"12345"),
        Err(PublishError::TooLarge { len: 5, max: 4 })
    );
    assert_eq!(
        PublishError::TooLarge { len: 5, max: 4 }.to_string(),
        "event payload of 5 bytes, the queue holds 4"
    );
    // The longest that fits, at the longest kind, round trips.
    let (_, ()) = with_server(&events, async |peer: &mut Peer| {
        let long = Kind::lit("k234567890123456789012345678901x");
        peer.ask("SUB", 1, long.as_bytes()).await;
        assert_eq!(events.publish(long, b"1234"), Ok(Published::Queued));
        assert_eq!(
            events.publish(long, b"12345"),
            Err(PublishError::TooLarge { len: 5, max: 4 })
        );
        let e = peer.next().await.expect("event");
        assert_eq!(
            (e.kind.as_str(), e.text().as_str()),
            (long.as_str(), "1234")
        );
    });
}

#[test]
fn one_conversation_at_a_time_per_queue() {
    let events = Events::<2, 4>::new();
    let (_, ()) = with_server(&events, async |peer: &mut Peer| {
        peer.ask("PING", 1, b"").await;
        let (_, mut other) = pipe();
        let mut buf = [0u8; 64];
        let second = serve_with_events(
            &mut other,
            &mut buf,
            &mut Builtins,
            ServeConfig::default(),
            &events,
        )
        .await;
        assert_eq!(second, Err(IoError::Busy));
        assert_eq!(
            IoError::<Infallible>::Busy.to_string(),
            "the events queue serves another conversation"
        );
        // The first still holds it.
        assert!(events.is_attached());
    });
    assert!(!events.is_attached());
}

/// A dropped `serve_with_events` future detaches the queue too.
#[test]
fn a_dropped_conversation_detaches_its_queue() {
    let events = Events::<2, 4>::new();
    let (_peer, mut server_end) = pipe();
    let mut buf = [0u8; 64];
    let mut app = Builtins;
    {
        let fut = serve_with_events(
            &mut server_end,
            &mut buf,
            &mut app,
            ServeConfig::default(),
            &events,
        );
        let mut fut = std::pin::pin!(fut);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(events.is_attached());
    }
    assert!(!events.is_attached());
}

/// `TEMP` events from the host reach the handler, unanswered.
#[derive(Default)]
struct Recorder {
    seen: Vec<String>,
}

impl Handler for Recorder {
    fn handles(&self, kind: Kind<'_>) -> bool {
        kind == "TEMP"
    }

    async fn handle<'a>(&'a mut self, request: Message<'a>) -> Outcome<'a> {
        self.seen
            .push(String::from_utf8_lossy(request.payload).into_owned());
        Ok(msgwire::embedded::Reply::new(request.kind, b"answered?"))
    }
}

#[test]
fn the_device_client_subscribes_and_receives_events() {
    let events = Events::<8, 16>::new();
    let (client_end, mut server_end) = pipe();
    let server = async {
        let mut buf = [0u8; 306];
        let mut app = Recorder::default();
        let ended = serve_with_events(
            &mut server_end,
            &mut buf,
            &mut app,
            ServeConfig::default(),
            &events,
        )
        .await;
        (ended, app.seen)
    };
    let client = async {
        let mut c = Client::new(client_end, [0u8; 128], Framing::Binary).expect("buf");
        c.subscribe(Filter::parse(b"sensor/*").expect("filter"))
            .await
            .expect("sub");
        assert_eq!(c.missed_events(), 0);
        let temp = Kind::lit("sensor/temp");
        events.publish(temp, b"21.5").expect("fits");
        let e = c.next_event().await.expect("event");
        assert_eq!(
            (e.kind.as_str(), e.flags, e.payload),
            ("sensor/temp", Flags::EVENT, &b"21.5"[..])
        );
        // An event that arrives while a request waits is dropped and
        // counted, not taken as an answer nor as unsolicited.
        events.publish(temp, b"22").expect("fits");
        events.publish(temp, b"22.5").expect("fits");
        yield_now().await; // the server writes them before the request comes
        let pong = c.request(Kind::PING, b"").await.expect("ping");
        assert_eq!(pong.payload, b"ack");
        assert_eq!((c.missed_events(), c.pending().unsolicited()), (2, 0));
        c.unsubscribe(Some(Filter::parse(b"sensor/*").expect("filter")))
            .await
            .expect("unsub");
        assert_eq!(events.publish(temp, b"24"), Ok(Published::Unwanted));
        // `UNSUB` of everything, then a refused SUB is a typed error.
        c.unsubscribe(None).await.expect("unsub all");
        match c.subscribe(Filter::parse(b"*").expect("filter")).await {
            Ok(()) => {}
            Err(e) => panic!("{e:?}"),
        }
        c.send(Kind::EXIT, b"").await.expect("exit");
        c
    };
    let ((ended, seen), c) = run(futures_lite::future::zip(server, client));
    assert_eq!(ended, Ok(Ended::Exit));
    assert!(seen.is_empty());
    assert_eq!(c.pending().late(), 0);
}

/// A text client: every line `next_event` reads is an event.
#[test]
fn a_text_client_reads_events_as_lines() {
    let events = Events::<4, 8>::new();
    let (client_end, mut server_end) = pipe();
    let server = async {
        let mut buf = [0u8; 128];
        serve_with_events(
            &mut server_end,
            &mut buf,
            &mut Builtins,
            ServeConfig::default(),
            &events,
        )
        .await
    };
    let client = async {
        let mut c = Client::new(client_end, [0u8; 128], Framing::Text).expect("buf");
        c.subscribe(Filter::parse(b"tick").expect("filter"))
            .await
            .expect("sub");
        events.publish(TICK, b"1").expect("fits");
        let e = c.next_event().await.expect("event");
        assert_eq!((e.kind.as_str(), e.payload), ("tick", &b"1"[..]));
        c.send(Kind::EXIT, b"").await.expect("exit");
    };
    let (ended, ()) = run(futures_lite::future::zip(server, client));
    assert_eq!(ended, Ok(Ended::Exit));
}

#[test]
fn events_from_the_host_reach_the_handler_unanswered() {
    let (client_end, mut server_end) = pipe();
    let server = async {
        let mut buf = [0u8; 306];
        let mut app = Recorder::default();
        let ended = serve(&mut server_end, &mut buf, &mut app, ServeConfig::default()).await;
        server_end.close();
        (ended, app.seen)
    };
    let peer = async {
        let mut io = client_end;
        let mut frames = Vec::new();
        for (kind, payload, flags) in [
            ("TEMP", &b"21.5"[..], Flags::EVENT),
            ("OTHER", b"nobody takes it", Flags::EVENT),
            ("TEMP", b"22", Flags::EVENT.union(Flags::RESPONSE)),
            ("PING", b"", Flags::EMPTY),
        ] {
            let m = Message::new(Kind::new(kind).expect("kind"), payload)
                .with_id(7)
                .with_flags(flags);
            let mut out = vec![0u8; msgwire::encoded_len(&m).expect("len")];
            msgwire::encode(&m, &mut out).expect("encode");
            frames.extend(out);
        }
        io.write_all(&frames).await.expect("write");
        let mut peer = Peer::new(io);
        let pong = peer.next().await.expect("answer");
        peer.send("EXIT", 8, b"").await;
        assert_eq!(peer.next().await, None);
        pong
    };
    let ((ended, seen), pong) = run(futures_lite::future::zip(server, peer));
    assert_eq!(ended, Ok(Ended::Exit));
    assert_eq!(
        (pong.kind.as_str(), pong.id),
        ("PONG", 7),
        "events unanswered"
    );
    assert_eq!(seen, ["21.5", "22"]);
}

#[test]
fn publishing_and_subscribing_allocate_nothing() {
    let events = Events::<4, 8>::new();
    // std's `critical-section` sets up a thread-local at its first use,
    // and the executor's first `block_on` on a thread its parker.
    let _ = events.publish(TICK, b"");
    run(async {});
    let (client_end, mut server_end) = pipe();
    let ((), n) = allocations(|| {
        let server = async {
            let mut buf = [0u8; 306];
            let _ = serve_with_events(
                &mut server_end,
                &mut buf,
                &mut Builtins,
                ServeConfig::default(),
                &events,
            )
            .await;
        };
        let client = async {
            let mut c = Client::new(client_end, [0u8; 128], Framing::Binary).expect("buf");
            c.subscribe(Filter::parse(b"tick").expect("filter"))
                .await
                .expect("sub");
            for i in 0..100u8 {
                let _ = events.publish(TICK, &[b'0' + i % 10]);
                if i % 10 == 0 {
                    let e = c.next_event().await.expect("event");
                    assert!(e.flags.contains(Flags::EVENT));
                }
            }
            c.unsubscribe(None).await.expect("unsub");
            c.send(Kind::EXIT, b"").await.expect("exit");
        };
        run(futures_lite::future::zip(server, client));
    });
    assert_eq!(n, 0, "events on the device allocated");
}

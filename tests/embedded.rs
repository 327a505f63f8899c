//! The `embedded-io-async` driver on the host: `serve` and the `Client`
//! over an in-memory pipe that implements the traits, on one thread, and a
//! counting allocator that proves neither allocates.
#![cfg(feature = "embedded-io-async")]

use std::cell::Cell;
use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::Poll;

use msgwire::conversation::Framing;
use msgwire::embedded::{
    serve, Builtins, Client, ClientError, Clock, Ended, Handler, HandlerError, Outcome, Reply,
    ServeConfig,
};
use msgwire::{Kind, Message};

#[path = "common/embedded_pipe.rs"]
mod embedded_pipe;
use embedded_pipe::{allocations, pipe};

// ---------------------------------------------------------- a handler

/// `TEMP` → `TEMP 21.5`; `FAIL` fails; `NOTE` → `NOTE` (empty); `PING`
/// (overridden) counts and answers `PONG mine`.
#[derive(Default)]
struct App {
    pings: u32,
}

impl Handler for App {
    fn handles(&self, kind: Kind<'_>) -> bool {
        matches!(kind.as_str(), "TEMP" | "FAIL" | "NOTE" | "PING")
    }

    async fn handle<'a>(&'a mut self, request: Message<'a>) -> Outcome<'a> {
        match request.kind.as_str() {
            "TEMP" => Ok(Reply::new(Kind::new("TEMP").expect("kind"), b"21.5")),
            "FAIL" => Err(HandlerError::msg("sensor\nbroken")),
            "PING" => {
                self.pings += 1;
                Ok(Reply::new(Kind::PONG, b"mine"))
            }
            "NOTE" => Ok(Reply::new(request.kind, b"")),
            _ => Err(HandlerError::with_code("unknown-kind", "not App's")),
        }
    }
}

fn run<T>(f: impl Future<Output = T>) -> T {
    futures_lite::future::block_on(f)
}

type Remote = ClientError<Infallible>;

fn remote_code(r: Result<Message<'_>, Remote>) -> String {
    match r {
        Err(ClientError::Remote(t)) => t.as_str().to_owned(),
        other => panic!("expected an ERROR answer, got {other:?}"),
    }
}

#[test]
fn serve_and_client_hold_the_whole_conversation() {
    let (client_end, mut server_end) = pipe();
    let server = async {
        let mut buf = [0u8; 306];
        let mut app = App::default();
        let ended = serve(&mut server_end, &mut buf, &mut app, ServeConfig::default()).await;
        (ended, app.pings)
    };
    let client = async {
        let mut c = Client::<_, _>::new(client_end, [0u8; 306], Framing::Binary).expect("buf");
        let echo = vec![0x5Au8; 200];
        let m = c.request(Kind::ECHO, &echo).await.expect("echo");
        assert_eq!((m.kind.as_str(), m.payload), ("ECHO", &echo[..]));
        let m = c
            .request(Kind::new("TEMP").expect("kind"), b"")
            .await
            .expect("temp");
        assert_eq!((m.kind.as_str(), m.payload), ("TEMP", &b"21.5"[..]));
        let m = c.request(Kind::PING, b"").await.expect("ping");
        assert_eq!(m.payload, b"mine", "the application overrides PING");
        assert_eq!(
            remote_code(c.request(Kind::new("FOO").expect("kind"), b"").await),
            "unknown-kind: FOO"
        );
        assert_eq!(
            remote_code(c.request(Kind::new("FAIL").expect("kind"), b"").await),
            "handler-failed: sensor broken"
        );
        // Sent with id 0: still answered (§4), with id 0, which answers no
        // request of the client's: the next request skips it.
        c.send(Kind::new("NOTE").expect("kind"), b"answered anyway")
            .await
            .expect("send");
        let mut c = c.with_checksum(true);
        let m = c.request(Kind::ECHO, b"checked").await.expect("echo");
        assert_eq!(m.payload, b"checked");
        c.send(Kind::EXIT, b"").await.expect("exit");
        assert_eq!((c.pending().late(), c.pending().unsolicited()), (0, 1));
        c
    };
    let ((ended, pings), c) = run(futures_lite::future::zip(server, client));
    assert_eq!(ended, Ok(Ended::Exit));
    assert_eq!(pings, 1);
    assert_eq!(c.stats().map(|s| s.frames), Some(7));
}

#[test]
fn errors_from_the_wire_are_answered_and_the_loop_goes_on() {
    let mut input = Vec::new();
    // A corrupt header, a too-large claim (skipped as it arrives),
    // then a PING.
    let mut bad = msgwire_frame("PING", 3, b"");
    bad[13] ^= 1;
    input.extend(bad);
    input.extend(msgwire_frame("ECHO", 4, &[1u8; 60]));
    input.extend(msgwire_frame("PING", 5, b""));
    let mut buf = [0u8; 100]; // payloads up to 50
    let (ended, answers) = serve_all_of(&input, &mut buf, Builtins);
    assert_eq!(ended, Ok(Ended::Closed));
    let answers: Vec<(String, u32, String)> = answers
        .into_iter()
        .map(|(kind, id, payload)| (kind, id, String::from_utf8_lossy(&payload).into_owned()))
        .collect();
    // Bytes of the corrupt header after its 0xA5 hold no other 0xA5.
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!((answers[0].0.as_str(), answers[0].1), ("ERROR", 0));
    assert!(answers[0].2.starts_with("header-checksum: "));
    assert_eq!((answers[1].0.as_str(), answers[1].1), ("ERROR", 4));
    assert!(answers[1].2.starts_with("too-large: "));
    assert_eq!(answers[2], ("PONG".into(), 5, "ack".into()));
}

/// An answer as the peer read it: kind, id, payload.
type Answer = (String, u32, Vec<u8>);

/// Runs `serve` (`handler`, a buffer `buf`, the default configuration)
/// against a peer that writes all of `input` in one go, closes its end,
/// and reads until the server closes its own; returns how `serve` ended
/// and the answers the peer read.
fn serve_all_of(
    input: &[u8],
    buf: &mut [u8],
    mut handler: impl Handler,
) -> (
    Result<Ended, msgwire::embedded::IoError<Infallible>>,
    Vec<Answer>,
) {
    let (mut peer, mut server_end) = pipe();
    let server = async {
        let ended = serve(&mut server_end, buf, &mut handler, ServeConfig::default()).await;
        server_end.close();
        ended
    };
    let peer_side = async {
        use embedded_io_async::Write;
        peer.write_all(input).await.expect("write");
        peer.close();
        peer.read_to_end().await
    };
    let (ended, wire) = run(futures_lite::future::zip(server, peer_side));
    let mut dec = msgwire::Decoder::<512>::new();
    dec.feed(&wire);
    let mut answers = Vec::new();
    while let Some(ev) = dec.decode() {
        let m = ev.expect("answers are valid frames");
        answers.push((m.kind.as_str().to_owned(), m.id, m.payload.to_vec()));
    }
    (ended, answers)
}

fn msgwire_frame(kind: &str, id: u32, payload: &[u8]) -> Vec<u8> {
    let m = Message::new(Kind::new(kind).expect("kind"), payload).with_id(id);
    let mut out = vec![0u8; msgwire::encoded_len(&m).expect("len")];
    msgwire::encode(&m, &mut out).expect("encode");
    out
}

#[test]
fn text_mode_client_and_server() {
    let (client_end, mut server_end) = pipe();
    let server = async {
        let mut buf = [0u8; 128];
        serve(
            &mut server_end,
            &mut buf,
            &mut App::default(),
            ServeConfig::default(),
        )
        .await
    };
    let client = async {
        let mut c = Client::<_, _>::new(client_end, [0u8; 128], Framing::Text).expect("buf");
        let m = c.request(Kind::ECHO, b"hi: there").await.expect("echo");
        assert_eq!(m.payload, b"hi: there");
        assert_eq!(
            remote_code(c.request(Kind::new("FOO").expect("kind"), b"x").await),
            "unknown-kind: FOO"
        );
        assert!(matches!(
            c.request(Kind::ECHO, b"two\nlines").await,
            Err(ClientError::Encode(msgwire::Error::InvalidTextPayload))
        ));
        c.send(Kind::EXIT, b"").await.expect("exit");
    };
    let (ended, ()) = run(futures_lite::future::zip(server, client));
    assert_eq!(ended, Ok(Ended::Exit));
}

/// A clock the test moves by hand: `sleep_until` completes once the time
/// is set at or past its deadline. It counts the timers armed.
#[derive(Clone, Default)]
struct ManualClock {
    now: Rc<Cell<u64>>,
    timers: Rc<Cell<u32>>,
}

impl ManualClock {
    fn set(&self, t: u64) {
        self.now.set(t);
    }
}

impl Clock for ManualClock {
    type Instant = u64;

    fn now(&self) -> u64 {
        self.now.get()
    }

    fn after(&self, from: u64, ms: u32) -> u64 {
        from + u64::from(ms)
    }

    fn sleep_until(&self, at: u64) -> impl Future<Output = ()> {
        self.timers.set(self.timers.get() + 1);
        let now = self.now.clone();
        poll_fn(move |cx| {
            if now.get() >= at {
                Poll::Ready(())
            } else {
                // Polled again whenever the executor polls the request.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
    }
}

#[test]
fn a_request_times_out_by_the_clock_and_its_late_answer_is_counted() {
    let (client_end, mut server_end) = pipe();
    let clock = ManualClock::default();
    let mut c = Client::with_clock(
        client_end,
        [0u8; 128],
        Framing::Binary,
        clock.clone(),
        Some(100),
    )
    .expect("buf");
    run(async {
        // Nobody serves yet: the request waits until the clock passes 100.
        let request = c.request(Kind::PING, b"");
        let advance = async {
            for t in [10, 99, 100] {
                futures_lite::future::yield_now().await;
                clock.set(t);
            }
        };
        let (r, ()) = futures_lite::future::zip(request, advance).await;
        assert!(matches!(r, Err(ClientError::Timeout)), "{r:?}");
    });
    assert!(
        c.pending().is_empty(),
        "a timed-out request gives up its id"
    );
    assert_eq!(c.pending().timed_out(), 1, "expired from the table");
    assert_eq!(clock.timers.get(), 1);
    // Now serve: the first PING's answer comes late, the second is matched.
    let server = async {
        let mut buf = [0u8; 128];
        serve(
            &mut server_end,
            &mut buf,
            &mut Builtins,
            ServeConfig::default(),
        )
        .await
    };
    let client = async {
        let m = c.request(Kind::PING, b"").await.map(|m| m.id);
        assert_eq!(m.expect("pong"), 2);
        c.send(Kind::EXIT, b"").await.expect("exit");
        c.pending().late()
    };
    let (ended, late) = run(futures_lite::future::zip(server, client));
    assert_eq!(ended, Ok(Ended::Exit));
    assert_eq!(late, 1);
}

#[test]
fn one_timer_lasts_the_whole_wait_across_reads() {
    let (client_end, mut peer) = pipe();
    let clock = ManualClock::default();
    let mut c = Client::with_clock(
        client_end,
        [0u8; 128],
        Framing::Binary,
        clock.clone(),
        Some(100),
    )
    .expect("buf");
    let (r, ()) = run(futures_lite::future::zip(
        c.request(Kind::PING, b""),
        async {
            use embedded_io_async::{Read, Write};
            let mut scratch = [0u8; 64];
            let _ = peer.read(&mut scratch).await.expect("read the request");
            // Three reads' worth of messages that answer nothing, each
            // read by the client before the next is written.
            for t in [20, 40, 60] {
                peer.write_all(&msgwire_frame("NOTE", 0, b""))
                    .await
                    .expect("write");
                for _ in 0..5 {
                    futures_lite::future::yield_now().await;
                }
                clock.set(t);
            }
            clock.set(100);
        },
    ));
    assert!(matches!(r, Err(ClientError::Timeout)), "{r:?}");
    assert_eq!(c.pending().unsolicited(), 3, "every message was read");
    assert_eq!(
        clock.timers.get(),
        1,
        "one timer, armed once at the deadline, not once per read"
    );
    assert_eq!((c.pending().timed_out(), c.pending().len()), (1, 0));
}

#[test]
fn a_leaked_request_does_not_block_the_next() {
    let (client_end, mut server_end) = pipe();
    let mut c = Client::<_, _>::new(client_end, [0u8; 128], Framing::Binary).expect("buf");
    // Started and written, then leaked: its guard never runs.
    let mut leaked = Box::pin(c.request(Kind::PING, b""));
    assert!(run(futures_lite::future::poll_once(&mut leaked)).is_none());
    std::mem::forget(leaked);
    assert_eq!(c.pending().len(), 1);
    let (mut buf, mut builtins) = ([0u8; 128], Builtins);
    let server = serve(
        &mut server_end,
        &mut buf,
        &mut builtins,
        ServeConfig::default(),
    );
    let client = async {
        let id = c.request(Kind::PING, b"").await.map(|m| m.id);
        c.send(Kind::EXIT, b"").await.expect("exit");
        (
            id.expect("the second request is answered"),
            c.pending().late(),
        )
    };
    let (ended, (id, late)) = run(futures_lite::future::zip(server, client));
    assert_eq!(ended, Ok(Ended::Exit));
    assert_eq!((id, late), (2, 1), "the leaked request's answer is late");
}

#[test]
fn a_request_with_id_0_is_answered_with_id_0() {
    let mut input = msgwire_frame("TEMP", 0, b"");
    input.extend(msgwire_frame("NOTE", 0, b"x"));
    input.extend(msgwire_frame("FAIL", 0, b""));
    let mut buf = [0u8; 128];
    let (ended, answers) = serve_all_of(&input, &mut buf, App::default());
    assert_eq!(ended, Ok(Ended::Closed));
    assert_eq!(
        answers,
        [
            ("TEMP".to_owned(), 0, b"21.5".to_vec()),
            ("NOTE".to_owned(), 0, Vec::new()),
            (
                "ERROR".to_owned(),
                0,
                b"handler-failed: sensor broken".to_vec()
            ),
        ]
    );
}

#[test]
fn or_joins_handlers_without_postcard() {
    // `SLOW` is Slow's, the rest App's; PING stays App's override.
    let mut input = msgwire_frame("SLOW", 1, b"s");
    input.extend(msgwire_frame("TEMP", 2, b""));
    input.extend(msgwire_frame("PING", 3, b""));
    input.extend(msgwire_frame("ECHO", 4, b"e"));
    input.extend(msgwire_frame("FOO", 5, b""));
    let mut buf = [0u8; 128];
    let app = Slow.or(App::default());
    assert!(app.handles(Kind::new("SLOW").expect("kind")) && !app.handles(Kind::ECHO));
    let (ended, answers) = serve_all_of(&input, &mut buf, app);
    assert_eq!(ended, Ok(Ended::Closed));
    assert_eq!(
        answers,
        [
            ("SLOW".to_owned(), 1, b"s".to_vec()),
            ("TEMP".to_owned(), 2, b"21.5".to_vec()),
            ("PONG".to_owned(), 3, b"mine".to_vec()),
            ("ECHO".to_owned(), 4, b"e".to_vec()),
            ("ERROR".to_owned(), 5, b"unknown-kind: FOO".to_vec()),
        ]
    );
}

#[test]
fn a_closed_transport_is_a_typed_error() {
    let (client_end, server_end) = pipe();
    server_end.close();
    let mut c = Client::<_, _>::new(client_end, [0u8; 64], Framing::Binary).expect("buf");
    assert!(matches!(
        run(c.request(Kind::PING, b"")),
        Err(ClientError::Closed(msgwire::embedded::IoError::Closed))
    ));
    assert!(matches!(
        Client::<_, _>::new(server_end, [0u8; 49], Framing::Binary),
        Err(msgwire::Error::Capacity)
    ));
}

#[test]
fn serve_and_client_allocate_nothing() {
    let (client_end, mut server_end) = pipe();
    let mut server_buf = [0u8; 306];
    let mut app = App::default();
    let mut c = Client::<_, _>::new(client_end, [0u8; 306], Framing::Binary).expect("buf");
    let payload = [7u8; 100];
    // The executor's first `block_on` on a thread sets up its parker.
    run(async {});
    let ((ended, answered), allocs) = allocations(|| {
        run(futures_lite::future::zip(
            serve(
                &mut server_end,
                &mut server_buf,
                &mut app,
                ServeConfig::default(),
            ),
            async {
                let mut answered = 0u32;
                for i in 0..1_000u32 {
                    let (kind, want): (Kind<'_>, &[u8]) = match i % 4 {
                        0 => (Kind::ECHO, &payload),
                        1 => (Kind::PING, b"mine"),
                        2 => (Kind::new("TEMP").expect("kind"), b"21.5"),
                        _ => (Kind::new("NOPE").expect("kind"), b""),
                    };
                    match c.request(kind, &payload).await {
                        Ok(m) => assert_eq!(m.payload, want),
                        Err(ClientError::Remote(t)) => assert_eq!(t.code(), "unknown-kind"),
                        Err(e) => panic!("{e}"),
                    }
                    answered += 1;
                }
                c.send(Kind::EXIT, b"").await.expect("exit");
                answered
            },
        ))
    });
    assert_eq!(ended, Ok(Ended::Exit));
    assert_eq!(answered, 1_000);
    assert_eq!(allocs, 0, "allocations in 1,000 requests and answers");
}

/// `SLOW` waits for other tasks to run many times before it answers.
struct Slow;

impl Handler for Slow {
    fn handles(&self, kind: Kind<'_>) -> bool {
        kind == "SLOW"
    }

    async fn handle<'a>(&'a mut self, request: Message<'a>) -> Outcome<'a> {
        for _ in 0..50 {
            futures_lite::future::yield_now().await;
        }
        Ok(Reply::new(
            Kind::new("SLOW").expect("kind"),
            request.payload,
        ))
    }
}

#[test]
fn answers_keep_request_order_behind_a_slow_handler() {
    // Pipelined: all three are in before the slow one is answered.
    let mut input = msgwire_frame("SLOW", 1, b"first");
    input.extend(msgwire_frame("PING", 2, b""));
    input.extend(msgwire_frame("ECHO", 3, b"third"));
    let mut buf = [0u8; 128];
    let (ended, answers) = serve_all_of(&input, &mut buf, Slow);
    assert_eq!(ended, Ok(Ended::Closed));
    assert_eq!(
        answers,
        [
            ("SLOW".to_owned(), 1, b"first".to_vec()),
            ("PONG".to_owned(), 2, b"ack".to_vec()),
            ("ECHO".to_owned(), 3, b"third".to_vec()),
        ]
    );
}

#[test]
fn error_types_say_what_happened() {
    use msgwire::embedded::IoError;
    let cases: [(String, &str); 14] = [
        (HandlerError::msg("no sensor").to_string(), "no sensor"),
        (
            HandlerError::with_code("out-of-range", "channel 9").to_string(),
            "channel 9",
        ),
        (IoError::Io(7u8).to_string(), "transport failed: 7"),
        (IoError::<u8>::WriteZero.to_string(), "transport wrote no byte"),
        (IoError::<u8>::Capacity.to_string(), "buffer too small for the limits"),
        (IoError::<u8>::Closed.to_string(), "the peer closed the stream"),
        (
            ClientError::<u8>::Closed(IoError::Closed).to_string(),
            "connection closed: the peer closed the stream",
        ),
        (ClientError::<u8>::Timeout.to_string(), "request timed out"),
        (
            ClientError::<u8>::Closed(IoError::WriteZero).to_string(),
            "connection closed: transport wrote no byte",
        ),
        (
            ClientError::<u8>::from(IoError::Io(7)).to_string(),
            "connection closed: transport failed: 7",
        ),
        (
            ClientError::<u8>::BadAnswer(msgwire::DecodeError {
                error: msgwire::Error::TooLarge,
                id: Some(3),
            })
            .to_string(),
            "answer refused: too-large: payload is longer than the maximum (frame id 3)",
        ),
        (
            ClientError::<u8>::NotStarted.to_string(),
            "client not started: drive Client::run or call Client::start with a spawner",
        ),
        (
            ClientError::<u8>::Encode(msgwire::Error::InvalidTextPayload).to_string(),
            "cannot encode request: invalid-text-payload: text payload contains '\\n' or ends with '\\r'",
        ),
        (
            ClientError::<u8>::Remote(msgwire::conversation::ErrorText::new("unknown-kind", "FOO"))
                .to_string(),
            "server answered ERROR unknown-kind: FOO",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
    let e = HandlerError::msg("x");
    assert_eq!((e.code(), e.message()), ("handler-failed", "x"));
    let e = HandlerError::with_code("out-of-range", "channel 9");
    assert_eq!((e.code(), e.message()), ("out-of-range", "channel 9"));
    let r = Reply::new(Kind::PONG, b"ack");
    assert_eq!((r.kind(), r.payload()), (Kind::PONG, &b"ack"[..]));
}

#[test]
fn builtins_take_no_kind() {
    for kind in ["PING", "ECHO", "EXIT", "TEMP"] {
        let kind = Kind::new(kind).expect("kind");
        assert!(!Builtins.handles(kind), "{kind}");
        // Never called by `serve`; called anyway, it answers as the
        // protocol answers a kind nobody takes, and does not panic.
        let mut builtins = Builtins;
        let e = run(builtins.handle(Message::new(kind, b""))).expect_err("no kind");
        assert_eq!((e.code(), e.message()), ("unknown-kind", kind.as_str()));
    }
}

#[test]
fn serve_config_sets_the_framing_and_the_limits() {
    use msgwire::conversation::Limits;
    let (mut peer, mut server_end) = pipe();
    let config = ServeConfig::default()
        .framing(Framing::Text)
        .limits(Limits {
            max_payload: 0,
            max_line: 8,
        });
    let server = async {
        let mut buf = [0u8; 128];
        let ended = serve(&mut server_end, &mut buf, &mut Builtins, config).await;
        server_end.close();
        ended
    };
    let peer_side = async {
        use embedded_io_async::Write;
        // 0xA5 first would sniff binary; the configured framing is text.
        peer.write_all(b"\xA5PING:\nECHO:abc\nECHO:toolong\nEXIT:\n")
            .await
            .expect("write");
        peer.read_to_end().await
    };
    let (ended, wire) = run(futures_lite::future::zip(server, peer_side));
    assert_eq!(ended, Ok(Ended::Exit));
    let text = String::from_utf8_lossy(&wire);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert!(lines[0].starts_with("ERROR:invalid-kind: "), "{text:?}");
    assert_eq!(lines[1], "ECHO:abc");
    assert!(lines[2].starts_with("ERROR:line-too-long: "), "{text:?}");

    // A buffer too small for the limits asked for.
    let (_peer, mut server_end) = pipe();
    let mut small = [0u8; 60];
    let big = ServeConfig::default().limits(Limits {
        max_payload: 11,
        max_line: 8,
    });
    assert_eq!(
        run(serve(&mut server_end, &mut small, &mut Builtins, big)),
        Err(msgwire::embedded::IoError::Capacity)
    );
}

/// Runs one request of a client (buffer `buf` bytes, `framing`) against a
/// peer that reads the request and answers `reply` raw, then closes.
#[allow(clippy::result_large_err)] // a test helper; the error is the one under test
fn request_against(framing: Framing, buf: usize, reply: Vec<u8>) -> Result<u32, Remote> {
    let (client_end, mut peer) = pipe();
    let client = async {
        let mut c = Client::<_, _>::new(client_end, vec![0u8; buf], framing).expect("buf");
        c.request(Kind::PING, b"").await.map(|m| m.id)
    };
    let peer_side = async {
        use embedded_io_async::{Read, Write};
        let mut scratch = [0u8; 64];
        let _ = peer.read(&mut scratch).await.expect("read the request");
        peer.write_all(&reply).await.expect("write");
        peer.close();
    };
    run(futures_lite::future::zip(client, peer_side)).0
}

fn response_frame(kind: &str, id: u32, payload: &[u8]) -> Vec<u8> {
    let m = Message::new(Kind::new(kind).expect("kind"), payload)
        .with_id(id)
        .with_flags(msgwire::Flags::RESPONSE);
    let mut out = vec![0u8; msgwire::encoded_len(&m).expect("len")];
    msgwire::encode(&m, &mut out).expect("encode");
    out
}

#[test]
fn a_refused_answer_fails_its_request_and_other_refusals_do_not() {
    // The client's buffer takes payloads up to 14 bytes.
    let mut bad_header = response_frame("PONG", 1, b"ack");
    bad_header[13] ^= 1; // untrusted header: id unknown, not an answer
    let mut reply = bad_header;
    reply.extend(response_frame("PONG", 99, &[0u8; 40])); // another id, too large
    reply.extend(response_frame("PONG", 1, &[0u8; 40])); // ours, too large
    match request_against(Framing::Binary, 64, reply) {
        Err(ClientError::BadAnswer(e)) => {
            assert_eq!((e.error, e.id), (msgwire::Error::TooLarge, Some(1)));
        }
        other => panic!("expected the answer refused, got {other:?}"),
    }
    // The refusals that are not ours are skipped and the answer is taken.
    let mut reply = response_frame("PONG", 1, b"ack");
    reply[13] ^= 1;
    reply.extend(response_frame("PONG", 99, &[0u8; 40]));
    reply.extend(response_frame("PONG", 1, b"ack"));
    assert_eq!(request_against(Framing::Binary, 64, reply).ok(), Some(1));
    // Text mode has no ids: a refused line is the answer to the request.
    match request_against(Framing::Text, 16, b"PONG:0123456789abcdef\n".to_vec()) {
        Err(ClientError::BadAnswer(e)) => assert_eq!(e.error, msgwire::Error::LineTooLong),
        other => panic!("expected the line refused, got {other:?}"),
    }
}

#[test]
fn full_says_so() {
    assert_eq!(
        msgwire::conversation::Full.to_string(),
        "too many requests in flight"
    );
}

/// Counts requests per conversation: `begin` resets the count and notes
/// the framing, `COUNT` answers the count so far.
#[derive(Default)]
struct PerConversation {
    count: u8,
    begun: Vec<Framing>,
    digit: [u8; 1],
}

impl Handler for PerConversation {
    fn handles(&self, kind: Kind<'_>) -> bool {
        kind == "COUNT"
    }

    fn begin(&mut self, framing: Framing) {
        self.count = 0;
        self.begun.push(framing);
    }

    async fn handle<'a>(&'a mut self, request: Message<'a>) -> Outcome<'a> {
        self.count += 1;
        self.digit = [b'0' + self.count];
        Ok(Reply::new(request.kind, &self.digit))
    }
}

/// The device handler sees each conversation begin, once, in its framing:
/// after `EXIT` a new one starts (text here) and its state starts afresh.
#[test]
fn a_device_handler_sees_each_conversation_begin() {
    let (mut peer, mut server_end) = pipe();
    let mut input = msgwire_frame("COUNT", 1, b"");
    input.extend(msgwire_frame("COUNT", 2, b""));
    input.extend(msgwire_frame("EXIT", 0, b""));
    let mut handler = PerConversation::default();
    let server = async {
        let mut buf = [0u8; 128];
        let first = serve(
            &mut server_end,
            &mut buf,
            &mut handler,
            ServeConfig::default(),
        )
        .await;
        let second = serve(
            &mut server_end,
            &mut buf,
            &mut handler,
            ServeConfig::default(),
        )
        .await;
        server_end.close();
        (first, second)
    };
    let binary_len = 2 * (14 + 5 + 1);
    let peer_side = async {
        use embedded_io_async::{Read, Write};
        peer.write_all(&input).await.expect("write");
        // The second conversation starts once the first has ended (bytes
        // read with the EXIT are the first conversation's).
        let mut wire = vec![0u8; binary_len];
        peer.read_exact(&mut wire).await.expect("the first answers");
        peer.write_all(b"COUNT:\nCOUNT:\nCOUNT:\n")
            .await
            .expect("write");
        peer.close();
        wire.extend(peer.read_to_end().await);
        wire
    };
    let ((first, second), wire) = run(futures_lite::future::zip(server, peer_side));
    assert_eq!(first, Ok(Ended::Exit));
    assert_eq!(second, Ok(Ended::Closed));
    assert_eq!(handler.begun, [Framing::Binary, Framing::Text]);
    let mut dec = msgwire::Decoder::<64>::new();
    dec.feed(&wire[..binary_len]);
    for want in [b"1", b"2"] {
        let m = dec.decode().expect("answer").expect("valid");
        assert_eq!((m.kind.as_str(), m.payload), ("COUNT", &want[..]));
    }
    assert_eq!(&wire[binary_len..], b"COUNT:1\nCOUNT:2\nCOUNT:3\n");
}

/// `Or` tells both of its handlers that a conversation begins.
#[test]
fn or_forwards_begin_to_both_handlers() {
    let mut both = PerConversation::default().or(PerConversation::default());
    both.begin(Framing::Text);
    let (a, b) = both.parts_mut();
    assert_eq!(
        (a.begun.as_slice(), b.begun.as_slice()),
        (&[Framing::Text][..], &[Framing::Text][..])
    );
}

/// Takes `PING` (overriding the built-in), counts what it gets, answers
/// `PONG mine`.
struct CountingPings(Rc<Cell<u32>>);

impl Handler for CountingPings {
    fn handles(&self, kind: Kind<'_>) -> bool {
        kind == Kind::PING
    }

    async fn handle<'a>(&'a mut self, _request: Message<'a>) -> Outcome<'a> {
        self.0.set(self.0.get() + 1);
        Ok(Reply::new(Kind::PONG, b"mine"))
    }
}

/// Revision 1.2 on the device: `HELLO` names the buffer's payload limit,
/// `SUB` is answered, and an event reaches the handler of its kind with no
/// answer (the handler's reply to an event is dropped).
#[test]
fn serve_speaks_revision_1_2() {
    let event = |kind: &str| {
        let m =
            Message::new(Kind::new(kind).expect("kind"), b"e").with_flags(msgwire::Flags::EVENT);
        let mut out = vec![0u8; msgwire::encoded_len(&m).expect("len")];
        msgwire::encode(&m, &mut out).expect("encode");
        out
    };
    let mut input = msgwire_frame("HELLO", 1, b"rev=1.2");
    input.extend(msgwire_frame("SUB", 2, b"tick"));
    input.extend(event("PING")); // overridden by App: counts, never answered
    input.extend(event("other")); // no handler: dropped
    input.extend(msgwire_frame("ECHO", 3, b"x"));
    let mut buf = [0u8; 306];
    let pings = Rc::new(Cell::new(0));
    let (ended, answers) = serve_all_of(&input, &mut buf, CountingPings(pings.clone()));
    assert_eq!(ended, Ok(Ended::Closed));
    assert_eq!(
        answers,
        [
            ("HELLO".to_string(), 1, b"rev=1.2 max=256".to_vec()),
            ("SUB".to_string(), 2, b"tick".to_vec()),
            ("ECHO".to_string(), 3, b"x".to_vec()),
        ]
    );
    assert_eq!(pings.get(), 1, "the PING event reached the handler");
}

/// A request future dropped while it waits gives up its place (the
/// table is empty at once, not only at the next request), and a client
/// with checksums puts the `CHECKSUM` flag and a trailer on its frames.
#[test]
fn a_dropped_request_gives_up_its_place_and_checksums_are_sent() {
    let (client_end, mut peer) = pipe();
    let mut c = Client::<_, _>::new(client_end, [0u8; 128], Framing::Binary)
        .expect("buf")
        .with_checksum(true);
    {
        let mut waiting = Box::pin(c.request(Kind::PING, b"x"));
        assert!(run(futures_lite::future::poll_once(&mut waiting)).is_none());
    }
    assert_eq!(c.pending().len(), 0, "the dropped request's place is free");
    c.into_inner().close();
    let wire = run(peer.read_to_end());
    let mut dec = msgwire::Decoder::<64>::new();
    dec.feed(&wire);
    let m = dec.decode().expect("a frame").expect("valid");
    assert_eq!((m.kind, m.payload), (Kind::PING, &b"x"[..]));
    assert!(m.flags.contains(msgwire::Flags::CHECKSUM), "{:?}", m.flags);
    assert_eq!(wire.len(), 14 + 4 + 1 + 4, "header, kind, payload, CRC-32");
}

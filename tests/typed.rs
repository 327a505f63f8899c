//! Typed payloads (feature `postcard`): the device side (`Typed`, `Or`,
//! `typed::embedded::request`) over an in-memory pipe that implements
//! `embedded-io-async`, on one thread; the host side (`typed`,
//! `typed::net::request`) over `msgwire::net::memory::pipe`.
#![cfg(feature = "postcard")]

#[cfg(feature = "embedded-io-async")]
#[path = "common/embedded_pipe.rs"]
mod embedded_pipe;

#[cfg(feature = "embedded-io-async")]
mod device {
    use std::convert::Infallible;
    use std::future::Future;

    use msgwire::conversation::Framing;
    use msgwire::embedded::Or;
    use msgwire::embedded::{
        serve, Client, ClientError, Ended, Handler, HandlerError, Outcome, Reply, ServeConfig,
    };
    use msgwire::typed::embedded::{request, Typed, TypedHandler};
    use msgwire::typed::TypedError;
    use msgwire::{decode_slice, Encoder, Flags, Kind, Message, Status};
    use serde::{Deserialize, Serialize};

    use super::embedded_pipe::{allocations, pipe, End};

    // ------------------------------------------------------ the app

    /// `LOG`: a borrowed text and blob in, a response borrowing both out.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Log<'a> {
        level: u8,
        text: &'a str,
        #[serde(with = "serde_bytes_compat")]
        blob: &'a [u8],
    }

    /// `&[u8]` as postcard bytes (length + bytes), borrowed on decode;
    /// what `serde_bytes` does, without the dependency.
    mod serde_bytes_compat {
        use serde::{Deserializer, Serializer};

        pub fn serialize<S: Serializer>(v: &&[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<&'de [u8], D::Error> {
            <&'de [u8] as serde::Deserialize<'de>>::deserialize(d)
        }
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Logged<'a> {
        seq: u32,
        /// The request's text, borrowed straight back.
        text: &'a str,
        blob_len: u16,
        /// Whether `text` pointed into the receive buffer.
        borrowed: bool,
    }

    /// Where the server's receive buffer lives, to check that the request
    /// was borrowed from it.
    #[derive(Default)]
    struct Logger {
        seq: u32,
        rx: Option<(usize, usize)>,
    }

    impl TypedHandler for Logger {
        type Request<'a> = Log<'a>;
        type Response<'a> = Logged<'a>;

        async fn handle<'a>(&'a mut self, req: Log<'a>) -> Result<Logged<'a>, HandlerError<'a>> {
            if req.level > 7 {
                return Err(HandlerError::with_code("out-of-range", "level above 7"));
            }
            self.seq += 1;
            let at = req.text.as_ptr() as usize;
            let borrowed = self
                .rx
                .is_some_and(|(start, len)| (start..start + len).contains(&at));
            Ok(Logged {
                seq: self.seq,
                text: req.text,
                blob_len: req.blob.len() as u16,
                borrowed,
            })
        }
    }

    /// `ADD`: (u32, u32) → u64.
    struct Adder;

    impl TypedHandler for Adder {
        type Request<'a> = (u32, u32);
        type Response<'a> = u64;

        async fn handle<'a>(&'a mut self, (a, b): (u32, u32)) -> Result<u64, HandlerError<'a>> {
            Ok(u64::from(a) + u64::from(b))
        }
    }

    /// `BIG`: a response of `n` bytes (a borrowed slice of the handler's).
    struct Big([u8; 64]);

    impl TypedHandler for Big {
        type Request<'a> = u8;
        type Response<'a> = &'a [u8];

        async fn handle<'a>(&'a mut self, n: u8) -> Result<&'a [u8], HandlerError<'a>> {
            Ok(&self.0[..usize::from(n).min(64)])
        }
    }

    /// `JUNK`: untyped, answers a payload that is no postcard `u32`.
    struct Junk;

    impl Handler for Junk {
        fn handles(&self, kind: Kind<'_>) -> bool {
            kind == "JUNK"
        }

        async fn handle<'a>(&'a mut self, _request: Message<'a>) -> Outcome<'a> {
            Ok(Reply::new(Kind::new("JUNK").expect("kind"), &[0xFF; 6]))
        }
    }

    fn kind(s: &'static str) -> Kind<'static> {
        Kind::new(s).expect("kind")
    }

    type App = Or<Or<Or<Typed<Logger, 64>, Typed<Adder, 10>>, Typed<Big, 16>>, Junk>;

    fn app() -> App {
        Typed::<_, 64>::new(kind("LOG"), Logger::default())
            .or(Typed::<_, 10>::new(kind("ADD"), Adder))
            .or(Typed::<_, 16>::new(kind("BIG"), Big([7; 64])))
            .or(Junk)
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        futures_lite::future::block_on(f)
    }

    fn remote(r: Result<impl std::fmt::Debug, TypedError<ClientError<Infallible>>>) -> String {
        match r {
            Err(TypedError::Client(ClientError::Remote(t))) => t.as_str().to_owned(),
            other => panic!("expected an ERROR answer, got {other:?}"),
        }
    }

    /// Serves `app` over `server_end` with a 306-byte buffer until EXIT;
    /// returns how it ended and the app.
    async fn server(mut server_end: End, mut app: App) -> (Result<Ended, ()>, App) {
        let mut buf = [0u8; 306];
        let range = (buf.as_ptr() as usize, buf.len());
        app.parts_mut()
            .0
            .parts_mut()
            .0
            .parts_mut()
            .0
            .handler_mut()
            .rx = Some(range);
        let ended = serve(&mut server_end, &mut buf, &mut app, ServeConfig::default()).await;
        server_end.close();
        (ended.map_err(|_| ()), app)
    }

    #[test]
    fn typed_round_trips_with_borrowed_fields_and_several_routes() {
        let (client_end, server_end) = pipe();
        let client = async {
            let mut c = Client::<_, _>::new(client_end, [0u8; 306], Framing::Binary).expect("buf");
            let mut scratch = [0u8; 128];
            let blob = [1u8, 2, 3, 0, 255];
            let log = Log {
                level: 3,
                text: "boiler: 71 °C",
                blob: &blob,
            };
            let logged: Logged<'_> = request(&mut c, kind("LOG"), &log, &mut scratch)
                .await
                .expect("LOG");
            assert_eq!(
                logged,
                Logged {
                    seq: 1,
                    text: "boiler: 71 °C",
                    blob_len: 5,
                    borrowed: true,
                },
                "the server borrowed the text from its receive buffer"
            );
            let sum: u64 = request(&mut c, kind("ADD"), &(u32::MAX, 1u32), &mut scratch)
                .await
                .expect("ADD");
            assert_eq!(sum, 1 << 32);
            // The routes leave the built-ins alone.
            let pong = c.request(Kind::PING, b"").await.expect("ping");
            assert_eq!((pong.kind.as_str(), pong.payload), ("PONG", &b"ack"[..]));
            c.send(Kind::EXIT, b"").await.expect("exit");
        };
        let ((ended, app), ()) = run(futures_lite::future::zip(server(server_end, app()), client));
        assert_eq!(ended, Ok(Ended::Exit));
        assert_eq!(app.first().first().first().handler().seq, 1);
    }

    #[test]
    fn typed_response_is_borrowed_from_the_client_buffer() {
        let (client_end, server_end) = pipe();
        let client = async {
            let mut buf = [0u8; 306];
            let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
            let mut c =
                Client::<_, _>::new(client_end, &mut buf[..], Framing::Binary).expect("buf");
            let mut scratch = [0u8; 64];
            let log = Log {
                level: 0,
                text: "hi",
                blob: b"",
            };
            let logged: Logged<'_> = request(&mut c, kind("LOG"), &log, &mut scratch)
                .await
                .expect("LOG");
            assert!(range.contains(&(logged.text.as_ptr() as usize)));
            c.send(Kind::EXIT, b"").await.expect("exit");
        };
        let ((ended, _), ()) = run(futures_lite::future::zip(server(server_end, app()), client));
        assert_eq!(ended, Ok(Ended::Exit));
    }

    #[test]
    fn bad_payload_is_answered_with_its_id_and_the_loop_goes_on() {
        let (mut peer, server_end) = pipe();
        let peer_side = async {
            use embedded_io_async::Write;
            let enc = Encoder::new();
            let mut wire = Vec::new();
            // `LOG` with a level but a text cut short, then one with bad
            // UTF-8, then `ADD` with a varint that never ends, then a good
            // `ADD`, each with its own id.
            for (id, kind, payload) in [
                (11, "LOG", &[3u8, 10, b'a'][..]),
                (12, "LOG", &[3, 1, 0xFF, 0][..]),
                (13, "ADD", &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80][..]),
                (14, "LOG", &[9, 0, 0][..]),
                (15, "ADD", &[2, 40][..]),
            ] {
                let m = Message::new(Kind::new(kind).expect("kind"), payload).with_id(id);
                let mut frame = [0u8; 64];
                let n = enc.encode(&m, &mut frame).expect("encode");
                wire.extend_from_slice(&frame[..n]);
            }
            let m = Message::new(Kind::EXIT, b"");
            let mut frame = [0u8; 64];
            let n = enc.encode(&m, &mut frame).expect("encode");
            wire.extend_from_slice(&frame[..n]);
            peer.write(&wire).await.expect("write");
            peer.read_to_end().await
        };
        let ((ended, app), got) = run(futures_lite::future::zip(
            server(server_end, app()),
            peer_side,
        ));
        assert_eq!(ended, Ok(Ended::Exit));
        let mut answers = Vec::new();
        let mut rest = &got[..];
        while !rest.is_empty() {
            let Ok(Status::Complete {
                message: m,
                consumed: used,
            }) = decode_slice(rest, 256)
            else {
                panic!("not an answer: {rest:?}");
            };
            assert!(m.flags.contains(Flags::RESPONSE));
            answers.push((
                m.id,
                m.kind.as_str().to_owned(),
                String::from_utf8(m.payload.to_vec()).unwrap_or_default(),
                m.payload.to_vec(),
            ));
            rest = &rest[used..];
        }
        let summary: Vec<(u32, &str, &str)> = answers
            .iter()
            .map(|(id, k, text, _)| (*id, k.as_str(), text.as_str()))
            .collect();
        assert_eq!(
            summary[..4],
            [
                (11, "ERROR", "bad-payload: unexpected end"),
                (12, "ERROR", "bad-payload: bad utf-8"),
                (13, "ERROR", "bad-payload: bad varint"),
                (14, "ERROR", "out-of-range: level above 7"),
            ]
        );
        assert_eq!((answers[4].0, answers[4].1.as_str()), (15, "ADD"));
        assert_eq!(postcard::from_bytes::<u64>(&answers[4].3), Ok(42));
        assert_eq!(answers.len(), 5);
        assert_eq!(app.first().first().first().handler().seq, 0);
    }

    #[test]
    fn bad_payload_reaches_the_typed_client_as_remote() {
        let (client_end, server_end) = pipe();
        let client = async {
            let mut c = Client::<_, _>::new(client_end, [0u8; 306], Framing::Binary).expect("buf");
            let mut scratch = [0u8; 64];
            // `ADD` expects two u32s; a single one is cut short.
            let r: Result<u64, _> = request(&mut c, kind("ADD"), &7u32, &mut scratch).await;
            assert_eq!(remote(r), "bad-payload: unexpected end");
            let sum: u64 = request(&mut c, kind("ADD"), &(1u32, 2u32), &mut scratch)
                .await
                .expect("the next request is served");
            assert_eq!(sum, 3);
            c.send(Kind::EXIT, b"").await.expect("exit");
        };
        let ((ended, _), ()) = run(futures_lite::future::zip(server(server_end, app()), client));
        assert_eq!(ended, Ok(Ended::Exit));
    }

    #[test]
    fn an_answer_that_does_not_deserialize_is_a_typed_client_error() {
        let (client_end, server_end) = pipe();
        let client = async {
            let mut c = Client::<_, _>::new(client_end, [0u8; 306], Framing::Binary).expect("buf");
            let mut scratch = [0u8; 64];
            let r: Result<u32, _> = request(&mut c, kind("JUNK"), &(), &mut scratch).await;
            assert_eq!(
                r,
                Err(TypedError::Decode(postcard::Error::DeserializeBadVarint))
            );
            // A right answer of the wrong type: ADD's u64 as a bool.
            let r: Result<bool, _> =
                request(&mut c, kind("ADD"), &(1u32, 2u32), &mut scratch).await;
            assert_eq!(
                r,
                Err(TypedError::Decode(postcard::Error::DeserializeBadBool))
            );
            // A request that does not fit the scratch buffer is not sent.
            let r: Result<u64, _> = request(
                &mut c,
                kind("ADD"),
                &(u32::MAX, u32::MAX),
                &mut scratch[..4],
            )
            .await;
            assert_eq!(
                r,
                Err(TypedError::Encode(postcard::Error::SerializeBufferFull))
            );
            c.send(Kind::EXIT, b"").await.expect("exit");
            c.stats().map(|s| s.frames)
        };
        let ((ended, _), frames) =
            run(futures_lite::future::zip(server(server_end, app()), client));
        assert_eq!(ended, Ok(Ended::Exit));
        assert_eq!(
            frames,
            Some(2),
            "the request that did not fit was never sent"
        );
    }

    #[test]
    fn a_response_too_big_for_the_route_buffer_is_handler_failed() {
        let (client_end, server_end) = pipe();
        let client = async {
            let mut c = Client::<_, _>::new(client_end, [0u8; 306], Framing::Binary).expect("buf");
            let mut scratch = [0u8; 8];
            // 15 bytes and their length byte fill BIG's 16-byte buffer.
            let r: &[u8] = request(&mut c, kind("BIG"), &15u8, &mut scratch)
                .await
                .expect("fits");
            assert_eq!(r, &[7; 15]);
            let r: Result<&[u8], _> = request(&mut c, kind("BIG"), &16u8, &mut scratch).await;
            assert_eq!(remote(r), "handler-failed: response too large");
            let sum: u64 = request(&mut c, kind("ADD"), &(1u32, 2u32), &mut scratch)
                .await
                .expect("the loop goes on");
            assert_eq!(sum, 3);
            c.send(Kind::EXIT, b"").await.expect("exit");
        };
        let ((ended, _), ()) = run(futures_lite::future::zip(server(server_end, app()), client));
        assert_eq!(ended, Ok(Ended::Exit));
    }

    #[test]
    fn typed_requests_and_answers_allocate_nothing() {
        let (client_end, server_end) = pipe();
        // The executor's first `block_on` on a thread sets up its parker.
        run(async {});
        let (((ended, app), ()), allocs) = allocations(|| {
            let client = async {
                let mut c =
                    Client::<_, _>::new(client_end, [0u8; 306], Framing::Binary).expect("buf");
                let mut scratch = [0u8; 64];
                for i in 0..500u32 {
                    let sum: u64 = request(&mut c, kind("ADD"), &(i, i), &mut scratch)
                        .await
                        .expect("ADD");
                    assert_eq!(sum, u64::from(2 * i));
                    let log = Log {
                        level: 1,
                        text: "tick",
                        blob: &[0; 20],
                    };
                    let logged: Logged<'_> = request(&mut c, kind("LOG"), &log, &mut scratch)
                        .await
                        .expect("LOG");
                    assert_eq!((logged.seq, logged.text), (i + 1, "tick"));
                }
                c.send(Kind::EXIT, b"").await.expect("exit");
            };
            run(futures_lite::future::zip(server(server_end, app()), client))
        });
        assert_eq!(ended, Ok(Ended::Exit));
        assert_eq!(app.first().first().first().handler().seq, 500);
        assert_eq!(allocs, 0);
    }
}

#[cfg(feature = "async")]
mod host {
    use std::future::Future;

    use futures_lite::future::block_on;
    use msgwire::conversation::Framing;
    use msgwire::net::{
        memory, Client, ClientConfig, ClientError, ConnEnd, Framed, FramedConfig, HandlerError,
        Reply, Request, Router, Spawner,
    };
    use msgwire::typed::net::{request, typed};
    use msgwire::typed::TypedError;
    use msgwire::{Kind, Message};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Log {
        level: u8,
        text: String,
        blob: Vec<u8>,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Logged {
        text: String,
        blob_len: usize,
    }

    fn router() -> Router {
        Router::new()
            .on(
                "LOG",
                typed(|req: Log| async move {
                    if req.level > 7 {
                        return Err(HandlerError::with_code("out-of-range", "level above 7"));
                    }
                    Ok(Logged {
                        text: req.text.to_uppercase(),
                        blob_len: req.blob.len(),
                    })
                }),
            )
            .expect("kind")
            .on(
                "ADD",
                typed(|(a, b): (u32, u32)| async move {
                    Ok::<_, HandlerError>(u64::from(a) + u64::from(b))
                }),
            )
            .expect("kind")
            .on("JUNK", |req: Request| async move {
                Ok::<_, HandlerError>(Reply::new(req.kind(), vec![0xFF; 6]))
            })
            .expect("kind")
    }

    /// Serves `router()` on one end of a pipe in a thread, runs `f` with a
    /// client on the other, and returns how the server ended.
    fn with_client<F, Fut>(f: F) -> ConnEnd
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = ()>,
    {
        let (client_end, server_end) = memory::pipe(64);
        let server = std::thread::spawn(move || {
            block_on(async {
                let mut conn = Framed::sniffing(server_end, FramedConfig::default());
                router().serve(&mut conn).await
            })
        });
        block_on(f(Client::new(client_end, ClientConfig::default())
            .start(&Spawner::global())
            .expect("start")));
        server.join().expect("server thread")
    }

    fn remote<T: std::fmt::Debug>(r: Result<T, TypedError<ClientError>>) -> (String, String) {
        match r {
            Err(TypedError::Client(ClientError::Remote(e))) => {
                (e.code().to_string(), e.detail().to_string())
            }
            other => panic!("expected an ERROR answer, got {other:?}"),
        }
    }

    #[test]
    fn typed_round_trip_on_the_host() {
        let end = with_client(|client| async move {
            let log = Log {
                level: 2,
                text: "boiler: 71 °C".into(),
                blob: vec![1, 2, 3],
            };
            let logged: Logged = request(&client, "LOG", &log).await.expect("LOG");
            assert_eq!(
                logged,
                Logged {
                    text: "BOILER: 71 °C".into(),
                    blob_len: 3
                }
            );
            let sum: u64 = request(&client, "ADD", &(40u32, 2u32)).await.expect("ADD");
            assert_eq!(sum, 42);
            let r: Result<Logged, _> = request(&client, "LOG", &Log { level: 8, ..log }).await;
            assert_eq!(remote(r), ("out-of-range".into(), "level above 7".into()));
            client.send("EXIT", b"").await.expect("exit");
        });
        assert!(matches!(end, ConnEnd::Exit), "{end:?}");
    }

    #[test]
    fn bad_payload_on_the_host_is_answered_with_its_id_and_the_loop_goes_on() {
        let (client_end, server_end) = memory::pipe(64);
        let server = std::thread::spawn(move || {
            block_on(async {
                let mut conn = Framed::sniffing(server_end, FramedConfig::default());
                router().serve(&mut conn).await
            })
        });
        block_on(async {
            let mut conn = Framed::new(client_end, Framing::Binary, FramedConfig::default());
            let add = Kind::new("ADD").expect("kind");
            let sends: [(u32, &[u8]); 3] = [(21, &[7]), (22, &[0x80; 6]), (23, &[2, 40])];
            for (id, payload) in sends {
                conn.send(&Message::new(add, payload).with_id(id))
                    .await
                    .expect("send");
            }
            conn.flush().await.expect("flush");
            let mut got = Vec::new();
            for _ in 0..3 {
                let m = conn.recv().await.expect("answer");
                got.push((m.id, m.kind.as_str().to_owned(), m.payload.to_vec()));
            }
            assert_eq!(
                got[..2],
                [
                    (21, "ERROR".into(), b"bad-payload: unexpected end".to_vec()),
                    (22, "ERROR".into(), b"bad-payload: bad varint".to_vec()),
                ]
            );
            assert_eq!((got[2].0, got[2].1.as_str()), (23, "ADD"));
            assert_eq!(postcard::from_bytes::<u64>(&got[2].2), Ok(42));
            conn.send(&Message::new(Kind::EXIT, b""))
                .await
                .expect("exit");
            conn.flush().await.expect("flush");
        });
        let end = server.join().expect("server thread");
        assert!(matches!(end, ConnEnd::Exit), "{end:?}");
    }

    #[test]
    fn bad_payload_reaches_the_typed_host_client_as_remote() {
        let end = with_client(|client| async move {
            let r: Result<u64, _> = request(&client, "ADD", &7u32).await;
            assert_eq!(remote(r), ("bad-payload".into(), "unexpected end".into()));
            let r: Result<u64, _> = request(&client, "ADD", &(1u32, 2u32)).await;
            assert_eq!(r, Ok(3));
            client.send("EXIT", b"").await.expect("exit");
        });
        assert!(matches!(end, ConnEnd::Exit), "{end:?}");
    }

    #[test]
    fn an_answer_that_does_not_deserialize_is_a_typed_host_client_error() {
        let end = with_client(|client| async move {
            let r: Result<u32, _> = request(&client, "JUNK", &()).await;
            assert_eq!(
                r,
                Err(TypedError::Decode(postcard::Error::DeserializeBadVarint))
            );
            let r: Result<bool, _> = request(&client, "ADD", &(1u32, 2u32)).await;
            assert_eq!(
                r,
                Err(TypedError::Decode(postcard::Error::DeserializeBadBool))
            );
            assert_eq!(
                r.unwrap_err().to_string(),
                "cannot deserialize the answer: bad bool"
            );
            client.send("EXIT", b"").await.expect("exit");
        });
        assert!(matches!(end, ConnEnd::Exit), "{end:?}");
    }
}

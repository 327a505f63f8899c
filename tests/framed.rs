//! `Framed`, the host's message connection, on its own: its errors (what
//! they say, whether the connection goes on), what it knows of the
//! framing and its counters, and when its bytes reach the transport: the
//! send buffer written when it fills and not before, a large payload
//! written straight from the caller's slice, a replier's flush, and an
//! event relayed to a subscriber as its shared frame, by the same rules.

#![cfg(feature = "async")]

mod common;

use std::error::Error as _;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use common::encode_frame;
use common::watchdog::watchdog;
use futures_lite::future::block_on;
use futures_lite::{AsyncRead, AsyncWrite};
use msgwire::conversation::Framing;
use msgwire::net::{memory, Framed, FramedConfig, RecvError, Router, SendError};
use msgwire::{DecodeError, Error, Flags, Kind, Message};

/// What a [`Script`] transport was given to write, one entry per write
/// call, and whether it was flushed after each.
#[derive(Default)]
struct Written {
    writes: Vec<Vec<u8>>,
    flushes: usize,
}

/// A transport that reads `script`, then waits until [`Script::close`]
/// (then the end of the stream), and records every write call.
struct Script {
    script: Vec<u8>,
    pos: usize,
    shared: Arc<Mutex<Shared>>,
}

#[derive(Default)]
struct Shared {
    written: Written,
    closed: bool,
    reader: Option<Waker>,
}

impl Script {
    fn new(script: Vec<u8>) -> (Script, Arc<Mutex<Shared>>) {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = Script {
            script,
            pos: 0,
            shared: shared.clone(),
        };
        (s, shared)
    }
}

fn close(shared: &Mutex<Shared>) {
    let mut s = shared.lock().expect("lock");
    s.closed = true;
    if let Some(w) = s.reader.take() {
        w.wake();
    }
}

fn writes(shared: &Mutex<Shared>) -> Vec<Vec<u8>> {
    shared.lock().expect("lock").written.writes.clone()
}

impl AsyncRead for Script {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pos < this.script.len() {
            let n = buf.len().min(this.script.len() - this.pos);
            buf[..n].copy_from_slice(&this.script[this.pos..this.pos + n]);
            this.pos += n;
            return Poll::Ready(Ok(n));
        }
        let mut s = this.shared.lock().expect("lock");
        if s.closed {
            return Poll::Ready(Ok(0));
        }
        s.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl AsyncWrite for Script {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.shared
            .lock()
            .expect("lock")
            .written
            .writes
            .push(buf.to_vec());
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.lock().expect("lock").written.flushes += 1;
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn config(write_buffer: usize) -> FramedConfig {
    FramedConfig {
        write_buffer,
        ..FramedConfig::default()
    }
}

fn encoded(m: &Message<'_>) -> Vec<u8> {
    let mut out = vec![0; msgwire::encoded_len(m).expect("len")];
    msgwire::encode(m, &mut out).expect("encode");
    out
}

#[test]
fn errors_say_what_happened_and_whether_the_connection_goes_on() {
    let refused = DecodeError {
        error: Error::HeaderChecksum,
        id: None,
    };
    let decode = RecvError::Decode(refused);
    assert!(decode.is_recoverable());
    assert!(decode.source().is_some());
    assert_eq!(decode.to_string(), refused.to_string());
    assert!(!RecvError::Closed.is_recoverable());
    assert!(RecvError::Closed.source().is_none());
    assert_eq!(
        RecvError::Closed.to_string(),
        "connection closed by the peer"
    );
    let io = RecvError::Io(io::Error::other("cable cut"));
    assert!(!io.is_recoverable());
    assert_eq!(io.to_string(), "i/o error: cable cut");
    assert_eq!(
        io.source().map(|s| s.to_string()),
        Some("cable cut".to_string())
    );

    let encode = SendError::Encode(Error::InvalidTextPayload);
    assert_eq!(
        encode.to_string(),
        format!("cannot encode: {}", Error::InvalidTextPayload)
    );
    assert!(encode.source().is_some());
    let io = SendError::Io(io::Error::other("cable cut"));
    assert_eq!(io.to_string(), "i/o error: cable cut");
    assert_eq!(
        io.source().map(|s| s.to_string()),
        Some("cable cut".to_string())
    );
}

/// A sniffing connection knows its framing and has counters once the
/// peer's first byte came; its `Debug` names them.
#[test]
fn the_framing_and_the_counters_once_the_first_byte_came() {
    let _watchdog = watchdog();
    let (a, b) = memory::pipe(8);
    let mut client = Framed::new(a, Framing::Text, FramedConfig::default());
    let mut server = Framed::sniffing(b, FramedConfig::default());
    assert_eq!(client.framing(), Some(Framing::Text));
    assert_eq!(server.framing(), None);
    assert!(format!("{client:?}").contains("pending_out: 0"));
    assert!(server.stats().is_none());
    assert!(format!("{server:?}").starts_with("Framed"));
    block_on(async {
        for p in [&b"1"[..], b"2"] {
            client
                .send(&Message::new(Kind::PING, p))
                .await
                .expect("send");
        }
        // Two lines of 7 bytes wait in the send buffer.
        assert!(format!("{client:?}").contains("pending_out: 14"));
        client.flush().await.expect("flush");
        for want in [&b"1"[..], b"2"] {
            let m = server.recv().await.expect("message");
            assert_eq!(m.payload, want);
        }
    });
    assert_eq!(server.framing(), Some(Framing::Text));
    assert_eq!(server.stats().map(|s| s.frames), Some(2));
    assert!(format!("{server:?}").contains("Text"));
}

/// Small messages wait in the send buffer until it fills (then it is
/// written whole) or is flushed; a payload at least the buffer's size goes
/// straight from the caller's slice, after what was buffered.
#[test]
fn the_send_buffer_is_written_when_full_and_a_large_payload_straight() {
    let _watchdog = watchdog();
    let (io, shared) = Script::new(Vec::new());
    let mut conn = Framed::new(io, Framing::Binary, config(100));
    let small = Message::new(Kind::PING, &[7u8; 20]).with_id(1);
    let one = encoded(&small).len();
    assert_eq!(one, 14 + 4 + 20);
    block_on(async {
        // Two frames (76 bytes) stay buffered; the third fills the buffer
        // past 100: all three in one write.
        conn.send(&small).await.expect("send");
        conn.send(&small).await.expect("send");
        assert!(writes(&shared).is_empty());
        conn.send(&small).await.expect("send");
        assert_eq!(writes(&shared), [encoded(&small).repeat(3)]);
        // A payload of 100 bytes: the buffered frame, then its header and
        // kind, then the payload from the caller's slice.
        conn.send(&small).await.expect("send");
        let payload = vec![9u8; 100];
        let large = Message::new(Kind::ECHO, &payload).with_id(2);
        conn.send(&large).await.expect("send");
        conn.flush().await.expect("flush");
    });
    let w = writes(&shared);
    let payload = vec![9u8; 100];
    let large = encoded(&Message::new(Kind::ECHO, &payload).with_id(2));
    assert_eq!(w.len(), 3, "{w:?}");
    assert_eq!(w[1], [&encoded(&small)[..], &large[..18]].concat());
    assert_eq!(w[2], payload);
    assert_eq!(shared.lock().expect("lock").written.flushes, 1);
}

/// Pipelined requests already read are answered into the send buffer,
/// which is written each time it fills (answers of 21 bytes, a buffer of
/// 100: five at a time), not once at the end nor answer by answer.
#[test]
fn pipelined_answers_go_out_a_full_buffer_at_a_time() {
    use futures_lite::future::poll_once;

    let _watchdog = watchdog();
    let script: Vec<u8> = (1..=20)
        .flat_map(|id| encode_frame("PING", id, b""))
        .collect();
    let (io, shared) = Script::new(script);
    let mut conn = Framed::new(io, Framing::Binary, config(100));
    let router = Router::new();
    let serve = router.serve(&mut conn);
    let mut serve = std::pin::pin!(serve);
    for _ in 0..1000 {
        if writes(&shared).concat().len() >= 20 * 21 {
            break;
        }
        assert!(block_on(poll_once(serve.as_mut())).is_none(), "ended");
    }
    let pong = |id| {
        encoded(
            &Message::new(Kind::PONG, b"ack")
                .with_id(id)
                .with_flags(Flags::RESPONSE),
        )
    };
    let want: Vec<Vec<u8>> = (0..4)
        .map(|batch| (1..=5).flat_map(|i| pong(batch * 5 + i)).collect())
        .collect();
    assert_eq!(writes(&shared), want);
    close(&shared);
    let _end = block_on(serve);
}

/// A replier's `flush` writes what it sent and flushes the transport.
#[test]
fn a_repliers_flush_reaches_the_transport() {
    let _watchdog = watchdog();
    let (io, shared) = Script::new(encode_frame("PING", 5, b""));
    let mut conn = Framed::new(io, Framing::Binary, FramedConfig::default());
    let answer = Message::new(Kind::PONG, b"ack")
        .with_id(5)
        .with_flags(Flags::RESPONSE);
    block_on(async {
        let (m, mut replier) = conn.recv_with_replier().await.expect("message");
        assert_eq!((m.kind, m.id), (Kind::PING, 5));
        replier.send(&answer).await.expect("send");
        assert!(writes(&shared).is_empty());
        let debug = format!("{replier:?}");
        assert!(
            debug.starts_with("Replier") && debug.contains("pending_out: 21"),
            "{debug}"
        );
        replier.flush().await.expect("flush");
    });
    assert_eq!(writes(&shared), [encoded(&answer)]);
    assert_eq!(shared.lock().expect("lock").written.flushes, 1);
}

/// A relayed event goes to its subscriber as the frame encoded when it
/// was published, by the send buffer's rules: a small one buffered, one
/// at least the buffer's size straight from the shared frame, after what
/// was buffered. The conversation is polled by hand, so that every event
/// is published before it runs again.
#[test]
fn a_relayed_event_is_buffered_or_written_straight_as_any_frame() {
    use futures_lite::future::poll_once;

    let _watchdog = watchdog();
    let router = Router::new().relay(true);
    let publisher = router.publisher();
    let (io, shared) = Script::new(encode_frame("SUB", 1, b"e/*"));
    let mut conn = Framed::new(io, Framing::Binary, config(100));
    let serve = router.serve(&mut conn);
    let mut serve = std::pin::pin!(serve);
    // Polls the conversation until `done` holds (it yields now and then).
    let mut run_until = |what: &str, done: &dyn Fn() -> bool| {
        for _ in 0..1000 {
            if done() {
                return;
            }
            assert!(block_on(poll_once(serve.as_mut())).is_none(), "ended");
        }
        panic!("{what}: not after 1000 polls");
    };
    let sub_answer = encoded(
        &Message::new(Kind::SUB, b"e/*")
            .with_id(1)
            .with_flags(Flags::RESPONSE),
    );
    run_until("the SUB answer", &|| writes(&shared).concat() == sub_answer);
    let event = |kind: &str, payload: &[u8]| {
        encoded(&msgwire::conversation::event(
            Kind::new(kind).expect("kind"),
            payload,
        ))
    };
    let publish = |kind: &str, payload: &[u8]| {
        let report = publisher.publish(Kind::new(kind).expect("kind"), payload);
        assert_eq!(report.queued, 1);
        event(kind, payload)
    };
    // 14 + 3 + 63 = 80 bytes: buffered; 14 + 3 + 83 = 100, the buffer's
    // size: the buffered one is written, then it whole, straight.
    let before = writes(&shared).len();
    let small = publish("e/a", &[1u8; 63]);
    let exact = publish("e/b", &[2u8; 83]);
    assert_eq!((small.len(), exact.len()), (80, 100));
    run_until("the events", &|| {
        writes(&shared)[before..].concat().len() >= 180
    });
    assert_eq!(writes(&shared)[before..], [small, exact]);
    // 80 and 19 bytes stay buffered; 23 more fill it past 100: one write.
    let before = writes(&shared).len();
    let tail = [
        publish("e/a", &[1u8; 63]),
        publish("e/c", &[3u8; 2]),
        publish("e/d", &[4u8; 6]),
    ];
    assert_eq!(tail.iter().map(Vec::len).collect::<Vec<_>>(), [80, 19, 23]);
    run_until("the events", &|| {
        writes(&shared)[before..].concat().len() >= 122
    });
    assert_eq!(writes(&shared)[before..], [tail.concat()]);
    close(&shared);
    let _end = block_on(serve);
}

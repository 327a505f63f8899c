//! Decoding and encoding make no heap allocation: a counting global
//! allocator watches 10,000 mixed frames go through every codec.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use msgwire::{Decoder, Encoder, Flags, Kind, Message, TextDecoder, TextEncoder};

struct Counting;

thread_local! {
    /// Only allocations made by a thread while it is armed count, and each
    /// thread counts its own (the tests run in parallel).
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    if ARMED.with(Cell::get) {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
    }
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const FRAMES: usize = 10_000;

#[test]
fn ten_thousand_mixed_frames_allocate_nothing() {
    let kinds = [
        Kind::PING,
        Kind::ECHO,
        Kind::new("sensor/temp").expect("kind"),
        Kind::ERROR,
    ];
    let payload = [0xA5u8; 3000];
    let enc = Encoder::with_max_payload(2048);
    let text = TextEncoder::with_max_line(4096);
    let mut wire = [0u8; 4096];
    let mut line = [0u8; 4096];
    let mut dec = Box::new(Decoder::<4096>::with_max_payload(2048).expect("fits"));
    let mut tdec = Box::new(TextDecoder::<4096>::new());
    let (mut frames, mut errors, mut checksum) = (0usize, 0usize, 0u64);

    ARMED.with(|a| a.set(true));
    for i in 0..FRAMES {
        // Sizes from 0 to 2999: some over the decoder's limit, some with a
        // checksum, and every seventh frame corrupted.
        let len = (i * 7919) % 3000;
        let flags = if i % 3 == 0 {
            Flags::CHECKSUM
        } else {
            Flags::EMPTY
        };
        let m = Message::new(kinds[i % kinds.len()], &payload[..len])
            .with_id(i as u32)
            .with_flags(flags);
        let n = match Encoder::new().encode(&m, &mut wire) {
            Ok(n) => n,
            Err(e) => panic!("encode failed: {e}"),
        };
        // The limited encoder refuses exactly the frames the decoder will.
        assert_eq!(enc.encode_head(&m).is_err(), len > 2048);
        if i % 7 == 0 {
            wire[n / 2] ^= 0x10;
        }
        let mut rest = &wire[..n];
        while !rest.is_empty() {
            let k = dec.feed(&rest[..rest.len().min(1000)]);
            rest = &rest[k..];
            while let Some(ev) = dec.decode() {
                match ev {
                    Ok(m) => {
                        frames += 1;
                        checksum += m.payload.len() as u64 + u64::from(m.id);
                    }
                    Err(_) => errors += 1,
                }
            }
        }
        // The same through the text codec, with a payload it accepts.
        let tp = &b"hello:world"[..i % 12];
        let n = match text.encode(m.kind, tp, &mut line) {
            Ok(n) => n,
            Err(e) => panic!("text encode failed: {e}"),
        };
        tdec.feed(&line[..n]);
        while let Some(ev) = tdec.decode() {
            match ev {
                Ok(m) => checksum += m.payload.len() as u64,
                Err(_) => errors += 1,
            }
        }
    }
    ARMED.with(|a| a.set(false));

    assert_eq!(allocations(), 0, "the codec allocated");
    assert_eq!(dec.stats().frames as usize, frames);
    assert_eq!(tdec.stats().frames as usize, FRAMES);
    assert!(
        frames > FRAMES / 2 && errors > FRAMES / 10,
        "frames {frames}, errors {errors}"
    );
    assert!(checksum > 0);
}

/// Every way into the decoders, not only `feed`: `spare`/`commit`,
/// `decode_slice`, the boxed decoders once built, and the text decoder
/// through `spare`/`commit`, over a stream with every kind of refusal.
#[test]
fn every_decoder_entry_point_allocates_nothing() {
    // Built before the counter is armed: `boxed` allocates its buffer once.
    let mut d = Decoders {
        wire: mixed_stream(),
        text: mixed_lines(),
        array: Box::new(Decoder::<2098>::with_max_payload(2048).expect("fits")),
        boxed: msgwire::StreamDecoder::boxed(2048),
        tarray: Box::new(TextDecoder::<257>::new()),
        tboxed: msgwire::TextStreamDecoder::boxed(256),
    };
    // The ways in, one a row; `counts` has their tallies in this order.
    let paths: [fn(&mut Decoders, usize) -> [usize; 2]; 6] = [
        |d, chunk| spare_commit(&mut *d.array, &d.wire, chunk),
        |d, chunk| spare_commit(&mut d.boxed, &d.wire, chunk),
        |d, chunk| feed(&mut d.boxed, &d.wire, chunk),
        |d, _| slices(&d.wire),
        |d, chunk| spare_commit(&mut *d.tarray, &d.text, chunk),
        |d, chunk| feed(&mut d.tboxed, &d.text, chunk),
    ];
    let mut counts = [[0usize; 2]; 6];

    ARMED.with(|a| a.set(true));
    for chunk in [1, 7, 64, 1500, usize::MAX] {
        for (count, path) in counts.iter_mut().zip(paths) {
            *count = add(*count, path(&mut d, chunk));
        }
    }
    ARMED.with(|a| a.set(false));

    assert_eq!(allocations(), 0, "a decoder allocated");
    // Every binary path saw the same frames and errors, and so did both
    // text paths: the loops above really decoded.
    let [frames, errors] = counts[0];
    assert!(frames >= 5 * 40 && errors >= 5 * 40, "{counts:?}");
    assert!(counts[..4].iter().all(|c| *c == counts[0]), "{counts:?}");
    assert_eq!(counts[4], counts[5], "{counts:?}");
    assert!(
        counts[4][0] >= 5 * 40 && counts[4][1] >= 5 * 40,
        "{counts:?}"
    );
}

/// The inputs and the decoders of [`every_decoder_entry_point_allocates_nothing`].
struct Decoders {
    wire: Vec<u8>,
    text: Vec<u8>,
    array: Box<Decoder<2098>>,
    boxed: msgwire::StreamDecoder<Box<[u8]>>,
    tarray: Box<TextDecoder<257>>,
    tboxed: msgwire::TextStreamDecoder<Box<[u8]>>,
}

fn add(a: [usize; 2], b: [usize; 2]) -> [usize; 2] {
    [a[0] + b[0], a[1] + b[1]]
}

fn tally(ev: Result<Message<'_>, msgwire::DecodeError>, n: &mut [usize; 2]) {
    match ev {
        Ok(m) => {
            std::hint::black_box(m.payload);
            n[0] += 1;
        }
        Err(_) => n[1] += 1,
    }
}

/// 40 rounds of: a valid frame with a checksum, garbage, a bad header
/// checksum, a too-large frame, a bad trailer, a valid frame.
fn mixed_stream() -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    for i in 0..40u32 {
        let payload = vec![i as u8; (i as usize * 53) % 2000];
        let m = Message::new(Kind::ECHO, &payload)
            .with_id(i)
            .with_flags(Flags::CHECKSUM);
        let n = msgwire::encode(&m, &mut buf).expect("encode");
        out.extend_from_slice(&buf[..n]);
        out.extend_from_slice(b"garbage");
        let n = msgwire::encode(&Message::new(Kind::PING, b"x"), &mut buf).expect("encode");
        let mut bad = buf[..n].to_vec();
        bad[13] ^= 0xFF;
        out.extend_from_slice(&bad);
        let big = vec![0u8; 2049];
        let n = msgwire::encode(&Message::new(Kind::ECHO, &big), &mut buf).expect("encode");
        out.extend_from_slice(&buf[..n]);
        let m = Message::new(Kind::ECHO, b"sum").with_flags(Flags::CHECKSUM);
        let n = msgwire::encode(&m, &mut buf).expect("encode");
        buf[n - 1] ^= 1;
        out.extend_from_slice(&buf[..n]);
        let n =
            msgwire::encode(&Message::new(Kind::PING, b"").with_id(i), &mut buf).expect("encode");
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// 40 rounds of: a line, a line without `:`, an overlong line, a blank
/// line, a line with a bad kind.
fn mixed_lines() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..40 {
        out.extend_from_slice(format!("ECHO:line {i}\r\n").as_bytes());
        out.extend_from_slice(b"no separator\n");
        out.extend(std::iter::repeat_n(b'z', 300 + i));
        out.extend_from_slice(b"\n\nP G:x\n");
    }
    out
}

/// What the binary and the text stream decoders have in common.
trait Stream {
    fn spare(&mut self) -> &mut [u8];
    fn commit(&mut self, n: usize);
    fn feed(&mut self, bytes: &[u8]) -> usize;
    fn next(&mut self) -> Option<Result<Message<'_>, msgwire::DecodeError>>;
    fn clear(&mut self);
}

macro_rules! stream {
    ($decoder:ident) => {
        impl<B: AsRef<[u8]> + AsMut<[u8]>> Stream for msgwire::$decoder<B> {
            fn spare(&mut self) -> &mut [u8] {
                msgwire::$decoder::spare(self)
            }
            fn commit(&mut self, n: usize) {
                msgwire::$decoder::commit(self, n)
            }
            fn feed(&mut self, bytes: &[u8]) -> usize {
                msgwire::$decoder::feed(self, bytes)
            }
            fn next(&mut self) -> Option<Result<Message<'_>, msgwire::DecodeError>> {
                msgwire::$decoder::decode(self)
            }
            fn clear(&mut self) {
                msgwire::$decoder::clear(self)
            }
        }
    };
}

stream!(StreamDecoder);
stream!(TextStreamDecoder);

/// Reads `wire` through `spare`/`commit`, at most `chunk` bytes at a time.
fn spare_commit(dec: &mut impl Stream, wire: &[u8], chunk: usize) -> [usize; 2] {
    let mut n = [0; 2];
    let mut rest = wire;
    while !rest.is_empty() {
        let spare = dec.spare();
        let k = spare.len().min(rest.len()).min(chunk);
        spare[..k].copy_from_slice(&rest[..k]);
        dec.commit(k);
        rest = &rest[k..];
        while let Some(ev) = dec.next() {
            tally(ev, &mut n);
        }
    }
    dec.clear();
    n
}

/// Feeds `wire` in pieces of `chunk` bytes.
fn feed(dec: &mut impl Stream, wire: &[u8], chunk: usize) -> [usize; 2] {
    let mut n = [0; 2];
    for part in wire.chunks(chunk.min(wire.len())) {
        let mut part = part;
        while !part.is_empty() {
            let k = dec.feed(part);
            part = &part[k..];
            while let Some(ev) = dec.next() {
                tally(ev, &mut n);
            }
        }
    }
    dec.clear();
    n
}

fn slices(wire: &[u8]) -> [usize; 2] {
    let mut n = [0; 2];
    let mut pos = 0;
    while pos < wire.len() {
        match msgwire::decode_slice(&wire[pos..], 2048) {
            Ok(msgwire::Status::Complete { message, consumed }) => {
                tally(Ok(message), &mut n);
                pos += consumed;
            }
            Ok(msgwire::Status::Partial { .. }) => break,
            Err(e) => {
                tally(Err(e.error), &mut n);
                pos += e.consumed as usize;
            }
        }
    }
    n
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the guard: an armed allocation is counted.
    let before = allocations();
    ARMED.with(|a| a.set(true));
    let v = std::hint::black_box(vec![1u8; 64]);
    ARMED.with(|a| a.set(false));
    drop(v);
    assert!(allocations() > before);
}

/// The device's events (feature `embedded-io-async`): a conversation that
/// subscribes, 50 events published into an `Events` while `serve_with_events`
/// runs, and a device `Client` that subscribes and takes an event, all
/// polled by hand over a scripted transport, allocate nothing.
#[cfg(feature = "embedded-io-async")]
mod device_events {
    use std::cell::RefCell;
    use std::convert::Infallible;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use msgwire::conversation::{Filter, Framing};
    use msgwire::embedded::{
        serve_with_events, Builtins, Client, Ended, Events, Published, ServeConfig,
    };
    use msgwire::{Flags, Kind, Message};

    use super::{allocations, ARMED};

    /// What the other side sent and what this side wrote, in fixed storage.
    struct Script {
        rx: heapless::Deque<u8, 256>,
        tx: heapless::Vec<u8, 4096>,
    }

    /// This side's end of a script: `read` is pending while nothing is
    /// scripted (the test polls again).
    struct End<'a>(&'a RefCell<Script>);

    impl embedded_io_async::ErrorType for End<'_> {
        type Error = Infallible;
    }

    impl embedded_io_async::Read for End<'_> {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
            std::future::poll_fn(|_| {
                let mut s = self.0.borrow_mut();
                let mut n = 0;
                while n < buf.len() {
                    match s.rx.pop_front() {
                        Some(b) => buf[n] = b,
                        None => break,
                    }
                    n += 1;
                }
                if n == 0 {
                    Poll::Pending
                } else {
                    Poll::Ready(Ok(n))
                }
            })
            .await
        }
    }

    impl embedded_io_async::Write for End<'_> {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
            self.0
                .borrow_mut()
                .tx
                .extend_from_slice(buf)
                .expect("room for the test's output");
            Ok(buf.len())
        }

        async fn flush(&mut self) -> Result<(), Infallible> {
            Ok(())
        }
    }

    fn frame(m: &Message<'_>) -> heapless::Vec<u8, 64> {
        let mut out = heapless::Vec::new();
        msgwire::Encoder::new()
            .encode_to_vec(m, &mut out)
            .expect("fits");
        out
    }

    fn push(script: &RefCell<Script>, bytes: &[u8]) {
        for &b in bytes {
            script.borrow_mut().rx.push_back(b).expect("room");
        }
    }

    fn poll<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    const TICK: Kind<'static> = Kind::lit("tick");

    #[test]
    fn publishing_and_subscribing_allocate_nothing() {
        let sub = frame(&Message::new(Kind::SUB, b"tick").with_id(1));
        let exit = frame(&Message::new(Kind::EXIT, b"").with_id(2));
        let sub_answer = frame(
            &Message::new(Kind::SUB, b"tick")
                .with_id(1)
                .with_flags(Flags::RESPONSE),
        );
        let event = frame(&msgwire::conversation::event(TICK, b"7"));
        let events = Events::<4, 8>::new();
        // std's `critical-section` sets up a thread-local at its first use.
        let _ = events.publish(TICK, b"");
        let device = RefCell::new(Script {
            rx: heapless::Deque::new(),
            tx: heapless::Vec::new(),
        });
        let client_side = RefCell::new(Script {
            rx: heapless::Deque::new(),
            tx: heapless::Vec::new(),
        });
        let mut buf = [0u8; 128];
        let before = allocations();
        ARMED.with(|a| a.set(true));
        // The device serves: SUB, 50 events, EXIT.
        push(&device, &sub);
        let mut io = End(&device);
        let mut app = Builtins;
        let mut serving = pin!(serve_with_events(
            &mut io,
            &mut buf,
            &mut app,
            ServeConfig::default(),
            &events
        ));
        assert!(poll(serving.as_mut()).is_pending());
        let mut queued = 0;
        for i in 0..50u8 {
            if events.publish(TICK, &[b'0' + i % 10]) == Ok(Published::Queued) {
                queued += 1;
            }
            assert!(poll(serving.as_mut()).is_pending());
        }
        push(&device, &exit);
        let ended = poll(serving.as_mut());
        // The device as a client: SUB answered, then an event.
        push(&client_side, &sub_answer);
        push(&client_side, &event);
        let mut client = Client::new(End(&client_side), [0u8; 64], Framing::Binary).expect("buf");
        let subscribed = poll(pin!(
            client.subscribe(Filter::parse(b"tick").expect("filter"))
        ));
        let got = match poll(pin!(client.next_event())) {
            Poll::Ready(Ok(m)) => (m.kind == TICK, m.payload == b"7"),
            other => panic!("{other:?}"),
        };
        ARMED.with(|a| a.set(false));
        assert_eq!(allocations(), before, "the device's events allocated");
        assert!(matches!(ended, Poll::Ready(Ok(Ended::Exit))));
        assert!(matches!(subscribed, Poll::Ready(Ok(()))));
        assert_eq!(got, (true, true));
        assert_eq!(queued, 50);
        // The device wrote the SUB answer and the 50 events.
        let mut dec = msgwire::Decoder::<128>::new();
        let tx = device.borrow();
        let mut rest = &tx.tx[..];
        let mut n = 0;
        while !rest.is_empty() {
            let k = dec.feed(rest);
            rest = &rest[k..];
            while let Some(m) = dec.decode() {
                let m = m.expect("valid frames");
                n += usize::from(m.flags.contains(Flags::EVENT));
            }
        }
        assert_eq!(n, 50);
    }
}

//! The server-and-client fixture of the `async` tests: a `Client` over an
//! in-memory pipe with what the other end runs (an echo server, a peer the
//! test scripts, nothing at all, a `Router`), or over TCP to a `Server`;
//! and `Flood`, a transport that never lets a read wait.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use async_io::Timer;
use futures_lite::future::block_on;
use futures_lite::FutureExt;
use msgwire::conversation::Framing;
use msgwire::net::memory::{self, MemStream};
use msgwire::net::{
    Client, ClientConfig, ConnEnd, Frame, Framed, FramedConfig, RecvError, Router, Server,
    ServerConfig, Spawner,
};
use msgwire::{Flags, Kind, Message};

/// `fut`, or `None` after `limit`.
pub async fn within<T>(limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    async { Some(fut.await) }
        .or(async {
            Timer::after(limit).await;
            None
        })
        .await
}

/// A server on 127.0.0.1 (an ephemeral port), started on
/// `Spawner::global()`.
pub fn tcp_server(router: Router, config: ServerConfig) -> Server {
    block_on(Server::bind_tcp("127.0.0.1:0", router, config))
        .expect("bind")
        .start(&Spawner::global())
        .expect("start")
}

/// `router` serving one in-memory connection (sniffing its framing) on a
/// thread of its own; returns the other end of a pipe of `chunks` chunks.
pub fn serve_router(
    router: Router,
    chunks: usize,
    config: FramedConfig,
) -> (MemStream, JoinHandle<ConnEnd>) {
    let (end, server_end) = memory::pipe(chunks);
    let handle = thread::spawn(move || {
        block_on(async move {
            let mut conn = Framed::sniffing(server_end, config);
            router.serve(&mut conn).await
        })
    });
    (end, handle)
}

/// How the test's `Client` is made: over a `memory::pipe` of `chunks`
/// chunks (8 unless set), with `config`, and its background work started
/// on `Spawner::global()` unless [`Fixture::by_hand`]. The method that
/// ends the chain says what is at the other end.
pub struct Fixture {
    chunks: usize,
    config: ClientConfig,
    by_hand: bool,
}

pub fn fixture() -> Fixture {
    Fixture {
        chunks: 8,
        config: ClientConfig::default(),
        by_hand: false,
    }
}

impl Fixture {
    /// The pipe's capacity in chunks (writes).
    pub fn chunks(mut self, chunks: usize) -> Self {
        self.chunks = chunks;
        self
    }

    /// `ClientConfig::queue`.
    pub fn queue(mut self, queue: usize) -> Self {
        self.config.queue = queue;
        self
    }

    /// `ClientConfig::in_flight`.
    pub fn in_flight(mut self, in_flight: usize) -> Self {
        self.config.in_flight = in_flight;
        self
    }

    /// `ClientConfig::framed.max_payload`: the largest answer accepted.
    pub fn max_payload(mut self, max: u32) -> Self {
        self.config.framed.max_payload = max;
        self
    }

    /// `ClientConfig::subscription`.
    pub fn subscription(mut self, limits: msgwire::net::EventLimits) -> Self {
        self.config.subscription = limits;
        self
    }

    /// `ClientConfig::schema`.
    pub fn schema(mut self, schema: u64) -> Self {
        self.config.schema = Some(schema);
        self
    }

    /// `ClientConfig::request_timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// The client is not started: its background work (`client.run()`) is
    /// the test's to poll, or to hold and never poll.
    pub fn by_hand(mut self) -> Self {
        self.by_hand = true;
        self
    }

    fn client<S>(&self, end: S) -> Client
    where
        S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Send + Unpin + 'static,
    {
        let client = Client::new(end, self.config);
        if self.by_hand {
            client
        } else {
            client.start(&Spawner::global()).expect("start")
        }
    }

    /// The other end as it is: a server that reads nothing until the test
    /// does.
    pub fn silent(self) -> (Client, MemStream) {
        let (end, server_end) = memory::pipe(self.chunks);
        (self.client(end), server_end)
    }

    /// A server the test scripts message by message.
    pub fn scripted(self) -> (Client, Peer) {
        let (client, server_end) = self.silent();
        (client, Peer::new(server_end))
    }

    /// The [`Echo`] server on a thread of its own.
    pub fn echo(self) -> (Client, Echo) {
        let (client, server_end) = self.silent();
        (client, Echo::spawn(server_end))
    }

    /// `router` serving the connection on a thread of its own.
    pub fn router(self, router: Router) -> (Client, JoinHandle<ConnEnd>) {
        self.router_with(router, FramedConfig::default())
    }

    /// [`Fixture::router`] with the server's limits.
    pub fn router_with(
        self,
        router: Router,
        config: FramedConfig,
    ) -> (Client, JoinHandle<ConnEnd>) {
        let (end, served) = serve_router(router, self.chunks, config);
        (self.client(end), served)
    }

    /// Over TCP to `server` instead of a pipe (the pipe's size does not
    /// apply).
    pub fn tcp(self, server: &Server) -> Client {
        let addr = server.local_addr().expect("tcp");
        let client = block_on(Client::connect_tcp(addr, self.config)).expect("connect");
        if self.by_hand {
            client
        } else {
            client.start(&Spawner::global()).expect("start")
        }
    }
}

/// The server end of a `memory::pipe`, scripted by the test thread.
pub struct Peer {
    conn: Framed<MemStream>,
}

impl Peer {
    pub fn new(end: MemStream) -> Self {
        Peer {
            conn: Framed::new(end, Framing::Binary, FramedConfig::default()),
        }
    }

    /// The next message the client sent (panics after 5 s).
    pub fn recv(&mut self) -> Frame {
        self.try_recv(Duration::from_secs(5))
            .expect("no message from the client within 5 s")
            .expect("the client closed")
    }

    /// The next message, `Err` at the end of the stream, `None` after
    /// `limit`.
    pub fn try_recv(&mut self, limit: Duration) -> Option<Result<Frame, String>> {
        let conn = &mut self.conn;
        block_on(within(limit, async {
            match conn.recv().await {
                Ok(m) => Ok(Frame::from_message(&m)),
                Err(e) => Err(e.to_string()),
            }
        }))
    }

    /// Answers request `id` (kind `ANS`).
    pub fn answer(&mut self, id: u32, payload: &[u8]) {
        let m = Message::new(Kind::new("ANS").expect("kind"), payload)
            .with_id(id)
            .with_flags(Flags::RESPONSE);
        self.send(&m);
    }

    /// Writes `bytes` as they are, in one write (panics if the client
    /// reads nothing in 5 s).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        use futures_lite::AsyncWriteExt;
        let io = self.conn.get_mut();
        block_on(within(Duration::from_secs(5), async {
            io.write_all(bytes).await.expect("write");
            io.flush().await.expect("flush");
        }))
        .expect("the client does not read");
    }

    /// Sends `m` and flushes (panics if the client reads nothing in 5 s).
    pub fn send(&mut self, m: &Message<'_>) {
        let conn = &mut self.conn;
        block_on(within(Duration::from_secs(5), async {
            conn.send(m).await.expect("send");
            conn.flush().await.expect("flush");
        }))
        .expect("the client does not read");
    }
}

/// What an [`Echo`] server saw and did.
#[derive(Default)]
pub struct Seen {
    /// Every message received, in order.
    pub log: Mutex<Vec<Frame>>,
    /// Answers sent.
    pub answered: AtomicU64,
    /// Frames the server's decoder refused (a partial or corrupt frame).
    pub refused: AtomicU64,
}

/// An echo server on the end of a pipe, on a thread of its own, with what
/// it saw ([`Seen`], through `Deref`). Per kind:
///
/// - `QUIET`, and any message without an id: no answer.
/// - `WITHNEWS`: an event `NEWS` with the same payload, then the answer.
/// - `PUSH`: the answer, then 20 ms later an event `NEWS pushed`.
/// - anything else (`SUB` among them, as a 1.2 peer answers it): the same
///   kind and payload back.
pub struct Echo {
    seen: Arc<Seen>,
    thread: JoinHandle<()>,
}

impl Deref for Echo {
    type Target = Seen;

    fn deref(&self) -> &Seen {
        &self.seen
    }
}

impl Echo {
    pub fn spawn(end: MemStream) -> Echo {
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        let thread = thread::spawn(move || block_on(echo(end, &s)));
        Echo { seen, thread }
    }

    /// Waits for the server to end (the client closed).
    pub fn join(self) {
        self.thread.join().expect("echo server");
    }
}

async fn echo(end: MemStream, s: &Seen) {
    let mut conn = Framed::new(end, Framing::Binary, FramedConfig::default());
    loop {
        let frame = match conn.recv().await {
            Ok(m) => Frame::from_message(&m),
            Err(e) if e.is_recoverable() => {
                s.refused.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            Err(RecvError::Closed) | Err(_) => break,
        };
        s.log.lock().unwrap().push(frame.clone());
        if frame.id == 0 || frame.kind == "QUIET" {
            continue;
        }
        if frame.kind == "WITHNEWS" {
            let news = msgwire::conversation::event(Kind::new("NEWS").unwrap(), &frame.payload);
            if conn.send(&news).await.is_err() {
                break;
            }
        }
        let kind = Kind::new(&frame.kind).unwrap();
        let answer = Message::new(kind, &frame.payload)
            .with_id(frame.id)
            .with_flags(Flags::RESPONSE);
        s.answered.fetch_add(1, Ordering::SeqCst);
        if conn.send(&answer).await.is_err() {
            break;
        }
        if frame.kind == "PUSH" {
            if conn.flush().await.is_err() {
                break;
            }
            Timer::after(Duration::from_millis(20)).await;
            let news = msgwire::conversation::event(Kind::new("NEWS").unwrap(), b"pushed");
            if conn.send(&news).await.is_err() {
                break;
            }
        }
    }
}

/// A transport that always has bytes ready: `count` copies of `unit`, then
/// the end of the stream. Writes are taken and dropped. `read` counts the
/// copies handed out so far.
pub struct Flood {
    unit: Vec<u8>,
    pos: usize,
    left: u64,
    read: Arc<AtomicU64>,
}

impl Flood {
    pub fn new(unit: Vec<u8>, count: u64) -> (Flood, Arc<AtomicU64>) {
        let read = Arc::new(AtomicU64::new(0));
        let flood = Flood {
            unit,
            pos: 0,
            left: count,
            read: read.clone(),
        };
        (flood, read)
    }
}

impl futures_lite::AsyncRead for Flood {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut n = 0;
        while n < buf.len() && self.left > 0 {
            let pos = self.pos;
            let take = (self.unit.len() - pos).min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&self.unit[pos..pos + take]);
            n += take;
            self.pos += take;
            if self.pos == self.unit.len() {
                self.pos = 0;
                self.left -= 1;
                self.read.fetch_add(1, Ordering::SeqCst);
            }
        }
        Poll::Ready(Ok(n))
    }
}

impl futures_lite::AsyncWrite for Flood {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

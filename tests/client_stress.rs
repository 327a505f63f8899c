//! Stress and regression tests for the correlating `Client`
//! (`src/net/client/`): requests that queue their frames and wait, and the
//! connection loop (`Client::run`) that writes the batches, hands out the
//! answers, fails requests whose time is up and notices the end.
//!
//! Most tests drive the client from many tasks on a two-thread executor
//! with random cancellation and then check that the books balance. A few
//! poll request futures by hand (each with a waker that records its wakes)
//! against a scripted peer on the other end of a `memory::pipe`, so a
//! precise interleaving is reproduced every time.
//!
//! Every wait has a deadline: a test fails, it never hangs.
#![cfg(feature = "async")]

mod common;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use common::net::{fixture, tcp_server, within, Peer};
use common::watchdog::watchdog;
use common::{wait_until, XorShift};
use futures_lite::future::block_on;
use futures_lite::FutureExt;
use msgwire::net::{
    Client, ClientError, Delivery, Frame, Reply, Request, Router, Server, ServerConfig,
};
use msgwire::{Flags, Kind, Message};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A waker that records that it was woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A future polled by hand, as an executor would: with its own waker, and
/// (when the test plays a well-behaved executor) only after that waker was
/// woken.
struct Probe<'a, T> {
    fut: Option<BoxFuture<'a, T>>,
    out: Option<T>,
    /// Polled at least once.
    polled: bool,
    flag: Arc<Flag>,
    waker: Waker,
}

impl<'a, T> Probe<'a, T> {
    fn new(fut: impl Future<Output = T> + Send + 'a) -> Self {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        Probe {
            fut: Some(Box::pin(fut)),
            out: None,
            polled: false,
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    /// Polls once (clearing the wake flag first); `true` once done.
    fn poll(&mut self) -> bool {
        if self.out.is_some() {
            return true;
        }
        self.polled = true;
        self.flag.0.store(false, Ordering::SeqCst);
        let mut cx = Context::from_waker(&self.waker);
        let fut = self.fut.as_mut().expect("not dropped");
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            self.out = Some(v);
            self.fut = None;
            return true;
        }
        false
    }

    /// Polls while the future wakes itself (a yield), at most a few times.
    fn poll_settled(&mut self) -> bool {
        for _ in 0..8 {
            if self.poll() {
                return true;
            }
            if !self.woken() {
                return false;
            }
        }
        false
    }

    fn woken(&self) -> bool {
        self.flag.0.load(Ordering::SeqCst)
    }

    /// Plays the executor until the future is done: polls only when
    /// woken. Panics after `limit` (a lost wake-up, or the work it waits
    /// for never happens).
    fn drive(&mut self, limit: Duration) -> T {
        self.drive_with(&mut [], limit)
    }

    /// As [`Probe::drive`], also polling `others` whenever they are woken
    /// (other tasks of a well-behaved executor).
    fn drive_with(&mut self, others: &mut [&mut dyn Pollable], limit: Duration) -> T {
        wait_until(limit, "a future polled only when woken is done", || {
            if self.out.is_some() || (self.woken() && self.poll()) {
                return true;
            }
            for o in others.iter_mut() {
                o.poll_if_woken();
            }
            false
        });
        self.out.take().expect("done")
    }
}

/// A [`Probe`] of any output, for [`Probe::drive_with`].
trait Pollable {
    /// Polls if woken; whether it was.
    fn poll_if_woken(&mut self) -> bool;
}

impl<T> Pollable for Probe<'_, T> {
    fn poll_if_woken(&mut self) -> bool {
        let woken = self.woken();
        if woken {
            self.poll();
        }
        woken
    }
}

/// Polls `probes` while any of them is woken. When everything runs on this
/// thread (the client's background work included, polled by hand), each
/// one is then done or waits for something from outside (the peer).
fn settle(probes: &mut [&mut dyn Pollable]) {
    for _ in 0..1000 {
        let mut any = false;
        for p in probes.iter_mut() {
            any |= p.poll_if_woken();
        }
        if !any {
            return;
        }
    }
    panic!("still waking itself after 1000 polls");
}

/// A TCP server (the crate's own) whose `CNT` handler counts and echoes.
fn counting_tcp_server() -> (Server, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let router = Router::new()
        .on("CNT", move |req: Request| {
            c.fetch_add(1, Ordering::SeqCst);
            async move { Ok(Reply::new(req.kind(), req.payload())) }
        })
        .expect("kind");
    (tcp_server(router, ServerConfig::default()), count)
}

/// Runs `futs` on a two-thread executor (the test thread and one helper)
/// and returns their outputs in order.
fn on_two_threads<F, T>(futs: Vec<F>) -> Vec<T>
where
    F: Future<Output = T> + Send,
    T: Send,
{
    let ex = async_executor::Executor::new();
    let tasks: Vec<_> = futs.into_iter().map(|f| ex.spawn(f)).collect();
    let (stop, stopped) = async_channel::bounded::<()>(1);
    thread::scope(|s| {
        let ex = &ex;
        let helper = s.spawn(move || {
            block_on(ex.run(async {
                let _ = stopped.recv().await;
            }))
        });
        let out = block_on(ex.run(async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await);
            }
            out
        }));
        stop.close();
        helper.join().expect("helper thread");
        out
    })
}

/// What one stress task saw.
#[derive(Default)]
struct TaskReport {
    ok: u64,
    cancelled: u64,
    failures: Vec<String>,
}

/// `tasks` tasks each issue `per_task` requests of `kind`; about a third
/// race a timer of 0–400 µs and are dropped when it wins (at any await
/// point: in a batch's yield, waiting for room, while being the reader).
fn stress_requests(client: &Client, kind: &str, tasks: usize, per_task: usize) -> TaskReport {
    let futs: Vec<_> = (0..tasks)
        .map(|t| {
            let client = client.clone();
            let kind = kind.to_string();
            async move {
                let mut rng = XorShift::seeded(t as u64 + 1);
                let mut rep = TaskReport::default();
                for i in 0..per_task {
                    let payload = format!("{t}-{i}");
                    let r = rng.next();
                    let raced = r.is_multiple_of(3);
                    let limit = if raced {
                        Duration::from_micros(r % 400)
                    } else {
                        Duration::from_secs(5)
                    };
                    match within(limit, client.request(&kind, payload.as_bytes())).await {
                        Some(Ok(f)) => {
                            if f.payload != payload.as_bytes() || f.kind != kind {
                                rep.failures.push(format!(
                                    "{payload}: answered {:?} {:?}",
                                    f.kind,
                                    f.text()
                                ));
                            }
                            rep.ok += 1;
                        }
                        Some(Err(e)) => rep.failures.push(format!("{payload}: {e}")),
                        None if raced => rep.cancelled += 1,
                        None => rep.failures.push(format!("{payload}: no answer in 5 s")),
                    }
                    if r.is_multiple_of(7) {
                        futures_lite::future::yield_now().await;
                    }
                }
                rep
            }
        })
        .collect();
    let mut total = TaskReport::default();
    for rep in on_two_threads(futs) {
        total.ok += rep.ok;
        total.cancelled += rep.cancelled;
        total.failures.extend(rep.failures);
    }
    total
}

/// [`stress_requests`] (12 tasks of 150 requests of `kind`), checked: no
/// failure, some cancelled (or nothing was tested); then one more request,
/// which must be answered. Its answer comes after every earlier one (the
/// server answers in order), so every late answer has been read by then.
/// The report counts that request among the `ok` ones.
fn stress_then_sync(client: &Client, kind: &str) -> TaskReport {
    let mut rep = stress_requests(client, kind, 12, 150);
    assert!(
        rep.failures.is_empty(),
        "{:?}",
        &rep.failures[..rep.failures.len().min(10)]
    );
    assert!(
        rep.cancelled > 0,
        "the timers never won: nothing was tested"
    );
    let sync = block_on(within(
        Duration::from_secs(2),
        client.request(kind, b"sync"),
    ));
    assert!(
        matches!(&sync, Some(Ok(f)) if f.payload == b"sync"),
        "{sync:?}"
    );
    rep.ok += 1;
    rep
}

/// Every answer the server sent was taken by its request or counted late
/// (including one that reached a request whose future was dropped before
/// it took it).
fn books_balance(taken: u64, cancelled: u64, late: u64, answered: u64) {
    assert_eq!(
        taken + late,
        answered,
        "taken {taken} + late {late} vs answered {answered} ({cancelled} cancelled)"
    );
    assert!(late <= cancelled, "late {late} > cancelled {cancelled}");
}

// ---------------------------------------------------------------------------
// Random cancellation, many tasks, two threads
// ---------------------------------------------------------------------------

/// Many tasks with random cancellation over the in-memory transport: every
/// answer reaches the request that asked (payload checked), no frame is
/// refused, repeated or lost, the client answers every later request, and
/// the books balance: answers sent = answers taken + `late_answers`.
#[test]
fn random_cancellation_in_memory_keeps_the_books_balanced() {
    let _watchdog = watchdog();
    let (client, seen) = fixture().chunks(4).queue(8).echo();

    let rep = stress_then_sync(&client, "ECHO");

    let answered = seen.answered.load(Ordering::SeqCst);
    assert_eq!(
        seen.refused.load(Ordering::SeqCst),
        0,
        "a frame was written in part"
    );
    books_balance(rep.ok, rep.cancelled, client.late_answers(), answered);
    // Each request was written once: no id twice, every payload once.
    let log = seen.log.lock().unwrap();
    let ids: HashSet<u32> = log.iter().map(|f| f.id).collect();
    assert_eq!(ids.len(), log.len(), "an id was written twice");
    let payloads: HashSet<&[u8]> = log.iter().map(|f| f.payload.as_slice()).collect();
    assert_eq!(payloads.len(), log.len(), "a request was written twice");
    drop(log);

    drop(client);
    seen.join();
}

/// The same over TCP (async-io's reactor, which keeps one waker per
/// direction and wakes the one it replaces), against the crate's server.
#[test]
fn random_cancellation_over_tcp_keeps_the_books_balanced() {
    let _watchdog = watchdog();
    let (server, count) = counting_tcp_server();
    let client = fixture().queue(8).tcp(&server);

    let rep = stress_then_sync(&client, "CNT");
    books_balance(
        rep.ok,
        rep.cancelled,
        client.late_answers(),
        count.load(Ordering::SeqCst),
    );
    drop(client);
    block_on(server.shutdown(Duration::from_secs(1)));
}

/// `queue: 1` with many concurrent requests (and sends) over a pipe of one
/// chunk: backpressure everywhere, yet every request is answered, in time,
/// with its own answer, and nothing is written twice or lost.
#[test]
fn queue_of_one_with_many_concurrent_requests() {
    let _watchdog = watchdog();
    let (client, seen) = fixture().chunks(1).queue(1).echo();
    let futs: Vec<_> = (0..24)
        .map(|t| {
            let client = client.clone();
            async move {
                let mut failures = Vec::new();
                for i in 0..40 {
                    let payload = format!("{t}-{i}");
                    if i % 5 == 0 {
                        if let Err(e) = client.send("NOTE", payload.as_bytes()).await {
                            failures.push(format!("send {payload}: {e}"));
                        }
                    }
                    match within(
                        Duration::from_secs(5),
                        client.request("ECHO", payload.as_bytes()),
                    )
                    .await
                    {
                        Some(Ok(f)) if f.payload == payload.as_bytes() => {}
                        other => failures.push(format!("{payload}: {other:?}")),
                    }
                }
                failures
            }
        })
        .collect();
    let failures: Vec<String> = on_two_threads(futs).into_iter().flatten().collect();
    assert!(
        failures.is_empty(),
        "{:?}",
        &failures[..failures.len().min(10)]
    );
    assert_eq!(seen.answered.load(Ordering::SeqCst), 24 * 40);
    assert_eq!(client.late_answers(), 0);
    let log = seen.log.lock().unwrap();
    assert_eq!(log.len(), 24 * 40 + 24 * 8, "messages lost or repeated");
    assert_eq!(seen.refused.load(Ordering::SeqCst), 0);
    drop(log);
    drop(client);
    seen.join();
}

/// A task's `send` then `request` reach the server in that order, with
/// many tasks interleaving and a small queue.
#[test]
fn send_then_request_keep_their_order() {
    let _watchdog = watchdog();
    let (client, seen) = fixture().chunks(2).queue(2).echo();
    let futs: Vec<_> = (0..12)
        .map(|t| {
            let client = client.clone();
            async move {
                for i in 0..40 {
                    let payload = format!("{t}-{i}");
                    client.send("S", payload.as_bytes()).await.expect("send");
                    let got = within(
                        Duration::from_secs(5),
                        client.request("R", payload.as_bytes()),
                    )
                    .await
                    .expect("answer in time")
                    .expect("answer");
                    assert_eq!(got.payload, payload.as_bytes());
                }
            }
        })
        .collect();
    on_two_threads(futs);
    let log = seen.log.lock().unwrap();
    let mut per_task: HashMap<String, Vec<String>> = HashMap::new();
    for f in log.iter() {
        let text = f.text().expect("utf8").to_string();
        let task = text.split('-').next().expect("task").to_string();
        per_task
            .entry(task)
            .or_default()
            .push(format!("{} {text}", f.kind));
    }
    assert_eq!(per_task.len(), 12);
    for (t, got) in per_task {
        let want: Vec<String> = (0..40)
            .flat_map(|i| [format!("S {t}-{i}"), format!("R {t}-{i}")])
            .collect();
        assert_eq!(got, want, "task {t}'s messages out of order");
    }
    drop(log);
    drop(client);
    seen.join();
}

/// Subscriptions get events while requests are in flight (the loop hands
/// them out as it reads), and also right after the requests stop.
#[test]
fn subscribers_are_served_promptly_with_and_without_requests_in_flight() {
    let _watchdog = watchdog();
    let (client, server) = fixture().echo();
    let mut sub = block_on(client.subscribe("NEWS")).expect("subscribe");

    let mut futs: Vec<BoxFuture<'_, Vec<String>>> = (0..8)
        .map(|t| {
            let client = client.clone();
            Box::pin(async move {
                let mut failures = Vec::new();
                for i in 0..50 {
                    let payload = format!("{t}-{i}");
                    match within(
                        Duration::from_secs(5),
                        client.request("WITHNEWS", payload.as_bytes()),
                    )
                    .await
                    {
                        Some(Ok(f)) if f.payload == payload.as_bytes() => {}
                        other => failures.push(format!("{payload}: {other:?}")),
                    }
                }
                failures
            }) as BoxFuture<'_, Vec<String>>
        })
        .collect();
    futs.push(Box::pin(async move {
        let mut news = HashSet::new();
        while news.len() < 400 {
            match within(Duration::from_secs(5), sub.recv()).await {
                Some(Some(Delivery::Event(f))) => {
                    news.insert(f.payload);
                }
                other => return vec![format!("news {}: {other:?}", news.len())],
            }
        }
        Vec::new()
    }));
    let failures: Vec<String> = on_two_threads(futs).into_iter().flatten().collect();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(client.dropped_unsolicited(), 0);

    drop(client);
    server.join();

    // No request waits when the server pushes (20 ms after its answer):
    // the push still reaches the subscriber, with the connection loop
    // polled only when woken (a second client, its loop polled by hand).
    let (client, server) = fixture().by_hand().echo();
    let mut background = Probe::new(client.run());
    assert!(!background.poll_settled());
    let mut sub = {
        let mut subscribing = Probe::new(client.subscribe("NEWS"));
        subscribing.poll();
        subscribing.drive_with(&mut [&mut background], Duration::from_secs(2))
    }
    .expect("subscribe");
    for round in 0..3 {
        // The echo server answers at once: PUSH may end in any poll.
        let mut push = Probe::new(client.request("PUSH", b""));
        push.poll();
        let answer = push.drive_with(&mut [&mut background], Duration::from_secs(2));
        assert!(answer.is_ok(), "round {round}: {answer:?}");
        let mut news = Probe::new(sub.recv());
        news.poll();
        let got = news.drive_with(&mut [&mut background], Duration::from_secs(2));
        assert!(
            matches!(&got, Some(Delivery::Event(f)) if f.payload == b"pushed"),
            "round {round}: {got:?}"
        );
    }
    drop(client);
    assert_eq!(background.drive(Duration::from_secs(2)), Ok(()));
    server.join();
}

// ---------------------------------------------------------------------------
// Cancellation at each await point, reproduced by hand
// ---------------------------------------------------------------------------

/// A request dropped after it queued its frame, before the connection loop
/// wrote it: the batch (its frame and a later request's) is still written
/// whole, the later request is answered, and the dropped one's answer is
/// counted late.
#[test]
fn a_request_dropped_before_its_batch_is_written_leaves_the_batch_whole() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().by_hand().scripted();
    let mut background = Probe::new(client.run());
    let mut a = Probe::new(client.request("A", b"a"));
    assert!(!a.poll());
    assert!(!background.poll_settled());
    let ra = peer.recv();
    let mut c = Probe::new(client.request("C", b"c"));
    assert!(!c.poll(), "C answered before it was written");
    let mut d = Probe::new(client.request("D", b"d"));
    assert!(!d.poll());
    drop(c); // queued, not written yet: its batch holds C and D
    assert!(!background.poll_settled());
    let rc = peer.recv();
    let rd = peer.recv();
    assert_eq!((rc.kind.as_str(), rd.kind.as_str()), ("C", "D"));
    peer.answer(rc.id, b"c");
    peer.answer(rd.id, b"d");
    peer.answer(ra.id, b"a");
    let out = d.drive_with(&mut [&mut a, &mut background], Duration::from_secs(2));
    assert_eq!(out.map(|f| f.payload.into_vec()), Ok(b"d".to_vec()));
    let out = a.drive_with(&mut [&mut background], Duration::from_secs(2));
    assert_eq!(out.map(|f| f.payload.into_vec()), Ok(b"a".to_vec()));
    assert_eq!(client.late_answers(), 1);
}

/// A request dropped while it waits for room in the queue leaves nothing
/// behind: it is never written, and the others go on.
#[test]
fn a_request_dropped_while_waiting_for_room_is_never_written() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().queue(1).by_hand().scripted();
    let mut background = Probe::new(client.run());
    let mut a = Probe::new(client.request("A", b"a"));
    assert!(!a.poll());
    assert!(!background.poll_settled());
    let ra = peer.recv();
    // B is queued, not yet written: the queue (1) is full.
    let mut b = Probe::new(client.request("B", b"b"));
    assert!(!b.poll());
    // R finds no room.
    let mut r = Probe::new(client.request("R", b"r"));
    assert!(!r.poll());
    assert!(!r.woken());
    drop(r);
    assert!(!background.poll_settled());
    let rb = peer.recv();
    assert_eq!(rb.kind, "B");
    peer.answer(ra.id, b"a");
    peer.answer(rb.id, b"b");
    let out = b.drive_with(&mut [&mut a, &mut background], Duration::from_secs(2));
    assert_eq!(out.map(|f| f.payload.into_vec()), Ok(b"b".to_vec()));
    let out = a.drive_with(&mut [&mut background], Duration::from_secs(2));
    assert_eq!(out.map(|f| f.payload.into_vec()), Ok(b"a".to_vec()));
    // A later request still works.
    let mut e = Probe::new(client.request("E", b"e"));
    assert!(!e.poll_settled());
    assert!(!background.poll_settled());
    let re = peer.recv();
    // Nothing was written between B and E (R would be here) ...
    assert_eq!(re.kind, "E");
    peer.answer(re.id, b"e");
    let out = e.drive_with(&mut [&mut background], Duration::from_secs(2));
    assert_eq!(out.map(|f| f.payload.into_vec()), Ok(b"e".to_vec()));
    assert_eq!(client.late_answers(), 0);
    // ... nor after E: closing writes what is queued, then the stream ends.
    client.close();
    assert!(!background.poll_settled());
    let end = peer.try_recv(Duration::from_secs(2));
    assert!(
        matches!(end, Some(Err(_))),
        "not the end of stream: {end:?}"
    );
}

/// A request polled by hand.
type Waiting<'a> = Probe<'a, Result<Frame, ClientError>>;

/// Sets up three requests, each written and not answered, with the
/// connection loop polled only when woken. Returns them as (a, x, y) with
/// the peer's view of x and y.
fn three_waiting<'a>(
    client: &'a Client,
    peer: &mut Peer,
    background: &mut Probe<'static, Result<(), msgwire::net::AlreadyStarted>>,
) -> (Waiting<'a>, (Waiting<'a>, Frame), (Waiting<'a>, Frame)) {
    let mut a = Probe::new(client.request("A", b"a"));
    assert!(!a.poll(), "A answered before it was written");
    assert!(!background.poll_settled());
    let _ = peer.recv();
    let mut x = Probe::new(client.request("X", b"x"));
    assert!(!x.poll_settled());
    assert!(!background.poll_settled());
    let rx = peer.recv();
    let mut y = Probe::new(client.request("Y", b"y"));
    assert!(!y.poll_settled());
    assert!(!background.poll_settled());
    let ry = peer.recv();
    (a, (x, rx), (y, ry))
}

/// A request is dropped while two others wait: they get their answers as
/// they come, with the connection loop polled only when woken (a lost
/// wake-up would leave them waiting).
#[test]
fn a_request_dropped_while_others_wait_does_not_hold_them_up() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().by_hand().scripted();
    let mut background = Probe::new(client.run());
    for _ in 0..3 {
        let (a, (mut x, rx), (mut y, ry)) = three_waiting(&client, &mut peer, &mut background);
        drop(a);
        peer.answer(rx.id, b"x");
        peer.answer(ry.id, b"y");
        let ox = x.drive_with(&mut [&mut y, &mut background], Duration::from_secs(1));
        let oy = y.drive_with(&mut [&mut background], Duration::from_secs(1));
        assert_eq!(ox.map(|f| f.payload.into_vec()), Ok(b"x".to_vec()));
        assert_eq!(oy.map(|f| f.payload.into_vec()), Ok(b"y".to_vec()));
    }
}

/// Two of three waiting requests are dropped: the third still gets its
/// answer (the regression of the earlier client, where reading was handed
/// to a request that was then dropped, and nobody read).
#[test]
fn two_dropped_requests_do_not_stall_the_third() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().by_hand().scripted();
    let mut background = Probe::new(client.run());
    for round in 0..4 {
        let (a, (x, rx), (y, ry)) = three_waiting(&client, &mut peer, &mut background);
        drop(a);
        let (mut stays, id, payload) = if round % 2 == 0 {
            drop(y);
            (x, rx.id, b"x")
        } else {
            drop(x);
            (y, ry.id, b"y")
        };
        peer.answer(id, payload);
        let out = stays.drive_with(&mut [&mut background], Duration::from_secs(1));
        assert_eq!(out.map(|f| f.payload.into_vec()), Ok(payload.to_vec()));
    }
}

/// The same defect from ordinary code, no hand-polling: a task races two
/// requests (`a.or(b)`; first answer wins) while another task waits for
/// its own answer. When the winner ends, `forget` may hand reading to the
/// loser — which is dropped right away with the race.
#[test]
fn racing_two_requests_does_not_stall_a_third() {
    let _watchdog = watchdog();
    // The connection loop is polled only when woken.
    let (client, mut peer) = fixture().by_hand().scripted();
    let mut background = Probe::new(client.run());
    for _ in 0..4 {
        // Several losers so that one of them is likely picked.
        let mut race = Probe::new(
            client
                .request("W", b"w")
                .or(client.request("L1", b""))
                .or(client.request("L2", b""))
                .or(client.request("L3", b"")),
        );
        assert!(!race.poll_settled());
        assert!(!background.poll_settled());
        let mut got = HashMap::new();
        for _ in 0..4 {
            let f = peer.recv();
            got.insert(f.kind.clone(), f.id);
        }
        let mut c = Probe::new(client.request("C", b"c"));
        assert!(!c.poll_settled());
        assert!(!background.poll_settled());
        let rc = peer.recv();
        // The winner's answer ends the race (and drops the losers) ...
        peer.answer(got["W"], b"w");
        let won = race.drive_with(&mut [&mut background], Duration::from_secs(1));
        assert_eq!(won.map(|f| f.payload.into_vec()), Ok(b"w".to_vec()));
        drop(race);
        // ... then C's answer comes.
        peer.answer(rc.id, b"c");
        let out = c.drive_with(&mut [&mut background], Duration::from_secs(1));
        assert_eq!(out.map(|f| f.payload.into_vec()), Ok(b"c".to_vec()));
    }
}

/// A request future that was polled and is then neither polled again nor
/// dropped does not hold up other requests: the connection loop reads, not
/// the requests, and it does not wait for the requests it woke to run.
/// (The regression of the earlier client, where such a future could stay
/// the socket's reader.) The idle request's answer comes first, alone;
/// B's after it.
#[test]
fn an_idle_request_future_does_not_hold_up_others() {
    let _watchdog = watchdog();
    // With an hour's timeout, the loop's timer ticks every 7.5 minutes:
    // only reading on gets B its answer within `within`'s 3 s.
    let (client, mut peer) = fixture().timeout(Duration::from_secs(3600)).scripted();
    let mut idle = Probe::new(client.request("IDLE", b""));
    assert!(!idle.poll()); // queued, and never polled again
    let ri = peer.recv();
    let out = thread::scope(|s| {
        let other = s.spawn(|| block_on(within(Duration::from_secs(3), client.request("B", b"b"))));
        let rb = peer.recv();
        peer.answer(ri.id, b"idle");
        wait_until(Duration::from_secs(5), "the idle request woken", || {
            idle.woken()
        });
        peer.answer(rb.id, b"b");
        other.join().expect("thread")
    });
    // Answered, not timed out.
    assert_eq!(
        out.clone().map(|r| r.map(|f| f.payload.into_vec())),
        Some(Ok(b"b".to_vec()))
    );
    drop(idle);
}

/// Answers to 150 requests arrive in one read: the connection loop wakes
/// the first 64 (`WAKES_BEFORE_YIELD`) and lets them run before it hands
/// out more, so the frames they queue next are written before the rest of
/// the read is handed out (then 64 more, then the last 22). Each request
/// gets its own answer.
#[test]
fn a_large_read_wakes_its_requests_a_batch_at_a_time() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().by_hand().scripted();
    let mut background = Probe::new(client.run());
    let payloads: Vec<Vec<u8>> = (0..150u32).map(|i| i.to_le_bytes().to_vec()).collect();
    let mut requests: Vec<_> = payloads
        .iter()
        .map(|p| Probe::new(client.request("R", p)))
        .collect();
    for r in &mut requests {
        assert!(!r.poll());
    }
    assert!(!background.poll_settled());
    // Every answer, in one write (the loop reads it whole).
    let mut answers = Vec::new();
    for _ in 0..150 {
        let f = peer.recv();
        answers.extend(common::frame("ANS", f.id, Flags::RESPONSE, &f.payload));
    }
    peer.write_raw(&answers);
    let woken = |rs: &[Probe<'_, _>]| rs.iter().filter(|r| r.woken()).count();
    // Readable now: the loop hands out one batch and asks to run again.
    assert!(!background.poll());
    assert_eq!(woken(&requests), 64);
    assert!(background.woken(), "the loop goes on once they ran");
    // One of them queues its next request: it is written before the
    // loop hands out anything more.
    let mut next = Probe::new(client.request("NEXT", b"n"));
    assert!(!next.poll());
    assert!(!background.poll());
    assert_eq!(woken(&requests), 128);
    assert_eq!(peer.recv().kind, "NEXT");
    assert!(!background.poll());
    assert_eq!(woken(&requests), 150);
    for (r, p) in requests.iter_mut().zip(&payloads) {
        assert!(r.poll());
        let out = r.out.take().expect("done");
        assert_eq!(out.map(|f| f.payload.into_vec()).as_ref(), Ok(p));
    }
}

// ---------------------------------------------------------------------------
// Close, drop, the server closing
// ---------------------------------------------------------------------------

/// `close()` with messages queued behind a blocked write: all of them are
/// written, in order, then the stream ends; the pending request fails with
/// `Closed`; nothing can be sent afterwards.
#[test]
fn close_writes_what_is_queued_then_closes() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().chunks(1).scripted();
    // The peer reads nothing yet: after a chunk or two the writes block.
    for i in 0..20u32 {
        let sent = block_on(within(
            Duration::from_secs(2),
            client.send("NOTE", format!("{i}").as_bytes()),
        ));
        assert_eq!(sent, Some(Ok(())), "send {i}");
    }
    let mut r = Probe::new(client.request("R", b"r"));
    assert!(!r.poll_settled());
    client.close();
    assert!(matches!(
        block_on(within(Duration::from_secs(1), client.send("LATE", b""))),
        Some(Err(ClientError::Closed(c))) if c.by() == msgwire::net::ClosedBy::Client
    ));
    for i in 0..20u32 {
        let f = peer.recv();
        assert_eq!(
            (f.kind.as_str(), f.text()),
            ("NOTE", Some(&*format!("{i}")))
        );
    }
    assert_eq!(peer.recv().kind, "R");
    let end = peer.try_recv(Duration::from_secs(2));
    assert!(matches!(end, Some(Err(_))), "no end of stream: {end:?}");
    // Woken by the close itself: after it nothing else (no tick, no
    // timeout) would wake R, and drive fails at its deadline.
    let out = r.drive(Duration::from_secs(2));
    assert!(matches!(out, Err(ClientError::Closed(_))), "{out:?}");
    assert!(client.is_closed());
}

/// `close()` while a request's frame is queued and not yet written: the
/// frame is written anyway, then the stream ends, and both pending
/// requests fail with `Closed`.
#[test]
fn close_with_a_frame_still_queued_writes_it_first() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().by_hand().scripted();
    let mut background = Probe::new(client.run());
    let mut a = Probe::new(client.request("A", b"a"));
    assert!(!a.poll());
    assert!(!background.poll_settled());
    assert_eq!(peer.recv().kind, "A");
    let mut c = Probe::new(client.request("C", b"c"));
    assert!(!c.poll());
    client.close();
    assert!(!background.poll_settled());
    assert_eq!(peer.recv().kind, "C");
    let end = peer.try_recv(Duration::from_secs(2));
    assert!(matches!(end, Some(Err(_))), "no end of stream: {end:?}");
    let out = c.drive_with(&mut [&mut a, &mut background], Duration::from_secs(2));
    assert!(matches!(out, Err(ClientError::Closed(_))), "{out:?}");
    let out = a.drive_with(&mut [&mut background], Duration::from_secs(2));
    assert!(matches!(out, Err(ClientError::Closed(_))), "{out:?}");
}

/// The `queue` limit holds: behind a write the server does not take,
/// `send` waits once `queue` messages are buffered besides the batch being
/// written, and goes on once the server reads; everything arrives once, in
/// order.
#[test]
fn the_queue_limit_makes_send_wait_for_room() {
    let _watchdog = watchdog();
    // Everything on this thread, the connection loop included: once
    // nothing is woken, a send is done or waits for room, which only the
    // peer reading can make.
    let (client, mut peer) = fixture().chunks(1).queue(2).by_hand().scripted();
    let mut background = Probe::new(client.run());
    assert!(!background.poll_settled());
    let mut sent = 0u32;
    let mut blocked = loop {
        let payload = format!("{sent}");
        let c = client.clone();
        let mut s = Probe::new(async move { c.send("NOTE", payload.as_bytes()).await });
        s.poll();
        settle(&mut [&mut s, &mut background]);
        match s.out.take() {
            Some(r) => {
                assert_eq!(r, Ok(()));
                sent += 1;
                assert!(
                    sent <= 5,
                    "the queue limit (2) is not enforced: {sent} sends went through"
                );
            }
            None => break s,
        }
    };
    // One chunk in the pipe, one held back by it (the batch the writer
    // takes over: a third may join it before it does), then the queue (2).
    assert!(sent >= 4, "only {sent} sends before waiting for room");
    // Reading frees room; the waiting send goes on.
    let (got, out) = thread::scope(|s| {
        let reader = s.spawn(|| (0..=sent).map(|_| peer.recv()).collect::<Vec<_>>());
        let out = blocked.drive_with(&mut [&mut background], Duration::from_secs(2));
        // The writer goes on until the reader has everything.
        wait_until(
            Duration::from_secs(5),
            "the peer read every message",
            || {
                background.poll_if_woken();
                reader.is_finished()
            },
        );
        (reader.join().expect("reader"), out)
    });
    assert_eq!(out, Ok(()));
    let texts: Vec<String> = got.iter().map(|f| f.text().unwrap().to_string()).collect();
    let want: Vec<String> = (0..=sent).map(|i| i.to_string()).collect();
    assert_eq!(texts, want);
    // Nothing more: closing writes what is queued, then the stream ends.
    client.close();
    wait_until(Duration::from_secs(2), "the client closed", || {
        background.poll_if_woken();
        client.is_closed()
    });
    let end = peer.try_recv(Duration::from_secs(2));
    assert!(
        matches!(end, Some(Err(_))),
        "not the end of stream: {end:?}"
    );
}

/// Dropping the last `Client` is a `close()`: queued messages are written,
/// then the stream ends.
#[test]
fn dropping_the_last_client_writes_what_is_queued_then_closes() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().chunks(1).scripted();
    let clone = client.clone();
    for i in 0..20u32 {
        let c = if i % 2 == 0 { &client } else { &clone };
        let sent = block_on(within(
            Duration::from_secs(2),
            c.send("NOTE", format!("{i}").as_bytes()),
        ));
        assert_eq!(sent, Some(Ok(())), "send {i}");
    }
    drop(client);
    // Not the last one: nothing closes.
    assert!(!clone.is_closed());
    drop(clone);
    for i in 0..20u32 {
        let f = peer.recv();
        assert_eq!(
            (f.kind.as_str(), f.text()),
            ("NOTE", Some(&*format!("{i}")))
        );
    }
    let end = peer.try_recv(Duration::from_secs(2));
    assert!(matches!(end, Some(Err(_))), "no end of stream: {end:?}");
}

/// The server closing while no request waits is noticed at once, whether
/// or not someone subscribed: the connection loop always reads.
#[test]
fn the_server_closing_while_nothing_waits_is_noticed() {
    let _watchdog = watchdog();
    // The connection loop is polled by hand, only when woken.
    let (client, mut peer) = fixture().by_hand().scripted();
    let mut background = Probe::new(client.run());
    assert!(!background.poll_settled());
    let mut sub = {
        let mut subscribing = Probe::new(client.subscribe("NEWS"));
        assert!(!subscribing.poll_settled());
        assert!(!background.poll_settled());
        let req = peer.recv();
        peer.send(
            &Message::new(Kind::SUB, b"NEWS")
                .with_id(req.id)
                .with_flags(Flags::RESPONSE),
        );
        subscribing.drive_with(&mut [&mut background], Duration::from_secs(2))
    }
    .expect("subscribe");
    let mut r = Probe::new(client.request("R", b""));
    assert!(!r.poll_settled());
    assert!(!background.poll_settled());
    let rr = peer.recv();
    peer.answer(rr.id, b"r");
    let out = r.drive_with(&mut [&mut background], Duration::from_secs(2));
    assert!(out.is_ok(), "{out:?}");
    drop(peer);
    wait_until(Duration::from_secs(2), "the server's close noticed", || {
        background.poll_if_woken();
        client.is_closed()
    });
    let got = block_on(within(Duration::from_secs(2), sub.recv()));
    assert!(matches!(got, Some(None)), "{got:?}");

    // Not subscribed, the loop on msgwire's executor.
    let (client, mut peer) = fixture().scripted();
    let mut r = Probe::new(client.request("R", b""));
    assert!(!r.poll_settled());
    let rr = peer.recv();
    peer.answer(rr.id, b"r");
    let out = r.drive(Duration::from_secs(1));
    assert!(out.is_ok(), "{out:?}");
    drop(peer);
    wait_until(
        Duration::from_secs(2),
        "the server's close noticed (unsubscribed)",
        || client.is_closed(),
    );
    let after = block_on(within(Duration::from_secs(1), client.request("R", b"")));
    assert!(
        matches!(after, Some(Err(ClientError::Closed(_)))),
        "{after:?}"
    );
}

/// Pending requests fail with `Closed` (promptly) when the server goes
/// away mid-flight, all of them.
#[test]
fn the_server_vanishing_fails_every_pending_request_at_once() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().by_hand().scripted();
    let mut background = Probe::new(client.run());
    let (a, (x, _), (y, _)) = three_waiting(&client, &mut peer, &mut background);
    drop(peer);
    for (name, mut p) in [("a", a), ("x", x), ("y", y)] {
        let out = p.drive_with(&mut [&mut background], Duration::from_secs(2));
        assert!(
            matches!(out, Err(ClientError::Closed(_))),
            "{name}: {out:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------

/// Timeouts never fire early, and not much late, with many requests from
/// two threads and the pending map under contention.
#[test]
fn timeouts_are_never_early_under_contention() {
    let _watchdog = watchdog();
    let timeout = Duration::from_millis(40);
    let (client, server) = fixture().chunks(64).timeout(timeout).echo();
    let stop = Arc::new(AtomicBool::new(false));
    let spinner = {
        let client = client.clone();
        let stop = stop.clone();
        // `Debug` takes the pending map's lock.
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = format!("{client:?}");
            }
        })
    };
    let futs: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            async move {
                let mut waits = Vec::new();
                for _ in 0..8 {
                    let start = Instant::now();
                    let r = within(Duration::from_secs(2), client.request("QUIET", b"")).await;
                    waits.push((start.elapsed(), r));
                }
                waits
            }
        })
        .collect();
    let waits: Vec<_> = on_two_threads(futs).into_iter().flatten().collect();
    stop.store(true, Ordering::Relaxed);
    spinner.join().expect("spinner");
    for (took, r) in &waits {
        assert_eq!(r, &Some(Err(ClientError::Timeout)));
        assert!(*took >= timeout, "timed out early: {took:?}");
        // Documented: up to a quarter late (10 ms here). "Not much late"
        // is the property, so an upper bound stays, deliberately generous
        // (a loaded two-core machine with the spinner saw 395 ms against
        // the old 250 ms bound): it is coarse; "never early" is the strict
        // check here.
        assert!(*took < timeout + Duration::from_secs(1), "{took:?}");
    }
    drop(client);
    server.join();
}

/// A request waiting for room behind a write the server does not take
/// still times out (not early), instead of waiting for room forever.
#[test]
fn a_request_waiting_for_room_times_out() {
    let _watchdog = watchdog();
    let timeout = Duration::from_millis(200);
    let (client, server_end) = fixture().chunks(1).timeout(timeout).queue(1).silent();
    // The server reads nothing.
    let futs: Vec<_> = (0..6)
        .map(|i| {
            let client = client.clone();
            async move {
                let start = Instant::now();
                let payload = [i as u8; 100];
                let r = within(Duration::from_secs(3), client.request("X", &payload)).await;
                (start.elapsed(), r)
            }
        })
        .collect();
    for (took, r) in on_two_threads(futs) {
        assert!(
            matches!(r, Some(Err(ClientError::Timeout | ClientError::Closed(_)))),
            "{r:?}"
        );
        // Not early; and not much later: at most a tick of the loop's
        // timer (an eighth of the timeout) after it, give or take a busy
        // machine. A request whose timeout and the stall's end fall on the
        // same tick is told of it then, not when something else wakes it
        // (within's 3 s deadline).
        assert!(took >= timeout, "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    drop(server_end);
}

/// `request_timeout` is also how long a write may stall (the server reads
/// nothing) before the connection is dropped and every pending request
/// fails, a stalled flush included: over a transport whose writes are
/// buffered until flushed (the crate's own `memory::pipe`, a TLS stream, a
/// `BufWriter`) a server that reads nothing must not keep the loop in
/// `flush` for ever. (The regression of the earlier client, whose writer
/// applied the limit to its writes only.)
#[test]
fn a_server_that_reads_nothing_fails_the_connection_after_the_stall_timeout() {
    let _watchdog = watchdog();
    let timeout = Duration::from_millis(200);
    let (client, server_end) = fixture().chunks(1).timeout(timeout).silent();
    // Two requests in two batches: the first fills the pipe, the second's
    // flush blocks.
    let later = async {
        async_io::Timer::after(Duration::from_millis(20)).await;
        client.request("B", b"b").await
    };
    let results = block_on(within(
        Duration::from_secs(3),
        futures_lite::future::zip(client.request("A", b"a"), later),
    ));
    assert!(results.is_some());
    wait_until(
        Duration::from_secs(5),
        &format!("the connection closed after the stall timeout ({timeout:?})"),
        || client.is_closed(),
    );
    drop(server_end);
}

/// A stalled write fails the connection no earlier than the request
/// timeout after it stalled, whatever the phase of the loop's ticks when
/// it stalls (it is counted in whole ticks from the first after it). A
/// first request fills the pipe; a second, made after a pause that moves
/// the stall's start across a tick, cannot be written: the stall begins
/// no earlier than that second request.
#[test]
fn a_stalled_write_fails_the_connection_no_earlier_than_the_timeout() {
    let _watchdog = watchdog();
    let timeout = Duration::from_millis(200);
    let mut early = Vec::new();
    for attempt in 0..6u64 {
        let (client, server_end) = fixture().chunks(1).timeout(timeout).silent();
        let c = client.clone();
        let a = thread::spawn(move || block_on(c.request("A", b"a")));
        thread::sleep(Duration::from_millis(5 + 7 * attempt));
        let start = Instant::now();
        let c = client.clone();
        let b = thread::spawn(move || block_on(c.request("B", b"b")));
        wait_until(Duration::from_secs(5), "the connection closed", || {
            client.is_closed()
        });
        let took = start.elapsed();
        if took < timeout {
            early.push((attempt, took));
        }
        for r in [a.join().expect("thread"), b.join().expect("thread")] {
            assert!(r.is_err(), "{r:?}");
        }
        drop(server_end);
    }
    assert!(early.is_empty(), "closed before {timeout:?}: {early:?}");
}

/// A waker that polls its request the moment it is woken, on the thread
/// that woke it: a request on another thread that takes its answer while
/// the connection loop is still in the poll that handed it out.
struct PollsAtOnce {
    fut: std::sync::Mutex<Option<BoxFuture<'static, Result<Frame, ClientError>>>>,
    out: std::sync::Mutex<Option<Result<Frame, ClientError>>>,
}

impl PollsAtOnce {
    fn poll(self: &Arc<Self>) {
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = self.fut.lock().expect("lock");
        if let Some(f) = fut.as_mut() {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                *self.out.lock().expect("lock") = Some(v);
                *fut = None;
            }
        }
    }
}

impl Wake for PollsAtOnce {
    fn wake(self: Arc<Self>) {
        self.poll();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.poll();
    }
}

/// A request that takes its answer at once, inside the loop's poll that
/// handed it out (as one on another thread can), leaves the loop reading:
/// the next answer still reaches its request. Played by hand: the loop's
/// poll is the one a new request woke, and it reads the quick request's
/// answer. (With a request timeout of an hour, the loop's timer would not
/// poll it again for 7.5 minutes.)
#[test]
fn a_request_that_takes_its_answer_at_once_leaves_the_loop_reading() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture()
        .timeout(Duration::from_secs(3600))
        .by_hand()
        .scripted();
    let mut background = Probe::new(client.run());
    let c = client.clone();
    let a = Arc::new(PollsAtOnce {
        fut: std::sync::Mutex::new(Some(Box::pin(async move { c.request("A", b"a").await }))),
        out: std::sync::Mutex::new(None),
    });
    a.poll();
    assert!(!background.poll_settled());
    let ma = peer.recv();
    peer.answer(ma.id, b"a!");
    // B's start wakes the loop (the answer to A waits in the pipe).
    let mut b = Probe::new(client.request("B", b"b"));
    assert!(!b.poll());
    assert!(!background.poll_settled());
    assert_eq!(
        a.out
            .lock()
            .expect("lock")
            .take()
            .map(|r| r.map(|f| f.payload.into_vec())),
        Some(Ok(b"a!".to_vec())),
        "A took its answer inside the loop's poll"
    );
    let mb = peer.recv();
    peer.answer(mb.id, b"b!");
    let out = b.drive_with(&mut [&mut background], Duration::from_secs(5));
    assert_eq!(out.map(|f| f.payload.into_vec()), Ok(b"b!".to_vec()));
}

/// A waker that, once armed, takes its time: 30 ms, then says it is done.
/// It stands in for anything that holds up the connection loop (the OS
/// preempting its thread, a contended lock).
struct SlowWaker {
    armed: AtomicBool,
    done: AtomicBool,
}

impl Wake for SlowWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.armed.swap(false, Ordering::SeqCst) {
            // The scenario: a waker that takes its time (see above).
            thread::sleep(Duration::from_millis(30));
            self.done.store(true, Ordering::SeqCst);
        }
    }
}

/// A request's deadline counts from the request itself, never from an
/// earlier clock reading: while the connection loop is held up for 30 ms
/// by a slow waker (it hands an answer to a request whose waker takes its
/// time), a new request starts on another thread, and it times out no
/// earlier than its 40 ms. (The regression of the earlier client, whose
/// expiry task read the clock before it took the lock and stamped new
/// requests with that reading.)
#[test]
fn a_timeout_is_never_early_even_when_the_expiry_task_is_delayed() {
    let _watchdog = watchdog();
    let timeout = Duration::from_millis(40);
    let mut early = Vec::new();
    for attempt in 0..10u32 {
        let (client, server) = fixture().chunks(64).timeout(timeout).echo();
        // R waits (never answered); W waits for its answer with the slow
        // waker.
        let mut r = Probe::new(client.request("QUIET", b""));
        assert!(!r.poll());
        let slow = Arc::new(SlowWaker {
            armed: AtomicBool::new(false),
            done: AtomicBool::new(false),
        });
        let slow_waker = Waker::from(slow.clone());
        // Armed first: W's answer may come as soon as W is queued.
        slow.armed.store(true, Ordering::SeqCst);
        let mut w = Box::pin(client.request("ECHO", b"w"));
        let mut cx = Context::from_waker(&slow_waker);
        assert!(w.as_mut().poll(&mut cx).is_pending());
        let (took, res) = thread::scope(|s| {
            let q = s.spawn(|| {
                let start = Instant::now();
                while !slow.done.load(Ordering::SeqCst) {
                    if start.elapsed() > Duration::from_secs(2) {
                        return (Duration::MAX, None);
                    }
                    std::hint::spin_loop();
                }
                for _ in 0..attempt * 50 {
                    std::hint::spin_loop();
                }
                let start = Instant::now();
                let res = block_on(within(
                    Duration::from_secs(2),
                    client.request("QUIET", b"q"),
                ));
                (start.elapsed(), res)
            });
            // The loop reads W's answer and wakes W (slowly); R is polled
            // when woken.
            wait_until(Duration::from_secs(2), "W's slow waker run", || {
                r.poll_if_woken();
                slow.done.load(Ordering::SeqCst)
            });
            q.join().expect("thread")
        });
        assert_eq!(res, Some(Err(ClientError::Timeout)));
        if took < timeout {
            early.push(took);
        }
        drop(w);
        drop(r);
        drop(client);
        server.join();
    }
    assert!(early.is_empty(), "timed out before {timeout:?}: {early:?}");
}

/// `ping` sends `PING`, waits for the answer and measures the wait; an
/// answer other than `PONG` is an `unexpected-answer` error.
#[test]
fn ping_asks_and_measures() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().scripted();
    let delay = Duration::from_millis(30);
    let out = thread::scope(|s| {
        let ping = s.spawn(|| block_on(client.ping()));
        let req = peer.recv();
        assert_eq!(req.kind, "PING");
        // A wait before answering, so the round trip has a floor.
        thread::sleep(delay);
        let pong = Message::new(Kind::PONG, b"ack")
            .with_id(req.id)
            .with_flags(Flags::RESPONSE);
        peer.send(&pong);
        ping.join().expect("thread")
    });
    let rtt = out.expect("answered");
    assert!(rtt >= delay, "{rtt:?}");

    let other = thread::scope(|s| {
        let ping = s.spawn(|| block_on(client.ping()));
        let req = peer.recv();
        peer.answer(req.id, b"");
        ping.join().expect("thread")
    });
    assert_eq!(
        other,
        Err(ClientError::Remote(Box::new(
            msgwire::conversation::ErrorText::new("unexpected-answer", "ANS")
        )))
    );
}

/// Events beyond a subscription's queue are dropped and counted: the
/// first ones are kept in order, and the next event that finds room is
/// preceded by `Lagged` with the exact count (where the events are
/// missing). Non-event messages with no `RESPONSE` flag are counted
/// unsolicited.
#[test]
fn a_full_subscription_queue_counts_what_it_drops() {
    let _watchdog = watchdog();
    let (end, server_end) = msgwire::net::memory::pipe(8);
    let config = msgwire::net::ClientConfig {
        subscription: msgwire::net::EventLimits {
            events: 2,
            bytes: 1 << 20,
        },
        ..msgwire::net::ClientConfig::default()
    };
    let client = Client::new(end, config)
        .start(&msgwire::net::Spawner::global())
        .expect("start");
    let mut peer = Peer::new(server_end);
    let mut sub = thread::scope(|s| {
        let r = s.spawn(|| block_on(client.subscribe("NEWS")));
        let req = peer.recv();
        assert_eq!((req.kind.as_str(), &req.payload[..]), ("SUB", &b"NEWS"[..]));
        peer.send(
            &Message::new(Kind::SUB, b"NEWS")
                .with_id(req.id)
                .with_flags(Flags::RESPONSE),
        );
        r.join().expect("thread")
    })
    .expect("subscribe");
    let news = Kind::new("NEWS").expect("kind");
    for i in 0..5u8 {
        peer.send(&msgwire::conversation::event(news, &[i]));
    }
    // Not an event, not an answer: counted, never delivered.
    peer.send(&Message::new(news, b"stray"));
    // A request answered after them: by then all were handed out.
    let out = thread::scope(|s| {
        let r = s.spawn(|| block_on(client.request("R", b"")));
        let req = peer.recv();
        peer.answer(req.id, b"r");
        r.join().expect("thread")
    });
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(client.dropped_unsolicited(), 1);
    let event = |p: &[u8]| {
        Some(Delivery::Event(msgwire::net::Frame::from_message(
            &msgwire::conversation::event(news, p),
        )))
    };
    assert_eq!(block_on(sub.recv()), event(&[0]));
    assert_eq!(block_on(sub.recv()), event(&[1]));
    assert_eq!(
        sub.try_recv(),
        None,
        "only two kept; the loss is told with the next event"
    );
    peer.send(&msgwire::conversation::event(news, &[5]));
    assert_eq!(block_on(sub.recv()), Some(Delivery::Lagged(3)));
    assert_eq!(block_on(sub.recv()), event(&[5]));
    // The peer's own LAGGED reaches the subscription as it is.
    peer.send(&msgwire::conversation::event(Kind::LAGGED, b"7"));
    assert_eq!(block_on(sub.recv()), Some(Delivery::Lagged(7)));
    // A full queue: an event lost (1), then the peer's LAGGED 5 lost too:
    // both counts are told together, before the next event that fits.
    for i in [6u8, 7, 8] {
        peer.send(&msgwire::conversation::event(news, &[i]));
    }
    peer.send(&msgwire::conversation::event(Kind::LAGGED, b"5"));
    let out = thread::scope(|s| {
        let r = s.spawn(|| block_on(client.request("R", b"")));
        let req = peer.recv();
        peer.answer(req.id, b"r");
        r.join().expect("thread")
    });
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(block_on(sub.recv()), event(&[6]));
    assert_eq!(block_on(sub.recv()), event(&[7]));
    peer.send(&msgwire::conversation::event(news, &[9]));
    assert_eq!(block_on(sub.recv()), Some(Delivery::Lagged(6)));
    assert_eq!(block_on(sub.recv()), event(&[9]));
}

/// A server that sends without pause (its frames always ready) does not
/// hold the thread of the client's connection loop: another task on the
/// same single-threaded executor runs long before the flood ends.
#[test]
fn a_flooding_server_does_not_starve_the_loops_thread() {
    let _watchdog = watchdog();
    let frames = 100_000u64;
    // Answers to no request of the client's: each is read, counted late
    // and dropped.
    let late = common::frame("PONG", 7, Flags::RESPONSE, b"ack");
    let (flood, read) = common::net::Flood::new(late, frames);
    let client = Client::new(flood, msgwire::net::ClientConfig::default());
    let ex = async_executor::LocalExecutor::new();
    let run = ex.spawn(client.run());
    let seen = read.clone();
    let other = ex.spawn(async move { seen.load(Ordering::SeqCst) });
    let (ran, seen_by_other) = block_on(ex.run(async { (run.await, other.await) }));
    ran.expect("started once");
    assert_eq!(read.load(Ordering::SeqCst), frames);
    assert_eq!(client.late_answers(), frames);
    assert!(
        seen_by_other < frames / 2,
        "the other task ran only after {seen_by_other} of {frames} frames"
    );
}

/// How the server closed is told: after an `ERROR` with no id (its
/// notice, `overloaded: …`) the close says so; after any other message
/// (an `ERROR` answering a request, a notice of another kind) it does not.
#[test]
fn a_close_after_an_error_notice_says_so() {
    let _watchdog = watchdog();
    let notice = |kind: &str, id: u32, flags: Flags, payload: &[u8]| {
        Frame::new(Kind::new(kind).expect("kind"), payload)
            .with_id(id)
            .with_flags(flags)
    };
    for (last, told) in [
        (
            notice("ERROR", 0, Flags::EMPTY, b"overloaded: busy"),
            Some("overloaded: busy"),
        ),
        (notice("NOTE", 0, Flags::EMPTY, b"bye"), None),
        (notice("ERROR", 9, Flags::RESPONSE, b"too-large: 9"), None),
    ] {
        let (client, mut peer) = fixture().scripted();
        let c = client.clone();
        let pending = thread::spawn(move || block_on(c.request("A", b"a")));
        let a = peer.recv();
        peer.send(&last.as_message());
        drop(peer);
        let err = pending.join().expect("thread").expect_err("closed");
        let detail = match &err {
            ClientError::Closed(c) | ClientError::ConnectionLost(c) => c.detail().to_string(),
            other => panic!("{other:?}"),
        };
        match told {
            Some(e) => assert_eq!(detail, format!("closed by the server after ERROR {e}")),
            None => assert_eq!(detail, "closed by the server", "after {last:?}"),
        }
        assert_ne!(a.id, 0);
    }
}

/// Closing with requests in flight fails them at once; the answers that
/// still come are read until the server closes, and counted late.
#[test]
fn answers_after_a_close_are_counted_late() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().scripted();
    let c = client.clone();
    let pending = thread::spawn(move || {
        block_on(futures_lite::future::zip(
            c.request("A", b"a"),
            c.request("B", b"b"),
        ))
    });
    let (a, b) = (peer.recv(), peer.recv());
    client.close();
    let (ra, rb) = pending.join().expect("thread");
    assert!(matches!(ra, Err(ClientError::Closed(_))), "{ra:?}");
    assert!(matches!(rb, Err(ClientError::Closed(_))), "{rb:?}");
    // One answer, a pause (the loop counts what it read so far while it
    // waits), the other, then the end of the stream.
    peer.answer(a.id, b"a!");
    wait_until(Duration::from_secs(5), "A's answer counted late", || {
        client.late_answers() == 1
    });
    peer.answer(b.id, b"b!");
    drop(peer);
    wait_until(Duration::from_secs(5), "both counted late", || {
        client.late_answers() == 2
    });
    thread::sleep(Duration::from_millis(50));
    assert_eq!(client.late_answers(), 2);
}

/// A request polled again from another task (another waker: a `select!`
/// that moved, an executor that moved it) is woken there when its answer
/// comes, not only where it was polled first.
#[test]
fn a_request_polled_from_another_task_is_woken_there() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().scripted();
    let mut fut = Box::pin(client.request("A", b"a"));
    let first = Arc::new(Flag(AtomicBool::new(false)));
    let second = Arc::new(Flag(AtomicBool::new(false)));
    let (w1, w2) = (Waker::from(first.clone()), Waker::from(second.clone()));
    assert!(fut
        .as_mut()
        .poll(&mut Context::from_waker(&w1))
        .is_pending());
    assert!(fut
        .as_mut()
        .poll(&mut Context::from_waker(&w2))
        .is_pending());
    let m = peer.recv();
    peer.answer(m.id, b"a!");
    wait_until(Duration::from_secs(5), "the second task woken", || {
        second.0.load(Ordering::SeqCst)
    });
    match fut.as_mut().poll(&mut Context::from_waker(&w2)) {
        Poll::Ready(Ok(f)) => assert_eq!(f.payload, b"a!"),
        other => panic!("{other:?}"),
    }
}

/// A request's deadline is counted in the loop's ticks from the tick it
/// starts in, and it times out no earlier than its timeout wherever in a
/// tick it starts: requests made one after another across several ticks
/// (while another keeps the timer ticking) each wait their whole timeout.
#[test]
fn requests_made_at_any_point_of_a_tick_time_out_no_earlier() {
    let _watchdog = watchdog();
    // Ticks of 50 ms; requests every 7 ms over two of them.
    let timeout = Duration::from_millis(400);
    let (client, _server_end) = fixture().chunks(64).timeout(timeout).silent();
    let c = client.clone();
    let keeper = thread::spawn(move || block_on(c.request("KEEP", b"")));
    thread::sleep(Duration::from_millis(20));
    let waits: Vec<_> = (0..14u64)
        .map(|k| {
            let c = client.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(7 * k));
                let start = Instant::now();
                let r = block_on(c.request("Q", b""));
                (k, start.elapsed(), r)
            })
        })
        .collect();
    let mut early = Vec::new();
    for w in waits {
        let (k, took, r) = w.join().expect("thread");
        assert_eq!(r, Err(ClientError::Timeout));
        if took < timeout {
            early.push((k, took));
        }
    }
    assert_eq!(keeper.join().expect("thread"), Err(ClientError::Timeout));
    assert!(early.is_empty(), "timed out before {timeout:?}: {early:?}");
}

/// A place whose request has not taken its outcome yet is not given to
/// another request: with every place held so, a new request waits (it
/// does not spin over the table), and goes once one is taken.
#[test]
fn places_whose_outcomes_wait_are_not_given_away() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().in_flight(2).scripted();
    let mut a = Probe::new(client.request("A", b"a"));
    let mut b = Probe::new(client.request("B", b"b"));
    assert!(!a.poll() && !b.poll());
    let (ma, mb) = (peer.recv(), peer.recv());
    peer.answer(ma.id, b"a!");
    peer.answer(mb.id, b"b!");
    // Both answered (their table places free), neither taken.
    wait_until(Duration::from_secs(5), "both woken", || {
        a.woken() && b.woken()
    });
    let mut c = Probe::new(client.request("C", b"c"));
    assert!(!c.poll(), "C started while every place held an outcome");
    assert!(peer.try_recv(Duration::from_millis(50)).is_none(), "C sent");
    assert!(a.poll(), "A takes its answer");
    assert!(c.woken(), "C is told a place is free");
    assert!(!c.poll());
    let mc = peer.recv();
    assert_eq!(mc.kind, "C");
    peer.answer(mc.id, b"c!");
    assert_eq!(
        c.drive(Duration::from_secs(5))
            .map(|f| f.payload.into_vec()),
        Ok(b"c!".to_vec())
    );
    assert!(b.poll());
}

/// A connection's `HELLO` must be answered with a `HELLO`: another kind
/// whose payload reads as the same tokens does not pass the schema check,
/// and a notice with no id that comes first (not an answer, not an
/// `ERROR`) is not taken for the answer.
#[test]
fn only_a_hello_answers_the_schema_check() {
    let _watchdog = watchdog();
    let ours = 0x0123_4567_89ab_cdef_u64;
    for (kind, passes) in [("HELLO", true), ("ECHO", false)] {
        let (client, mut peer) = fixture().schema(ours).scripted();
        let c = client.clone();
        let r = thread::spawn(move || block_on(c.request("A", b"a")));
        let hello = peer.recv();
        assert_eq!((hello.kind.as_str(), hello.id), ("HELLO", 0));
        peer.send(&Message::new(Kind::new("NOTE").expect("kind"), b"rev=1.2"));
        let tokens = format!("rev=1.2 schema={ours:016x}");
        peer.send(
            &Message::new(Kind::new(kind).expect("kind"), tokens.as_bytes())
                .with_flags(Flags::RESPONSE),
        );
        if passes {
            let a = peer.recv();
            peer.answer(a.id, b"a!");
            assert!(r.join().expect("thread").is_ok());
        } else {
            assert_eq!(
                r.join().expect("thread"),
                Err(ClientError::SchemaMismatch { ours, theirs: None })
            );
        }
    }
}

/// A place whose outcome waits is skipped, not waited for, when another
/// is free: the next id falls on it, and the request takes the next.
#[test]
fn a_place_whose_outcome_waits_is_skipped_for_a_free_one() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().in_flight(4).scripted();
    let mut probes: Vec<_> = ["A", "B", "C", "D"]
        .into_iter()
        .map(|k| Probe::new(client.request(k, b"")))
        .collect();
    for p in &mut probes {
        assert!(!p.poll());
    }
    for _ in 0..4 {
        let m = peer.recv();
        peer.answer(m.id, b"!");
    }
    wait_until(Duration::from_secs(5), "all answered", || {
        probes.iter().all(|p| p.woken())
    });
    // B, C and D take their answers; A's waits in the first place, where
    // the next id falls.
    for p in &mut probes[1..] {
        assert!(p.poll());
    }
    let mut e = Probe::new(client.request("E", b"e"));
    assert!(!e.poll());
    let me = peer.recv();
    assert_eq!(me.kind, "E");
    assert_eq!(me.id, 6, "id 5 falls on A's place: given up, never sent");
    peer.answer(me.id, b"e!");
    assert_eq!(
        e.drive(Duration::from_secs(5))
            .map(|f| f.payload.into_vec()),
        Ok(b"e!".to_vec())
    );
    assert!(probes[0].poll(), "A's answer still waits for it");
}

/// An answer this side's decoder refuses (larger than it accepts) still
/// ends its request, with the refusal, at once; the connection goes on.
/// And the client's `Debug` counts its requests in flight.
#[test]
fn a_refused_answer_ends_its_request_and_debug_counts_those_in_flight() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture()
        .max_payload(16)
        .timeout(Duration::from_secs(3600))
        .scripted();
    let mut a = Probe::new(client.request("A", b"a"));
    assert!(!a.poll());
    let m = peer.recv();
    assert!(format!("{client:?}").contains("pending: 1"), "{client:?}");
    peer.answer(m.id, &[7u8; 17]);
    match a.drive(Duration::from_secs(5)) {
        Err(ClientError::BadAnswer(e)) => {
            assert_eq!((e.error, e.id), (msgwire::Error::TooLarge, Some(m.id)));
        }
        other => panic!("{other:?}"),
    }
    assert!(format!("{client:?}").contains("pending: 0"), "{client:?}");
    let mut b = Probe::new(client.request("B", b"b"));
    assert!(!b.poll());
    let m = peer.recv();
    peer.answer(m.id, &[7u8; 16]);
    assert_eq!(
        b.drive(Duration::from_secs(5))
            .map(|f| f.payload.into_vec()),
        Ok(vec![7u8; 16])
    );
}

/// A request dropped after its answer came, before it took it: the answer
/// is counted late, once.
#[test]
fn an_answer_its_request_never_took_is_counted_late() {
    let _watchdog = watchdog();
    let (client, mut peer) = fixture().scripted();
    let mut a = Probe::new(client.request("A", b"a"));
    assert!(!a.poll());
    let m = peer.recv();
    peer.answer(m.id, b"a!");
    wait_until(Duration::from_secs(5), "A woken", || a.woken());
    assert_eq!(client.late_answers(), 0);
    drop(a);
    assert_eq!(client.late_answers(), 1);
}

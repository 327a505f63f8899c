//! `ClientConfig::reconnect`: a TCP client whose server is killed and
//! restarted under it, in the middle of a stream of requests. Every request
//! gets its own answer or a typed error; none hangs, none gets another's
//! answer; the client counts its new connection.
#![cfg(feature = "async")]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::Timer;
use common::net::within;
use common::wait_until;
use common::watchdog::watchdog;
use futures_lite::future::block_on;
use msgwire::conversation::ErrorText;
use msgwire::net::{
    Client, ClientConfig, ClientError, Reconnect, Reply, Request, Router, Server, ServerConfig,
    Spawner,
};
use msgwire::net::{Closed, ClosedBy};
use msgwire::Kind;

/// A server on `addr` whose `SLOW` handler answers its payload after 1 ms
/// (so requests are in flight when it is killed), counting what it answers.
fn server_on(addr: &str, answered: &Arc<AtomicU64>) -> Server {
    let count = answered.clone();
    let router = Router::new()
        .on("SLOW", move |req: Request| {
            let count = count.clone();
            async move {
                Timer::after(Duration::from_millis(1)).await;
                count.fetch_add(1, Ordering::SeqCst);
                Ok(Reply::new(Kind::lit("SLOW"), req.payload()))
            }
        })
        .expect("kind");
    block_on(Server::bind_tcp(addr, router, ServerConfig::default()))
        .expect("bind")
        .start(&Spawner::global())
        .expect("start")
}

/// Kills `server`: its connections are closed at once, requests in flight
/// with them.
fn kill(server: Server) {
    block_on(server.shutdown(Duration::ZERO));
}

fn reconnecting(request_timeout: Duration, attempts: Option<u32>) -> ClientConfig {
    ClientConfig {
        request_timeout,
        reconnect: Some(Reconnect {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
            attempts,
        }),
        ..ClientConfig::default()
    }
}

fn connect(addr: SocketAddr, config: ClientConfig) -> Client {
    block_on(Client::connect_tcp(addr, config))
        .expect("connect")
        .start(&Spawner::global())
        .expect("start")
}

#[derive(Default)]
struct Tally {
    answered: u64,
    lost: u64,
    timed_out: u64,
    /// Anything else: a hang, another request's answer, an unexpected error.
    wrong: Vec<String>,
}

#[test]
fn a_server_killed_and_restarted_under_a_request_stream() {
    let _watchdog = watchdog();
    let answered_by_server = Arc::new(AtomicU64::new(0));
    let first = server_on("127.0.0.1:0", &answered_by_server);
    let addr = first.local_addr().expect("tcp");
    let client = connect(addr, reconnecting(Duration::from_secs(3), None));
    let done = Arc::new(AtomicU64::new(0));

    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let client = client.clone();
            let done = done.clone();
            smol::spawn(async move {
                let mut tally = Tally::default();
                for i in 0..150 {
                    let payload = format!("{t}-{i}");
                    let got = within(
                        Duration::from_secs(10),
                        client.request("SLOW", payload.as_bytes()),
                    )
                    .await;
                    match got {
                        Some(Ok(f)) if f.payload == payload.as_bytes() => tally.answered += 1,
                        Some(Err(ClientError::ConnectionLost(_))) => tally.lost += 1,
                        Some(Err(ClientError::Timeout)) => tally.timed_out += 1,
                        other => tally.wrong.push(format!("{payload}: {other:?}")),
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
                tally
            })
        })
        .collect();

    // A third of the way in, the server dies; it is back 150 ms later, on
    // the same port.
    wait_until(Duration::from_secs(10), "400 requests done", || {
        done.load(Ordering::SeqCst) >= 400
    });
    kill(first);
    let killed_at = done.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(150));
    let second = server_on(&addr.to_string(), &answered_by_server);

    let mut total = Tally::default();
    for t in tasks {
        let tally = block_on(t);
        total.answered += tally.answered;
        total.lost += tally.lost;
        total.timed_out += tally.timed_out;
        total.wrong.extend(tally.wrong);
    }
    assert!(total.wrong.is_empty(), "{:?}", total.wrong);
    assert_eq!(total.answered + total.lost + total.timed_out, 8 * 150);
    assert!(
        total.lost >= 1,
        "no request was in flight at the kill: the test shows nothing"
    );
    assert!(
        total.answered > killed_at,
        "nothing answered after the restart ({} answered, {killed_at} done at the kill)",
        total.answered
    );
    // Requests made while the server was down waited for it (3 s each):
    // none timed out.
    assert_eq!(total.timed_out, 0);
    assert_eq!(client.reconnects(), 1);
    assert!(client.is_connected());
    // The server answered at least what the client received (and maybe
    // some of the lost ones).
    assert!(answered_by_server.load(Ordering::SeqCst) >= total.answered);
    kill(second);
}

#[test]
fn a_request_made_while_the_server_is_down_waits_for_it() {
    let _watchdog = watchdog();
    let count = Arc::new(AtomicU64::new(0));
    let first = server_on("127.0.0.1:0", &count);
    let addr = first.local_addr().expect("tcp");
    let client = connect(addr, reconnecting(Duration::from_secs(5), None));
    assert_eq!(
        block_on(client.request("SLOW", b"a")).map(|f| f.payload.into_vec()),
        Ok(b"a".to_vec())
    );
    kill(first);
    wait_until(Duration::from_secs(2), "the drop noticed", || {
        !client.is_connected()
    });
    let started = Instant::now();
    let waiting = smol::spawn({
        let client = client.clone();
        async move { client.request("SLOW", b"b").await }
    });
    std::thread::sleep(Duration::from_millis(200));
    let second = server_on(&addr.to_string(), &count);
    let out = block_on(within(Duration::from_secs(5), waiting));
    assert_eq!(
        out.map(|r| r.map(|f| f.payload.into_vec())),
        Some(Ok(b"b".to_vec()))
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(client.reconnects(), 1);
    kill(second);
}

#[test]
fn a_request_times_out_while_the_server_stays_down() {
    let _watchdog = watchdog();
    let count = Arc::new(AtomicU64::new(0));
    let server = server_on("127.0.0.1:0", &count);
    let addr = server.local_addr().expect("tcp");
    let timeout = Duration::from_millis(300);
    let client = connect(addr, reconnecting(timeout, None));
    kill(server);
    wait_until(Duration::from_secs(2), "the drop noticed", || {
        !client.is_connected()
    });
    let started = Instant::now();
    let out = block_on(within(Duration::from_secs(5), client.request("SLOW", b"")));
    assert_eq!(out, Some(Err(ClientError::Timeout)));
    assert!(
        started.elapsed() >= timeout,
        "early: {:?}",
        started.elapsed()
    );
    assert!(!client.is_closed(), "still dialling");
    assert_eq!(client.reconnects(), 0);
}

#[test]
fn the_client_gives_up_after_its_attempts() {
    let _watchdog = watchdog();
    let count = Arc::new(AtomicU64::new(0));
    let server = server_on("127.0.0.1:0", &count);
    let addr = server.local_addr().expect("tcp");
    let client = connect(addr, reconnecting(Duration::from_secs(5), Some(3)));
    kill(server);
    wait_until(Duration::from_secs(5), "the client gave up", || {
        client.is_closed()
    });
    match block_on(client.request("SLOW", b"")) {
        Err(ClientError::Closed(why)) => {
            assert_eq!(why.by(), ClosedBy::GaveUp);
            assert!(
                why.detail()
                    .contains("gave up reconnecting after 3 attempts"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_a_reconnect_plan_the_client_closes() {
    let _watchdog = watchdog();
    let count = Arc::new(AtomicU64::new(0));
    let server = server_on("127.0.0.1:0", &count);
    let addr = server.local_addr().expect("tcp");
    let client = connect(addr, ClientConfig::default());
    kill(server);
    wait_until(Duration::from_secs(2), "closed", || client.is_closed());
    assert!(matches!(
        block_on(client.request("SLOW", b"")),
        Err(ClientError::Closed(_))
    ));
    assert_eq!(client.reconnects(), 0);
}

#[test]
fn a_client_over_another_transport_does_not_redial() {
    let _watchdog = watchdog();
    let (end, server_end) = msgwire::net::memory::pipe(8);
    let client = Client::new(end, reconnecting(Duration::from_secs(5), None))
        .start(&Spawner::global())
        .expect("start");
    drop(server_end);
    wait_until(Duration::from_secs(2), "closed", || client.is_closed());
    assert_eq!(client.reconnects(), 0);
}

#[test]
fn errors_and_the_client_say_what_happened() {
    let _watchdog = watchdog();
    let cases = [
        (ClientError::Timeout, "request timed out"),
        (
            ClientError::Closed(Closed::new(ClosedBy::Server, "closed by the server")),
            "connection closed: closed by the server",
        ),
        (
            ClientError::ConnectionLost(Closed::new(ClosedBy::Transport, "read failed: reset")),
            "connection lost with the request in flight (read failed: reset); reconnecting",
        ),
        (
            ClientError::Remote(Box::new(ErrorText::new("unknown-kind", "FOO"))),
            "server answered ERROR unknown-kind: FOO",
        ),
        (
            ClientError::NotStarted,
            "client not started: drive Client::run or call Client::start with a spawner",
        ),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
    }
    let encode = ClientError::Encode(msgwire::Error::InvalidKind);
    assert!(
        encode.to_string().starts_with("cannot encode request: "),
        "{encode}"
    );

    let (end, _server_end) = msgwire::net::memory::pipe(8);
    let client = Client::new(end, ClientConfig::default());
    assert_eq!(format!("{client:?}"), "Client { link: Up, pending: 0 }");
}

/// A subscription outlives a reconnect: the client subscribes again on
/// the new connection by itself, and the restarted server's events reach
/// it.
#[test]
fn a_subscription_is_renewed_after_a_reconnect() {
    let _watchdog = watchdog();
    let serve = |addr: &str| {
        block_on(Server::bind_tcp(
            addr,
            Router::new(),
            ServerConfig::default(),
        ))
        .expect("bind")
        .start(&Spawner::global())
        .expect("start")
    };
    let first = serve("127.0.0.1:0");
    let addr = first.local_addr().expect("tcp");
    let client = connect(addr, reconnecting(Duration::from_secs(5), None));
    let mut sub = block_on(client.subscribe("a/*")).expect("subscribe");
    // Published until it arrives: each `publish` goes to the conversations
    // subscribed at that moment.
    let delivered = |server: &Server, sub: &mut msgwire::net::Subscription, payload: &[u8]| {
        let mut got = None;
        wait_until(Duration::from_secs(5), "an event delivered", || {
            server.publish(Kind::lit("a/x"), payload);
            std::thread::sleep(Duration::from_millis(5));
            got = sub.try_recv();
            got.is_some()
        });
        match got {
            Some(msgwire::net::Delivery::Event(f)) => f.payload.into_vec(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(delivered(&first, &mut sub, b"1"), b"1");
    kill(first);
    // The killed server's listener closes on its accept task's thread:
    // the port may still be taken for a moment.
    let mut second = None;
    wait_until(Duration::from_secs(5), "the port free again", || {
        second = block_on(Server::bind_tcp(
            addr,
            Router::new(),
            ServerConfig::default(),
        ))
        .ok();
        second.is_some()
    });
    let second = second
        .expect("bound")
        .start(&Spawner::global())
        .expect("start");
    wait_until(Duration::from_secs(5), "reconnected", || {
        client.reconnects() == 1 && client.is_connected()
    });
    while let Some(d) = sub.try_recv() {
        assert!(matches!(d, msgwire::net::Delivery::Event(_)), "{d:?}");
    }
    assert_eq!(delivered(&second, &mut sub, b"2"), b"2");
    kill(second);
}

/// `close` while the client waits to dial again (its server gone) closes
/// it at once: the pause between attempts ends, and no more are made.
#[test]
fn a_close_during_the_pause_between_attempts_closes_at_once() {
    let _watchdog = watchdog();
    let count = Arc::new(AtomicU64::new(0));
    let server = server_on("127.0.0.1:0", &count);
    let addr = server.local_addr().expect("tcp");
    // Long pauses: only the close can end one early.
    let config = ClientConfig {
        reconnect: Some(Reconnect {
            initial: Duration::from_secs(3600),
            max: Duration::from_secs(3600),
            attempts: None,
        }),
        ..ClientConfig::default()
    };
    let client = connect(addr, config);
    kill(server);
    wait_until(Duration::from_secs(2), "the drop noticed", || {
        !client.is_connected()
    });
    assert!(!client.is_closed());
    client.close();
    wait_until(Duration::from_secs(5), "closed", || client.is_closed());
    assert_eq!(client.reconnects(), 0);
}

//! The `Client`'s own cost, without sockets or threads: `N` `ECHO`
//! requests (32-byte payload) through `Client::request` against
//! `Router::serve` over `memory::pipe`, everything on one thread, `DEPTH`
//! request futures in flight at once (each awaiting one `request` at a
//! time, joined with `futures::future::join_all` as `benches/net.rs` does).
//! Meant to be run under callgrind, whose instruction counts repeat on a
//! loaded machine where wall-clock figures do not:
//!
//! ```sh
//! cargo bench --bench client_loop --features async --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/deps/client_loop-* 2>&1 | grep refs
//! ```
//!
//! `MSGWIRE_LOOP_CLIENT=framed` runs the same requests from a `Framed`
//! client instead (the difference between the two counts is what the
//! `Client` adds). `MSGWIRE_LOOP_REQUESTS` sets `N` (default 20,000),
//! `MSGWIRE_LOOP_DEPTH` the requests in flight (default 256). It also
//! prints its wall-clock time (for a run outside valgrind).

use std::time::{Duration, Instant};

use msgwire::conversation::Framing;
use msgwire::net::{memory, Client, ClientConfig, Framed, FramedConfig, Router};
use msgwire::{Kind, Message};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env("MSGWIRE_LOOP_REQUESTS", 20_000);
    let depth = env("MSGWIRE_LOOP_DEPTH", 256);
    let framed = std::env::var("MSGWIRE_LOOP_CLIENT").is_ok_and(|v| v == "framed");
    let (client_end, server_end) = memory::pipe(64);
    let router = Router::new();
    let server = async {
        let mut conn = Framed::new(server_end, Framing::Binary, FramedConfig::default());
        router.serve(&mut conn).await;
    };
    let payload = [0x5Au8; 32];
    let start = Instant::now();
    let got = if framed {
        let client = async {
            let mut conn = Framed::new(client_end, Framing::Binary, FramedConfig::default());
            let (mut sent, mut got) = (0usize, 0usize);
            while got < n {
                // Refilled half a window at a time: each flush is one
                // chunk of the pipe, and at most two are in flight.
                if sent - got <= depth / 2 {
                    while sent < n && sent - got < depth {
                        let m = Message::new(Kind::ECHO, &payload).with_id(sent as u32 + 1);
                        conn.send(&m).await.expect("send");
                        sent += 1;
                    }
                    conn.flush().await.expect("flush");
                }
                let m = conn.recv().await.expect("answer");
                assert_eq!(m.payload.len(), payload.len());
                got += 1;
            }
            conn.close().await.expect("close");
            got
        };
        futures_lite::future::block_on(futures_lite::future::zip(server, client)).1
    } else {
        let config = ClientConfig {
            request_timeout: Duration::from_secs(60),
            ..ClientConfig::default()
        };
        let client = Client::new(client_end, config);
        let run = client.run();
        let requests = async {
            let left = std::cell::Cell::new(n);
            let one = || async {
                let mut done = 0usize;
                while left.get() > 0 {
                    left.set(left.get() - 1);
                    let answer = client.request("ECHO", &payload).await.expect("answer");
                    assert_eq!(answer.payload.len(), payload.len());
                    done += 1;
                }
                done
            };
            // `depth` futures in flight, polled in turn (join_all, by hand).
            let mut all: Vec<_> = (0..depth).map(|_| Some(Box::pin(one()))).collect();
            let mut done = 0usize;
            futures_lite::future::poll_fn(|cx| {
                for slot in all.iter_mut() {
                    if let Some(f) = slot {
                        if let std::task::Poll::Ready(n) = std::future::Future::poll(f.as_mut(), cx)
                        {
                            done += n;
                            *slot = None;
                        }
                    }
                }
                if all.iter().all(Option::is_none) {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            })
            .await;
            client.close();
            done
        };
        let (((), r), got) = futures_lite::future::block_on(futures_lite::future::zip(
            futures_lite::future::zip(server, run),
            requests,
        ));
        r.expect("started once");
        got
    };
    let took = start.elapsed();
    assert_eq!(got, n, "every request answered");
    println!(
        "{} client: {n} requests, {depth} in flight, in {:.1} ms: {:.0} ns per request and answer",
        if framed { "Framed" } else { "Client" },
        took.as_secs_f64() * 1e3,
        took.as_nanos() as f64 / n as f64
    );
}

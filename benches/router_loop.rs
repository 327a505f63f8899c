//! The request loop's own cost, without sockets or threads: `N` requests
//! through `Router::serve` over `memory::pipe`, the server and a `Framed`
//! client on one thread, 32 in flight. Meant to be run under callgrind,
//! whose instruction counts repeat on a loaded machine where wall-clock
//! figures do not:
//!
//! ```sh
//! cargo bench --bench router_loop --features async --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/deps/router_loop-* 2>&1 | grep refs
//! ```
//!
//! It also prints its wall-clock time (for a run outside valgrind).
//! `MSGWIRE_LOOP_REQUESTS` sets `N` (default 20,000); the mix is PING,
//! ECHO (32 bytes), a handler's kind, and an unknown kind (`ERROR`).

use std::time::Instant;

use msgwire::conversation::Framing;
use msgwire::net::{memory, Framed, FramedConfig, Reply, Router};
use msgwire::{Kind, Message};

fn main() {
    let n: u32 = std::env::var("MSGWIRE_LOOP_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let (client_end, server_end) = memory::pipe(64);
    let router = Router::new()
        .on("TEMP", |_req| async {
            Ok(Reply::new(Kind::lit("TEMP"), "21.5"))
        })
        .expect("valid kind");
    let server = async {
        let mut conn = Framed::new(server_end, Framing::Binary, FramedConfig::default());
        router.serve(&mut conn).await
    };
    let payload = [0x5Au8; 32];
    let kinds = [
        Kind::PING,
        Kind::ECHO,
        Kind::new("TEMP").expect("kind"),
        Kind::new("NOPE").expect("kind"),
    ];
    let client = async {
        let mut conn = Framed::new(client_end, Framing::Binary, FramedConfig::default());
        let (mut sent, mut got, mut errors) = (0u32, 0u32, 0u32);
        while got < n {
            while sent < n && sent - got < 32 {
                let kind = kinds[(sent % 4) as usize];
                let m = Message::new(kind, &payload).with_id(sent + 1);
                conn.send(&m).await.expect("send");
                sent += 1;
            }
            conn.flush().await.expect("flush");
            let m = conn.recv().await.expect("answer");
            errors += u32::from(m.kind == Kind::ERROR);
            got += 1;
        }
        conn.send(&Message::new(Kind::EXIT, b""))
            .await
            .expect("exit");
        conn.flush().await.expect("flush");
        (got, errors)
    };
    let start = Instant::now();
    let (_end, (got, errors)) =
        futures_lite::future::block_on(futures_lite::future::zip(server, client));
    let took = start.elapsed();
    assert_eq!(
        (got, errors),
        (n, n / 4),
        "every request answered, every fourth an ERROR"
    );
    println!(
        "{n} requests in {:.1} ms: {:.0} ns per request and answer",
        took.as_secs_f64() * 1e3,
        took.as_nanos() as f64 / f64::from(n)
    );
}

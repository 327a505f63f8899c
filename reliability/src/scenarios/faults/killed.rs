//! The server process is killed (SIGKILL) while requests are pending: each
//! must fail with `Closed` within 2 s, well before the 60 s request
//! timeout (a `Timeout` would be a violation).

use std::time::{Duration, Instant};

use msgwire::net::{Client, ClientError};

use crate::exec::{run, spawn, within};
use crate::harness::cli::Mode;
use crate::harness::report::{check as holds, violation};
use crate::peers::connect_client;
use crate::server::ServerProc;

pub fn check(mode: Mode) {
    let clients = mode.pick(32usize, 128usize);
    let mut server = match ServerProc::start(Some(Duration::from_secs(60)), None) {
        Ok(s) => s,
        Err(e) => return violation(format!("faults: {e}")),
    };
    let addr = server.addr;
    let tasks = run(async move {
        let mut tasks = Vec::new();
        for i in 0..clients {
            tasks.push(spawn(busy(connect_client(addr).await?, i)));
        }
        Ok::<_, String>(tasks)
    });
    let tasks = match tasks {
        Ok(t) => t,
        Err(e) => return violation(format!("faults: server death: {e}")),
    };
    std::thread::sleep(Duration::from_secs(1));
    let killed = Instant::now();
    server.kill();
    let res = run(async move {
        let mut v = Vec::new();
        for t in tasks {
            v.push(within(Duration::from_secs(10), "request after the server died", t).await);
        }
        v
    });
    let mut worst = Duration::ZERO;
    let mut echoes = 0;
    for r in res {
        match r {
            Ok((n, e, when)) => {
                echoes += n;
                worst = worst.max(when.saturating_duration_since(killed));
                holds(matches!(e, ClientError::Closed(_)), || {
                    format!("faults: server killed: a pending request failed with {e}, not Closed")
                });
            }
            Err(e) => violation(format!("faults: server killed: {e}")),
        }
    }
    holds(worst <= Duration::from_secs(2), || {
        format!("faults: server killed: a pending request failed only {worst:?} later")
    });
    println!(
        "faults: server process killed with {clients} clients busy ({} on 30 s handlers; {echoes} echoes answered before): every pending request failed with Closed within {:.0} ms",
        clients / 2,
        worst.as_secs_f64() * 1000.0
    );
}

/// Client `i` makes requests until one fails: even ones wait on a 30 s
/// `SLOW` handler, odd ones stream `ECHO`s. The requests answered, the
/// error, and when.
async fn busy(client: Client, i: usize) -> (u64, ClientError, Instant) {
    let mut n = 0u64;
    loop {
        let r = if i.is_multiple_of(2) {
            client.request("SLOW", b"30000").await.map(|_| ())
        } else {
            client.request("ECHO", &[1u8; 2000]).await.map(|_| ())
        };
        match r {
            Ok(()) => n += 1,
            Err(e) => return (n, e, Instant::now()),
        }
    }
}

//! faults: peers that vanish, half-close, stay silent, never read or send
//! one byte a second, against a server with a 2 s idle timeout; then, on
//! servers of their own, the connection limit, the payload limits, a
//! graceful shutdown under load and a server killed mid-request.

mod killed;
mod limits;
mod overload;
mod raw_peers;
mod shutdown;

use std::net::SocketAddr;
use std::time::Duration;

use msgwire::net::{Router, Server, ServerConfig};

use crate::exec::spawner;
use crate::harness::cli::Mode;
use crate::harness::report::{mib, violation};
use crate::server::ServerProc;
use crate::wire::ping_ok;

pub fn scenario(mode: Mode) {
    let idle = Duration::from_secs(2);
    let n = mode.pick(100usize, 500usize);
    let mut server = match ServerProc::start(Some(idle), Some(Duration::from_secs(5))) {
        Ok(s) => s,
        Err(e) => return violation(format!("faults: {e}")),
    };
    println!(
        "faults: server idle timeout {} s; {n} peers of each abrupt kind",
        idle.as_secs()
    );
    let rss0 = server.rss();
    raw_peers::vanishing(&mut server, n, idle);
    ping_ok(server.addr, "faults", "after vanished peers");
    raw_peers::half_closed(server.addr);
    raw_peers::silent(server.addr, idle);
    raw_peers::never_reading(&server, mode.pick(16, 64), idle);
    ping_ok(server.addr, "faults", "after never-reading peers");
    raw_peers::slowloris(server.addr, idle);
    println!(
        "faults: server RSS {} at the start, {} at the end",
        mib(rss0),
        mib(server.rss())
    );
    ping_ok(server.addr, "faults", "at the end");
    server.stop("faults");

    overload::check();
    limits::check();
    shutdown::check(mode);
    killed::check(mode);
}

/// A server of this process on 127.0.0.1 (a free port), started on the
/// suite's executor, and its address: the checks that read the server's
/// own state (`Server::stats`, `Server::shutdown`) run it this way.
async fn start_server(
    router: Router,
    config: ServerConfig,
) -> Result<(Server, SocketAddr), String> {
    let server = Server::bind_tcp("127.0.0.1:0", router, config)
        .await
        .map_err(|e| format!("bind: {e}"))?
        .start(&spawner())
        .map_err(|e| e.to_string())?;
    let addr = server.local_addr().ok_or("no address")?;
    Ok((server, addr))
}

//! A server at its connection limit answers `ERROR overloaded` (in the
//! peer's framing) and closes; a client sees why; a freed slot is reused.
//! The server runs in this process: the check reads `Server::stats`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_io::Timer;
use msgwire::net::{Client, Router, Server, ServerConfig};
use msgwire::{Kind, Message};

use crate::exec::{run, within};
use crate::harness::report::{check as holds, violation};
use crate::peers::{connect_client, connect_text};

const MAX: usize = 16;

struct Seen {
    /// Why the client over the limit failed.
    why: String,
    /// How long until a freed slot served a new client.
    reused: Option<Duration>,
    overloaded: u64,
}

pub fn check() {
    let r = run(async {
        let config = ServerConfig {
            max_connections: MAX,
            ..ServerConfig::default()
        };
        let (server, addr) = super::start_server(Router::new(), config).await?;
        let mut clients = Vec::new();
        for _ in 0..MAX {
            let c = connect_client(addr).await?;
            c.ping()
                .await
                .map_err(|e| format!("ping under the limit: {e}"))?;
            clients.push(c);
        }
        text_peer_refused(addr).await?;
        let why = client_refused(addr).await?;
        let reused = slot_reused(&server, addr, &mut clients).await?;
        let overloaded = server.stats().overloaded;
        server.shutdown(Duration::from_secs(2)).await;
        Ok::<_, String>(Seen {
            why,
            reused,
            overloaded,
        })
    });
    let seen = match r {
        Ok(s) => s,
        Err(e) => return violation(format!("faults: overload: {e}")),
    };
    let Seen {
        why,
        reused,
        overloaded,
    } = seen;
    holds(why.contains("overloaded"), || {
        format!("faults: a client refused as overloaded is told only {why:?}")
    });
    holds(
        reused.is_some_and(|d| d < Duration::from_millis(900)),
        || format!("faults: a freed connection slot was served again only after {reused:?}"),
    );
    println!(
        "faults: over the limit of {MAX} connections: a text peer got `ERROR:overloaded: ...` then EOF, a client's request failed with {why:?}; {overloaded} refused; a freed slot served again after {:.0} ms",
        reused.unwrap_or_default().as_secs_f64() * 1000.0
    );
}

/// One more peer, in text framing: one `ERROR:overloaded:` line.
async fn text_peer_refused(addr: SocketAddr) -> Result<(), String> {
    let mut f = connect_text(addr).await?;
    f.send(&Message::new(Kind::PING, b""))
        .await
        .map_err(|e| e.to_string())?;
    f.flush().await.map_err(|e| e.to_string())?;
    let line = within(Duration::from_secs(10), "overloaded answer", f.recv())
        .await?
        .map(|m| (m.kind.as_str().to_string(), m.payload.to_vec()))
        .map_err(|e| format!("text peer over the limit: {e}"))?;
    if line.0 != "ERROR" || !line.1.starts_with(b"overloaded:") {
        return Err(format!("text peer over the limit got {line:?}"));
    }
    Ok(())
}

/// One more binary client: its request must fail; the error, to say why.
async fn client_refused(addr: SocketAddr) -> Result<String, String> {
    let c: Client = connect_client(addr).await?;
    match within(Duration::from_secs(10), "overloaded client", c.ping()).await? {
        Ok(_) => Err("a client over the limit was served".into()),
        Err(e) => Ok(e.to_string()),
    }
}

/// A freed slot is served again at once, even while a silent peer over
/// the limit is being refused (the server waits up to 1 s for its first
/// byte): how long it took, `None` after 10 s.
async fn slot_reused(
    server: &Server,
    addr: SocketAddr,
    clients: &mut Vec<Client>,
) -> Result<Option<Duration>, String> {
    let silent = async_net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    Timer::after(Duration::from_millis(100)).await;
    drop(clients.pop());
    let t = Instant::now();
    let reused = loop {
        if server.stats().active < MAX {
            let c = connect_client(addr).await?;
            if c.ping().await.is_ok() {
                break Some(t.elapsed());
            }
        }
        if t.elapsed() > Duration::from_secs(10) {
            break None;
        }
        Timer::after(Duration::from_millis(20)).await;
    };
    drop(silent);
    Ok(reused)
}

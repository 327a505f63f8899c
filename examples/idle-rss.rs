//! Memory per connection: the resident set size (RSS) of a msgwire server
//! holding many idle connections.
//!
//! ```text
//! cargo run --release --example idle-rss --features async -- [CONNECTIONS]
//! ```
//!
//! The program starts itself a second time as the server (so the server's
//! RSS is its own, not the clients'), reads its `VmRSS` from
//! `/proc/<pid>/status`, opens `CONNECTIONS` (default 10,000) loopback
//! connections, and reads the RSS again: once while the connections are
//! silent, once after each has sent one `PING` and read its `PONG` (its
//! decoder is then allocated and in use), and once more a second later.
//! Each process needs one file descriptor per connection: raise the limit
//! first (`ulimit -n 20000`; `scripts/idle-rss.sh` does it). Linux only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use msgwire::net::{Router, Server, ServerConfig, Spawner};
use msgwire::{Decoder, Kind, Message};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        serve();
        return;
    }
    let connections = match args.first().map(|a| a.parse::<usize>()) {
        None => 10_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: idle-rss [CONNECTIONS]");
            std::process::exit(2);
        }
    };
    if let Err(e) = measure(connections) {
        eprintln!("idle-rss: {e}");
        std::process::exit(1);
    }
}

/// The server side: the default router, no idle timeout, room for every
/// connection; prints its address, then serves until stdin closes.
fn serve() {
    let config = ServerConfig {
        max_connections: 1_000_000,
        idle_timeout: None,
        ..ServerConfig::default()
    };
    let server = match smol::block_on(Server::bind_tcp("127.0.0.1:0", Router::new(), config)) {
        // On smol's executor (its own thread): the accept loop and one
        // task per connection.
        Ok(s) => s
            .start(&Spawner::new(|task| smol::spawn(task).detach()))
            .expect("start"),
        Err(e) => {
            eprintln!("idle-rss server: bind: {e}");
            std::process::exit(1);
        }
    };
    match server.local_addr() {
        Some(addr) => println!("{addr}"),
        None => std::process::exit(1),
    }
    let _ = std::io::stdout().flush();
    // Serve until the parent closes our stdin.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(server);
}

fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS line".to_string())
}

fn measure(connections: usize) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the server: {e}"))?;
    let pid = child.id();
    let result = (|| {
        let stdout = child.stdout.take().ok_or("no server stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let addr = line.trim().to_string();
        if addr.is_empty() {
            return Err("the server did not start".to_string());
        }
        std::thread::sleep(Duration::from_millis(300));
        let base = rss_kib(pid)?;

        let mut conns = Vec::with_capacity(connections);
        for i in 0..connections {
            let s = TcpStream::connect(&addr)
                .map_err(|e| format!("connection {i}: {e} (raise the fd limit: ulimit -n)"))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .map_err(|e| e.to_string())?;
            conns.push(s);
        }
        std::thread::sleep(Duration::from_millis(1000));
        let silent = rss_kib(pid)?;

        let ping = {
            let m = Message::new(Kind::PING, b"").with_id(1);
            let mut out = vec![0; msgwire::encoded_len(&m).map_err(|e| e.to_string())?];
            msgwire::encode(&m, &mut out).map_err(|e| e.to_string())?;
            out
        };
        for (i, s) in conns.iter_mut().enumerate() {
            s.write_all(&ping)
                .map_err(|e| format!("connection {i}: {e}"))?;
        }
        let mut dec = Decoder::<256>::new();
        for (i, s) in conns.iter_mut().enumerate() {
            dec.clear();
            loop {
                let n = s
                    .read(dec.spare())
                    .map_err(|e| format!("connection {i}: {e}"))?;
                if n == 0 {
                    return Err(format!("connection {i}: closed by the server"));
                }
                dec.commit(n);
                match dec.decode() {
                    Some(Ok(m)) if m.kind == "PONG" => break,
                    Some(other) => return Err(format!("connection {i}: {other:?}")),
                    None => {}
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1000));
        let used = rss_kib(pid)?;
        std::thread::sleep(Duration::from_millis(1000));
        let later = rss_kib(pid)?;

        let per = |kib: u64| (kib.saturating_sub(base) as f64 * 1024.0) / connections as f64;
        println!("server RSS with {connections} idle connections (VmRSS of the server process)\n");
        println!("| state | RSS | per connection |");
        println!("|---|---|---|");
        println!(
            "| listening, no connection | {:.1} MiB | — |",
            base as f64 / 1024.0
        );
        println!(
            "| {connections} connections, no byte sent | {:.1} MiB | {:.0} B |",
            silent as f64 / 1024.0,
            per(silent)
        );
        println!(
            "| {connections} connections, after one PING each | {:.1} MiB | {:.0} B |",
            used as f64 / 1024.0,
            per(used)
        );
        println!(
            "| the same, one second later | {:.1} MiB | {:.0} B |",
            later as f64 / 1024.0,
            per(later)
        );
        drop(conns);
        Ok(())
    })();
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    result
}

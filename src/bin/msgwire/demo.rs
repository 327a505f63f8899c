//! `msgwire demo`: the prototype's conversation, for real. A server on an
//! ephemeral loopback port and clients in the same process, nothing else
//! to start: PING → PONG ack, ECHO, an unknown kind answered ERROR, a
//! malformed frame answered ERROR while its connection goes on, text mode
//! as netcat would type it, EXIT, and a second of pipelined throughput.
//!
//! It is the README's first command (`cargo run --release --features cli
//! -- demo`): a binary builds without the dev-dependencies an example
//! would compile first.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use async_io::block_on;
use msgwire::net::{
    Client, ClientConfig, ClientError, Frame, Router, Server, ServerConfig, Spawner,
};
use msgwire::{Decoder, Kind, Message};

use crate::{Failure, Outcome};

/// How long the pipelined throughput runs.
const THROUGHPUT_RUN: Duration = Duration::from_secs(1);

/// Requests in flight on the one connection during the throughput run.
const IN_FLIGHT: usize = 64;

pub fn run() -> Outcome {
    // 1. A server with the built-in router (PING, ECHO, EXIT) on a free
    //    port, its accept loop and connections on msgwire's own executor.
    let spawner = Spawner::global();
    let server = block_on(Server::bind_tcp(
        "127.0.0.1:0",
        Router::new(),
        ServerConfig::default(),
    ))
    .map_err(|e| Failure::Run(format!("cannot listen on loopback: {e}")))?
    .start(&spawner)?;
    let addr = server
        .local_addr()
        .ok_or_else(|| Failure::Run("the server has no TCP address".into()))?;
    println!("server listening on {addr}\n");

    // 2. The binary client: ids and correlation are automatic.
    println!("binary client:");
    let client = block_on(Client::connect_tcp(addr, ClientConfig::default()))
        .map_err(|e| Failure::Run(format!("cannot connect to {addr}: {e}")))?
        .start(&spawner)?;
    block_on(async {
        show("PING hello", &client.request("PING", b"hello").await);
        show(
            "ECHO is anybody there?",
            &client.request("ECHO", b"is anybody there?").await,
        );
        show("FOO (no handler)", &client.request("FOO", b"").await);
        match client.ping().await {
            Ok(rtt) => println!("  {:<28} -> {rtt:?}", "round trip"),
            Err(e) => println!("  {:<28} -> failed: {e}", "round trip"),
        }
    });

    raw_frames(addr)?;
    text_mode(addr)?;
    throughput(&client);

    let report = block_on(server.shutdown(Duration::from_secs(2)));
    println!(
        "\nserver shut down: {} connection(s) drained, {} closed at the deadline",
        report.drained, report.forced
    );
    println!("\nnext: 'msgwire serve' in one terminal, 'msgwire send PING hi' in another");
    Ok(ExitCode::SUCCESS)
}

fn show(label: &str, result: &Result<Frame, ClientError>) {
    match result {
        Ok(f) => println!(
            "  {label:<28} -> {} {:?}",
            f.kind,
            String::from_utf8_lossy(&f.payload)
        ),
        Err(e) => println!("  {label:<28} -> {e}"),
    }
}

/// A malformed frame on a raw socket: its header is sound (so the server
/// trusts its id) but its kind has a space in it. The server answers ERROR
/// with that id, and the same connection answers the PING after it.
fn raw_frames(addr: std::net::SocketAddr) -> Result<(), Failure> {
    println!("\nraw socket, a frame with a bad kind, then a PING on the same connection:");
    let mut raw = std::net::TcpStream::connect(addr)?;
    raw.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut wire = [0u8; 64];
    let encoding = |e: msgwire::Error| Failure::Run(format!("cannot encode: {e}"));
    let blob = Kind::new("BLOB").map_err(encoding)?;
    let n = msgwire::encode(&Message::new(blob, b"").with_id(41), &mut wire).map_err(encoding)?;
    // "B LOB": the kind is not covered by the header's CRC.
    wire[msgwire::frame::HEADER_LEN + 1] = b' ';
    let m = msgwire::encode(&Message::new(Kind::PING, b"").with_id(42), &mut wire[n..])
        .map_err(encoding)?;
    raw.write_all(&wire[..n + m])?;
    let mut dec = Decoder::<1024>::new();
    let mut shown = 0;
    while shown < 2 {
        let got = raw.read(dec.spare())?;
        if got == 0 {
            break;
        }
        dec.commit(got);
        while let Some(event) = dec.decode() {
            match event {
                Ok(m) => println!(
                    "  id {} -> {} {:?}",
                    m.id,
                    m.kind,
                    String::from_utf8_lossy(m.payload)
                ),
                Err(e) => println!("  undecodable answer: {e}"),
            }
            shown += 1;
        }
    }
    Ok(())
}

/// Text mode, as `printf 'PING:hi\n' | nc 127.0.0.1 PORT` would do it.
fn text_mode(addr: std::net::SocketAddr) -> Result<(), Failure> {
    println!("\ntext mode (what you would type into netcat):");
    let mut text = std::net::TcpStream::connect(addr)?;
    text.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut lines = BufReader::new(text.try_clone()?);
    for line in ["PING:hi", "ECHO:a:b:c", "no separator", "WHAT:ever"] {
        text.write_all(format!("{line}\n").as_bytes())?;
        let mut answer = String::new();
        lines.read_line(&mut answer)?;
        println!("  {line:<28} -> {}", answer.trim_end());
    }
    text.write_all(b"EXIT:\n")?;
    let mut rest = String::new();
    let closed = lines.read_line(&mut rest)? == 0;
    println!(
        "  {:<28} -> {}",
        "EXIT:",
        if closed {
            "(no answer, connection closed)"
        } else {
            rest.trim_end()
        }
    );
    Ok(())
}

/// Pipelined throughput: [`IN_FLIGHT`] tasks share the one connection,
/// each sending its next ECHO as soon as its answer is back.
fn throughput(client: &Client) {
    println!(
        "\npipelined ECHO, 32-byte payloads, {IN_FLIGHT} requests in flight on one connection, {} s:",
        THROUGHPUT_RUN.as_secs_f64()
    );
    let started = Instant::now();
    let ex = async_executor::LocalExecutor::new();
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let client = client.clone();
            ex.spawn(async move {
                let (mut ok, mut failed) = (0u64, 0u64);
                while started.elapsed() < THROUGHPUT_RUN {
                    match client.request("ECHO", &[b'x'; 32]).await {
                        Ok(_) => ok += 1,
                        Err(_) => failed += 1,
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let (ok, failed) = block_on(ex.run(async {
        let mut totals = (0, 0);
        for w in workers {
            let (o, f) = w.await;
            totals.0 += o;
            totals.1 += f;
        }
        totals
    }));
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  {ok} answers ({failed} failed) in {secs:.2} s: {:.0} messages/s, client and server in one process",
        ok as f64 / secs
    );
    println!("  (more: 'msgwire bench')");
}

//! The prototype's conversation, for real: a msgwire server on an
//! ephemeral loopback port and a client in the same process.
//!
//! Run it with `cargo run --release --example demo`. Nothing else to start.
//!
//! It shows PING → PONG ack, ECHO, an unknown kind answered with ERROR, a
//! malformed frame answered with ERROR while the connection goes on, a
//! text-mode exchange like one you could type into netcat, EXIT, and then a
//! few seconds of pipelined throughput.

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use msgwire::net::{Client, ClientConfig, Router, Server, ServerConfig, Spawner};
use msgwire::{Decoder, Kind, Message};
use smol::block_on;

fn show(label: &str, result: &Result<msgwire::net::Frame, msgwire::net::ClientError>) {
    match result {
        Ok(f) => println!(
            "  {label:<28} -> {} {:?}",
            f.kind,
            String::from_utf8_lossy(&f.payload)
        ),
        Err(e) => println!("  {label:<28} -> {e}"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. A server with the built-in router (PING, ECHO, EXIT) on a free port.
    let server = block_on(Server::bind_tcp(
        "127.0.0.1:0",
        Router::new(),
        ServerConfig::default(),
    ))?;
    // It runs on smol's executor: its accept loop and every connection
    // are tasks there.
    let server = server.start(&Spawner::new(|task| smol::spawn(task).detach()));
    let addr = server.local_addr().ok_or("no TCP address")?;
    println!("server listening on {addr}\n");

    // 2. The binary client: ids and correlation are automatic.
    println!("binary client:");
    let client = block_on(Client::connect_tcp(addr, ClientConfig::default()))?;
    // Its background work (timeouts …) is one more task on smol's executor.
    smol::spawn(client.run()).detach();
    block_on(async {
        show("PING hello", &client.request("PING", b"hello").await);
        show(
            "ECHO is anybody there?",
            &client.request("ECHO", b"is anybody there?").await,
        );
        show("FOO (no handler)", &client.request("FOO", b"").await);
        match client.ping().await {
            Ok(rtt) => println!("  {:<28} -> {rtt:?}", "round trip"),
            Err(e) => println!("  round trip failed: {e}"),
        }
    });

    // 3. A malformed frame on a raw socket: its header is sound (so the
    //    server trusts its id) but its kind has a space in it. The server
    //    answers ERROR with that id, and the same connection goes on.
    println!("\nraw socket, a frame with a bad kind, then a PING on the same connection:");
    let mut raw = std::net::TcpStream::connect(addr)?;
    let mut wire = [0u8; 64];
    let n = msgwire::encode(
        &Message::new(Kind::new("BLOB")?, b"").with_id(41),
        &mut wire,
    )?;
    wire[15] = b' '; // "B LOB": the kind is not covered by the header CRC
    let m = msgwire::encode(&Message::new(Kind::PING, b"").with_id(42), &mut wire[n..])?;
    raw.write_all(&wire[..n + m])?;
    let mut dec = Decoder::<1024>::new();
    let mut shown = 0;
    while shown < 2 {
        let got = raw.read(dec.spare())?;
        if got == 0 {
            break;
        }
        dec.commit(got);
        while let Some(Ok(m)) = dec.decode() {
            println!(
                "  id {} -> {} {:?}",
                m.id,
                m.kind,
                String::from_utf8_lossy(m.payload)
            );
            shown += 1;
        }
    }

    // 4. Text mode, as `printf 'PING:hi\n' | nc 127.0.0.1 PORT` would do it.
    println!("\ntext mode (what you would type into netcat):");
    let mut text = std::net::TcpStream::connect(addr)?;
    let mut lines = BufReader::new(text.try_clone()?);
    for line in ["PING:hi", "ECHO:a:b:c", "no separator", "WHAT:ever"] {
        text.write_all(format!("{line}\n").as_bytes())?;
        let mut answer = String::new();
        lines.read_line(&mut answer)?;
        println!("  {line:<28} -> {}", answer.trim_end());
    }
    text.write_all(b"EXIT:\n")?;
    let mut rest = String::new();
    lines.read_line(&mut rest)?;
    println!(
        "  {:<28} -> (connection closed: {})",
        "EXIT:",
        rest.is_empty()
    );

    // 5. Pipelined throughput: 64 tasks share the one connection, each
    //    sending its next request as soon as its answer is back.
    println!(
        "\npipelined ECHO, 32-byte payloads, 64 requests in flight on one connection, 3 seconds:"
    );
    let started = Instant::now();
    let ex = smol::LocalExecutor::new();
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let client = client.clone();
            ex.spawn(async move {
                let (mut ok, mut failed) = (0u64, 0u64);
                while started.elapsed() < Duration::from_secs(3) {
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

    let report = block_on(server.shutdown(Duration::from_secs(2)));
    println!("\nserver shut down: {report:?}");
    Ok(())
}

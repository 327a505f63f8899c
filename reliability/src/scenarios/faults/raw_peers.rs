//! Misbehaving peers on raw sockets, against the server process.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use msgwire::Flags;

use crate::harness::report::{check, mib, violation};
use crate::server::{Sampler, ServerProc};
use crate::wire::{encode, raw_connect, read_frames, time_to_close};

/// `n` peers each close mid-header (7 bytes of a header) and mid-payload
/// (half a 32 KiB frame), and every second one mid-reply (4 × 64 KiB
/// `ECHO`s sent, 100 bytes of the answers read: the server is writing into
/// a reset socket). Every connection must be released within 3 × idle.
pub fn vanishing(server: &mut ServerProc, n: usize, idle: Duration) {
    let addr = server.addr;
    let frame = encode("ECHO", 1, Flags::CHECKSUM, &[0x5Au8; 32 * 1024]);
    let big = encode("ECHO", 2, Flags::EMPTY, &[0x33u8; 64 * 1024]);
    let vanish = |i: usize| -> Result<(), String> {
        let mut s = raw_connect(addr)?;
        s.write_all(&frame[..7]).map_err(|e| e.to_string())?;
        drop(s);
        let mut s = raw_connect(addr)?;
        s.write_all(&frame[..frame.len() / 2])
            .map_err(|e| e.to_string())?;
        drop(s);
        if i.is_multiple_of(2) {
            let mut s = raw_connect(addr)?;
            for _ in 0..4 {
                s.write_all(&big).map_err(|e| e.to_string())?;
            }
            let mut some = [0u8; 100];
            s.read_exact(&mut some).map_err(|e| e.to_string())?;
            // Reset, not FIN: the server is mid-write.
            drop(s);
        }
        Ok(())
    };
    if let Err(e) = (0..n).try_for_each(vanish) {
        violation(format!("faults: abrupt peers: {e}"));
    }
    match server.wait_active_at_most(0, idle * 3) {
        Some(d) => println!(
            "faults: {} peers gone mid-header / mid-payload / mid-reply: all connections released {:.0} ms after the last ({} accepted so far)",
            n * 2 + n / 2,
            d.as_secs_f64() * 1000.0,
            server.stats().accepted
        ),
        None => violation("faults: connections of vanished peers still held after 3x the idle timeout"),
    }
}

/// 20 peers send 50 pipelined requests, then `shutdown(Write)`: all 50
/// answers, in order, then EOF, nothing more.
pub fn half_closed(addr: SocketAddr) {
    let mut ok = 0;
    for c in 0..20u32 {
        match half_closed_peer(addr, c) {
            Ok(()) => ok += 1,
            Err(e) => violation(format!("faults: half-closed peer {c}: {e}")),
        }
    }
    println!("faults: {ok}/20 half-closed peers got all 50 answers, in order, then EOF");
}

fn half_closed_peer(addr: SocketAddr, c: u32) -> Result<(), String> {
    let mut s = raw_connect(addr)?;
    let mut bytes = Vec::new();
    for id in 1..=50u32 {
        let payload = format!("{c}/{id}");
        bytes.extend(encode("ECHO", id, Flags::EMPTY, payload.as_bytes()));
    }
    s.write_all(&bytes).map_err(|e| e.to_string())?;
    s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
    let (f, _) = read_frames(&mut s, 50)?;
    for (i, (k, id, p)) in f.iter().enumerate() {
        let want = format!("{c}/{}", i + 1);
        if k != "ECHO" || *id != i as u32 + 1 || p != want.as_bytes() {
            return Err(format!("answer {i}: {k} id {id}"));
        }
    }
    let (extra, eof) = read_frames(&mut s, 1)?;
    if !extra.is_empty() || !eof {
        return Err("more than one answer per request".into());
    }
    Ok(())
}

/// Silent peers (nothing sent, or one `PING` and then nothing): dropped at
/// the idle timeout, between idle − 0.1 s and idle + 3 s.
pub fn silent(addr: SocketAddr, idle: Duration) {
    let mut closes = Vec::new();
    for k in 0..4 {
        let r = (|| -> Result<Duration, String> {
            let mut s = raw_connect(addr)?;
            if k % 2 == 1 {
                s.write_all(&encode("PING", 1, Flags::EMPTY, b""))
                    .map_err(|e| e.to_string())?;
                read_frames(&mut s, 1)?;
            }
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .map_err(|e| e.to_string())?;
            time_to_close(&mut s, idle + Duration::from_secs(5))
        })();
        match r {
            Ok(d) => closes.push(d),
            Err(e) => violation(format!("faults: silent peer: {e}")),
        }
    }
    for d in &closes {
        check(
            *d + Duration::from_millis(100) >= idle && *d <= idle + Duration::from_secs(3),
            || format!("faults: a silent peer was dropped after {d:?} (idle timeout {idle:?})"),
        );
    }
    let secs: Vec<String> = closes
        .iter()
        .map(|d| format!("{:.2} s", d.as_secs_f64()))
        .collect();
    println!("faults: silent peers dropped after {secs:?}");
}

/// `peers` peers send 64 KiB `ECHO`s and never read: each must be reset by
/// the server within idle + 8 s, and the server's RSS peak stay within
/// before + 16 MiB + 1 MiB per peer.
pub fn never_reading(server: &ServerProc, peers: usize, idle: Duration) {
    let addr = server.addr;
    let before = server.rss();
    let sampler = Sampler::start(server.pid, Duration::from_millis(100));
    let handles: Vec<_> = (0..peers)
        .map(|_| std::thread::spawn(move || never_reading_peer(addr)))
        .collect();
    let mut worst = Duration::ZERO;
    let mut sent_total = 0u64;
    for h in handles {
        match h.join() {
            Ok(Ok((sent, t, kind))) => {
                sent_total += sent;
                worst = worst.max(t);
                check(
                    matches!(kind, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
                    || {
                        format!("faults: a peer that never reads: its write ended with {kind:?} after {t:?}, not a reset by the server")
                    },
                );
            }
            Ok(Err(e)) => violation(format!("faults: a peer that never reads: {e}")),
            Err(_) => violation("faults: a never-reading peer's thread panicked"),
        }
    }
    let peak = sampler.peak();
    let bound = before + 16 * 1024 + peers as u64 * 1024;
    check(peak <= bound, || {
        format!(
            "faults: never-reading peers: server RSS reached {} (before {}, limit {})",
            mib(peak),
            mib(before),
            mib(bound)
        )
    });
    check(worst <= idle + Duration::from_secs(8), || {
        format!("faults: a never-reading peer was dropped only after {worst:?}")
    });
    println!(
        "faults: {peers} peers that never read: each sent until its writes blocked ({} MiB in all) and was reset by the server within {:.1} s of connecting; server RSS {} before, {} max",
        sent_total / 1048576,
        worst.as_secs_f64(),
        mib(before),
        mib(peak)
    );
}

/// Writes 64 KiB `ECHO`s until a write fails: what it sent, when, and how
/// the write failed.
fn never_reading_peer(addr: SocketAddr) -> Result<(u64, Duration, ErrorKind), String> {
    let mut s = raw_connect(addr)?;
    s.set_write_timeout(Some(Duration::from_secs(12)))
        .map_err(|e| e.to_string())?;
    let req = encode("ECHO", 5, Flags::EMPTY, &[0x42u8; 64 * 1024]);
    let t = Instant::now();
    let mut sent = 0u64;
    loop {
        match s.write(&req) {
            Ok(k) => sent += k as u64,
            Err(e) => return Ok((sent, t.elapsed(), e.kind())),
        }
        if t.elapsed() > Duration::from_secs(60) {
            return Err("still writing after 60 s".into());
        }
    }
}

/// A request sent one byte a second, binary and text: dropped at the idle
/// timeout (within idle + 2 s), and never answered.
pub fn slowloris(addr: SocketAddr, idle: Duration) {
    for (name, bytes) in [
        ("binary", encode("ECHO", 3, Flags::EMPTY, b"slowloris")),
        ("text", b"ECHO:slowloris\n".to_vec()),
    ] {
        match slowloris_peer(addr, &bytes) {
            Ok((sent, d)) => {
                check(d <= idle + Duration::from_secs(2), || {
                    format!("faults: {name} slowloris dropped only after {d:?}")
                });
                println!(
                    "faults: {name} slowloris (1 B/s) dropped after {:.1} s, {sent} of {} bytes sent",
                    d.as_secs_f64(),
                    bytes.len()
                );
            }
            Err(e) => violation(format!("faults: {name} slowloris: {e}")),
        }
    }
}

/// Sends `bytes` one a second (a read with a 1 s timeout in between):
/// how many went out before the server closed, and when.
fn slowloris_peer(addr: SocketAddr, bytes: &[u8]) -> Result<(usize, Duration), String> {
    let mut s: TcpStream = raw_connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut buf = [0u8; 256];
    for (i, b) in bytes.iter().enumerate() {
        if s.write_all(&[*b]).is_err() {
            return Ok((i, t.elapsed()));
        }
        match s.read(&mut buf) {
            Ok(0) => return Ok((i + 1, t.elapsed())),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok((i + 1, t.elapsed())),
            Ok(_) => return Err("an answer to an incomplete request".into()),
            Err(_) => {}
        }
    }
    Err(format!(
        "the whole request went through at 1 B/s in {:?}",
        t.elapsed()
    ))
}

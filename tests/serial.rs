//! `msgwire::net::serial` over pseudo-terminal pairs: no hardware needed.
//! The pty's slave side is the "device" opened with `serial::open`; its
//! master side, on async-io like any file descriptor, is the other end
//! of the wire.
#![cfg(all(unix, feature = "serial"))]

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use async_io::Async;
use futures_lite::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, FutureExt};
use msgwire::net::{
    serial, Client, ClientConfig, ClientError, ConnEnd, Framed, FramedConfig, Router,
};
use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};

/// A new pty pair: the master, non-blocking on async-io, and the slave's path.
fn pty() -> (Async<File>, PathBuf) {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let path = PathBuf::from(name.into_string().expect("a UTF-8 pts name"));
    (Async::new(File::from(master)).expect("async master"), path)
}

/// Fails the test instead of hanging it.
async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    f.or(async {
        async_io::Timer::after(Duration::from_secs(secs)).await;
        panic!("timed out after {secs} s");
    })
    .await
}

#[test]
fn device_end_opened_with_serial_open_answers_a_client_on_the_master() {
    smol::block_on(within(20, async {
        let (master, slave) = pty();
        let mut port = serial::open(&slave, 115_200).expect("open the pty's slave");
        assert_eq!((port.path(), port.baud()), (slave.as_path(), 115_200));
        let device = smol::spawn(async move {
            serial::serve(&Router::new(), &mut port, FramedConfig::default()).await
        });

        let client = Client::new(master, ClientConfig::default());
        smol::spawn(client.run()).detach();
        let pong = client.request("PING", b"").await.expect("PONG");
        assert_eq!(
            (pong.kind.as_str(), pong.payload.as_slice()),
            ("PONG", &b"ack"[..])
        );
        let payload: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let echo = client.request("ECHO", &payload).await.expect("ECHO");
        assert_eq!(
            echo.payload, payload,
            "ECHO of 1000 bytes, all byte values, raw"
        );
        match client.request("FROB", b"x").await {
            Err(ClientError::Remote(e)) => assert_eq!(e.code(), "unknown-kind"),
            other => panic!("expected ERROR unknown-kind, got {other:?}"),
        }
        client.send("EXIT", b"").await.expect("EXIT");
        assert!(matches!(device.await, ConnEnd::Exit));
    }));
}

#[test]
fn text_lines_and_exit_over_a_pty() {
    smol::block_on(within(20, async {
        let (master, slave) = pty();
        let mut port = serial::open(&slave, 9600).expect("open the pty's slave");
        let device = smol::spawn(async move {
            let router = Router::new();
            let first = serial::serve(&router, &mut port, FramedConfig::default()).await;
            let second = serial::serve(&router, &mut port, FramedConfig::default()).await;
            (first, second)
        });
        let mut wire = futures_lite::io::BufReader::new(master);
        wire.write_all(b"PING:hi\n").await.unwrap();
        wire.flush().await.unwrap();
        let mut line = String::new();
        wire.read_line(&mut line).await.unwrap();
        assert_eq!(line, "PONG:ack\n", "raw mode: no CR added, no echo");
        wire.write_all(b"FROB:x\n").await.unwrap();
        wire.flush().await.unwrap();
        line.clear();
        wire.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("ERROR:unknown-kind: FROB"), "{line:?}");
        wire.write_all(b"EXIT:\n").await.unwrap();
        wire.flush().await.unwrap();
        // Give the device time to end the first conversation before the
        // next one starts, so that its bytes are not read with the EXIT.
        async_io::Timer::after(Duration::from_millis(200)).await;

        // The next conversation is binary: sniffed afresh.
        let mut conn = Framed::new(
            wire.into_inner(),
            msgwire::conversation::Framing::Binary,
            FramedConfig::default(),
        );
        let ping = msgwire::Message::new(msgwire::Kind::new("PING").unwrap(), b"").with_id(7);
        conn.send(&ping).await.unwrap();
        conn.flush().await.unwrap();
        let pong = conn.recv().await.expect("PONG");
        assert_eq!((pong.kind.as_str(), pong.id), ("PONG", 7));
        let exit = msgwire::Message::new(msgwire::Kind::EXIT, b"");
        conn.send(&exit).await.unwrap();
        conn.flush().await.unwrap();
        let (first, second) = device.await;
        assert!(matches!(first, ConnEnd::Exit), "text conversation: {first}");
        assert!(
            matches!(second, ConnEnd::Exit),
            "binary conversation: {second}"
        );
    }));
}

#[test]
fn client_connect_serial_on_the_slave_talks_to_a_router_on_the_master() {
    smol::block_on(within(20, async {
        let (master, slave) = pty();
        let device = smol::spawn(async move {
            let mut conn = Framed::sniffing(master, FramedConfig::default());
            Router::new().serve(&mut conn).await
        });
        let client = Client::connect_serial(&slave, 115_200, ClientConfig::default())
            .expect("connect_serial");
        smol::spawn(client.run()).detach();
        for i in 0..20u32 {
            let payload = i.to_le_bytes();
            let echo = client.request("ECHO", &payload).await.expect("ECHO");
            assert_eq!(echo.payload, payload);
        }
        assert!(client.ping().await.is_ok());
        client.send("EXIT", b"").await.expect("EXIT");
        assert!(matches!(device.await, ConnEnd::Exit));
    }));
}

#[test]
fn a_raw_byte_stream_is_not_translated() {
    // Every byte value, CR, LF, ^C, ^D, XON/XOFF included, crosses unchanged
    // in both directions: raw mode, no flow control.
    smol::block_on(within(20, async {
        let (mut master, slave) = pty();
        let mut port = serial::open(&slave, 115_200).expect("open");
        let bytes: Vec<u8> = (0..=255u8).collect();
        master.write_all(&bytes).await.unwrap();
        let mut got = vec![0; 256];
        port.read_exact(&mut got).await.unwrap();
        assert_eq!(got, bytes, "master -> port");
        port.write_all(&bytes).await.unwrap();
        port.flush().await.unwrap();
        let mut got = vec![0; 256];
        master.read_exact(&mut got).await.unwrap();
        assert_eq!(got, bytes, "port -> master");
    }));
}

#[test]
fn open_errors_name_the_path() {
    let e = serial::open("/nonexistent/ttyUSB9", 115_200).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    assert!(e.to_string().contains("/nonexistent/ttyUSB9"), "{e}");
    // Not a terminal: termios refuses it.
    let e = serial::open("/dev/null", 115_200).unwrap_err();
    assert!(
        e.to_string().starts_with("cannot configure /dev/null"),
        "{e}"
    );
}

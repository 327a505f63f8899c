//! The `log` feature: what a server writes to the `log` facade.
//!
//! One test (the logger is global): a TCP server is asked for an unknown
//! kind, sent a text line with no `:`, asked for a failing handler's kind
//! and told `EXIT`; the captured records show the connection opened, each
//! refused frame's code at debug, the handler failure at warn, and the
//! close with its reason, all under the `msgwire` target prefix.
#![cfg(all(feature = "log", feature = "async"))]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use log::{Level, LevelFilter, Log, Metadata, Record};
use msgwire::net::{
    Client, ClientConfig, HandlerError, Reply, Request, Router, Server, ServerConfig, Spawner,
};

/// Every record: its level, target and text.
struct Capture(Mutex<Vec<(Level, String, String)>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let entry = (
            record.level(),
            record.target().to_string(),
            record.args().to_string(),
        );
        self.0.lock().unwrap().push(entry);
    }

    fn flush(&self) {}
}

static LOGGER: Capture = Capture(Mutex::new(Vec::new()));

/// The records of msgwire's server and router whose text contains `text`.
fn find(text: &str) -> Vec<(Level, String, String)> {
    LOGGER
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, target, line)| target.starts_with("msgwire::net") && line.contains(text))
        .cloned()
        .collect()
}

/// Waits (at most 5 s) for a record containing `text`.
fn wait_for(text: &str) -> Vec<(Level, String, String)> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let found = find(text);
        if !found.is_empty() || Instant::now() > until {
            return found;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn server_logs_open_refused_frames_handler_failures_and_close() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(LevelFilter::Trace);

    let router = Router::new()
        .on("FAIL", |_req: Request| async {
            Err::<Reply, _>(HandlerError::msg("disk on fire"))
        })
        .unwrap();
    let server = block_on(Server::bind_tcp(
        "127.0.0.1:0",
        router,
        ServerConfig::default(),
    ))
    .unwrap()
    .start(&Spawner::global());
    let addr = server.local_addr().unwrap();

    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let peer = stream.local_addr().unwrap().to_string();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut ask = |line: &[u8]| {
        writer.write_all(line).unwrap();
        let mut answer = String::new();
        reader.read_line(&mut answer).unwrap();
        answer
    };
    assert!(ask(b"NOPE:x\n").starts_with("ERROR:unknown-kind"));
    assert!(ask(b"no separator\n").starts_with("ERROR:missing-separator"));
    assert!(ask(b"FAIL:x\n").starts_with("ERROR:handler-failed"));
    writer.write_all(b"EXIT:\n").unwrap();

    let open = wait_for("connection open");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].0, Level::Info);
    assert_eq!(open[0].1, "msgwire::net::server");
    assert!(open[0].2.starts_with(&peer), "{open:?}");

    for code in ["unknown-kind", "missing-separator", "handler-failed"] {
        let refused = wait_for(&std::format!("answered ERROR {code}"));
        assert_eq!(refused.len(), 1, "{code}: {refused:?}");
        assert_eq!(refused[0].0, Level::Debug);
        assert_eq!(refused[0].1, "msgwire::net::router");
    }

    let failed = wait_for("handler for FAIL failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, Level::Warn);
    assert!(
        failed[0].2.contains("handler-failed: disk on fire"),
        "{failed:?}"
    );

    let closed = wait_for("connection closed");
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0].0, Level::Info);
    assert_eq!(closed[0].2, std::format!("{peer}: connection closed: EXIT"));

    // The client's lines go under `msgwire::net::client`, from whichever of
    // its files they come.
    let client = block_on(Client::connect_tcp(addr, ClientConfig::default()))
        .unwrap()
        .start(&Spawner::global());
    assert!(block_on(client.request("PING", b"")).is_ok());
    client.close();
    let closed = wait_for("client connection closed");
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0].0, Level::Info);
    assert_eq!(closed[0].1, "msgwire::net::client");
    assert_eq!(
        closed[0].2,
        "client connection closed: closed by the client"
    );

    block_on(server.shutdown(Duration::from_secs(5)));
}

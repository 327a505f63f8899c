//! The `log` feature: what a server writes to the `log` facade.
//!
//! One test (the logger is global): a TCP server is asked for an unknown
//! kind, sent a text line with no `:`, asked for a failing handler's kind
//! and told `EXIT`; the captured records show the connection opened, each
//! refused frame's code at debug, the handler failure at warn, and the
//! close with its reason, all under the `msgwire` target prefix. With
//! `embedded-io-async`, the embedded driver's lines too, under
//! `msgwire::embedded`. The logger is installed once for both tests; each
//! reads the records of its own targets.
#![cfg(all(feature = "log", feature = "async"))]

#[path = "common/watchdog.rs"]
mod watchdog;

use watchdog::watchdog;

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

/// Installs the capturing logger, once for every test of this binary.
fn capture() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        log::set_logger(&LOGGER).unwrap();
        log::set_max_level(LevelFilter::Trace);
    });
}

#[test]
fn server_logs_open_refused_frames_handler_failures_and_close() {
    let _watchdog = watchdog();
    capture();

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
    .start(&Spawner::global())
    .expect("start");
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
        .start(&Spawner::global())
        .expect("start");
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

/// The embedded driver logs under `msgwire::embedded`, the module's path
/// (as when it was one file), whichever of its files the line is in.
#[cfg(feature = "embedded-io-async")]
#[test]
fn the_embedded_driver_logs_under_its_module_path() {
    let _watchdog = watchdog();
    use std::convert::Infallible;

    use msgwire::embedded::{serve, Ended, Handler, HandlerError, Outcome, ServeConfig};
    use msgwire::{Kind, Message};

    /// Reads `input`, then end of stream; keeps what is written.
    struct Wire {
        input: &'static [u8],
        output: Vec<u8>,
    }

    impl embedded_io_async::ErrorType for Wire {
        type Error = Infallible;
    }

    impl embedded_io_async::Read for Wire {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
            let n = buf.len().min(self.input.len());
            let (now, later) = self.input.split_at(n);
            buf[..n].copy_from_slice(now);
            self.input = later;
            Ok(n)
        }
    }

    impl embedded_io_async::Write for Wire {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }

        async fn flush(&mut self) -> Result<(), Infallible> {
            Ok(())
        }
    }

    /// `FAIL` fails.
    struct Fails;

    impl Handler for Fails {
        fn handles(&self, kind: Kind<'_>) -> bool {
            kind == "FAIL"
        }

        async fn handle<'a>(&'a mut self, _request: Message<'a>) -> Outcome<'a> {
            Err(HandlerError::msg("sensor on fire"))
        }
    }

    capture();
    let mut wire = Wire {
        input: b"FAIL:\nFOO:\nEXIT:\n",
        output: Vec::new(),
    };
    let mut buf = [0u8; 128];
    let ended = block_on(serve(
        &mut wire,
        &mut buf,
        &mut Fails,
        ServeConfig::default(),
    ));
    assert_eq!(ended, Ok(Ended::Exit));
    assert_eq!(
        String::from_utf8_lossy(&wire.output),
        "ERROR:handler-failed: sensor on fire\nERROR:unknown-kind: FOO\n"
    );
    let records: Vec<(Level, String, String)> = LOGGER
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, target, _)| target.starts_with("msgwire::embedded"))
        .cloned()
        .collect();
    let lines: Vec<(Level, &str, &str)> = records
        .iter()
        .map(|(level, target, line)| (*level, target.as_str(), line.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (
                Level::Debug,
                "msgwire::embedded",
                "conversation started (framing None)"
            ),
            (
                Level::Warn,
                "msgwire::embedded",
                "handler failed (id 0): handler-failed: sensor on fire"
            ),
            (
                Level::Debug,
                "msgwire::embedded",
                "refused: ERROR unknown-kind (id 0)"
            ),
            (
                Level::Debug,
                "msgwire::embedded",
                "conversation ended: EXIT"
            ),
        ]
    );
}

//! `msgwire`: serve, send, ping, bench, decode and encode msgwire v1.
//!
//! Built with `cargo build --release --features cli --bin msgwire`.
//! Arguments are parsed with `lexopt` (small, no dependencies, no macros:
//! the binary stays small and every error is ours to word).

use std::ffi::OsString;
use std::io::{self, BufWriter, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use futures_lite::{FutureExt, StreamExt};
use lexopt::prelude::*;
use msgwire::conversation::{Limits, Receiver};
use msgwire::net::{
    Client, ClientConfig, Framed, FramedConfig, Framing, RecvError, Router, Server, ServerConfig,
    ServerEvent, Spawner,
};
use msgwire::{DecodeError, Encoder, Flags, Kind, Message, TextEncoder};

const USAGE: &str = "\
msgwire: asynchronous messaging over byte streams (msgwire v1)

Usage: msgwire <COMMAND> [OPTIONS]

Commands:
  serve    run a server with the built-in router (PING, ECHO, EXIT)
  send     send one message and print the answer
  ping     measure round trips, like ping(8)
  bench    load-generate and report throughput and latency
  decode   decode a capture from stdin into JSON events
  encode   encode one message to stdout

Run 'msgwire <COMMAND> --help' for a command's options.";

const SERVE_USAGE: &str = "\
Usage: msgwire serve [--listen ADDR] [--unix PATH] [--max-payload N]
                     [--max-connections N] [--idle-timeout SECS] [--quiet]
       msgwire serve --serial PATH [--baud N] [--max-payload N] [--quiet]

Serves PING (-> PONG ack), ECHO and EXIT in both framings on one port (the
first byte picks). Logs one line per connection and per ERROR answered.
Ctrl-C or SIGTERM shuts down gracefully.

  --listen ADDR          TCP address [default: 127.0.0.1:7878]
  --unix PATH            listen on a Unix socket instead
  --serial PATH          serve a serial port instead (raw 8N1), one
                         conversation after another (feature serial)
  --baud N               the serial port's baud [default: 115200]
  --max-payload N        largest payload accepted, bytes [default: 65536]
  --max-connections N    connections served at once [default: 1024]
  --idle-timeout SECS    drop a peer idle this long [default: 60]
  --quiet                no log lines";

const SEND_USAGE: &str = "\
Usage: msgwire send [--to ADDR | --serial PATH [--baud N]] KIND [DATA]
                    [--id N] [--checksum] [--text]

Sends one message and prints the answer: kind, id, and the payload as text
when it is UTF-8, else as hex. Exits 1 when the answer is ERROR.

  --to ADDR      server [default: 127.0.0.1:7878]
  --serial PATH  a serial port instead (raw 8N1; feature serial)
  --baud N       the serial port's baud [default: 115200]
  --id N         correlation id [default: 1]
  --checksum     add the CRC-32 trailer
  --text         use text framing (KIND:DATA lines; no id, no flags)";

const PING_USAGE: &str = "\
Usage: msgwire ping [--to ADDR | --serial PATH [--baud N]] [-c COUNT]
                    [--size BYTES] [--interval SECS]

Sends PING requests and prints each round trip, then min/avg/p50/p99/max.

  --to ADDR          server [default: 127.0.0.1:7878]
  --serial PATH      a serial port instead (raw 8N1; feature serial)
  --baud N           the serial port's baud [default: 115200]
  -c, --count N      how many [default: 4]
  --size BYTES       payload size of each PING [default: 0]
  --interval SECS    pause between pings [default: 1]";

const BENCH_USAGE: &str = "\
Usage: msgwire bench [--to ADDR | --serial PATH [--baud N]] [--connections C]
                     [--pipeline P] [--size BYTES] [--duration SECS]

Sends ECHO requests as fast as answers come back and reports messages/s,
MB/s and latency percentiles. Without --to it starts its own server on an
ephemeral loopback port.

  --to ADDR           server [default: an in-process server]
  --serial PATH       a serial port instead (one connection; feature serial)
  --baud N            the serial port's baud [default: 115200]
  --connections C     connections [default: 4]
  --pipeline P        requests in flight per connection [default: 32]
  --size BYTES        payload size [default: 32]
  --duration SECS     how long [default: 5]";

const DECODE_USAGE: &str = "\
Usage: msgwire decode [--text] [--max-payload N] [--max-line N] [--chunk N] [--hex]

Reads a capture from stdin and prints one JSON object per event:
  {\"frame\":{\"kind\":\"PING\",\"id\":0,\"flags\":0,\"payload\":\"<hex>\"}}
  {\"error\":\"<code>\"}            (with \"id\" when the header was trusted)

  --text             text framing (KIND:DATA lines)
  --max-payload N    largest payload accepted [default: 65536]
  --max-line N       longest text line accepted [default: 65536]
  --chunk N          feed the decoder N bytes at a time [default: all]
  --hex              stdin is hex text (whitespace ignored), not raw bytes";

const ENCODE_USAGE: &str = "\
Usage: msgwire encode KIND [DATA] [--id N] [--checksum] [--response] [--text]

Writes the encoded message to stdout (pipe it into nc).

  --id N         correlation id [default: 0]
  --checksum     add the CRC-32 trailer
  --response     set the RESPONSE flag
  --text         text framing (KIND:DATA\\n; no id, no flags)";

/// How the program ends when it does not succeed.
enum Failure {
    /// Bad arguments: one line, exit code 2.
    Usage(String),
    /// Something went wrong doing the work: exit code 1.
    Run(String),
}

impl From<lexopt::Error> for Failure {
    fn from(e: lexopt::Error) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Run(e.to_string())
    }
}

type Outcome = Result<ExitCode, Failure>;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(Failure::Usage(msg)) => {
            eprintln!("msgwire: {msg} (see 'msgwire --help')");
            ExitCode::from(2)
        }
        Err(Failure::Run(msg)) => {
            eprintln!("msgwire: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Outcome {
    let mut args = lexopt::Parser::from_env();
    let command = match args.next()? {
        Some(Value(v)) => v.string()?,
        Some(Long("help") | Short('h')) | None => {
            println!("{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        Some(other) => return Err(other.unexpected().into()),
    };
    match command.as_str() {
        "serve" => serve(args),
        "send" => send(args),
        "ping" => ping(args),
        "bench" => bench(args),
        "decode" => decode(args),
        "encode" => encode(args),
        other => Err(Failure::Usage(format!("unknown command '{other}'"))),
    }
}

fn help(text: &str) -> Outcome {
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn number<T: FromStr>(value: OsString, option: &str) -> Result<T, Failure> {
    let s = value.string()?;
    s.parse().map_err(|_| {
        Failure::Usage(format!(
            "invalid value '{s}' for {option}: expected a number"
        ))
    })
}

fn seconds(value: OsString, option: &str) -> Result<Duration, Failure> {
    let secs: f64 = number(value, option)?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| Failure::Usage(format!("invalid duration {secs} for {option}")))
}

fn address(value: OsString) -> Result<SocketAddr, Failure> {
    let s = value.string()?;
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Failure::Usage(format!("invalid address '{s}': expected HOST:PORT")))
}

fn kind_arg(s: &str) -> Result<Kind<'_>, Failure> {
    Kind::new(s).map_err(|_| {
        Failure::Usage(format!(
            "invalid kind '{s}': 1 to 32 of A-Z a-z 0-9 _ . - /"
        ))
    })
}

fn default_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7878))
}

/// Waits for a connect, at most five seconds.
async fn connect(addr: SocketAddr) -> Result<async_net::TcpStream, Failure> {
    let stream = async_net::TcpStream::connect(addr)
        .or(async {
            async_io::Timer::after(Duration::from_secs(5)).await;
            Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
        })
        .await
        .map_err(|e| Failure::Run(format!("cannot connect to {addr}: {e}")))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The baud of `--serial` when `--baud` is not given.
const DEFAULT_BAUD: u32 = 115_200;

/// Where `send`, `ping` and `bench` talk to: `--to ADDR` or `--serial PATH`.
enum Peer {
    Tcp(SocketAddr),
    Serial(std::path::PathBuf),
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(a) => write!(f, "{a}"),
            Peer::Serial(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The value of `--serial`, in a build with the `serial` feature.
fn serial_path(value: OsString) -> Result<std::path::PathBuf, Failure> {
    if cfg!(all(unix, feature = "serial")) {
        Ok(value.into())
    } else {
        Err(Failure::Usage(
            "--serial needs a build with the serial feature (Unix only)".into(),
        ))
    }
}

/// A byte stream to a peer: a TCP stream or a serial port.
trait Stream: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send {}
impl<T: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send> Stream for T {}

#[cfg(all(unix, feature = "serial"))]
fn open_serial(path: &std::path::Path, baud: u32) -> Result<msgwire::net::SerialPort, Failure> {
    msgwire::net::serial::open(path, baud).map_err(|e| Failure::Run(e.to_string()))
}

async fn open_stream(peer: &Peer, baud: u32) -> Result<Box<dyn Stream>, Failure> {
    let _ = baud;
    match peer {
        Peer::Tcp(addr) => Ok(Box::new(connect(*addr).await?)),
        #[cfg(all(unix, feature = "serial"))]
        Peer::Serial(path) => Ok(Box::new(open_serial(path, baud)?)),
        #[cfg(not(all(unix, feature = "serial")))]
        Peer::Serial(_) => unreachable!("--serial is refused without the serial feature"),
    }
}

async fn open_client(peer: &Peer, baud: u32, config: ClientConfig) -> Result<Client, Failure> {
    match peer {
        Peer::Tcp(addr) => Client::connect_tcp(*addr, config)
            .await
            .map_err(|e| Failure::Run(format!("cannot connect to {addr}: {e}"))),
        Peer::Serial(_) => Ok(Client::new(open_stream(peer, baud).await?, config)),
    }
}

// ---------------------------------------------------------------- serve

fn serve(mut args: lexopt::Parser) -> Outcome {
    let mut listen = default_addr();
    let mut unix: Option<std::path::PathBuf> = None;
    let mut serial: Option<std::path::PathBuf> = None;
    let mut baud = DEFAULT_BAUD;
    let mut config = ServerConfig::default();
    let mut quiet = false;
    while let Some(arg) = args.next()? {
        match arg {
            Long("listen") => listen = address(args.value()?)?,
            Long("unix") => unix = Some(args.value()?.into()),
            Long("serial") => serial = Some(serial_path(args.value()?)?),
            Long("baud") => baud = number(args.value()?, "--baud")?,
            Long("max-payload") => {
                config.framed.max_payload = number(args.value()?, "--max-payload")?
            }
            Long("max-connections") => {
                config.max_connections = number(args.value()?, "--max-connections")?
            }
            Long("idle-timeout") => {
                config.idle_timeout = Some(seconds(args.value()?, "--idle-timeout")?)
            }
            Long("quiet") => quiet = true,
            Long("help") | Short('h') => return help(SERVE_USAGE),
            other => return Err(other.unexpected().into()),
        }
    }
    if let Some(path) = serial {
        if unix.is_some() {
            return Err(Failure::Usage(
                "--serial and --unix exclude each other".into(),
            ));
        }
        return serve_serial(&path, baud, config.framed, quiet);
    }
    if !quiet {
        config.on_event = Some(Arc::new(|e: &ServerEvent| {
            let line = match e {
                ServerEvent::Open { peer } => format!("open {peer}"),
                ServerEvent::Close { peer, reason } => format!("close {peer}: {reason}"),
                ServerEvent::ErrorAnswered { peer, code, id } => {
                    format!("error {peer} id={id}: {code}")
                }
                ServerEvent::Overloaded { peer } => format!("overloaded {peer}: refused"),
                other => format!("{other:?}"),
            };
            println!("{line}");
        }));
    }
    block_on(async {
        let mut signals =
            async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term])?;
        let server = match &unix {
            Some(path) => Server::bind_unix(path, Router::new(), config).await,
            None => Server::bind_tcp(listen, Router::new(), config).await,
        }
        .map_err(|e| Failure::Run(format!("cannot listen: {e}")))?
        // The program opts in to msgwire's own executor: one worker thread
        // per core (or MSGWIRE_THREADS).
        .start(&Spawner::global());
        println!("listening on {}", server.listen_addr());
        signals.next().await;
        println!("shutting down");
        let report = server.shutdown(Duration::from_secs(5)).await;
        println!(
            "stopped: {} connection(s) drained, {} closed at the deadline",
            report.drained, report.forced
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// `serve --serial`: one conversation after another on the port (a new
/// one after EXIT; the port reopened after a hang-up or an I/O error),
/// until Ctrl-C or SIGTERM.
#[cfg(all(unix, feature = "serial"))]
fn serve_serial(path: &std::path::Path, baud: u32, framed: FramedConfig, quiet: bool) -> Outcome {
    use msgwire::net::{serial, ConnEnd};
    block_on(async {
        let mut signals =
            async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term])?;
        let mut port = open_serial(path, baud)?;
        println!("serving {} at {baud} baud", path.display());
        let router = Router::new();
        let work = async {
            loop {
                let end = serial::serve(&router, &mut port, framed).await;
                if !quiet {
                    println!("conversation ended: {end}");
                }
                if !matches!(end, ConnEnd::Exit) {
                    // A hang-up or an I/O error: the device may come back.
                    async_io::Timer::after(Duration::from_millis(500)).await;
                    port = open_serial(path, baud)?;
                }
            }
        };
        work.or(async {
            signals.next().await;
            println!("shutting down");
            Ok(ExitCode::SUCCESS)
        })
        .await
    })
}

#[cfg(not(all(unix, feature = "serial")))]
fn serve_serial(_: &std::path::Path, _: u32, _: FramedConfig, _: bool) -> Outcome {
    unreachable!("--serial is refused without the serial feature")
}

// ---------------------------------------------------------------- send

/// An argument that no longer borrows the parser.
enum Opt {
    Long(String),
    Short(char),
    Value(OsString),
}

impl Opt {
    fn of(arg: lexopt::Arg<'_>) -> Opt {
        match arg {
            Long(l) => Opt::Long(l.to_string()),
            Short(c) => Opt::Short(c),
            Value(v) => Opt::Value(v),
        }
    }

    fn unexpected(self) -> Failure {
        Failure::Usage(match self {
            Opt::Long(l) => format!("invalid option '--{l}'"),
            Opt::Short(c) => format!("invalid option '-{c}'"),
            Opt::Value(v) => format!("unexpected argument {v:?}"),
        })
    }
}

/// KIND, DATA and the message options shared by `send` and `encode`.
struct MessageArgs {
    kind: String,
    data: Vec<u8>,
    id: u32,
    flags: Flags,
    text: bool,
    id_given: bool,
}

impl MessageArgs {
    fn new(default_id: u32) -> Self {
        MessageArgs {
            kind: String::new(),
            data: Vec::new(),
            id: default_id,
            flags: Flags::EMPTY,
            text: false,
            id_given: false,
        }
    }

    /// Takes a positional or a message option; `false` if it is neither.
    fn take(
        &mut self,
        arg: &Opt,
        args: &mut lexopt::Parser,
        positional: &mut usize,
    ) -> Result<bool, Failure> {
        match arg {
            Opt::Long(l) if l == "id" => {
                self.id = number(args.value()?, "--id")?;
                self.id_given = true;
            }
            Opt::Long(l) if l == "checksum" => self.flags |= Flags::CHECKSUM,
            Opt::Long(l) if l == "text" => self.text = true,
            Opt::Value(v) => {
                let v = v.clone().string()?;
                match *positional {
                    0 => self.kind = v,
                    1 => self.data = v.into_bytes(),
                    _ => return Err(Failure::Usage(format!("unexpected argument '{v}'"))),
                }
                *positional += 1;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn check(&self) -> Result<Kind<'_>, Failure> {
        if self.kind.is_empty() {
            return Err(Failure::Usage("missing KIND".into()));
        }
        if self.text && (self.id_given || !self.flags.is_empty()) {
            return Err(Failure::Usage(
                "text framing carries no id and no flags: drop --id/--checksum/--response or --text".into(),
            ));
        }
        kind_arg(&self.kind)
    }
}

fn payload_text(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(s) => s.to_string(),
        Err(_) => format!("hex:{}", hex(payload)),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn send(mut args: lexopt::Parser) -> Outcome {
    let mut to = Peer::Tcp(default_addr());
    let mut baud = DEFAULT_BAUD;
    let mut m = MessageArgs::new(1);
    let mut positional = 0;
    while let Some(arg) = args.next()?.map(Opt::of) {
        if m.take(&arg, &mut args, &mut positional)? {
            continue;
        }
        match arg {
            Opt::Long(l) if l == "to" => to = Peer::Tcp(address(args.value()?)?),
            Opt::Long(l) if l == "serial" => to = Peer::Serial(serial_path(args.value()?)?),
            Opt::Long(l) if l == "baud" => baud = number(args.value()?, "--baud")?,
            Opt::Long(l) if l == "help" => return help(SEND_USAGE),
            Opt::Short('h') => return help(SEND_USAGE),
            other => return Err(other.unexpected()),
        }
    }
    let kind = m.check()?;
    let framing = if m.text {
        Framing::Text
    } else {
        Framing::Binary
    };
    block_on(async {
        let stream = open_stream(&to, baud).await?;
        let mut conn = Framed::new(stream, framing, FramedConfig::default());
        let msg = Message::new(kind, &m.data)
            .with_id(m.id)
            .with_flags(m.flags);
        conn.send(&msg)
            .await
            .map_err(|e| Failure::Usage(format!("cannot send: {e}")))?;
        conn.flush().await?;
        if kind == Kind::EXIT {
            println!("sent EXIT (no answer is expected)");
            return Ok(ExitCode::SUCCESS);
        }
        let answer = async { Some(conn.recv().await) }
            .or(async {
                async_io::Timer::after(Duration::from_secs(5)).await;
                None
            })
            .await;
        match answer {
            None => Err(Failure::Run("no answer within 5 s".into())),
            Some(Err(RecvError::Closed)) => {
                Err(Failure::Run("the server closed the connection".into()))
            }
            Some(Err(e)) => Err(Failure::Run(format!("bad answer: {e}"))),
            Some(Ok(reply)) => {
                match framing {
                    Framing::Binary => println!(
                        "{} id={} {}",
                        reply.kind,
                        reply.id,
                        payload_text(reply.payload)
                    ),
                    Framing::Text => println!("{} {}", reply.kind, payload_text(reply.payload)),
                }
                Ok(if reply.kind == Kind::ERROR {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                })
            }
        }
    })
}

// ---------------------------------------------------------------- ping

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn ping(mut args: lexopt::Parser) -> Outcome {
    let mut to = Peer::Tcp(default_addr());
    let mut baud = DEFAULT_BAUD;
    let mut count: u64 = 4;
    let mut size: usize = 0;
    let mut interval = Duration::from_secs(1);
    while let Some(arg) = args.next()? {
        match arg {
            Long("to") => to = Peer::Tcp(address(args.value()?)?),
            Long("serial") => to = Peer::Serial(serial_path(args.value()?)?),
            Long("baud") => baud = number(args.value()?, "--baud")?,
            Short('c') | Long("count") => count = number(args.value()?, "-c")?,
            Long("size") => size = number(args.value()?, "--size")?,
            Long("interval") => interval = seconds(args.value()?, "--interval")?,
            Long("help") | Short('h') => return help(PING_USAGE),
            other => return Err(other.unexpected().into()),
        }
    }
    let payload = vec![b'p'; size];
    block_on(async {
        let client = open_client(&to, baud, ClientConfig::default())
            .await?
            .start(&Spawner::global());
        println!("PING {to}: {size} bytes of payload");
        let mut rtts = Vec::new();
        for seq in 1..=count {
            let started = Instant::now();
            match client.request("PING", &payload).await {
                Ok(reply) if reply.kind == "PONG" => {
                    let rtt = started.elapsed();
                    println!(
                        "{} bytes from {to}: seq={seq} time={} ms",
                        reply.payload.len(),
                        ms(rtt)
                    );
                    rtts.push(rtt);
                }
                Ok(reply) => println!("seq={seq}: unexpected answer {}", reply.kind),
                Err(e) => println!("seq={seq}: {e}"),
            }
            if seq < count {
                async_io::Timer::after(interval).await;
            }
        }
        let received = rtts.len() as u64;
        println!("--- {to} ping statistics ---");
        println!(
            "{count} sent, {received} received, {:.0}% loss",
            if count == 0 {
                0.0
            } else {
                100.0 * (count - received) as f64 / count as f64
            }
        );
        if !rtts.is_empty() {
            rtts.sort();
            let avg = rtts.iter().sum::<Duration>() / rtts.len() as u32;
            println!(
                "rtt min/avg/p50/p99/max = {}/{}/{}/{}/{} ms",
                ms(rtts[0]),
                ms(avg),
                ms(percentile(&rtts, 50.0)),
                ms(percentile(&rtts, 99.0)),
                ms(rtts[rtts.len() - 1])
            );
        }
        Ok(if received == count {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

// ---------------------------------------------------------------- bench

fn bench(mut args: lexopt::Parser) -> Outcome {
    let mut to: Option<Peer> = None;
    let mut baud = DEFAULT_BAUD;
    let mut connections: Option<usize> = None;
    let mut pipeline: usize = 32;
    let mut size: usize = 32;
    let mut duration = Duration::from_secs(5);
    while let Some(arg) = args.next()? {
        match arg {
            Long("to") => to = Some(Peer::Tcp(address(args.value()?)?)),
            Long("serial") => to = Some(Peer::Serial(serial_path(args.value()?)?)),
            Long("baud") => baud = number(args.value()?, "--baud")?,
            Long("connections") => connections = Some(number(args.value()?, "--connections")?),
            Long("pipeline") => pipeline = number(args.value()?, "--pipeline")?,
            Long("size") => size = number(args.value()?, "--size")?,
            Long("duration") => duration = seconds(args.value()?, "--duration")?,
            Long("help") | Short('h') => return help(BENCH_USAGE),
            other => return Err(other.unexpected().into()),
        }
    }
    let connections = match (&to, connections) {
        (Some(Peer::Serial(_)), Some(c)) if c != 1 => {
            return Err(Failure::Usage(
                "a serial port is one connection: drop --connections or make it 1".into(),
            ))
        }
        (Some(Peer::Serial(_)), _) => 1,
        (_, c) => c.unwrap_or(4),
    };
    if connections == 0 || pipeline == 0 {
        return Err(Failure::Usage(
            "--connections and --pipeline must be at least 1".into(),
        ));
    }
    let max_payload = u32::try_from(size.max(64 * 1024))
        .map_err(|_| Failure::Usage("--size is too large".into()))?;
    block_on(async {
        let server = match &to {
            Some(_) => None,
            None => {
                let config = ServerConfig {
                    framed: FramedConfig {
                        max_payload,
                        ..FramedConfig::default()
                    },
                    ..ServerConfig::default()
                };
                Some(
                    Server::bind_tcp("127.0.0.1:0", Router::new(), config)
                        .await?
                        .start(&Spawner::global()),
                )
            }
        };
        let addr = match (&server, to) {
            (Some(s), _) => Peer::Tcp(
                s.local_addr()
                    .ok_or_else(|| Failure::Run("no server address".into()))?,
            ),
            (None, Some(a)) => a,
            (None, None) => return Err(Failure::Run("no server".into())),
        };
        println!(
            "bench {addr}{}: {connections} connection(s) x {pipeline} in flight, {size}-byte ECHO, {:.1} s",
            if server.is_some() { " (in-process server)" } else { "" },
            duration.as_secs_f64()
        );
        let config = ClientConfig {
            framed: FramedConfig {
                max_payload,
                ..FramedConfig::default()
            },
            ..ClientConfig::default()
        };
        let mut clients = Vec::new();
        for _ in 0..connections {
            clients.push(
                open_client(&addr, baud, config)
                    .await?
                    .start(&Spawner::global()),
            );
        }
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        let payload = Arc::new(vec![b'b'; size]);
        let started = Instant::now();
        let ex = async_executor::LocalExecutor::new();
        let mut workers = Vec::new();
        for client in &clients {
            for _ in 0..pipeline {
                let (client, done, failed, payload) = (
                    client.clone(),
                    done.clone(),
                    failed.clone(),
                    payload.clone(),
                );
                workers.push(ex.spawn(async move {
                    let mut latencies = Vec::new();
                    while started.elapsed() < duration {
                        let t = Instant::now();
                        match client.request("ECHO", &payload).await {
                            Ok(r) if r.payload.len() == payload.len() => {
                                latencies.push(t.elapsed());
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    latencies
                }));
            }
        }
        let progress = {
            let (done, finished) = (done.clone(), finished.clone());
            ex.spawn(async move {
                let mut last = 0;
                while !finished.load(Ordering::Relaxed) {
                    async_io::Timer::after(Duration::from_millis(500)).await;
                    let now = done.load(Ordering::Relaxed);
                    eprint!(
                        "\r{:5.1} s  {now:>10} answers  {:>10.0} msg/s   ",
                        started.elapsed().as_secs_f64(),
                        (now - last) as f64 * 2.0
                    );
                    last = now;
                }
                eprintln!();
            })
        };
        let mut latencies = ex
            .run(async {
                let mut all = Vec::new();
                for w in workers {
                    all.extend(w.await);
                }
                finished.store(true, Ordering::Relaxed);
                progress.await;
                all
            })
            .await;
        let secs = started.elapsed().as_secs_f64();
        let ok = done.load(Ordering::Relaxed);
        latencies.sort();
        println!(
            "{ok} answers, {} failed, in {secs:.2} s: {:.0} messages/s, {:.2} MB/s of payload each way",
            failed.load(Ordering::Relaxed),
            ok as f64 / secs,
            ok as f64 * size as f64 / secs / 1e6
        );
        println!(
            "latency p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 90.0)),
            ms(percentile(&latencies, 99.0)),
            ms(latencies.last().copied().unwrap_or_default())
        );
        if let Some(s) = server {
            s.shutdown(Duration::from_secs(2)).await;
        }
        Ok(if ok > 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

// ---------------------------------------------------------------- decode

fn unhex(text: &[u8]) -> Result<Vec<u8>, Failure> {
    let digits: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err(Failure::Run("hex input has an odd number of digits".into()));
    }
    digits
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(|| Failure::Run(format!("invalid hex digit pair at digit {}", i * 2)))
        })
        .collect()
}

fn print_event(out: &mut impl Write, event: Result<Message<'_>, DecodeError>) -> io::Result<()> {
    match event {
        Ok(m) => writeln!(
            out,
            "{{\"frame\":{{\"kind\":\"{}\",\"id\":{},\"flags\":{},\"payload\":\"{}\"}}}}",
            m.kind,
            m.id,
            m.flags.bits(),
            hex(m.payload)
        ),
        Err(e) => match e.id {
            Some(id) => writeln!(out, "{{\"error\":\"{}\",\"id\":{id}}}", e.code()),
            None => writeln!(out, "{{\"error\":\"{}\"}}", e.code()),
        },
    }
}

fn decode(mut args: lexopt::Parser) -> Outcome {
    let mut text = false;
    let mut max_payload: u32 = 65536;
    let mut max_line: usize = 65536;
    let mut chunk: Option<usize> = None;
    let mut hex_input = false;
    while let Some(arg) = args.next()? {
        match arg {
            Long("text") => text = true,
            Long("max-payload") => max_payload = number(args.value()?, "--max-payload")?,
            Long("max-line") => max_line = number(args.value()?, "--max-line")?,
            Long("chunk") => chunk = Some(number(args.value()?, "--chunk")?),
            Long("hex") => hex_input = true,
            Long("help") | Short('h') => return help(DECODE_USAGE),
            other => return Err(other.unexpected().into()),
        }
    }
    if chunk == Some(0) {
        return Err(Failure::Usage("--chunk must be at least 1".into()));
    }
    let mut input = Vec::new();
    io::stdin().lock().read_to_end(&mut input)?;
    if hex_input {
        input = unhex(&input)?;
    }
    let chunk = chunk.unwrap_or(input.len()).max(1);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    // The two decoders have the same shape but no common trait.
    let framing = if text { Framing::Text } else { Framing::Binary };
    let limits = Limits {
        max_payload,
        max_line,
    };
    let mut dec = Receiver::boxed(framing, limits);
    for piece in input.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            let n = dec.feed(rest);
            rest = &rest[n..];
            while let Some(ev) = dec.decode() {
                print_event(&mut out, ev)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- encode

fn encode(mut args: lexopt::Parser) -> Outcome {
    let mut m = MessageArgs::new(0);
    let mut positional = 0;
    while let Some(arg) = args.next()?.map(Opt::of) {
        if m.take(&arg, &mut args, &mut positional)? {
            continue;
        }
        match arg {
            Opt::Long(l) if l == "response" => m.flags |= Flags::RESPONSE,
            Opt::Long(l) if l == "help" => return help(ENCODE_USAGE),
            Opt::Short('h') => return help(ENCODE_USAGE),
            other => return Err(other.unexpected()),
        }
    }
    let kind = m.check()?;
    let bytes = if m.text {
        let enc = TextEncoder::new();
        let len = enc
            .encoded_len(kind, &m.data)
            .map_err(|e| Failure::Usage(format!("cannot encode: {e}")))?;
        let mut buf = vec![0; len];
        enc.encode(kind, &m.data, &mut buf)
            .map_err(|e| Failure::Usage(format!("cannot encode: {e}")))?;
        buf
    } else {
        let msg = Message::new(kind, &m.data)
            .with_id(m.id)
            .with_flags(m.flags);
        let enc = Encoder::new();
        let len = enc
            .encoded_len(&msg)
            .map_err(|e| Failure::Usage(format!("cannot encode: {e}")))?;
        let mut buf = vec![0; len];
        enc.encode(&msg, &mut buf)
            .map_err(|e| Failure::Usage(format!("cannot encode: {e}")))?;
        buf
    };
    let mut out = io::stdout().lock();
    out.write_all(&bytes)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

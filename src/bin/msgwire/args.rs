//! The command line: the help texts, and one parser per subcommand that
//! turns its arguments into a checked, typed value (with lexopt). Every
//! bad argument is a [`Failure::Usage`]: one line, exit code 2.

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use lexopt::prelude::*;
use msgwire::net::{FramedConfig, ServerConfig};
use msgwire::{Flags, Kind};

use crate::common::{no_serial_feature, Peer, DEFAULT_BAUD};
use crate::Failure;

pub const USAGE: &str = "\
msgwire: asynchronous messaging over byte streams (msgwire v1)

Usage: msgwire <COMMAND> [OPTIONS]

Commands:
  demo     the prototype's conversation, end to end, in one process
  serve    run a server with the built-in router (PING, ECHO, EXIT)
  send     send one message and print the answer
  ping     measure round trips, like ping(8)
  hello    the handshake: print what the peer says of itself
  sub      subscribe to events and print them as they come
  pub      publish one event
  bench    load-generate and report throughput and latency
  decode   decode a capture from stdin into JSON events
  encode   encode one message to stdout
  help     this text, or a command's ('msgwire help serve')

Options:
  -h, --help       this text
  -V, --version    the program's version

ping and bench draw their progress only on a terminal; piped, they print
the summary alone, and with --json the summary as one JSON object.

Run 'msgwire <COMMAND> --help' for a command's options.";

const SERVE_USAGE: &str = "\
Usage: msgwire serve [--listen ADDR | --unix PATH] [--max-payload N]
                     [--max-line N] [--max-connections N]
                     [--idle-timeout SECS] [--quiet]
       msgwire serve --serial PATH [--baud N] [--max-payload N]
                     [--max-line N] [--quiet]

Serves PING (-> PONG ack), ECHO, EXIT, HELLO, SUB and UNSUB in both
framings on one port (the first byte picks), and relays events: an event a
client publishes ('msgwire pub') goes to every connection subscribed to its
kind ('msgwire sub'), the publisher's included, as a broker does; a slow
subscriber loses events (told with LAGGED), never slows the others. Logs
one line per connection and per ERROR answered. Ctrl-C or SIGTERM shuts
down gracefully.

  --listen ADDR          TCP address [default: 127.0.0.1:7878]
  --unix PATH            listen on a Unix socket instead
  --serial PATH          serve a serial port instead (raw 8N1), one
                         conversation after another (feature serial)
  --baud N               the serial port's baud [default: 115200]
  --max-payload N        largest payload accepted, bytes [default: 65536]
  --max-line N           longest text line accepted, bytes [default: 65536]
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
                    [--size BYTES] [--interval SECS] [--json]

Sends PING requests, prints each round trip (on a terminal), then
min/avg/p50/p99/max. Exits 1 unless every PING was answered.

  --to ADDR          server [default: 127.0.0.1:7878]
  --serial PATH      a serial port instead (raw 8N1; feature serial)
  --baud N           the serial port's baud [default: 115200]
  -c, --count N      how many [default: 4]
  --size BYTES       payload size of each PING [default: 0]
  --interval SECS    pause between pings [default: 1]
  --json             print the summary as one JSON object: sent, received,
                     loss_percent, min_us, avg_us, p50_us, p90_us, p99_us,
                     max_us (null when nothing was received)

Piped (stdout not a terminal) it prints only the summary; a PING that
fails is reported on stderr.";

const HELLO_USAGE: &str = "\
Usage: msgwire hello [--to ADDR | --serial PATH [--baud N]] [--json]

Sends HELLO rev=1.2 (the handshake of protocol revision 1.2) and prints the
peer's tokens, one line: rev=… max=… [app=…] [schema=…]. A peer before
revision 1.2 answers ERROR unknown-kind: that is said, and exits 0.

  --to ADDR      server [default: 127.0.0.1:7878]
  --serial PATH  a serial port instead (raw 8N1; feature serial)
  --baud N       the serial port's baud [default: 115200]
  --json         one JSON object: rev, max, app, schema (null when absent),
                 or {\"rev\":null} for a peer before 1.2";

const SUB_USAGE: &str = "\
Usage: msgwire sub [--to ADDR | --serial PATH [--baud N]] FILTER...
                   [--count N] [--json]

Subscribes to every FILTER (revision 1.2: a kind, or a prefix and '*' as
in 'sensor/*'; '*' alone is every kind) and prints each event as it comes,
one line: KIND and the payload, as text when it is UTF-8 without control
characters, else as hex:DIGITS (KIND alone when the payload is empty).
An event is printed once, however many FILTERs match it. Where the peer
dropped events because this subscriber fell behind, a line LAGGED n says
how many are missing. A line on stderr says when the subscriptions are in
place. Runs until Ctrl-C or SIGTERM (exit 0), or until the peer closes the
connection (exit 1). A refused FILTER, or a peer before revision 1.2,
exits 1 with the peer's answer.

  --to ADDR      server [default: 127.0.0.1:7878]
  --serial PATH  a serial port instead (raw 8N1; feature serial)
  --baud N       the serial port's baud [default: 115200]
  -c, --count N  exit 0 after N events (LAGGED lines do not count)
  --json         one JSON object per line: {\"kind\":…,\"payload\":…} (the
                 payload as a string; \"payload_hex\" instead when it is not
                 UTF-8), and {\"lagged\":n}";

const PUB_USAGE: &str = "\
Usage: msgwire pub [--to ADDR | --serial PATH [--baud N]] KIND [PAYLOAD]

Publishes one event (revision 1.2): 'msgwire serve' relays it to every
connection subscribed to KIND ('msgwire sub'). The peer is asked HELLO
first; a peer before revision 1.2 takes no events (exit 1, nothing sent).
Prints nothing; exits 0 once the peer has read the event (the answer to a
PING sent after it says so).

  --to ADDR      server [default: 127.0.0.1:7878]
  --serial PATH  a serial port instead (raw 8N1; feature serial)
  --baud N       the serial port's baud [default: 115200]";

const BENCH_USAGE: &str = "\
Usage: msgwire bench [--to ADDR | --serial PATH [--baud N]] [--connections C]
                     [--pipeline P] [--size BYTES] [--duration SECS] [--json]

Sends ECHO requests as fast as answers come back and reports messages/s,
MB/s and latency min/p50/p90/p99/max. Without --to it starts its own server
on an ephemeral loopback port, on a thread of its own. Exits 1 when no
request was answered.

  --to ADDR           server [default: an in-process server]
  --serial PATH       a serial port instead (one connection; feature serial)
  --baud N            the serial port's baud [default: 115200]
  --connections C     connections [default: 4]
  --pipeline P        requests in flight per connection [default: 32]
  --size BYTES        payload size [default: 32]
  --duration SECS     how long [default: 5]
  --json              print the summary as one JSON object: answers, failed,
                      messages_per_s, payload_mb_per_s, min_us, p50_us,
                      p90_us, p99_us, max_us, mean_us and the settings

Progress is drawn twice a second on a terminal only; piped, bench prints
the summary alone. Latencies are kept in a fixed histogram (no allocation
per request): percentiles are exact to within 0.4%, min and max exactly.";

const DECODE_USAGE: &str = "\
Usage: msgwire decode [--text] [--max-payload N] [--max-line N] [--chunk N] [--hex]

Reads a capture from stdin and prints one JSON object per event:
  {\"frame\":{\"kind\":\"PING\",\"id\":0,\"flags\":0,\"payload\":\"<hex>\"}}
  {\"error\":\"<code>\"}            (with \"id\" when the header was trusted)

  --text             text framing (KIND:DATA lines)
  --max-payload N    largest payload accepted [default: 65536]
  --max-line N       longest text line accepted [default: 65536]
  --chunk N          feed the decoder N bytes at a time [default: all]
  --hex              stdin is hex text (whitespace ignored), not raw bytes

At the end a summary line on stderr says how many bytes were read, how many
frames and errors they held, and how many bytes were discarded (not a
frame), skipped (in refused frames) or left over (an unfinished frame).";

const DEMO_USAGE: &str = "\
Usage: msgwire demo

Starts a server on an ephemeral loopback port and talks to it from the same
process: PING -> PONG ack, ECHO, an unknown kind answered ERROR, a malformed
frame answered ERROR while its connection goes on, text mode as netcat would
type it, EXIT, then a second of pipelined ECHO. Nothing else to start.";

const ENCODE_USAGE: &str = "\
Usage: msgwire encode KIND [DATA] [--id N] [--checksum] [--response] [--event] [--text]

Writes the encoded message to stdout (pipe it into nc).

  --id N         correlation id [default: 0]
  --checksum     add the CRC-32 trailer
  --response     set the RESPONSE flag
  --event        set the EVENT flag (an event, revision 1.2)
  --text         text framing (KIND:DATA\\n; no id, no flags)";

/// What the command line asks for.
pub enum Command {
    /// Print this help text and exit 0.
    Help(&'static str),
    /// No command: print the usage on stderr and exit 2.
    Missing,
    /// Print the program's version and exit 0.
    Version,
    Demo,
    Serve(ServeArgs),
    Send(SendArgs),
    Ping(PingArgs),
    Hello(HelloArgs),
    Sub(SubArgs),
    Pub(PubArgs),
    Bench(BenchArgs),
    Decode(DecodeArgs),
    Encode(EncodeArgs),
}

/// Where `serve` listens.
pub enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
    /// A serial port, one conversation after another.
    Serial {
        path: PathBuf,
        baud: u32,
    },
}

pub struct ServeArgs {
    pub on: Listen,
    /// Everything but the event hook, which `serve` adds unless `quiet`.
    pub config: ServerConfig,
    pub quiet: bool,
}

pub struct SendArgs {
    pub to: Peer,
    pub message: MessageArgs,
}

pub struct HelloArgs {
    pub to: Peer,
    pub json: bool,
}

pub struct SubArgs {
    pub to: Peer,
    /// As given, at least one; the peer checks them.
    pub filters: Vec<String>,
    /// Stop after this many events; `None`: until a signal.
    pub count: Option<u64>,
    pub json: bool,
}

pub struct PubArgs {
    pub to: Peer,
    /// KIND and PAYLOAD (id 0, no flags, binary framing).
    pub message: MessageArgs,
}

pub struct PingArgs {
    pub to: Peer,
    pub count: u64,
    pub size: usize,
    pub interval: Duration,
    pub json: bool,
}

pub struct BenchArgs {
    /// `None`: an in-process server.
    pub to: Option<Peer>,
    pub connections: usize,
    pub pipeline: usize,
    pub size: usize,
    pub duration: Duration,
    /// The client's (and the in-process server's) largest payload.
    pub max_payload: u32,
    pub json: bool,
}

pub struct DecodeArgs {
    pub text: bool,
    pub max_payload: u32,
    pub max_line: usize,
    /// At least 1; `None`: all of the input at once.
    pub chunk: Option<usize>,
    pub hex: bool,
}

pub struct EncodeArgs {
    pub message: MessageArgs,
}

/// KIND, DATA and the message options shared by `send` and `encode`.
pub struct MessageArgs {
    /// Checked. The string is leaked: a command line is parsed once.
    pub kind: Kind<'static>,
    pub data: Vec<u8>,
    pub id: u32,
    pub flags: Flags,
    pub text: bool,
}

/// Parses everything after the program's name.
pub fn parse(mut args: lexopt::Parser) -> Result<Command, Failure> {
    let command = match args.next()? {
        Some(Value(v)) => v.string()?,
        Some(Long("help") | Short('h')) => return Ok(Command::Help(USAGE)),
        Some(Long("version") | Short('V')) => return Ok(Command::Version),
        None => return Ok(Command::Missing),
        Some(other) => return Err(other.unexpected().into()),
    };
    match command.as_str() {
        "help" => help(args),
        "demo" => demo(args),
        "serve" => serve(args),
        "send" => send(args),
        "ping" => ping(args),
        "hello" => hello(args),
        "sub" => sub(args),
        "pub" => publish(args),
        "bench" => bench(args),
        "decode" => decode(args),
        "encode" => encode(args),
        other => Err(Failure::Usage(format!("unknown command '{other}'"))),
    }
}

/// `msgwire help [COMMAND]`.
fn help(mut args: lexopt::Parser) -> Result<Command, Failure> {
    let text = match args.next()? {
        None => USAGE,
        Some(Value(v)) => {
            let command = v.string()?;
            usage_of(&command)
                .ok_or_else(|| Failure::Usage(format!("no help for unknown command '{command}'")))?
        }
        Some(other) => return Err(other.unexpected().into()),
    };
    if let Some(extra) = args.next()? {
        return Err(extra.unexpected().into());
    }
    Ok(Command::Help(text))
}

/// A command's help text.
fn usage_of(command: &str) -> Option<&'static str> {
    Some(match command {
        "help" => USAGE,
        "demo" => DEMO_USAGE,
        "serve" => SERVE_USAGE,
        "send" => SEND_USAGE,
        "ping" => PING_USAGE,
        "hello" => HELLO_USAGE,
        "sub" => SUB_USAGE,
        "pub" => PUB_USAGE,
        "bench" => BENCH_USAGE,
        "decode" => DECODE_USAGE,
        "encode" => ENCODE_USAGE,
        _ => return None,
    })
}

fn demo(mut args: lexopt::Parser) -> Result<Command, Failure> {
    match args.next()? {
        None => Ok(Command::Demo),
        Some(Long("help") | Short('h')) => Ok(Command::Help(DEMO_USAGE)),
        Some(other) => Err(other.unexpected().into()),
    }
}

fn serve(mut args: lexopt::Parser) -> Result<Command, Failure> {
    let mut listen = None;
    let mut unix = None;
    let mut peer = PeerArgs::default();
    let mut config = ServerConfig::default();
    // The last option given that only a socket server has.
    let mut socket_only = None;
    let mut quiet = false;
    while let Some(arg) = args.next()? {
        match arg {
            Long("listen") => listen = Some(address(args.value()?)?),
            Long("unix") => unix = Some(PathBuf::from(args.value()?)),
            Long("serial") => peer.set(PeerOption::Serial, &mut args)?,
            Long("baud") => peer.set(PeerOption::Baud, &mut args)?,
            Long("max-payload") => {
                config.framed.max_payload = number(args.value()?, "--max-payload", 0)?
            }
            Long("max-line") => config.framed.max_line = number(args.value()?, "--max-line", 1)?,
            Long("max-connections") => {
                config.max_connections = number(args.value()?, "--max-connections", 1)?;
                socket_only = Some("--max-connections");
            }
            Long("idle-timeout") => {
                config.idle_timeout = Some(positive_seconds(args.value()?, "--idle-timeout")?);
                socket_only = Some("--idle-timeout");
            }
            Long("quiet") => quiet = true,
            Long("help") | Short('h') => return Ok(Command::Help(SERVE_USAGE)),
            other => return Err(other.unexpected().into()),
        }
    }
    if [listen.is_some(), unix.is_some(), peer.serial.is_some()]
        .iter()
        .filter(|given| **given)
        .count()
        > 1
    {
        return Err(Failure::Usage(
            "--listen, --unix and --serial exclude each other".into(),
        ));
    }
    let on = match (peer.serial, unix) {
        (Some(path), _) => {
            if let Some(option) = socket_only {
                return Err(Failure::Usage(format!(
                    "{option} applies to sockets, not to --serial"
                )));
            }
            Listen::Serial {
                path: serial_path(path)?,
                baud: peer.baud.unwrap_or(DEFAULT_BAUD),
            }
        }
        (None, _) if peer.baud.is_some() => return Err(baud_without_serial()),
        (None, Some(path)) => Listen::Unix(path),
        (None, None) => Listen::Tcp(match listen {
            Some(addr) => addr.resolve()?,
            None => default_addr(),
        }),
    };
    Ok(Command::Serve(ServeArgs { on, config, quiet }))
}

fn send(mut args: lexopt::Parser) -> Result<Command, Failure> {
    let mut peer = PeerArgs::default();
    let mut m = MessageParts::new(1);
    while let Some(arg) = args.next()? {
        if let Some(option) = PeerOption::of(&arg) {
            peer.set(option, &mut args)?;
            continue;
        }
        match arg {
            Long("id") => m.id = Some(number(args.value()?, "--id", 0)?),
            Long("checksum") => m.flags |= Flags::CHECKSUM,
            Long("text") => m.text = true,
            Value(v) => m.positional(v)?,
            Long("help") | Short('h') => return Ok(Command::Help(SEND_USAGE)),
            other => return Err(other.unexpected().into()),
        }
    }
    let message = m.finish()?;
    let to = peer.finish_or(default_addr())?;
    Ok(Command::Send(SendArgs { to, message }))
}

fn hello(mut args: lexopt::Parser) -> Result<Command, Failure> {
    let mut peer = PeerArgs::default();
    let mut json = false;
    while let Some(arg) = args.next()? {
        if let Some(option) = PeerOption::of(&arg) {
            peer.set(option, &mut args)?;
            continue;
        }
        match arg {
            Long("json") => json = true,
            Long("help") | Short('h') => return Ok(Command::Help(HELLO_USAGE)),
            other => return Err(other.unexpected().into()),
        }
    }
    let to = peer.finish_or(default_addr())?;
    Ok(Command::Hello(HelloArgs { to, json }))
}

fn sub(mut args: lexopt::Parser) -> Result<Command, Failure> {
    let mut peer = PeerArgs::default();
    let mut filters = Vec::new();
    let mut count = None;
    let mut json = false;
    while let Some(arg) = args.next()? {
        if let Some(option) = PeerOption::of(&arg) {
            peer.set(option, &mut args)?;
            continue;
        }
        match arg {
            Short('c') | Long("count") => count = Some(number(args.value()?, "--count", 1)?),
            Long("json") => json = true,
            Value(v) => filters.push(v.string()?),
            Long("help") | Short('h') => return Ok(Command::Help(SUB_USAGE)),
            other => return Err(other.unexpected().into()),
        }
    }
    if filters.is_empty() {
        return Err(Failure::Usage("missing FILTER".into()));
    }
    let to = peer.finish_or(default_addr())?;
    Ok(Command::Sub(SubArgs {
        to,
        filters,
        count,
        json,
    }))
}

/// `msgwire pub` (`pub` is a keyword).
fn publish(mut args: lexopt::Parser) -> Result<Command, Failure> {
    let mut peer = PeerArgs::default();
    let mut m = MessageParts::new(0);
    while let Some(arg) = args.next()? {
        if let Some(option) = PeerOption::of(&arg) {
            peer.set(option, &mut args)?;
            continue;
        }
        match arg {
            Value(v) => m.positional(v)?,
            Long("help") | Short('h') => return Ok(Command::Help(PUB_USAGE)),
            other => return Err(other.unexpected().into()),
        }
    }
    let message = m.finish()?;
    let to = peer.finish_or(default_addr())?;
    Ok(Command::Pub(PubArgs { to, message }))
}

fn ping(mut args: lexopt::Parser) -> Result<Command, Failure> {
    let mut peer = PeerArgs::default();
    let mut count: u64 = 4;
    let mut size: usize = 0;
    let mut interval = Duration::from_secs(1);
    let mut json = false;
    while let Some(arg) = args.next()? {
        if let Some(option) = PeerOption::of(&arg) {
            peer.set(option, &mut args)?;
            continue;
        }
        match arg {
            Short('c') | Long("count") => count = number(args.value()?, "-c", 1)?,
            Long("size") => size = number(args.value()?, "--size", 0)?,
            Long("interval") => interval = seconds(args.value()?, "--interval")?,
            Long("json") => json = true,
            Long("help") | Short('h') => return Ok(Command::Help(PING_USAGE)),
            other => return Err(other.unexpected().into()),
        }
    }
    let to = peer.finish_or(default_addr())?;
    Ok(Command::Ping(PingArgs {
        to,
        count,
        size,
        interval,
        json,
    }))
}

fn bench(mut args: lexopt::Parser) -> Result<Command, Failure> {
    let mut peer = PeerArgs::default();
    let mut connections: Option<usize> = None;
    let mut pipeline: usize = 32;
    let mut size: usize = 32;
    let mut duration = Duration::from_secs(5);
    let mut json = false;
    while let Some(arg) = args.next()? {
        if let Some(option) = PeerOption::of(&arg) {
            peer.set(option, &mut args)?;
            continue;
        }
        match arg {
            Long("connections") => connections = Some(number(args.value()?, "--connections", 1)?),
            Long("pipeline") => pipeline = number(args.value()?, "--pipeline", 1)?,
            Long("size") => size = number(args.value()?, "--size", 0)?,
            Long("duration") => duration = positive_seconds(args.value()?, "--duration")?,
            Long("json") => json = true,
            Long("help") | Short('h') => return Ok(Command::Help(BENCH_USAGE)),
            other => return Err(other.unexpected().into()),
        }
    }
    let to = peer.finish()?;
    let serial = to.as_ref().is_some_and(Peer::is_serial);
    let connections = match connections {
        Some(c) if serial && c != 1 => {
            return Err(Failure::Usage(
                "a serial port is one connection: drop --connections or make it 1".into(),
            ))
        }
        Some(c) => c,
        None if serial => 1,
        None => 4,
    };
    let max_payload = u32::try_from(size.max(FramedConfig::default().max_payload as usize))
        .map_err(|_| Failure::Usage("--size is too large".into()))?;
    Ok(Command::Bench(BenchArgs {
        to,
        connections,
        pipeline,
        size,
        duration,
        max_payload,
        json,
    }))
}

fn decode(mut args: lexopt::Parser) -> Result<Command, Failure> {
    let mut a = DecodeArgs {
        text: false,
        max_payload: 65536,
        max_line: 65536,
        chunk: None,
        hex: false,
    };
    while let Some(arg) = args.next()? {
        match arg {
            Long("text") => a.text = true,
            Long("max-payload") => a.max_payload = number(args.value()?, "--max-payload", 0)?,
            Long("max-line") => a.max_line = number(args.value()?, "--max-line", 1)?,
            Long("chunk") => a.chunk = Some(number(args.value()?, "--chunk", 1)?),
            Long("hex") => a.hex = true,
            Long("help") | Short('h') => return Ok(Command::Help(DECODE_USAGE)),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(Command::Decode(a))
}

fn encode(mut args: lexopt::Parser) -> Result<Command, Failure> {
    let mut m = MessageParts::new(0);
    while let Some(arg) = args.next()? {
        match arg {
            Long("id") => m.id = Some(number(args.value()?, "--id", 0)?),
            Long("checksum") => m.flags |= Flags::CHECKSUM,
            Long("response") => m.flags |= Flags::RESPONSE,
            Long("event") => m.flags |= Flags::EVENT,
            Long("text") => m.text = true,
            Value(v) => m.positional(v)?,
            Long("help") | Short('h') => return Ok(Command::Help(ENCODE_USAGE)),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(Command::Encode(EncodeArgs {
        message: m.finish()?,
    }))
}

/// `--to`, `--serial` and `--baud` as given.
#[derive(Default)]
struct PeerArgs {
    to: Option<Address>,
    serial: Option<OsString>,
    baud: Option<u32>,
}

/// One of `--to`, `--serial` and `--baud`, the options that name the peer
/// of `send`, `ping`, `hello`, `sub`, `pub` and `bench` (`serve` takes the
/// last two). Owned: the
/// [`lexopt::Arg`] it is read from borrows the parser, which
/// [`PeerArgs::set`] needs to read the option's value.
#[derive(Clone, Copy)]
enum PeerOption {
    To,
    Serial,
    Baud,
}

impl PeerOption {
    fn of(arg: &lexopt::Arg<'_>) -> Option<PeerOption> {
        match arg {
            Long("to") => Some(PeerOption::To),
            Long("serial") => Some(PeerOption::Serial),
            Long("baud") => Some(PeerOption::Baud),
            _ => None,
        }
    }
}

impl PeerArgs {
    /// Reads the value of `option`.
    fn set(&mut self, option: PeerOption, args: &mut lexopt::Parser) -> Result<(), Failure> {
        match option {
            PeerOption::To => self.to = Some(address(args.value()?)?),
            PeerOption::Serial => self.serial = Some(args.value()?),
            PeerOption::Baud => self.baud = Some(number(args.value()?, "--baud", 1)?),
        }
        Ok(())
    }

    /// The peer asked for; `None` when neither `--to` nor `--serial` was
    /// given.
    fn finish(self) -> Result<Option<Peer>, Failure> {
        match (self.to, self.serial, self.baud) {
            (Some(_), Some(_), _) => Err(Failure::Usage(
                "--to and --serial exclude each other".into(),
            )),
            (_, None, Some(_)) => Err(baud_without_serial()),
            (Some(addr), None, None) => Ok(Some(Peer::Tcp(addr.resolve()?))),
            (None, Some(path), baud) => Ok(Some(Peer::Serial {
                path: serial_path(path)?,
                baud: baud.unwrap_or(DEFAULT_BAUD),
            })),
            (None, None, None) => Ok(None),
        }
    }

    /// The peer asked for, else `default`.
    fn finish_or(self, default: SocketAddr) -> Result<Peer, Failure> {
        Ok(self.finish()?.unwrap_or(Peer::Tcp(default)))
    }
}

/// The value of `--serial`, in a build that can open a serial port.
fn serial_path(value: OsString) -> Result<PathBuf, Failure> {
    if cfg!(all(unix, feature = "serial")) {
        Ok(value.into())
    } else {
        Err(no_serial_feature())
    }
}

fn baud_without_serial() -> Failure {
    Failure::Usage("--baud applies to --serial only".into())
}

/// A message's parts while its arguments are read.
struct MessageParts {
    kind: Option<String>,
    data: Option<String>,
    id: Option<u32>,
    default_id: u32,
    flags: Flags,
    text: bool,
}

impl MessageParts {
    fn new(default_id: u32) -> Self {
        MessageParts {
            kind: None,
            data: None,
            id: None,
            default_id,
            flags: Flags::EMPTY,
            text: false,
        }
    }

    /// KIND, then DATA; a third is refused.
    fn positional(&mut self, value: OsString) -> Result<(), Failure> {
        let v = value.string()?;
        if self.kind.is_none() {
            self.kind = Some(v);
        } else if self.data.is_none() {
            self.data = Some(v);
        } else {
            return Err(Failure::Usage(format!("unexpected argument '{v}'")));
        }
        Ok(())
    }

    fn finish(self) -> Result<MessageArgs, Failure> {
        let kind = self
            .kind
            .ok_or_else(|| Failure::Usage("missing KIND".into()))?;
        if self.text && (self.id.is_some() || !self.flags.is_empty()) {
            return Err(Failure::Usage(
                "text framing carries no id and no flags: drop --id/--checksum/--response/--event or --text".into(),
            ));
        }
        let kind: &'static str = kind.leak();
        let kind = Kind::new(kind).map_err(|_| {
            Failure::Usage(format!(
                "invalid kind '{kind}': 1 to 32 of A-Z a-z 0-9 _ . - /"
            ))
        })?;
        Ok(MessageArgs {
            kind,
            data: self.data.map(String::into_bytes).unwrap_or_default(),
            id: self.id.unwrap_or(self.default_id),
            flags: self.flags,
            text: self.text,
        })
    }
}

/// A whole number of type `T` (unsigned), at least `min`. Any other value
/// is refused with the range the option takes.
fn number<T: Whole>(value: OsString, option: &str, min: u64) -> Result<T, Failure> {
    let s = value.string()?;
    s.parse::<u64>()
        .ok()
        .filter(|n| *n >= min)
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| {
            let range = if T::MAX > u64::from(u32::MAX) {
                format!("a whole number, at least {min}")
            } else {
                format!("a whole number from {min} to {}", T::MAX)
            };
            Failure::Usage(format!(
                "invalid value '{s}' for {option}: expected {range}"
            ))
        })
}

/// The unsigned integer types [`number`] reads, with their largest value.
trait Whole: TryFrom<u64> {
    const MAX: u64;
}

impl Whole for u32 {
    const MAX: u64 = u32::MAX as u64;
}

impl Whole for u64 {
    const MAX: u64 = u64::MAX;
}

impl Whole for usize {
    const MAX: u64 = usize::MAX as u64;
}

/// A duration in seconds (fractions allowed), 0 included.
fn seconds(value: OsString, option: &str) -> Result<Duration, Failure> {
    let s = value.string()?;
    s.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| {
            Failure::Usage(format!(
                "invalid duration {s} for {option}: expected a number of seconds, 0 or more"
            ))
        })
}

/// A duration in seconds that must be more than 0.
fn positive_seconds(value: OsString, option: &str) -> Result<Duration, Failure> {
    let s = value.to_string_lossy().into_owned();
    let d = seconds(value, option)?;
    if d.is_zero() {
        return Err(Failure::Usage(format!(
            "invalid duration {s} for {option}: expected a number of seconds more than 0"
        )));
    }
    Ok(d)
}

/// A `HOST:PORT` as given: its form checked while the arguments are read
/// (a usage error), its name looked up once they all are (a failed lookup
/// is a runtime failure, exit code 1).
struct Address(String);

impl Address {
    /// Resolves the name to its first address.
    fn resolve(self) -> Result<SocketAddr, Failure> {
        match self.0.to_socket_addrs() {
            Ok(mut addrs) => addrs.next().ok_or_else(|| {
                Failure::Run(format!(
                    "cannot resolve '{}': no address for that name",
                    self.0
                ))
            }),
            Err(e) => Err(Failure::Run(format!(
                "cannot resolve '{}': name lookup failed ({e})",
                self.0
            ))),
        }
    }
}

/// `HOST:PORT` (`127.0.0.1:7878`, `[::1]:7878`, `localhost:7878`), checked
/// for its form only.
fn address(value: OsString) -> Result<Address, Failure> {
    let s = value.string()?;
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(Address(s));
    }
    let well_formed = s.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && !host.contains(':')
            && !host.contains(char::is_whitespace)
            && port.parse::<u16>().is_ok()
    });
    if well_formed {
        Ok(Address(s))
    } else {
        Err(Failure::Usage(format!(
            "invalid address '{s}': expected HOST:PORT, a port from 0 to 65535"
        )))
    }
}

fn default_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7878))
}

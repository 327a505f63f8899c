//! What several subcommands share: the peer they talk to (`--to ADDR` or
//! `--serial PATH`) and how to connect to it, whether to draw progress,
//! and how payloads are shown.

use std::fmt;
use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_lite::FutureExt;
use msgwire::net::{Client, ClientConfig};

use crate::Failure;

/// The baud of `--serial` when `--baud` is not given.
pub const DEFAULT_BAUD: u32 = 115_200;

/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where `send`, `ping` and `bench` talk to (and what `serve --serial`
/// serves).
pub enum Peer {
    Tcp(SocketAddr),
    /// A serial port; the arguments refuse it in a build that cannot open
    /// one (without the `serial` feature, or off Unix).
    #[cfg_attr(not(all(unix, feature = "serial")), allow(dead_code))]
    Serial {
        path: PathBuf,
        baud: u32,
    },
}

impl Peer {
    pub fn is_serial(&self) -> bool {
        matches!(self, Peer::Serial { .. })
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(a) => write!(f, "{a}"),
            Peer::Serial { path, .. } => write!(f, "{}", path.display()),
        }
    }
}

/// A byte stream to a peer: a TCP stream or a serial port.
pub trait Stream: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send {}
impl<T: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send> Stream for T {}

/// Connects to a TCP peer with `TCP_NODELAY`, waiting at most five seconds.
async fn connect_tcp(addr: SocketAddr) -> Result<async_net::TcpStream, Failure> {
    let stream = async_net::TcpStream::connect(addr)
        .or(async {
            async_io::Timer::after(CONNECT_TIMEOUT).await;
            Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
        })
        .await
        .map_err(|e| Failure::Run(format!("cannot connect to {addr}: {e}")))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Opens a serial port raw, 8N1.
#[cfg(all(unix, feature = "serial"))]
pub fn open_serial(
    path: &std::path::Path,
    baud: u32,
) -> Result<msgwire::net::serial::SerialPort, Failure> {
    msgwire::net::serial::open(path, baud).map_err(|e| Failure::Run(e.to_string()))
}

/// Why `--serial` is refused in a build without serial ports.
pub fn no_serial_feature() -> Failure {
    Failure::Usage("--serial needs a build with the serial feature (Unix only)".into())
}

/// A byte stream to `peer`.
pub async fn open_stream(peer: &Peer) -> Result<Box<dyn Stream>, Failure> {
    match peer {
        Peer::Tcp(addr) => Ok(Box::new(connect_tcp(*addr).await?)),
        #[cfg(all(unix, feature = "serial"))]
        Peer::Serial { path, baud } => Ok(Box::new(open_serial(path, *baud)?)),
        #[cfg(not(all(unix, feature = "serial")))]
        Peer::Serial { .. } => Err(no_serial_feature()),
    }
}

/// A [`Client`] to `peer`, not started yet.
pub async fn open_client(peer: &Peer, config: ClientConfig) -> Result<Client, Failure> {
    match peer {
        Peer::Tcp(addr) => Client::connect_tcp(*addr, config)
            .await
            .map_err(|e| Failure::Run(format!("cannot connect to {addr}: {e}"))),
        Peer::Serial { .. } => Ok(Client::new(open_stream(peer).await?, config)),
    }
}

/// Whether progress is drawn: only when stdout is a terminal (and the
/// summary is not asked for as JSON). Piped, a program prints its summary
/// alone.
pub fn live(json: bool) -> bool {
    !json && io::stdout().is_terminal()
}

/// A payload as text when it is UTF-8, else `hex:` and its hex digits.
pub fn payload_text(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(s) => s.to_string(),
        Err(_) => format!("hex:{}", hex(payload)),
    }
}

/// A payload that fits on one line: as text when it is UTF-8 without
/// control characters (no newline, no tab, no escape sequence reaches the
/// terminal), else `hex:` and its hex digits.
pub fn payload_on_one_line(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => format!("hex:{}", hex(payload)),
    }
}

/// Lowercase hex digits, two per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

//! Serial ports (feature `serial`, Unix only): a board's UART over
//! USB-serial, a pseudo-terminal, QEMU's `-serial pty`.
//!
//! [`open`] opens a terminal device in raw mode, 8 data bits, no parity,
//! one stop bit, no flow control, at the baud you give, and returns a
//! [`SerialPort`], a futures-io `AsyncRead + AsyncWrite` on async-io's
//! reactor like the crate's sockets. On it run a [`Client`]
//! ([`Client::connect_serial`] or [`Client::new`]) or the router
//! ([`serve`], one conversation at a time).
//!
//! The port is configured with termios through `rustix` (already under
//! async-io, so no new crate is built) and read and written as a plain
//! non-blocking file descriptor: no C library, no libudev, no `unsafe`.
//!
//! ```no_run
//! use msgwire::net::{serial, Client, ClientConfig, Spawner};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! smol::block_on(async {
//!     let client = Client::connect_serial("/dev/ttyACM0", 115_200, ClientConfig::default())?
//!         .start(&Spawner::global())?;
//!     let pong = client.request("PING", b"").await?;
//!     assert_eq!(pong.kind, "PONG");
//!     Ok(())
//! })
//! # }
//! ```

use std::fmt;
use std::format;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use async_io::Async;
use futures_lite::{AsyncRead, AsyncWrite};
use rustix::termios::{self, ControlModes, OptionalActions, QueueSelector, SpecialCodeIndex};

use super::{Client, ClientConfig, ConnEnd, Framed, FramedConfig, Router};

/// An open serial port: raw, 8N1, no flow control, non-blocking, on
/// async-io's reactor. Made by [`open`].
pub struct SerialPort {
    io: Async<File>,
    path: PathBuf,
    baud: u32,
}

impl fmt::Debug for SerialPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerialPort")
            .field("path", &self.path)
            .field("baud", &self.baud)
            .finish_non_exhaustive()
    }
}

/// Opens the terminal device at `path` (`/dev/ttyUSB0`, `/dev/ttyACM0`,
/// `/dev/pts/3` …) for reading and writing, without making it the
/// controlling terminal, and configures it: raw mode (no echo, no line
/// editing, no CR/LF translation, no signals), 8 data bits, no parity, one
/// stop bit, no hardware or software flow control, modem lines ignored
/// (`CLOCAL`), the receiver on, input and output at `baud`. Bytes received
/// before the call are discarded, so that a board's boot chatter does not
/// start the first conversation.
///
/// A pseudo-terminal ignores the baud; a real UART's driver may refuse one
/// it cannot do.
///
/// # Errors
///
/// The open error (`NotFound`, `PermissionDenied`: on Linux, join the
/// `dialout` group), or the termios error, e.g. `ENOTTY` for a path that is
/// not a terminal, or `EINVAL` for a baud the driver refuses.
pub fn open(path: impl AsRef<Path>, baud: u32) -> io::Result<SerialPort> {
    let path = path.as_ref();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        // Not our controlling terminal; and do not wait for carrier
        // detect before CLOCAL is set.
        .custom_flags((rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .map_err(|e| annotate(e, path, "cannot open"))?;
    configure(&file, baud).map_err(|e| annotate(e.into(), path, "cannot configure"))?;
    termios::tcflush(&file, QueueSelector::IFlush)
        .map_err(|e| annotate(e.into(), path, "cannot flush"))?;
    Ok(SerialPort {
        io: Async::new(file)?,
        path: path.to_path_buf(),
        baud,
    })
}

fn configure(file: &File, baud: u32) -> rustix::io::Result<()> {
    let mut t = termios::tcgetattr(file)?;
    t.make_raw();
    t.control_modes &= !(ControlModes::CSIZE
        | ControlModes::PARENB
        | ControlModes::CSTOPB
        | ControlModes::CRTSCTS);
    t.control_modes |= ControlModes::CS8 | ControlModes::CREAD | ControlModes::CLOCAL;
    t.input_modes &=
        !(termios::InputModes::IXON | termios::InputModes::IXOFF | termios::InputModes::IXANY);
    // Reads are non-blocking anyway; these make a blocking reader of the
    // same port (another program) see each byte as it comes.
    t.special_codes[SpecialCodeIndex::VMIN] = 1;
    t.special_codes[SpecialCodeIndex::VTIME] = 0;
    t.set_speed(baud)?;
    termios::tcsetattr(file, OptionalActions::Now, &t)
}

fn annotate(e: io::Error, path: &Path, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

impl SerialPort {
    /// The device path it was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The baud it was configured with.
    pub fn baud(&self) -> u32 {
        self.baud
    }
}

impl AsyncRead for SerialPort {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for SerialPort {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

impl Client {
    /// A client over the serial port at `path`, opened with [`open`] at
    /// `baud`. Opening does not block, so this is not `async`. The client
    /// is not started yet: see [`Client::run`] and [`Client::start`].
    ///
    /// # Errors
    ///
    /// Those of [`open`].
    pub fn connect_serial(
        path: impl AsRef<Path>,
        baud: u32,
        config: ClientConfig,
    ) -> io::Result<Client> {
        Ok(Client::new(open(path, baud)?, config))
    }
}

/// Serves one conversation on `port` with `router`: the framing is sniffed
/// from the peer's first byte, and the loop answers until the peer sends
/// `EXIT` or the port fails or hangs up (see [`Router::serve`]). Call it
/// again for the next conversation; after [`ConnEnd::Io`] or
/// [`ConnEnd::Closed`], reopen the port first. Bytes already read past an
/// `EXIT` are dropped with the conversation.
///
/// The handlers see the port's path as the peer ([`Conn::peer`]), and a
/// new connection for each conversation.
///
/// [`Conn::peer`]: crate::net::Conn::peer
pub async fn serve(router: &Router, port: &mut SerialPort, config: FramedConfig) -> ConnEnd {
    let conn = crate::net::Conn::new(std::string::ToString::to_string(&port.path().display()));
    let mut framed = Framed::sniffing(port, config);
    router
        .serve_with(&mut framed, &conn, &mut |_| {}, None, None)
        .await
}

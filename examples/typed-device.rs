//! The device side of typed messages: `msgwire::embedded::serve` with
//! typed routes (`msgwire::typed::embedded`), the code a microcontroller
//! runs, here over a TCP socket so that it runs on a PC.
//!
//! ```text
//! cargo run --example typed-device --features postcard,embedded-io-async
//! cargo run --example typed-host --features postcard -- 127.0.0.1:7879
//! ```
//!
//! It serves `NAME` (a `&str` borrowed from the receive buffer, no copy),
//! `WHO` (answers a `&str` borrowed from the device's state) and `READ`
//! (a channel number in, a reading out), one connection at a time, until
//! Ctrl-C. On a board, the socket would be a UART or an embassy-net
//! `TcpSocket`, and `block_on` the board's executor.

use std::cell::RefCell;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};

use embedded_io_async::ErrorKind;
use futures_lite::future::block_on;
use msgwire::embedded::{serve, HandlerError, ServeConfig};
use msgwire::typed::embedded::{Typed, TypedHandler};
use msgwire::Kind;
use serde::{Deserialize, Serialize};

/// The messages (`typed-host.rs` has owned twins: same postcard bytes).
#[derive(Serialize, Deserialize)]
struct SetName<'a> {
    name: &'a str,
}

#[derive(Serialize, Deserialize)]
struct Reading {
    channel: u8,
    millivolts: i32,
}

/// The device's name, in a fixed buffer (no allocator on a device),
/// shared by the `NAME` and `WHO` routes.
type Name = RefCell<heapless::String<16>>;

/// `NAME`: the new name is borrowed from the receive buffer, then copied
/// into the device's; the answer is its length.
struct Rename<'n>(&'n Name);

impl TypedHandler for Rename<'_> {
    type Request<'a>
        = SetName<'a>
    where
        Self: 'a;
    type Response<'a>
        = u8
    where
        Self: 'a;

    async fn handle<'a>(&'a mut self, req: SetName<'a>) -> Result<u8, HandlerError<'a>> {
        let mut name = self.0.borrow_mut();
        name.clear();
        name.push_str(req.name)
            .map_err(|_| HandlerError::with_code("too-long", "16 bytes at most"))?;
        Ok(name.len() as u8)
    }
}

/// `WHO`: no request data (`()`), the name back, borrowed from the
/// handler's own copy of it.
struct Who<'n>(&'n Name, heapless::String<16>);

impl TypedHandler for Who<'_> {
    // `where Self: 'a`: the handler has a lifetime of its own.
    type Request<'a>
        = ()
    where
        Self: 'a;
    type Response<'a>
        = &'a str
    where
        Self: 'a;

    async fn handle<'a>(&'a mut self, (): ()) -> Result<&'a str, HandlerError<'a>> {
        self.1.clone_from(&self.0.borrow());
        Ok(&self.1)
    }
}

/// `READ`: an ADC channel, 0 to 3.
struct Adc;

impl TypedHandler for Adc {
    type Request<'a> = u8;
    type Response<'a> = Reading;

    async fn handle<'a>(&'a mut self, channel: u8) -> Result<Reading, HandlerError<'a>> {
        if channel > 3 {
            return Err(HandlerError::with_code("no-channel", "channels are 0 to 3"));
        }
        let millivolts = 1200 + 100 * i32::from(channel);
        Ok(Reading {
            channel,
            millivolts,
        })
    }
}

/// A blocking socket as an `embedded-io-async` transport (a UART driver's
/// place on a board).
struct Socket(TcpStream);

impl embedded_io_async::ErrorType for Socket {
    type Error = ErrorKind;
}

impl embedded_io_async::Read for Socket {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        self.0.read(buf).map_err(|_| ErrorKind::Other)
    }
}

impl embedded_io_async::Write for Socket {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.0.write(buf).map_err(|_| ErrorKind::Other)
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        self.0.flush().map_err(|_| ErrorKind::Other)
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:7879".into());
    let listener = TcpListener::bind(&addr)?;
    println!("device: typed NAME, WHO, READ on {addr}");
    let name = Name::default();
    for stream in listener.incoming() {
        let mut io = Socket(stream?);
        // One handler of three routes, each with its answer buffer.
        let mut app = Typed::<_, 4>::new(Kind::new("NAME").unwrap(), Rename(&name))
            .or(Typed::<_, 32>::new(
                Kind::new("WHO").unwrap(),
                Who(&name, Default::default()),
            ))
            .or(Typed::<_, 16>::new(Kind::new("READ").unwrap(), Adc));
        let mut buf = [0u8; 306]; // requests up to 256 bytes
        let config = ServeConfig::default();
        let ended = block_on(serve(&mut io, &mut buf, &mut app, config));
        println!("device: conversation ended: {ended:?}");
    }
    Ok(())
}

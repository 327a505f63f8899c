//! One conversation with the peer under test: a TCP connection, or a
//! serial port (any file the checker can read and write), with every read
//! bounded by a deadline.
//!
//! Whatever arrives is split into items (frames or lines) and queued in
//! arrival order, each with a sequence number and the time it was read.
//! A check takes the first queued item it is waiting for (the next answer,
//! the next event, the next line) and leaves the others in place: events
//! may come between a request and its answer (§6, Delivery), and an answer
//! must not be lost because an event came first.

use crate::wire::{self, Item};
use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Binary,
    Text,
}

enum Link {
    /// Read on demand with a socket read timeout: bytes nobody asked for
    /// stay in the kernel, which is what the slow-subscriber check needs.
    Tcp(TcpStream),
    /// A file has no read timeout in std: a thread reads it and hands the
    /// chunks over a channel.
    File {
        w: File,
        rx: Receiver<io::Result<(Instant, Vec<u8>)>>,
    },
}

/// Why a wait ended without the item waited for.
#[derive(Clone, Debug)]
pub enum Miss {
    Timeout(Duration),
    Closed,
    Io(String),
    /// The peer sent bytes no conforming encoder sends.
    Garbage(String),
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Miss::Timeout(d) => write!(f, "nothing within {} ms", d.as_millis()),
            Miss::Closed => write!(f, "the connection closed"),
            Miss::Io(e) => write!(f, "an I/O error ({e})"),
            Miss::Garbage(g) => write!(f, "garbage ({g})"),
        }
    }
}

/// An item as it arrived.
#[derive(Clone, Debug)]
pub struct Got {
    pub seq: u64,
    pub at: Instant,
    pub item: Item,
}

pub struct Conn {
    pub label: String,
    link: Link,
    mode: Mode,
    /// How long a single wait lasts unless told otherwise.
    pub wait: Duration,
    raw: Vec<u8>,
    queue: VecDeque<Got>,
    seq: u64,
    closed: bool,
    io_error: Option<String>,
}

pub fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))
}

impl Conn {
    pub fn tcp(label: &str, addr: SocketAddr, mode: Mode, wait: Duration) -> Result<Conn, String> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        s.set_nodelay(true).ok();
        // A write that cannot go on for this long means the peer stopped
        // reading: the write fails instead of hanging.
        s.set_write_timeout(Some(Duration::from_secs(10))).ok();
        Ok(Conn::new(label, Link::Tcp(s), mode, wait))
    }

    pub fn file(label: &str, path: &str, mode: Mode, wait: Duration) -> Result<Conn, String> {
        let mut opts = OpenOptions::new();
        opts.read(true).write(true);
        // O_NOCTTY: a tty opened here never becomes the checker's
        // controlling terminal (no SIGHUP when the other side goes away).
        #[cfg(all(
            target_os = "linux",
            any(
                target_arch = "x86_64",
                target_arch = "x86",
                target_arch = "aarch64",
                target_arch = "arm"
            )
        ))]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.custom_flags(0o400);
        }
        let f = opts.open(path).map_err(|e| format!("open {path}: {e}"))?;
        let mut r = f.try_clone().map_err(|e| format!("{path}: {e}"))?;
        let (tx, rx) = mpsc::channel();
        // Ends with the process (the watchdog's exit included).
        thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => {
                        let _ = tx.send(Ok((Instant::now(), Vec::new())));
                        return;
                    }
                    Ok(n) => {
                        if tx.send(Ok((Instant::now(), buf[..n].to_vec()))).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        Ok(Conn::new(label, Link::File { w: f, rx }, mode, wait))
    }

    fn new(label: &str, link: Link, mode: Mode, wait: Duration) -> Conn {
        Conn {
            label: label.to_string(),
            link,
            mode,
            wait,
            raw: Vec::new(),
            queue: VecDeque::new(),
            seq: 0,
            closed: false,
            io_error: None,
        }
    }

    /// A second handle that writes to the same connection (for a thread
    /// that publishes while this one reads).
    pub fn writer(&self) -> io::Result<Box<dyn Write + Send>> {
        match &self.link {
            Link::Tcp(s) => Ok(Box::new(s.try_clone()?)),
            Link::File { w, .. } => Ok(Box::new(w.try_clone()?)),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<(), Miss> {
        let r = match &mut self.link {
            Link::Tcp(s) => s.write_all(bytes).and_then(|_| s.flush()),
            Link::File { w, .. } => w.write_all(bytes).and_then(|_| w.flush()),
        };
        r.map_err(|e| Miss::Io(format!("{}: write: {e}", self.label)))
    }

    /// Reads once, waiting at most until `deadline`; false when nothing came.
    fn fill(&mut self, deadline: Instant) -> bool {
        if self.closed || self.io_error.is_some() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let left = deadline - now;
        let at = match &mut self.link {
            Link::Tcp(s) => {
                s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                    .ok();
                let mut buf = [0u8; 16384];
                match s.read(&mut buf) {
                    Ok(0) => {
                        self.closed = true;
                        return false;
                    }
                    Ok(n) => {
                        self.raw.extend_from_slice(&buf[..n]);
                        Instant::now()
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) =>
                    {
                        return false
                    }
                    Err(e) => {
                        self.io_error = Some(format!("{}: read: {e}", self.label));
                        return false;
                    }
                }
            }
            Link::File { rx, .. } => match rx.recv_timeout(left) {
                Ok(Ok((at, c))) if !c.is_empty() => {
                    self.raw.extend_from_slice(&c);
                    at
                }
                Ok(Ok(_)) | Err(RecvTimeoutError::Disconnected) => {
                    self.closed = true;
                    return false;
                }
                Err(RecvTimeoutError::Timeout) => return false,
                Ok(Err(e)) => {
                    self.io_error = Some(format!("{}: read: {e}", self.label));
                    return false;
                }
            },
        };
        let mut items = Vec::new();
        match self.mode {
            Mode::Binary => wire::split_binary(&mut self.raw, &mut items),
            Mode::Text => wire::split_text(&mut self.raw, &mut items),
        }
        for item in items {
            self.seq += 1;
            self.queue.push_back(Got {
                seq: self.seq,
                at,
                item,
            });
        }
        true
    }

    fn miss(&self, waited: Duration) -> Miss {
        if let Some(e) = &self.io_error {
            Miss::Io(e.clone())
        } else if self.closed {
            Miss::Closed
        } else {
            Miss::Timeout(waited)
        }
    }

    /// The first queued item that `want` accepts, reading until `wait` has
    /// passed. Garbage is always taken: it fails whatever was waited for.
    pub fn take_within(
        &mut self,
        wait: Duration,
        want: impl Fn(&Item) -> bool,
    ) -> Result<Got, Miss> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(i) = self
                .queue
                .iter()
                .position(|g| matches!(g.item, Item::Garbage(_)) || want(&g.item))
            {
                let g = self.queue.remove(i).unwrap();
                if let Item::Garbage(s) = &g.item {
                    return Err(Miss::Garbage(s.clone()));
                }
                return Ok(g);
            }
            if !self.fill(deadline)
                && (Instant::now() >= deadline || self.closed || self.io_error.is_some())
            {
                return Err(self.miss(wait));
            }
        }
    }

    /// The next frame that is not an event (an answer), within `self.wait`.
    pub fn answer(&mut self) -> Result<wire::Frame, Miss> {
        let w = self.wait;
        self.answer_within(w).map(|(f, _)| f)
    }

    pub fn answer_within(&mut self, wait: Duration) -> Result<(wire::Frame, Got), Miss> {
        let g = self.take_within(wait, |i| matches!(i, Item::Frame(f) if !f.is_event()))?;
        match &g.item {
            Item::Frame(f) => Ok((f.clone(), g)),
            _ => unreachable!(),
        }
    }

    /// The next event frame, within `wait`.
    pub fn event_within(&mut self, wait: Duration) -> Result<(wire::Frame, Got), Miss> {
        let g = self.take_within(wait, |i| matches!(i, Item::Frame(f) if f.is_event()))?;
        match &g.item {
            Item::Frame(f) => Ok((f.clone(), g)),
            _ => unreachable!(),
        }
    }

    pub fn event(&mut self) -> Result<wire::Frame, Miss> {
        let w = self.wait;
        self.event_within(w).map(|(f, _)| f)
    }

    /// The next text line, within `self.wait`.
    pub fn line(&mut self) -> Result<Vec<u8>, Miss> {
        let w = self.wait;
        let g = self.take_within(w, |i| matches!(i, Item::Line(_)))?;
        match g.item {
            Item::Line(l) => Ok(l),
            _ => unreachable!(),
        }
    }

    /// Waits `d` and returns every item that arrived, queued before or not
    /// (the queue is emptied).
    pub fn drain_for(&mut self, d: Duration) -> Vec<Got> {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            if !self.fill(deadline) && (self.closed || self.io_error.is_some()) {
                break;
            }
        }
        self.queue.drain(..).collect()
    }
}

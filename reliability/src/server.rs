//! The server under test. It runs in a child process (this program with
//! `--serve`) so that its memory is its own and it can be killed; the
//! parent drives it through [`ServerProc`] and samples its RSS with
//! [`Sampler`].

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_io::Timer;
use msgwire::net::{HandlerError, Outcome, Reply, Request, Router, Server, ServerConfig};
use msgwire::Kind;

use crate::exec::spawner;
use crate::harness::report::violation;
use crate::mix::fnv_hex;

/// `SLOW`: sleeps the milliseconds its payload names (100 when it names
/// none), then answers `DONE` with the payload.
pub async fn slow(req: Request) -> Outcome {
    let ms: u64 = req.text().and_then(|t| t.parse().ok()).unwrap_or(100);
    Timer::after(Duration::from_millis(ms)).await;
    Ok(Reply::new(Kind::lit("DONE"), req.payload()))
}

/// The router every scenario's server runs: the built-ins (`PING`, `ECHO`,
/// `EXIT`), plus `HASH` (FNV-1a of the payload, hex), `FAIL` (an error),
/// `PANIC` (a panic) and [`slow`] as `SLOW`.
pub fn test_router(handler_timeout: Option<Duration>) -> Result<Router, msgwire::Error> {
    let r = Router::new()
        .on("HASH", |req: Request| async move {
            Ok(Reply::new(req.kind(), fnv_hex(req.payload())))
        })?
        .on("FAIL", |_req: Request| async {
            Err::<Reply, _>(HandlerError::msg("deliberate failure"))
        })?
        .on("PANIC", |req: Request| async move {
            // Always true; written so that the future has the handler's
            // output type.
            if !req.payload().is_empty() || req.payload().is_empty() {
                panic!("deliberate panic (reliability suite)");
            }
            Ok(Reply::new(req.kind(), ""))
        })?
        .on("SLOW", slow)?;
    Ok(match handler_timeout {
        Some(t) => r.handler_timeout(t),
        None => r,
    })
}

/// `--serve IDLE_MS HANDLER_TIMEOUT_MS` (0: none): prints `ADDR <addr>`,
/// answers `stats` lines on stdin with `STATS <active> <accepted>
/// <overloaded>`, and exits when stdin closes.
pub fn serve_child(args: &[String]) {
    let ms = |i: usize| {
        let n = args.get(i).and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
        (n > 0).then(|| Duration::from_millis(n))
    };
    quiet_deliberate_panics();
    let config = ServerConfig {
        max_connections: 4096,
        idle_timeout: ms(0),
        ..ServerConfig::default()
    };
    let router = match test_router(ms(1)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("reliability server: router: {e}");
            std::process::exit(2);
        }
    };
    let server =
        match futures_lite::future::block_on(Server::bind_tcp("127.0.0.1:0", router, config)) {
            Ok(s) => match s.start(&spawner()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("reliability server: {e}");
                    std::process::exit(1);
                }
            },
            Err(e) => {
                eprintln!("reliability server: bind: {e}");
                std::process::exit(1);
            }
        };
    let Some(addr) = server.local_addr() else {
        std::process::exit(1)
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ADDR {addr}");
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "stats" {
            let s = server.stats();
            let _ = writeln!(out, "STATS {} {} {}", s.active, s.accepted, s.overloaded);
            let _ = out.flush();
        }
    }
    drop(server);
}

/// Deliberate panics (the `PANIC` handler) are expected: keep stderr
/// readable.
fn quiet_deliberate_panics() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .unwrap_or_default();
        if !msg.starts_with("deliberate panic") {
            default_hook(info);
        }
    }));
}

/// The server process, from the parent's side.
pub struct ServerProc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    pub addr: SocketAddr,
    pub pid: u32,
}

/// The server's own counters (`Server::stats`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub active: usize,
    pub accepted: u64,
    pub overloaded: u64,
}

impl ServerProc {
    /// Starts a server with this idle timeout and handler timeout and
    /// waits (up to 10 s) for its address.
    pub fn start(
        idle: Option<Duration>,
        handler_timeout: Option<Duration>,
    ) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let ms = |d: Option<Duration>| d.map_or(0, |d| d.as_millis().max(1)).to_string();
        let mut child = Command::new(exe)
            .arg("--serve")
            .arg(ms(idle))
            .arg(ms(handler_timeout))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the server process: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "the server process did not start".to_string())?;
        let addr = first
            .strip_prefix("ADDR ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("server process said {first:?}"))?;
        let pid = child.id();
        Ok(ServerProc {
            stdin: child.stdin.take(),
            child,
            lines,
            addr,
            pid,
        })
    }

    /// Its resident memory, KiB.
    pub fn rss(&self) -> u64 {
        rss_kib(self.pid)
    }

    /// Its counters; a violation (and zeros) when it does not answer.
    pub fn stats(&mut self) -> Stats {
        let Some(stdin) = self.stdin.as_mut() else {
            return Stats::default();
        };
        if writeln!(stdin, "stats")
            .and_then(|()| stdin.flush())
            .is_err()
        {
            violation("the server process is gone (cannot ask for stats)");
            return Stats::default();
        }
        match self.lines.recv_timeout(Duration::from_secs(10)) {
            Ok(l) => {
                let f: Vec<u64> = l
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                Stats {
                    active: f.first().copied().unwrap_or(0) as usize,
                    accepted: f.get(1).copied().unwrap_or(0),
                    overloaded: f.get(2).copied().unwrap_or(0),
                }
            }
            Err(_) => {
                violation("the server process did not answer `stats` within 10 s");
                Stats::default()
            }
        }
    }

    /// Waits until the server serves at most `n` connections; the time it
    /// took, or `None` after `limit`.
    pub fn wait_active_at_most(&mut self, n: usize, limit: Duration) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if self.stats().active <= n {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Closes its stdin (it drops the server and exits); a violation if it
    /// died before, or has not exited within 10 s (then it is killed).
    pub fn stop(mut self, scenario: &str) {
        if !self.alive() {
            violation(format!(
                "{scenario}: the server process died during the scenario ({:?})",
                self.child.try_wait()
            ));
            return;
        }
        self.stdin = None;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        violation(format!("{scenario}: the server process did not exit"));
        self.kill();
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if self.alive() {
            self.kill();
        }
    }
}

/// A process's resident memory (`VmRSS`), KiB; 0 when it cannot be read.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// How many file descriptors a process has open.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Samples a process's RSS every `every` until [`Sampler::finish`].
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<u64>>,
}

impl Sampler {
    pub fn start(pid: u32, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut v = Vec::new();
            while !s.load(Ordering::SeqCst) {
                v.push(rss_kib(pid));
                std::thread::sleep(every);
            }
            v
        });
        Sampler { stop, handle }
    }

    /// The samples, KiB.
    pub fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap_or_default()
    }

    /// The largest sample, KiB.
    pub fn peak(self) -> u64 {
        self.finish().into_iter().max().unwrap_or(0)
    }
}

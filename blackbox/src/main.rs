//! msgwire-blackbox: a conformance check of a msgwire v1 peer, written from
//! PROTOCOL.md (revision 1.2) alone. It knows nothing of msgwire's code: it
//! opens connections, sends bytes and checks the bytes it gets back.
//!
//! Every check prints `ok NAME` or `FAIL NAME: expected … got …`; the exit
//! status is 1 if any failed, 2 on a usage error or when the whole run
//! outlived `--deadline`. Every read has a timeout. See README.md.

mod check;
mod conn;
mod crc;
mod groups;
mod report;
mod wire;

use conn::{Conn, Mode};
use std::net::SocketAddr;
use std::process::exit;
use std::thread;
use std::time::{Duration, Instant};

/// What the checks are run against, and how patiently.
pub struct Ctx {
    pub to: Option<SocketAddr>,
    pub serial: Option<String>,
    /// How long one answer or event is waited for.
    pub wait: Duration,
    /// How long "nothing arrives" is watched for.
    pub quiet: Duration,
    /// Events published by the slow-subscriber group.
    pub flood: u32,
    /// Up to how many filters the filters group subscribes looking for the
    /// peer's limit.
    pub max_subs: u32,
    pub seed: u64,
}

impl Ctx {
    fn open(&self, label: &str, mode: Mode) -> Result<Conn, String> {
        match (&self.to, &self.serial) {
            (Some(a), _) => Conn::tcp(label, *a, mode, self.wait),
            (None, Some(p)) => Conn::file(label, p, mode, self.wait),
            (None, None) => Err("no target".into()),
        }
    }
    /// A binary conversation (its first byte will be `0xA5`, §4).
    pub fn bin(&self, label: &str) -> Result<Conn, String> {
        self.open(label, Mode::Binary)
    }
    /// A text conversation (its first byte will not be `0xA5`).
    pub fn text(&self, label: &str) -> Result<Conn, String> {
        self.open(label, Mode::Text)
    }
}

const USAGE: &str = "\
Usage: msgwire-blackbox (--to HOST:PORT | --serial PATH) [options]

A black-box conformance check of a msgwire v1 peer (PROTOCOL.md rev 1.2).

  --to HOST:PORT     a TCP server (msgwire serve); every group but device
                     runs by default, each on connections of its own
  --serial PATH      a tty/pty or any file that reads and writes one byte
                     stream (set it raw first: stty -F PATH raw -echo);
                     implies --device (one conversation only)
  --device           run the firmware group (a device on a UART: HELLO
                     rev=1.2 max=256, tick events, noise, PING)
  --groups LIST      comma-separated groups to run (default: all host
                     groups, or device with --device/--serial)
  --skip LIST        groups not to run
  --timeout MS       wait for one answer or event [default: 2000]
  --quiet-ms MS      watch for \"nothing arrives\" [default: 300]
  --deadline SECS    the whole run stops by itself after this [default: 60]
  --flood N          events published by the slow group [default: 20000]
  --max-subs N       filters subscribed looking for the limit [default: 64]
  --seed N           seed of the noise [default: 12]
  --list             print the groups and exit

Exit status: 0 all checks passed, 1 some failed, 2 usage error or deadline.";

fn main() {
    let mut args = std::env::args().skip(1);
    let mut to = None;
    let mut serial = None;
    let mut device = false;
    let mut only: Option<Vec<String>> = None;
    let mut skip: Vec<String> = Vec::new();
    let mut wait_ms = 2000u64;
    let mut quiet_ms = 300u64;
    let mut deadline = 60u64;
    let mut flood = 20_000u32;
    let mut max_subs = 64u32;
    let mut seed = 12u64;
    let usage = |msg: &str| -> ! {
        eprintln!("msgwire-blackbox: {msg}\n\n{USAGE}");
        exit(2)
    };
    let list = |s: String| {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        let mut num = |what: &str| -> u64 {
            let v = value();
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{what}: not a number: {v}")))
        };
        match a.as_str() {
            "--to" => to = Some(value()),
            "--serial" => serial = Some(value()),
            "--device" => device = true,
            "--groups" => only = Some(list(value())),
            "--skip" => skip = list(value()),
            "--timeout" => wait_ms = num("--timeout"),
            "--quiet-ms" => quiet_ms = num("--quiet-ms"),
            "--deadline" => deadline = num("--deadline"),
            "--flood" => flood = num("--flood") as u32,
            "--max-subs" => max_subs = num("--max-subs") as u32,
            "--seed" => seed = num("--seed"),
            "--list" => {
                for (name, what) in groups::ALL {
                    println!("{name:10} {what}");
                }
                return;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    if to.is_some() == serial.is_some() {
        usage("give exactly one of --to and --serial");
    }
    if serial.is_some() {
        device = true;
    }
    let to = to.map(|t| conn::resolve(&t).unwrap_or_else(|e| usage(&e)));
    let wanted: Vec<String> = match only {
        Some(l) => l,
        None if device => vec!["device".into()],
        None => groups::ALL
            .iter()
            .map(|(n, _)| n.to_string())
            .filter(|n| n != "device")
            .collect(),
    };
    for g in wanted.iter().chain(&skip) {
        if !groups::ALL.iter().any(|(n, _)| n == g) {
            usage(&format!("unknown group {g} (see --list)"));
        }
    }
    if serial.is_some() && wanted.iter().any(|g| g != "device") {
        usage("--serial is one conversation: only the device group runs on it");
    }

    // Nothing ever hangs: past the deadline the process ends by itself.
    let started = Instant::now();
    thread::spawn(move || {
        thread::sleep(Duration::from_secs(deadline));
        println!(
            "FAIL deadline: expected the run to end within {deadline} s; got it still running"
        );
        exit(2);
    });

    let ctx = Ctx {
        to,
        serial,
        wait: Duration::from_millis(wait_ms),
        quiet: Duration::from_millis(quiet_ms),
        flood,
        max_subs,
        seed,
    };
    let mut r = report::Report::default();
    for (name, _) in groups::ALL {
        if wanted.iter().any(|g| g == name) && !skip.iter().any(|g| g == name) {
            println!("# group {name}");
            groups::run(name, &ctx, &mut r);
        }
    }
    println!(
        "# {} passed, {} failed in {:.1} s",
        r.passed,
        r.failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !r.failed.is_empty() {
        println!("# failed: {}", r.failed.join(" "));
        exit(1);
    }
}

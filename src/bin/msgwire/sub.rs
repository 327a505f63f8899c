//! `msgwire sub`: subscribes to events (protocol revision 1.2, §6) and
//! prints them as they come, one line each.
//!
//! It reads the conversation itself, over one [`Framed`] connection,
//! rather than through [`Client::subscribe`](msgwire::net::Client::subscribe):
//! the peer sends an event once per conversation however many of its
//! filters match, and one `LAGGED` where events are missing (§6,
//! "Delivery", "Slow subscribers"), which is exactly what is to be
//! printed. A `Subscription` per FILTER would give an event that two
//! FILTERs match twice, and every `LAGGED` once per FILTER; keeping only
//! one copy of each would still lose the order between events that went
//! to different subscriptions, as each has a queue of its own.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use async_io::{block_on, Timer};
use async_signal::{Signal, Signals};
use futures_lite::{FutureExt, StreamExt};
use msgwire::conversation::{Framing, Lagged, RemoteError};
use msgwire::net::{Framed, FramedConfig, RecvError};
use msgwire::{Flags, Kind, Message};

use crate::args::SubArgs;
use crate::common::{hex, open_stream, payload_on_one_line, Stream};
use crate::json;
use crate::{Failure, Outcome};

/// How long the peer may take to answer the `SUB`s, all of them.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the `EXIT` that ends the conversation may take to go out.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

type Conn = Framed<Box<dyn Stream>>;

pub fn run(a: SubArgs) -> Outcome {
    block_on(async {
        // Before anything else: from here on Ctrl-C and SIGTERM are ours
        // to act on (the default action would not end the conversation).
        let mut signals = Signals::new([Signal::Int, Signal::Term])?;
        let Some(stream) = or_signal(&mut signals, open_stream(&a.to)).await? else {
            return Ok(ExitCode::SUCCESS);
        };
        let mut conn = Framed::new(stream, Framing::Binary, FramedConfig::default());
        let early = match or_signal(&mut signals, subscribe(&mut conn, &a.filters, a.json)).await {
            Ok(Some(early)) => early,
            Ok(None) => {
                goodbye(&mut conn).await;
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) => {
                // A refused filter: the peer may hold the others (a device
                // on a serial port would go on sending their events).
                goodbye(&mut conn).await;
                return Err(e);
            }
        };
        eprintln!("sub: subscribed to {} on {}", a.filters.join(" "), a.to);
        let mut out = Printer { left: a.count };
        let mut done = false;
        for line in early {
            if out.print(line)? == Printed::Done {
                done = true;
                break;
            }
        }
        if !done {
            or_signal(&mut signals, relay(&mut conn, &mut out, a.json)).await?;
        }
        goodbye(&mut conn).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// `work`'s outcome, or `None` once Ctrl-C or SIGTERM comes first.
async fn or_signal<T>(
    signals: &mut Signals,
    work: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<Option<T>, Failure> {
    async { work.await.map(Some) }
        .or(async {
            signals.next().await;
            Ok(None)
        })
        .await
}

/// Sends a `SUB` per filter (ids 1, 2, …, all at once) and waits for
/// every answer. The events that come in between, once the first filters
/// hold, are returned to be printed once every filter holds.
async fn subscribe(conn: &mut Conn, filters: &[String], json: bool) -> Result<Vec<Line>, Failure> {
    let lost = |e: &dyn std::fmt::Display| Failure::Run(format!("connection failed: {e}"));
    for (id, filter) in (1u32..).zip(filters) {
        let sub = Message::new(Kind::SUB, filter.as_bytes()).with_id(id);
        conn.send(&sub).await.map_err(|e| lost(&e))?;
    }
    conn.flush().await.map_err(|e| lost(&e))?;
    let mut early = Vec::new();
    // Which SUBs wait for their answer; one answer each counts.
    let mut waiting = vec![true; filters.len()];
    let mut answered = 0;
    let mut deadline = Timer::after(ANSWER_TIMEOUT);
    while answered < filters.len() {
        let received = async { Some(conn.recv().await) }
            .or(async {
                (&mut deadline).await;
                None
            })
            .await;
        let m = match received {
            None => {
                return Err(Failure::Run(format!(
                    "no answer to SUB within {} s",
                    ANSWER_TIMEOUT.as_secs()
                )))
            }
            Some(Ok(m)) => m,
            Some(Err(RecvError::Decode(e))) => {
                eprintln!("sub: refused a frame from the peer: {e}");
                continue;
            }
            Some(Err(RecvError::Closed)) => {
                return Err(Failure::Run(
                    "the peer closed the connection before answering SUB".into(),
                ))
            }
            Some(Err(e)) => return Err(lost(&e)),
        };
        if m.flags.contains(Flags::EVENT) {
            early.push(line(&m, json));
            continue;
        }
        // The SUB this answers (by its id), if it still waits for one.
        let at = usize::try_from(m.id)
            .ok()
            .and_then(|id| id.checked_sub(1))
            .filter(|at| waiting.get(*at) == Some(&true));
        match (at, RemoteError::of(&m)) {
            (Some(at), None) if m.kind == Kind::SUB => {
                waiting[at] = false;
                answered += 1;
            }
            (Some(_), Some(e)) if e.code == "unknown-kind" => {
                return Err(Failure::Run(
                    "the peer speaks a revision before 1.2: no events, no subscriptions \
                     (it answered SUB with ERROR unknown-kind)"
                        .into(),
                ))
            }
            (Some(at), Some(e)) => {
                return Err(Failure::Run(format!(
                    "cannot subscribe to '{}': the peer answered ERROR {}: {}",
                    filters[at], e.code, e.detail
                )))
            }
            (Some(at), None) => {
                return Err(Failure::Run(format!(
                    "cannot subscribe to '{}': the peer answered {}",
                    filters[at], m.kind
                )))
            }
            // Not an answer to a SUB: `overloaded`, or noise on a line.
            (None, Some(e)) => {
                return Err(Failure::Run(format!(
                    "the peer answered ERROR {}: {}",
                    e.code, e.detail
                )))
            }
            (None, None) => {}
        }
    }
    Ok(early)
}

/// Prints every event until the count is reached or stdout is closed.
///
/// # Errors
///
/// The connection's end (the peer closed it, or it failed).
async fn relay(conn: &mut Conn, out: &mut Printer, json: bool) -> Result<(), Failure> {
    loop {
        match conn.recv().await {
            Ok(m) if m.flags.contains(Flags::EVENT) => {
                if out.print(line(&m, json))? == Printed::Done {
                    return Ok(());
                }
            }
            Ok(m) => {
                // Nothing is asked any more: an ERROR now is the peer's
                // account of something (noise on a serial line); any
                // other answer is late, and dropped.
                if let Some(e) = RemoteError::of(&m) {
                    eprintln!("sub: the peer sent ERROR {}: {}", e.code, e.detail);
                }
            }
            Err(RecvError::Decode(e)) => eprintln!("sub: refused a frame from the peer: {e}"),
            Err(RecvError::Closed) => {
                return Err(Failure::Run("the peer closed the connection".into()))
            }
            Err(e) => return Err(Failure::Run(format!("connection failed: {e}"))),
        }
    }
}

/// Ends the conversation (best effort, within a second): `EXIT`, then
/// the connection's writing side closed. Over a serial port this is what
/// tells the device to drop the filters.
async fn goodbye(conn: &mut Conn) {
    async {
        if conn.send(&Message::new(Kind::EXIT, b"")).await.is_ok() {
            let _ = conn.close().await;
        }
    }
    .or(async {
        Timer::after(GOODBYE_TIMEOUT).await;
    })
    .await;
}

/// A line to print, and whether it counts towards `--count` (an event
/// does, a `LAGGED` does not).
#[derive(Debug, PartialEq, Eq)]
struct Line {
    text: String,
    counts: bool,
}

/// The line of an event (a frame with the `EVENT` flag).
fn line(m: &Message<'_>, json: bool) -> Line {
    if m.kind == Kind::LAGGED {
        // A count that is not a number still says events were lost.
        let n = Lagged::parse(m.payload).map_or(1, |l| l.count());
        let text = if json {
            json::Object::new().uint("lagged", n.into()).finish()
        } else {
            format!("LAGGED {n}")
        };
        return Line {
            text,
            counts: false,
        };
    }
    let text = match (json, std::str::from_utf8(m.payload)) {
        (true, Ok(s)) => json::Object::new()
            .str("kind", m.kind.as_str())
            .str("payload", s)
            .finish(),
        (true, Err(_)) => json::Object::new()
            .str("kind", m.kind.as_str())
            .str("payload_hex", &hex(m.payload))
            .finish(),
        (false, _) if m.payload.is_empty() => m.kind.to_string(),
        (false, _) => format!("{} {}", m.kind, payload_on_one_line(m.payload)),
    };
    Line { text, counts: true }
}

#[derive(Debug, PartialEq, Eq)]
enum Printed {
    More,
    /// `--count` events printed, or nobody reads stdout any more.
    Done,
}

/// Prints lines, counting the events.
struct Printer {
    /// Events still to print; `None`: no end.
    left: Option<u64>,
}

impl Printer {
    fn print(&mut self, line: Line) -> Result<Printed, Failure> {
        match writeln!(io::stdout().lock(), "{}", line.text) {
            Ok(()) => {}
            // `msgwire sub … | head -n 3`: the reader has what it wanted.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(Printed::Done),
            Err(e) => return Err(Failure::Run(format!("cannot write to stdout: {e}"))),
        }
        if line.counts {
            if let Some(left) = &mut self.left {
                *left -= 1;
                if *left == 0 {
                    return Ok(Printed::Done);
                }
            }
        }
        Ok(Printed::More)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, payload: &[u8]) -> Message<'static> {
        let kind: &'static str = kind.to_string().leak();
        let payload: &'static [u8] = payload.to_vec().leak();
        Message::new(Kind::new(kind).unwrap(), payload).with_flags(Flags::EVENT)
    }

    fn text(m: &Message<'_>) -> String {
        line(m, false).text
    }

    fn json(m: &Message<'_>) -> serde_json::Value {
        serde_json::from_str(&line(m, true).text).unwrap()
    }

    #[test]
    fn lines_of_events() {
        assert_eq!(text(&event("sensor/temp", b"21.5")), "sensor/temp 21.5");
        assert_eq!(text(&event("a", b"")), "a");
        assert_eq!(text(&event("a", "é ☃".as_bytes())), "a é ☃");
        // One line each: control characters and invalid UTF-8 as hex.
        assert_eq!(text(&event("a", b"x\ny")), "a hex:780a79");
        assert_eq!(text(&event("a", b"\t")), "a hex:09");
        assert_eq!(text(&event("a", &[0xff, 0])), "a hex:ff00");
        assert!(line(&event("a", b"x"), false).counts);
    }

    #[test]
    fn lines_of_lagged() {
        let lagged = Lagged::new(7);
        let l = line(&lagged.message(), false);
        assert_eq!((l.text.as_str(), l.counts), ("LAGGED 7", false));
        let l = line(&lagged.message(), true);
        assert_eq!((l.text.as_str(), l.counts), ("{\"lagged\":7}", false));
        assert_eq!(text(&event("LAGGED", b"many")), "LAGGED 1");
    }

    #[test]
    fn json_lines() {
        let v = json(&event("sensor/temp", b"21.5\n"));
        assert_eq!(
            v,
            serde_json::json!({"kind": "sensor/temp", "payload": "21.5\n"})
        );
        let v = json(&event("blob", &[0, 0xff]));
        assert_eq!(
            v,
            serde_json::json!({"kind": "blob", "payload_hex": "00ff"})
        );
        let v = json(&event("e", b""));
        assert_eq!(v, serde_json::json!({"kind": "e", "payload": ""}));
    }
}

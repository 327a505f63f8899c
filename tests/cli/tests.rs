//! The `msgwire` program, run as a user would run it (the body of
//! `tests/cli.rs`, built only with the `cli` feature).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::common::{load, unhex, Ev};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_msgwire"))
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn msgwire");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// Parses `decode`'s JSON lines into events.
fn events(out: &[u8]) -> Vec<Ev> {
    String::from_utf8(out.to_vec())
        .expect("utf8")
        .lines()
        .map(|l| Ev::from_json(&serde_json::from_str(l).expect("one JSON object per line")))
        .collect()
}

#[test]
fn decode_matches_every_vector_whole_and_byte_by_byte() {
    for (file, flag, limit_key, limit_flag) in [
        ("binary.json", None, "max_payload", "--max-payload"),
        ("text.json", Some("--text"), "max_line", "--max-line"),
    ] {
        for case in load(file) {
            let name = case["name"].as_str().expect("name");
            let limit = case[limit_key].as_u64().expect("limit").to_string();
            let want: Vec<Ev> = case["events"]
                .as_array()
                .expect("events")
                .iter()
                .map(Ev::from_json)
                .collect();
            let hex = case["input"].as_str().expect("input");
            for chunk in [None, Some("1")] {
                let mut args = vec!["decode", "--hex", limit_flag, &limit];
                args.extend(flag);
                if let Some(c) = chunk {
                    args.extend(["--chunk", c]);
                }
                let out = run_with_stdin(&args, hex.as_bytes());
                assert!(
                    out.status.success(),
                    "{name}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert_eq!(events(&out.stdout), want, "{name} {args:?}");
            }
            // Raw bytes on stdin give the same.
            let mut args = vec!["decode", limit_flag, &limit];
            args.extend(flag);
            let out = run_with_stdin(&args, &unhex(hex));
            assert_eq!(events(&out.stdout), want, "{name} raw");
        }
    }
}

#[test]
fn decode_reports_ids_of_trusted_headers() {
    let out = bin()
        .args(["encode", "BIG", "0123456789", "--id", "7"])
        .output()
        .expect("run");
    let decoded = run_with_stdin(&["decode", "--max-payload", "4"], &out.stdout);
    assert_eq!(
        String::from_utf8_lossy(&decoded.stdout),
        "{\"error\":\"too-large\",\"id\":7}\n"
    );
}

#[test]
fn encode_matches_the_vectors_byte_for_byte() {
    for case in load("encode.json") {
        let kind = case["kind"].as_str().expect("kind");
        let payload = unhex(case["payload"].as_str().expect("payload"));
        let Ok(data) = String::from_utf8(payload) else {
            continue; // DATA is a command-line string; binary payloads are covered by the library tests
        };
        let want = unhex(case["bytes"].as_str().expect("bytes"));
        let mut args = vec!["encode".to_string(), kind.to_string(), data];
        if case.get("mode").and_then(|m| m.as_str()) == Some("text") {
            args.push("--text".into());
        } else {
            let id = case["id"].as_u64().expect("id");
            let flags = case["flags"].as_u64().expect("flags");
            args.extend(["--id".into(), id.to_string()]);
            if flags & 1 != 0 {
                args.push("--checksum".into());
            }
            if flags & 2 != 0 {
                args.push("--response".into());
            }
        }
        let out = bin().args(&args).output().expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, want, "{args:?}");
    }
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for args in [
        vec!["frobnicate"],
        vec!["serve", "--max-payload", "lots"],
        vec!["send", "--to", "nowhere"],
        vec!["send"],
        vec!["encode", "bad kind"],
        vec!["encode", "PING", "--text", "--id", "3"],
        vec!["decode", "--chunk", "0"],
        vec!["ping", "--bogus"],
        vec!["bench", "--connections", "0"],
        vec!["encode", "PING", "a", "b"],
    ] {
        let out = bin().args(&args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("msgwire: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    for sub in ["serve", "send", "ping", "bench", "decode", "encode"] {
        let out = bin().args([sub, "--help"]).output().expect("run");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("Usage: msgwire {sub}")));
    }
}

/// A `msgwire serve` on an ephemeral port, stopped with SIGINT on drop.
struct Serve {
    child: Child,
    addr: String,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Serve {
    fn start() -> Serve {
        let mut child = bin()
            .args(["serve", "--listen", "127.0.0.1:0", "--idle-timeout", "5"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn serve");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("listening line");
        let addr = first
            .strip_prefix("listening on ")
            .expect("listening line")
            .to_string();
        Serve { child, addr, lines }
    }

    /// Sends SIGINT and returns everything the server logged.
    fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "serve exited with {status}");
        self.lines.try_iter().collect()
    }
}

#[test]
fn serve_send_ping_and_bench_talk_to_each_other() {
    let server = Serve::start();
    let to = server.addr.clone();

    let out = bin()
        .args(["send", "--to", &to, "PING", "hi", "--id", "5"])
        .output()
        .expect("send");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PONG id=5 ack\n");

    let out = bin()
        .args(["send", "--to", &to, "ECHO", "hello there", "--checksum"])
        .output()
        .expect("send");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ECHO id=1 hello there\n"
    );

    let out = bin()
        .args(["send", "--to", &to, "--text", "ECHO", "a:b"])
        .output()
        .expect("send");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ECHO a:b\n");

    let out = bin()
        .args(["send", "--to", &to, "NOPE"])
        .output()
        .expect("send");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ERROR id=1 unknown-kind: NOPE\n"
    );

    let out = bin()
        .args(["ping", "--to", &to, "-c", "3", "--interval", "0.05"])
        .output()
        .expect("ping");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches(" time=").count(), 3, "{text}");
    assert!(text.contains("3 sent, 3 received, 0% loss"), "{text}");
    assert!(text.contains("rtt min/avg/p50/p99/max = "), "{text}");

    let out = bin()
        .args([
            "bench",
            "--to",
            &to,
            "--duration",
            "1",
            "--connections",
            "2",
            "--pipeline",
            "4",
        ])
        .output()
        .expect("bench");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" 0 failed"), "{text}");
    assert!(answers(&text) > 0, "{text}");
    assert!(
        text.contains("messages/s") && text.contains("latency p50"),
        "{text}"
    );

    let log = server.stop();
    assert!(log.iter().any(|l| l.starts_with("open ")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("unknown-kind")), "{log:?}");
    assert!(log.iter().any(|l| l == "shutting down"), "{log:?}");
}

#[test]
fn bench_without_a_server_starts_its_own() {
    let out = bin()
        .args([
            "bench",
            "--duration",
            "0.5",
            "--connections",
            "1",
            "--pipeline",
            "2",
        ])
        .output()
        .expect("bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(in-process server)") && text.contains(" 0 failed"),
        "{text}"
    );
    assert!(answers(&text) > 0, "{text}");
}

/// The count in bench's "N answers, M failed" line: "0 failed" alone would
/// also pass with nothing sent.
fn answers(text: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.split_once(" answers, ")
                .and_then(|(n, _)| n.rsplit(' ').next()?.parse().ok())
        })
        .unwrap_or_else(|| panic!("no answer count in {text:?}"))
}

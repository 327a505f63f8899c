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

/// `bench [--to TO] --duration D --connections C --pipeline P`, then
/// `extra`; `load` is `[D, C, P]`.
fn bench_args<'a>(to: Option<&'a str>, load: [&'a str; 3], extra: &[&'a str]) -> Vec<&'a str> {
    let [duration, connections, pipeline] = load;
    let mut args = vec!["bench"];
    if let Some(to) = to {
        args.extend(["--to", to]);
    }
    args.extend([
        "--duration",
        duration,
        "--connections",
        connections,
        "--pipeline",
        pipeline,
    ]);
    args.extend_from_slice(extra);
    args
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
            if flags & 4 != 0 {
                args.push("--event".into());
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
    for sub in [
        "serve", "send", "ping", "hello", "sub", "pub", "bench", "decode", "encode",
    ] {
        let out = bin().args([sub, "--help"]).output().expect("run");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("Usage: msgwire {sub}")));
    }
}

/// A `msgwire serve` on an ephemeral port, stopped with SIGINT by
/// [`Serve::stop`], and killed on drop (a test that fails before `stop`
/// leaves no server behind).
struct Serve {
    child: Child,
    addr: String,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Serve {
    fn start() -> Serve {
        Serve::start_with(&[])
    }

    /// `msgwire serve` on an ephemeral port, with `extra` options.
    fn start_with(extra: &[&str]) -> Serve {
        let mut child = bin()
            .args(["serve", "--listen", "127.0.0.1:0", "--idle-timeout", "5"])
            .args(extra)
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
        // Every line the server wrote: the reader thread forwards them
        // until it reads the end of the pipe (not only those forwarded by
        // the time the server was reaped).
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            lines.push(line);
        }
        lines
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // After `stop` the child is reaped already and this does nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
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

    // Piped, ping prints its summary alone: no line per answer.
    let out = bin()
        .args(["ping", "--to", &to, "-c", "3", "--interval", "0.05"])
        .output()
        .expect("ping");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches(" time=").count(), 0, "{text}");
    assert!(text.contains("3 sent, 3 received, 0% loss"), "{text}");
    assert!(text.contains("rtt min/avg/p50/p99/max = "), "{text}");
    assert_eq!(
        text.lines().count(),
        4,
        "header, then 3 summary lines: {text}"
    );

    let out = bin()
        .args(bench_args(Some(&to), ["1", "2", "4"], &[]))
        .output()
        .expect("bench");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" 0 failed"), "{text}");
    assert!(answers(&text) > 0, "{text}");
    assert!(
        text.contains("messages/s") && text.contains("latency min/p50/p90/p99/max = "),
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
        .args(bench_args(None, ["0.5", "1", "2"], &[]))
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

#[test]
fn bad_arguments_say_what_is_wrong() {
    for (args, says) in [
        (vec!["bench", "--json=yes"], "--json"),
        (
            vec!["bench", "--duration", "-1"],
            "invalid duration -1 for --duration",
        ),
        (vec!["bench", "--pipeline", "0"], "at least 1"),
        (
            vec!["ping", "-c", "many", "--json"],
            "invalid value 'many' for -c",
        ),
        (
            vec!["ping", "--baud", "9600"],
            "--baud applies to --serial only",
        ),
        (
            vec!["ping", "--to", "127.0.0.1:1", "--serial", "/dev/null"],
            "--to and --serial exclude each other",
        ),
        (
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--unix",
                "/tmp/msgwire-x",
            ],
            "--listen, --unix and --serial exclude each other",
        ),
        (
            vec!["serve", "--serial", "/dev/null", "--max-connections", "3"],
            "--max-connections applies to sockets, not to --serial",
        ),
        (vec!["send", "bad kind"], "invalid kind 'bad kind'"),
        (
            vec!["bench", "--frobnicate"],
            "invalid option '--frobnicate'",
        ),
    ] {
        let out = bin().args(&args).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("msgwire: ") && err.contains(says),
            "{args:?}: {err}"
        );
    }
}

/// Runs the program piped and returns its stdout, which must be exactly
/// one line holding one JSON object.
fn json_summary(args: &[&str]) -> serde_json::Value {
    let out = bin().args(args).output().expect("run");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert_eq!(text.lines().count(), 1, "one line of JSON: {text:?}");
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(v.is_object(), "{text}");
    v
}

fn number(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key:?} in {v}"))
}

/// Every key present, positive, and in ascending order.
fn ascending(v: &serde_json::Value, keys: &[&str]) {
    let values: Vec<f64> = keys.iter().map(|k| number(v, k)).collect();
    assert!(values[0] > 0.0, "{keys:?} = {values:?}");
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "{keys:?} = {values:?}"
    );
}

const PERCENTILES: [&str; 5] = ["min_us", "p50_us", "p90_us", "p99_us", "max_us"];

#[test]
fn bench_json_is_one_object_with_the_summary() {
    let v = json_summary(&bench_args(
        None,
        ["0.5", "2", "3"],
        &["--size", "100", "--json"],
    ));
    assert_eq!(v["command"], "bench");
    assert_eq!(v["in_process_server"], true);
    assert_eq!(v["connections"], 2);
    assert_eq!(v["pipeline"], 3);
    assert_eq!(v["size_bytes"], 100);
    assert_eq!(number(&v, "duration_s"), 0.5);
    assert!(number(&v, "elapsed_s") >= 0.5, "{v}");
    assert_eq!(v["failed"], 0, "{v}");
    assert!(v["first_failure"].is_null(), "{v}");
    let answers = v["answers"].as_u64().expect("answers");
    assert!(answers > 0, "{v}");
    let rate = answers as f64 / number(&v, "elapsed_s");
    assert!(
        (number(&v, "messages_per_s") / rate - 1.0).abs() < 0.01,
        "{v}"
    );
    let mb = rate * 100.0 / 1e6;
    assert!(
        (number(&v, "payload_mb_per_s") / mb - 1.0).abs() < 0.01,
        "{v}"
    );
    ascending(&v, &PERCENTILES);
    ascending(&v, &["min_us", "mean_us", "max_us"]);
}

#[test]
fn ping_json_and_bench_json_against_a_server() {
    let server = Serve::start();
    let to = server.addr.clone();
    let v = json_summary(&[
        "ping",
        "--to",
        &to,
        "-c",
        "5",
        "--interval",
        "0.01",
        "--size",
        "7",
        "--json",
    ]);
    assert_eq!(v["command"], "ping");
    assert_eq!(v["to"], to.as_str());
    assert_eq!(v["size_bytes"], 7);
    assert_eq!(v["sent"], 5);
    assert_eq!(v["received"], 5);
    assert_eq!(number(&v, "loss_percent"), 0.0);
    ascending(&v, &PERCENTILES);
    ascending(&v, &["min_us", "avg_us", "max_us"]);

    let v = json_summary(&bench_args(Some(&to), ["0.3", "1", "2"], &["--json"]));
    assert_eq!(v["to"], to.as_str());
    assert_eq!(v["in_process_server"], false);
    assert_eq!(
        (v["connections"].clone(), v["pipeline"].clone()),
        (1.into(), 2.into())
    );
    assert!(v["answers"].as_u64().expect("answers") > 0, "{v}");
    ascending(&v, &PERCENTILES);
    server.stop();
}

#[test]
fn piped_bench_prints_the_summary_alone() {
    let out = bin()
        .args(bench_args(None, ["1.2", "1", "2"], &[]))
        .output()
        .expect("bench");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    // Progress lines are redrawn with '\r' and say "msg/s"; there would be
    // two of them in 1.2 s.
    assert!(!text.contains('\r') && !text.contains("msg/s"), "{text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "header, throughput, latency: {text:?}");
    assert!(lines[0].starts_with("bench ") && lines[0].contains("(in-process server)"));
    assert!(lines[1].contains(" answers, 0 failed, in "), "{text}");
    assert!(
        lines[2].starts_with("latency min/p50/p90/p99/max = "),
        "{text}"
    );
    let ms: Vec<f64> = lines[2]
        .trim_start_matches("latency min/p50/p90/p99/max = ")
        .trim_end_matches(" ms")
        .split('/')
        .map(|n| n.parse().expect("a number of ms"))
        .collect();
    assert_eq!(ms.len(), 5, "{text}");
    assert!(ms.windows(2).all(|w| w[0] <= w[1]), "{text}");
}

#[test]
fn ping_without_a_server_fails_with_a_message() {
    // A port nobody listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let to = format!("127.0.0.1:{port}");
    let out = bin()
        .args(["ping", "--to", &to, "-c", "1", "--json"])
        .output()
        .expect("ping");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no JSON without a summary");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("msgwire: cannot connect to {to}")),
        "{err}"
    );
}

/// Runs the program with its stdout on a pseudo-terminal and returns what
/// it wrote there.
#[cfg(unix)]
fn on_a_terminal(args: &[&str]) -> String {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    use std::io::Read;

    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().expect("a UTF-8 pty name"))
        .expect("open the pty's slave");
    let mut master = std::fs::File::from(master);
    // Read all along: a full pty buffer would stop the program.
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        // Ends with EIO once the last slave descriptor is closed.
        let _ = master.read_to_end(&mut out);
        out
    });
    let status = bin()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .stderr(Stdio::inherit())
        .status()
        .expect("run on a pty");
    assert!(status.success(), "{args:?}: {status}");
    String::from_utf8(reader.join().expect("reader")).expect("utf8")
}

#[cfg(unix)]
#[test]
fn on_a_terminal_ping_and_bench_draw_progress() {
    let server = Serve::start();
    let to = server.addr.clone();
    let text = on_a_terminal(&["ping", "--to", &to, "-c", "2", "--interval", "0.05"]);
    assert_eq!(text.matches(" time=").count(), 2, "{text:?}");
    assert!(text.contains("2 sent, 2 received, 0% loss"), "{text:?}");

    let text = on_a_terminal(&bench_args(Some(&to), ["1.2", "1", "2"], &[]));
    assert!(text.matches(" msg/s").count() >= 2, "{text:?}");
    assert!(text.contains("latency min/p50/p90/p99/max = "), "{text:?}");

    // --json: the object alone, on a terminal too.
    let text = on_a_terminal(&["ping", "--to", &to, "-c", "1", "--json"]);
    assert_eq!(text.trim_end().lines().count(), 1, "{text:?}");
    let v: serde_json::Value = serde_json::from_str(text.trim_end()).expect("JSON");
    assert_eq!(v["received"], 1);
    server.stop();
}

/// Runs the program and returns its exit code, stdout and stderr.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin().args(args).output().expect("run");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("utf8 stdout"),
        String::from_utf8(out.stderr).expect("utf8 stderr"),
    )
}

#[test]
fn demo_shows_the_prototypes_conversation() {
    let (code, out, err) = run(&["demo"]);
    assert_eq!(code, Some(0), "{err}");
    // Each exchange on its own line: the request on the left, the answer
    // on the right.
    let answered = |request: &str, answer: &str| {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(request)
                && l.split_once(" -> ").is_some_and(|(_, a)| a == answer)),
            "no line {request:?} -> {answer:?} in:\n{out}"
        );
    };
    answered("PING hello", "PONG \"ack\"");
    answered("ECHO is anybody there?", "ECHO \"is anybody there?\"");
    answered(
        "FOO (no handler)",
        "server answered ERROR unknown-kind: FOO",
    );
    // The malformed frame is answered with its id, and the connection goes
    // on to answer the PING after it.
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("id 41 -> ERROR \"invalid-kind")),
        "{out}"
    );
    answered("id 42", "PONG \"ack\"");
    answered("PING:hi", "PONG:ack");
    answered("ECHO:a:b:c", "ECHO:a:b:c");
    answered(
        "no separator",
        "ERROR:missing-separator: text line has no ':'",
    );
    answered("WHAT:ever", "ERROR:unknown-kind: WHAT");
    answered("EXIT:", "(no answer, connection closed)");
    let throughput = out
        .lines()
        .find(|l| l.contains(" answers ("))
        .unwrap_or_else(|| panic!("no throughput line in:\n{out}"));
    assert!(throughput.contains("(0 failed)"), "{throughput}");
    assert!(
        out.contains("server shut down: 2 connection(s) drained, 0 closed at the deadline")
            || out.contains("server shut down: 1 connection(s) drained, 0 closed at the deadline"),
        "{out}"
    );
}

#[test]
fn bare_msgwire_is_a_usage_error_that_shows_the_commands() {
    let (code, out, err) = run(&[]);
    assert_eq!(code, Some(2));
    assert!(out.is_empty(), "{out}");
    assert!(err.starts_with("msgwire: missing command\n"), "{err}");
    for command in [
        "demo", "serve", "send", "ping", "hello", "sub", "pub", "bench", "decode", "encode", "help",
    ] {
        assert!(
            err.lines().any(|l| l.trim_start().starts_with(command)),
            "{command} not listed in:\n{err}"
        );
    }
}

#[test]
fn version_and_help_subcommand() {
    let want = format!("msgwire {}\n", env!("CARGO_PKG_VERSION"));
    for flag in ["--version", "-V"] {
        assert_eq!(
            run(&[flag]),
            (Some(0), want.clone(), String::new()),
            "{flag}"
        );
    }
    let top = run(&["--help"]);
    assert_eq!(top.0, Some(0));
    assert!(top.1.contains("-V, --version"), "{}", top.1);
    assert_eq!(run(&["help"]), top);
    for sub in [
        "demo", "serve", "send", "ping", "hello", "sub", "pub", "bench", "decode", "encode",
    ] {
        let (code, text, _) = run(&["help", sub]);
        assert_eq!(code, Some(0), "help {sub}");
        assert!(text.starts_with(&format!("Usage: msgwire {sub}")), "{text}");
        assert_eq!(run(&[sub, "--help"]).1, text, "help {sub} and {sub} --help");
    }
    let (code, out, err) = run(&["help", "frobnicate"]);
    assert_eq!((code, out.as_str()), (Some(2), ""));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unknown command 'frobnicate'"), "{err}");
}

#[test]
fn a_failed_name_lookup_is_a_runtime_failure_not_a_usage_error() {
    // `.invalid` never resolves (RFC 6761).
    for args in [
        vec!["send", "--to", "nohost.invalid:7878", "PING"],
        vec!["ping", "--to", "nohost.invalid:7878", "-c", "1"],
        vec!["serve", "--listen", "nohost.invalid:7878"],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("msgwire: cannot resolve 'nohost.invalid:7878': name lookup failed"),
            "{args:?}: {err}"
        );
    }
    // A malformed address is still a usage error, and says the form.
    for bad in ["nohost", "nohost:", "nohost:99999", ":7878", "1.2.3.4"] {
        let (code, _, err) = run(&["send", "--to", bad, "PING"]);
        assert_eq!(code, Some(2), "{bad}: {err}");
        assert!(
            err.contains(&format!("invalid address '{bad}': expected HOST:PORT")),
            "{bad}: {err}"
        );
    }
    // A usage error elsewhere on the line wins over the lookup.
    let (code, _, err) = run(&["send", "--to", "nohost.invalid:7878"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("missing KIND"), "{err}");
}

#[test]
fn numbers_out_of_range_say_the_range() {
    for (args, says) in [
        (
            vec!["send", "PING", "--id", "5000000000"],
            "invalid value '5000000000' for --id: expected a whole number from 0 to 4294967295",
        ),
        (
            vec!["encode", "PING", "--id", "-1"],
            "invalid value '-1' for --id: expected a whole number from 0 to 4294967295",
        ),
        (
            vec!["ping", "-c", "0"],
            "invalid value '0' for -c: expected a whole number, at least 1",
        ),
        (
            vec!["bench", "--duration", "0"],
            "invalid duration 0 for --duration: expected a number of seconds more than 0",
        ),
        (
            vec!["serve", "--idle-timeout", "0"],
            "invalid duration 0 for --idle-timeout: expected a number of seconds more than 0",
        ),
        (
            vec!["serve", "--max-line", "0"],
            "invalid value '0' for --max-line: expected a whole number, at least 1",
        ),
        (
            vec!["decode", "--chunk", "0"],
            "invalid value '0' for --chunk: expected a whole number, at least 1",
        ),
        (
            vec!["bench", "--connections", "0"],
            "invalid value '0' for --connections: expected a whole number, at least 1",
        ),
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn serve_takes_max_line() {
    let server = Serve::start_with(&["--max-line", "8"]);
    let to = server.addr.clone();
    let (code, out, _) = run(&["send", "--to", &to, "--text", "ECHO", "abc"]);
    assert_eq!((code, out.as_str()), (Some(0), "ECHO abc\n"));
    // "ECHO:abcdefgh" is 13 bytes: over the 8 the server takes.
    let (code, out, _) = run(&["send", "--to", &to, "--text", "ECHO", "abcdefgh"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.starts_with("ERROR line-too-long"), "{out}");
    server.stop();
}

#[test]
fn decode_says_what_the_input_held_on_stderr() {
    // The capture the README once showed: an unfinished header, no frame.
    let out = run_with_stdin(&["decode", "--hex", "--chunk", "1"], b"a50100");
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "no event, no JSON");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "decode: 3 bytes read: 0 frames, 0 errors; 0 bytes discarded (not a frame), \
         0 skipped (in refused frames), 3 left over (an unfinished frame)\n"
    );

    // Garbage, a frame, a refused frame: counted apart.
    let frame = bin()
        .args(["encode", "PING", "--id", "1"])
        .output()
        .expect("encode")
        .stdout;
    let big = bin()
        .args(["encode", "BIG", "0123456789", "--id", "2"])
        .output()
        .expect("encode")
        .stdout;
    let mut input = b"xyz".to_vec();
    input.extend_from_slice(&frame);
    input.extend_from_slice(&big);
    let out = run_with_stdin(&["decode", "--max-payload", "4"], &input);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "decode: {} bytes read: 1 frame, 1 error; 3 bytes discarded (not a frame), \
             {} skipped (in refused frames), 0 left over (an unfinished frame)\n",
            input.len(),
            big.len()
        )
    );

    // Text: a line without its newline is left over.
    let out = run_with_stdin(&["decode", "--text"], b"PING:a\nECHO:b");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "decode: 13 bytes read: 1 line, 0 errors; 0 bytes discarded (not a line), \
         0 skipped (in refused lines), 6 left over (an unfinished line)\n"
    );
}

/// `msgwire hello` prints what `msgwire serve` says of itself (revision
/// 1.2's handshake), as a line or as JSON, and `SUB` through `send` is
/// answered by the protocol.
#[test]
fn hello_prints_the_servers_tokens() {
    let server = Serve::start_with(&["--max-payload", "5000"]);
    let (code, out, err) = run(&["hello", "--to", &server.addr]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "rev=1.2 max=5000");
    let (code, out, err) = run(&["hello", "--to", &server.addr, "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["rev"], "1.2");
    assert_eq!(v["max"], 5000);
    assert!(v["app"].is_null() && v["schema"].is_null());
    let (code, out, _) = run(&["send", "--to", &server.addr, "SUB", "tick"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("SUB id=1"), "{out}");
    let (code, _, err) = run(&["hello", "--bogus"]);
    assert_eq!(code, Some(2), "{err}");
}

/// A `msgwire sub` in the background, started once its line on stderr
/// says that every filter holds. Its stdout is read by a thread of its
/// own from [`Sub::reading`] on (until then nobody reads it: a full pipe
/// stops the program, which is how a subscriber falls behind); killed on
/// drop.
struct Sub {
    child: Child,
    stdout: Option<std::process::ChildStdout>,
    out: Option<std::sync::mpsc::Receiver<String>>,
    err: std::sync::mpsc::Receiver<String>,
}

impl Sub {
    /// `msgwire sub --to TO FILTERS... OPTIONS...`.
    fn start(to: &str, filters: &[&str], options: &[&str]) -> Sub {
        let mut child = bin()
            .args(["sub", "--to", to])
            .args(filters)
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sub");
        let err = lines_of(child.stderr.take().expect("stderr"));
        let ready = err
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("sub {filters:?} did not say it subscribed: {e}"));
        assert_eq!(
            ready,
            format!("sub: subscribed to {} on {to}", filters.join(" "))
        );
        let stdout = child.stdout.take();
        Sub {
            child,
            stdout,
            out: None,
            err,
        }
    }

    /// From now on, stdout is read.
    fn reading(mut self) -> Sub {
        if let Some(stdout) = self.stdout.take() {
            self.out = Some(lines_of(stdout));
        }
        self
    }

    /// The next line on stdout, within 10 s.
    fn line(&self) -> String {
        self.out
            .as_ref()
            .expect("reading")
            .recv_timeout(Duration::from_secs(10))
            .expect("a line from sub within 10 s")
    }

    /// The next line on stdout, if one comes within `wait`.
    fn line_within(&self, wait: Duration) -> Option<String> {
        self.out.as_ref().expect("reading").recv_timeout(wait).ok()
    }

    /// Waits for the program's end (10 s at most): its exit code, the
    /// lines it wrote on stdout not read yet, and on stderr.
    fn wait(mut self) -> (Option<i32>, Vec<String>, Vec<String>) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(std::time::Instant::now() < deadline, "sub is still running");
            std::thread::sleep(Duration::from_millis(20));
        };
        let drain = |rx: &std::sync::mpsc::Receiver<String>| {
            // The readers end at the pipes' ends, which came with the exit.
            std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(5)).ok()).collect()
        };
        let out = self.out.as_ref().map(drain).unwrap_or_default();
        let err = drain(&self.err);
        (status.code(), out, err)
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([name, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines of `pipe`, forwarded by a thread until its end.
fn lines_of(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// `msgwire pub --to TO KIND PAYLOAD`, which prints nothing and exits 0.
fn publish(to: &str, kind: &str, payload: &str) {
    let (code, out, err) = run(&["pub", "--to", to, kind, payload]);
    assert_eq!((code, out.as_str()), (Some(0), ""), "pub {kind}: {err}");
    assert!(err.is_empty(), "{err}");
}

/// A client of the library's, to publish what the command line cannot
/// say (payloads that are not UTF-8, many large events quickly).
fn publisher(to: &str) -> msgwire::net::Client {
    futures_lite::future::block_on(async {
        msgwire::net::Client::connect_tcp(to, msgwire::net::ClientConfig::default())
            .await
            .expect("connect")
            .start(&msgwire::net::Spawner::global())
            .expect("start")
    })
}

/// Two filters that overlap: each event printed once, in the order it was
/// published, events no filter matches not at all; `--count` ends the
/// program with exit 0. `pub` prints nothing and exits 0 once the server
/// has the event, so the order below is the server's.
#[test]
fn sub_prints_each_event_once_and_pub_publishes() {
    let server = Serve::start();
    let to = server.addr.clone();
    let sub = Sub::start(&to, &["sensor/*", "sensor/temp"], &["--count", "3"]).reading();
    publish(&to, "sensor/temp", "21.5"); // both filters
    publish(&to, "other", "x"); // neither
    publish(&to, "sensor/hum", "40 %"); // the first only
    publish(&to, "sensor/temp", "");
    let (code, out, err) = sub.wait();
    assert_eq!(code, Some(0), "{err:?}");
    assert_eq!(out, ["sensor/temp 21.5", "sensor/hum 40 %", "sensor/temp"]);
    assert_eq!(err.len(), 0, "{err:?}");

    // Without --count: until SIGTERM (or Ctrl-C), which is a clean end.
    let sub = Sub::start(&to, &["sensor/temp", "sensor/*"], &[]).reading();
    publish(&to, "sensor/temp", "a\tb\nc");
    assert_eq!(sub.line(), "sensor/temp hex:6109620a63");
    sub.signal("-TERM");
    let (code, out, err) = sub.wait();
    assert_eq!((code, out.len()), (Some(0), 0), "{out:?} {err:?}");

    // The server ends the conversation: exit 1, and why.
    let sub = Sub::start(&to, &["*"], &[]).reading();
    let log = server.stop();
    let (code, _, err) = sub.wait();
    assert_eq!(code, Some(1), "{err:?}");
    assert_eq!(err, ["msgwire: the peer closed the connection"]);
    // Each sub ended its conversation with EXIT.
    assert_eq!(
        log.iter().filter(|l| l.ends_with(": EXIT")).count(),
        2,
        "{log:?}"
    );
}

/// `--json`: one object per line, which a JSON parser reads back; the
/// payload as a string, or as hex when it is not UTF-8.
#[test]
fn sub_json_lines_parse() {
    let server = Serve::start();
    let to = server.addr.clone();
    let sub = Sub::start(&to, &["x/*", "x/a"], &["--json", "-c", "3"]).reading();
    publish(&to, "x/a", "quote \" backslash \\ tab \t é");
    let client = publisher(&to);
    futures_lite::future::block_on(async {
        client
            .publish("x/b", &[0, 0xff, b'\n'])
            .await
            .expect("publish");
        client.publish("x/a", b"").await.expect("publish");
    });
    let (code, out, err) = sub.wait();
    assert_eq!(code, Some(0), "{err:?}");
    let got: Vec<serde_json::Value> = out
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        got,
        [
            serde_json::json!({"kind": "x/a", "payload": "quote \" backslash \\ tab \t é"}),
            serde_json::json!({"kind": "x/b", "payload_hex": "00ff0a"}),
            serde_json::json!({"kind": "x/a", "payload": ""}),
        ]
    );
    server.stop();
}

/// A subscriber that stops reading (its stdout is a pipe nobody reads)
/// while 500 events of 64,000 bytes are published: far more than the
/// socket buffers and the server's queue for it (256 KiB) hold, so the
/// server drops some and says so with `{"lagged":n}` just before the next
/// event it delivers. Once it reads again, small events are published
/// until one comes through; every event published before an event that is
/// printed is printed before it, or counted in a LAGGED before it.
#[test]
fn sub_prints_lagged_where_events_are_missing() {
    const BIG: usize = 500;
    // The server drops a subscriber that reads nothing for this long.
    let server = Serve::start_with(&["--idle-timeout", "60"]);
    let to = server.addr.clone();
    let sub = Sub::start(&to, &["big", "tick"], &["--json"]);
    let client = publisher(&to);
    let payload = vec![b'x'; 64_000];
    futures_lite::future::block_on(async {
        for _ in 0..BIG {
            client.publish("big", &payload).await.expect("publish");
        }
        // The server has them all (it answers in order).
        client.ping().await.expect("ping");
    });
    let sub = sub.reading();
    let (mut big, mut ticks, mut lagged, mut lagged_lines) = (0, 0, 0, 0);
    let mut published = 0;
    let mut after_lagged = false;
    'publishing: loop {
        assert!(
            published < 100,
            "no tick came through: big {big}, lagged {lagged}"
        );
        published += 1;
        let tick = published.to_string();
        futures_lite::future::block_on(client.publish("tick", tick.as_bytes())).expect("publish");
        while let Some(line) = sub.line_within(Duration::from_millis(500)) {
            let v: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:.80}"));
            if let Some(n) = v["lagged"].as_u64() {
                // A LAGGED stands before an event, never before another.
                assert!(n > 0 && !after_lagged, "{line}");
                lagged += n as usize;
                lagged_lines += 1;
                after_lagged = true;
                continue;
            }
            after_lagged = false;
            match v["kind"].as_str() {
                Some("big") => {
                    assert_eq!(v["payload"].as_str().map(str::len), Some(64_000));
                    big += 1;
                }
                Some("tick") => {
                    let tick: usize = v["payload"].as_str().unwrap().parse().unwrap();
                    assert_eq!(
                        big + ticks + lagged,
                        BIG + tick - 1,
                        "before tick {tick}: big {big}, ticks {ticks}, lagged {lagged}"
                    );
                    ticks += 1;
                    if tick == published {
                        break 'publishing;
                    }
                }
                _ => panic!("{line:.80}"),
            }
        }
    }
    assert!(lagged_lines > 0 && big < BIG, "big {big}, lagged {lagged}");
    drop(sub);
    server.stop();
}

/// A filter the server refuses: exit 1 with its `bad-filter` answer, and
/// nothing on stdout.
#[test]
fn sub_with_a_bad_filter_fails_with_the_servers_answer() {
    let server = Serve::start();
    let (code, out, err) = run(&["sub", "--to", &server.addr, "ok/*", "not a filter"]);
    assert_eq!((code, out.as_str()), (Some(1), ""), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "msgwire: cannot subscribe to 'not a filter': the peer answered ERROR bad-filter: "
        ),
        "{err}"
    );
    server.stop();
}

/// A peer of revision 1.1 on an ephemeral port: it answers every request
/// `ERROR unknown-kind: <KIND>`, HELLO and SUB included, as one before
/// revision 1.2 does.
fn peer_before_1_2() -> String {
    use std::io::Read;
    use std::net::TcpListener;

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Ok(msgwire::Status::Complete { message, consumed }) =
                        msgwire::decode_slice(&buf, 65536)
                    {
                        let text = format!("unknown-kind: {}", message.kind);
                        let answer = msgwire::Message::new(msgwire::Kind::ERROR, text.as_bytes())
                            .with_id(message.id)
                            .with_flags(msgwire::Flags::RESPONSE);
                        let mut out = [0u8; 128];
                        let n = msgwire::encode(&answer, &mut out).expect("encode");
                        if stream.write_all(&out[..n]).is_err() {
                            return;
                        }
                        buf.drain(..consumed);
                    }
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn sub_and_pub_tell_a_peer_before_revision_1_2() {
    let to = peer_before_1_2();
    let (code, out, err) = run(&["sub", "--to", &to, "sensor/*"]);
    assert_eq!((code, out.as_str()), (Some(1), ""), "{err}");
    assert_eq!(
        err,
        "msgwire: the peer speaks a revision before 1.2: no events, no subscriptions \
         (it answered SUB with ERROR unknown-kind)\n"
    );
    let (code, out, err) = run(&["pub", "--to", &to, "sensor/temp", "21.5"]);
    assert_eq!((code, out.as_str()), (Some(1), ""), "{err}");
    assert_eq!(
        err,
        "msgwire: the peer speaks a revision before 1.2: it takes no events \
         (it answered HELLO with ERROR unknown-kind); nothing was sent\n"
    );
}

#[test]
fn sub_and_pub_bad_arguments() {
    for (args, says) in [
        (vec!["sub"], "missing FILTER"),
        (
            vec!["sub", "x", "--count", "0"],
            "invalid value '0' for --count",
        ),
        (
            vec!["sub", "x", "--baud", "9600"],
            "--baud applies to --serial only",
        ),
        (vec!["pub"], "missing KIND"),
        (vec!["pub", "bad kind", "x"], "invalid kind 'bad kind'"),
        (vec!["pub", "k", "x", "y"], "unexpected argument 'y'"),
        (vec!["pub", "k", "--json"], "invalid option '--json'"),
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

//! The conversation core (`msgwire::conversation`) against §4, table by
//! table: built-ins, overrides, every error code with its id rule, order,
//! sniffing, and the client's table of pending requests.

use msgwire::conversation::{
    Answer, ErrorText, Event, Framing, Limits, Matched, Pending, PendingTable, Receiver,
    RemoteError, Responder, Rules, MAX_ERROR_LEN,
};
use msgwire::{DecodeError, Error, Flags, Kind, Message};

mod common;

use common::{frame, raw, Ev};

fn request(kind: &str, id: u32, payload: &[u8]) -> Vec<u8> {
    frame(kind, id, Flags::EMPTY, payload)
}

fn out(kind: &str, id: u32, payload: &str) -> Ev {
    Ev::answer(kind, id, payload)
}

/// Runs the server side over `input` fed in `chunk`-byte pieces. The
/// application takes the kinds in `app` and answers `<KIND>-OK` with the
/// request's payload, except `FAIL`, which fails, and `QUIET`, which
/// answers nothing. Returns the answers and whether EXIT was seen.
fn serve(input: &[u8], app: &[&str], chunk: usize, buf: usize) -> (Vec<Ev>, bool) {
    let mut server = Responder::new(vec![0u8; buf], None).expect("buffer");
    let mut answers = Vec::new();
    let mut exit = false;
    for piece in input.chunks(chunk.max(1)) {
        let mut piece = piece;
        while !piece.is_empty() && !exit {
            let n = server.feed(piece);
            piece = &piece[n..];
            while let Some(event) = server.poll(|k| app.contains(&k.as_str())) {
                let answer = match event {
                    Event::Answer(a) => a,
                    // Events are never answered.
                    Event::Incoming(_) => continue,
                    Event::Exit => {
                        exit = true;
                        break;
                    }
                    Event::Request(req) => match req.kind.as_str() {
                        "FAIL" => Answer::error(req.id, "handler-failed", "broken\nsensor"),
                        "QUIET" => continue,
                        k => {
                            let kind = Kind::new(if k == "PING" { "PONG2" } else { "APP-OK" })
                                .expect("kind");
                            Answer::new(req.id, kind, req.payload)
                        }
                    },
                };
                answers.push(Ev::of(Ok(answer.message())));
            }
        }
    }
    (answers, exit)
}

#[test]
fn builtins_and_unknown_kinds() {
    let cases: &[(&str, Vec<u8>, Vec<Ev>)] = &[
        (
            "PING",
            request("PING", 7, b"hello"),
            vec![out("PONG", 7, "ack")],
        ),
        (
            "ECHO",
            request("ECHO", 8, b"abc"),
            vec![out("ECHO", 8, "abc")],
        ),
        (
            "unknown",
            request("FOO", 9, b""),
            vec![out("ERROR", 9, "unknown-kind: FOO")],
        ),
        (
            "checksummed ECHO",
            frame("ECHO", 10, Flags::CHECKSUM, b"xyz"),
            vec![out("ECHO", 10, "xyz")],
        ),
    ];
    for (name, input, want) in cases {
        for chunk in [1, 3, usize::MAX] {
            let (got, exit) = serve(input, &[], chunk, 256);
            assert_eq!(&got, want, "{name}, chunks of {chunk}");
            assert!(!exit);
        }
    }
}

#[test]
fn exit_ends_the_conversation_and_nothing_after_it_is_decoded() {
    let mut input = request("PING", 1, b"");
    input.extend(request("EXIT", 2, b""));
    input.extend(request("PING", 3, b""));
    let (got, exit) = serve(&input, &[], usize::MAX, 256);
    assert_eq!(got, vec![out("PONG", 1, "ack")]);
    assert!(exit);
}

/// `PING` and `ECHO` are the application's when it takes them; `EXIT`
/// (like `HELLO`, `SUB` and `UNSUB`) is the protocol's own since revision
/// 1.2, even when the application claims it.
#[test]
fn application_kinds_override_builtins() {
    let mut input = request("PING", 1, b"p");
    input.extend(request("ECHO", 2, b"e"));
    input.extend(request("EXIT", 3, b""));
    input.extend(request("PING", 4, b"after"));
    let (got, exit) = serve(&input, &["PING", "ECHO", "EXIT"], usize::MAX, 256);
    assert_eq!(got, vec![out("PONG2", 1, "p"), out("APP-OK", 2, "e")]);
    assert!(
        exit,
        "EXIT ends the conversation whatever the application takes"
    );
}

#[test]
fn handler_failures_and_silence() {
    let mut input = request("FAIL", 5, b"");
    input.extend(request("QUIET", 6, b""));
    input.extend(request("PING", 7, b""));
    let (got, _) = serve(&input, &["FAIL", "QUIET"], 2, 256);
    // The detail's line break is scrubbed: a text answer stays one line.
    assert_eq!(
        got,
        vec![
            out("ERROR", 5, "handler-failed: broken sensor"),
            out("PONG", 7, "ack")
        ]
    );
}

#[test]
fn every_refusal_is_answered_with_the_id_rule_of_section_4() {
    let mut bad_crc = request("PING", 11, b"");
    bad_crc[13] ^= 0xFF;
    let mut bad_trailer = frame("DATA", 12, Flags::CHECKSUM, b"xy");
    let n = bad_trailer.len();
    bad_trailer[n - 1] ^= 1;
    let mut bad_kind = request("DATA", 13, b"");
    bad_kind[14] = b' ';
    let mut too_large = raw(1, 0, 4, 14, 300, b"");
    too_large.extend(std::iter::repeat_n(b'A', 304));
    // (input, code, id): untrusted headers (§2.1 step 2) answer id 0,
    // trusted ones (step 3 and the body, step 4) the frame's id.
    let cases: Vec<(Vec<u8>, &str, u32)> = vec![
        (bad_crc, "header-checksum", 0),
        (raw(2, 0, 4, 15, 0, b""), "unsupported-version", 0),
        (raw(1, 0x80, 4, 16, 0, b""), "reserved-flags", 0),
        (raw(1, 0, 0, 17, 0, b""), "invalid-kind-length", 0),
        (raw(1, 0, 33, 18, 0, b""), "invalid-kind-length", 0),
        (too_large, "too-large", 14),
        (bad_trailer, "payload-checksum", 12),
        (bad_kind, "invalid-kind", 13),
    ];
    for (input, code, id) in cases {
        let mut stream = input.clone();
        stream.extend(request("PING", 99, b""));
        let (got, _) = serve(&stream, &[], 7, 256);
        let first = got.first().expect("an answer");
        assert_eq!((first.kind(), first.id()), ("ERROR", id), "{code}");
        assert!(
            first.payload().starts_with(format!("{code}: ").as_bytes()),
            "{code}: {first:?}"
        );
        // The loop goes on: the PING behind it is answered (untrusted
        // headers may give further errors on the bytes they cost).
        assert_eq!(got.last(), Some(&out("PONG", 99, "ack")), "{code}");
    }
}

#[test]
fn text_mode_is_sniffed_and_answered_in_order() {
    let input = b"PING:hi\nECHO:a:b\nFOO:x\nno separator\n:empty kind\nTEMP:?\nEXIT:\nPING:\n";
    for chunk in [1, 5, usize::MAX] {
        let mut server = Responder::new([0u8; 128], None).expect("buffer");
        let mut wire = Vec::new();
        let mut rest = &input[..];
        'feed: while !rest.is_empty() {
            let n = server.feed(&rest[..chunk.min(rest.len())]);
            rest = &rest[n..];
            assert_eq!(server.framing(), Some(Framing::Text));
            while let Some(event) = server.poll(|k| k == "TEMP") {
                let answer = match event {
                    Event::Answer(a) => a,
                    Event::Request(req) => Answer::new(req.id, req.kind, b"21.5"),
                    Event::Incoming(_) => continue,
                    Event::Exit => break 'feed,
                };
                let line = answer.wire(Framing::Text).expect("encodes");
                wire.extend_from_slice(&line.parts().concat());
            }
        }
        assert_eq!(
            String::from_utf8(wire).expect("utf-8"),
            "PONG:ack\nECHO:a:b\nERROR:unknown-kind: FOO\n\
             ERROR:missing-separator: text line has no ':'\n\
             ERROR:invalid-kind: kind is empty, too long or has a byte outside A-Z a-z 0-9 _ . - /\n\
             TEMP:21.5\n",
            "chunks of {chunk}"
        );
        assert!(server.exited());
    }
}

#[test]
fn text_line_limit_goes_through_the_server() {
    let rx = Receiver::new(
        [0u8; 64],
        None,
        Limits {
            max_payload: 14,
            max_line: 8,
        },
    )
    .expect("fits");
    let mut server = Responder::with_receiver(rx);
    server.feed(b"ECHO:1234567890\nPING:\n");
    let mut got = Vec::new();
    while let Some(Event::Answer(a)) = server.poll(|_| false) {
        got.push(String::from_utf8_lossy(a.payload()).into_owned());
    }
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("line-too-long: "), "{got:?}");
    assert_eq!(got[1], "ack");
}

#[test]
fn answers_that_cannot_be_encoded_become_handler_failed() {
    let bad = Answer::new(3, Kind::ECHO, b"two\nlines");
    assert_eq!(bad.clone().encodable(Framing::Binary), bad);
    let fixed = bad.encodable(Framing::Text);
    assert_eq!(fixed.kind(), Kind::ERROR);
    assert_eq!(fixed.id(), 3);
    assert_eq!(fixed.error_code(), Some("handler-failed"));
    let line = fixed
        .wire(Framing::Text)
        .expect("an ERROR always encodes")
        .parts()
        .concat();
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
}

#[test]
fn wire_parts_are_the_encoded_bytes_and_borrow_the_payload() {
    let payload = [7u8; 100];
    for (framing, answer) in [
        (Framing::Binary, Answer::new(42, Kind::ECHO, &payload)),
        (Framing::Text, Answer::new(0, Kind::ECHO, b"hello")),
    ] {
        let wire = answer.wire(framing).expect("wire");
        let [_, _, p, _] = wire.parts();
        assert_eq!(p.as_ptr(), answer.payload().as_ptr(), "payload not copied");
        let joined = wire.parts().concat();
        assert_eq!(joined.len(), wire.len());
        assert!(!wire.is_empty());
        if framing == Framing::Binary {
            assert_eq!(
                joined,
                frame("ECHO", 42, Flags::RESPONSE, &payload),
                "id and RESPONSE flag"
            );
        } else {
            assert_eq!(joined, b"ECHO:hello\n");
        }
    }
}

#[test]
fn error_text_is_scrubbed_and_cut_at_a_char_boundary() {
    let t = ErrorText::new("handler-failed", "a\r\nb");
    assert_eq!(t.as_str(), "handler-failed: a  b");
    assert_eq!(t.code(), "handler-failed");
    assert_eq!(t.detail(), "a  b");
    assert_eq!(
        ErrorText::new("x", ":y").detail(),
        ":y",
        "only the first ': ' goes"
    );
    assert_eq!(ErrorText::new("", "").detail(), "");
    let long = "é".repeat(200);
    let t = ErrorText::new("x", &long);
    assert!(t.as_str().len() <= MAX_ERROR_LEN);
    assert!(t.as_str().len() > MAX_ERROR_LEN - 2, "cut only at the end");
    assert!(t.as_str().starts_with("x: é"));
}

/// What the rules decide for each kind, taken by the application or not:
/// one line a case (kind, handled, the answer's kind and payload, or
/// "request", or "exit"). `EXIT`, `HELLO`, `SUB` and `UNSUB` are the
/// protocol's own (revision 1.2): the application is not even asked.
#[test]
fn rules_decide_each_route() {
    let table = [
        ("PING", false, "PONG ack", true),
        ("ECHO", false, "ECHO x", true),
        ("EXIT", false, "exit", false),
        ("PONG", false, "ERROR unknown-kind: PONG", true),
        ("ping", false, "ERROR unknown-kind: ping", true),
        ("PING", true, "request", true),
        ("ECHO", true, "request", true),
        ("EXIT", true, "exit", false),
        (
            "HELLO",
            true,
            "ERROR bad-hello: a token is name=value, one space apart",
            false,
        ),
        ("SUB", true, "SUB x", false),
        ("UNSUB", true, "UNSUB x", false),
        ("sensor/temp", true, "request", true),
        // Near misses: the length and first byte of a protocol kind, not
        // its bytes.
        ("EXIX", false, "ERROR unknown-kind: EXIX", true),
        ("HELLX", false, "ERROR unknown-kind: HELLX", true),
        ("SUX", false, "ERROR unknown-kind: SUX", true),
        ("UNSUX", false, "ERROR unknown-kind: UNSUX", true),
        ("PINX", false, "ERROR unknown-kind: PINX", true),
        ("ECHX", false, "ERROR unknown-kind: ECHX", true),
    ];
    for (kind, handled, want, asks) in table {
        let mut rules: Rules = Rules::new();
        let m = Message::new(Kind::new(kind).expect("kind"), b"x").with_id(9);
        let mut asked = None;
        let got = match rules.decide(Ok(m), |k| {
            asked = Some(k.as_str().to_string());
            handled
        }) {
            Some(Event::Answer(a)) => {
                assert_eq!(a.id(), 9, "{kind}");
                assert!(a.message().is_response(), "{kind}");
                format!("{} {}", a.kind(), String::from_utf8_lossy(a.payload()))
            }
            Some(Event::Request(r)) => {
                assert_eq!((r.kind.as_str(), r.id, r.payload), (kind, 9, &b"x"[..]));
                "request".to_string()
            }
            Some(Event::Exit) => "exit".to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(got, want, "{kind} handled={handled}");
        assert_eq!(asked.is_some(), asks, "{kind}: asked the application?");
        assert_eq!(rules.exited(), want == "exit", "{kind}");
        assert_eq!(
            msgwire::conversation::is_builtin(Kind::new(kind).expect("kind")),
            ["PING", "ECHO", "EXIT", "HELLO", "SUB", "UNSUB"].contains(&kind),
            "{kind}"
        );
    }
}

/// A refused frame is answered with its code, and with its id only when
/// the header was trusted; the application is not asked.
#[test]
fn rules_answer_refused_frames_with_the_ids_of_section_4() {
    for (error, id, want_id) in [
        (Error::TooLarge, Some(5), 5),
        (Error::HeaderChecksum, None, 0),
    ] {
        let mut rules: Rules = Rules::new();
        let e = DecodeError { error, id };
        match rules.decide(Err(e), |_| panic!("asked about a refused frame")) {
            Some(Event::Answer(a)) => {
                assert_eq!((a.id(), a.error_code()), (want_id, Some(error.code())));
                assert_eq!(a.kind(), Kind::ERROR);
            }
            other => panic!("{other:?}"),
        }
        assert!(!rules.exited());
    }
}

#[test]
fn receiver_sniffs_binary_and_checks_its_buffer() {
    let mut rx = Receiver::for_buffer([0u8; 64], None).expect("fits");
    assert_eq!(rx.framing(), None);
    assert!(rx.decode().is_none());
    let f = request("PING", 1, b"");
    let spare = rx.spare();
    spare[..f.len()].copy_from_slice(&f);
    rx.commit(f.len());
    assert_eq!(rx.framing(), Some(Framing::Binary));
    let m = rx.decode().expect("event").expect("frame");
    assert_eq!((m.kind.as_str(), m.id), ("PING", 1));
    assert_eq!(rx.stats().map(|s| s.frames), Some(1));

    assert!(Receiver::for_buffer([0u8; 49], None).is_err());
    assert!(Receiver::for_buffer([0u8; 49], Some(Framing::Text)).is_ok());
    let limits = Limits::for_buffer(100);
    assert_eq!((limits.max_payload, limits.max_line), (50, 99));
    assert!(Receiver::new(
        [0u8; 100],
        None,
        Limits {
            max_payload: 51,
            max_line: 10
        }
    )
    .is_err());
    assert!(Receiver::new(
        [0u8; 100],
        None,
        Limits {
            max_payload: 50,
            max_line: 100
        }
    )
    .is_err());
}

// ------------------------------------------------------------ client side

fn answer_to(id: u32) -> Message<'static> {
    Message::new(Kind::PONG, b"ack")
        .with_id(id)
        .with_flags(Flags::RESPONSE)
}

#[test]
fn pending_matches_by_id_and_counts_the_rest() {
    let mut p = Pending::<u64, 3>::new(Framing::Binary);
    let a = p.start(None).expect("room");
    let b = p.start(None).expect("room");
    assert_ne!(a, b);
    assert!(a != 0 && b != 0);
    assert_eq!(p.on_message(&answer_to(b)), Matched::Answer(b));
    assert_eq!(p.on_message(&answer_to(b)), Matched::Late, "answered twice");
    assert_eq!(
        p.on_message(&answer_to(1000)),
        Matched::Unsolicited,
        "never issued"
    );
    assert_eq!(p.on_message(&answer_to(0)), Matched::Unsolicited, "id 0");
    let request = Message::new(Kind::PING, b"").with_id(a);
    assert_eq!(
        p.on_message(&request),
        Matched::Unsolicited,
        "no RESPONSE flag"
    );
    assert!(p.is_pending(a));
    assert!(p.cancel(a));
    assert!(!p.cancel(a));
    assert_eq!(p.on_message(&answer_to(a)), Matched::Late, "cancelled");
    assert_eq!((p.late(), p.unsolicited()), (2, 3));
    assert!(p.is_empty());
}

#[test]
fn a_full_table_is_a_typed_error() {
    let mut p = Pending::<u64, 2>::new(Framing::Binary);
    let a = p.start(None).expect("room");
    p.start(None).expect("room");
    assert!(p.is_full());
    assert_eq!(p.start(None), Err(msgwire::conversation::Full));
    assert_eq!(p.on_message(&answer_to(a)), Matched::Answer(a));
    assert!(p.start(None).is_ok(), "a slot is free again");
}

#[test]
fn timeouts_are_decided_by_the_time_passed_in() {
    let mut p = Pending::<u64, 4>::new(Framing::Binary);
    let a = p.start(Some(100)).expect("room");
    let b = p.start(Some(50)).expect("room");
    let c = p.start(None).expect("room");
    assert_eq!(p.next_deadline(), Some(50));
    assert_eq!(p.expire(49), None, "never early");
    assert_eq!(p.expire(50), Some(b));
    assert_eq!(p.expire(50), None);
    assert_eq!(p.next_deadline(), Some(100));
    assert_eq!(p.expire(1_000_000), Some(a));
    assert_eq!(p.expire(u64::MAX), None, "no deadline: waits for ever");
    assert_eq!(p.next_deadline(), None);
    assert!(p.is_pending(c));
    assert_eq!(p.timed_out(), 2);
    assert_eq!(p.on_message(&answer_to(a)), Matched::Late);
}

#[test]
fn text_mode_answers_the_oldest_request() {
    let mut p = Pending::<u32, 4>::new(Framing::Text);
    let line = Message::new(Kind::PONG, b"ack");
    assert_eq!(p.on_message(&line), Matched::Unsolicited, "nothing pending");
    let a = p.start(None).expect("room");
    let b = p.start(None).expect("room");
    let c = p.start(None).expect("room");
    assert!(p.cancel(b));
    assert_eq!(p.on_message(&line), Matched::Answer(a));
    assert_eq!(p.on_message(&line), Matched::Answer(c));
    assert_eq!(p.on_message(&line), Matched::Unsolicited);

    // Oldest by issue, not by place: a newer request in a lower place.
    let mut p = Pending::<u32, 2>::new(Framing::Text);
    let a = p.start(None).expect("room"); // place 0
    let b = p.start(None).expect("room"); // place 1
    assert_eq!(p.on_message(&line), Matched::Answer(a));
    let c = p.start(None).expect("room"); // place 0 again, after b
    assert_eq!(p.place(c), 0);
    assert_eq!(p.on_message(&line), Matched::Answer(b));
    assert_eq!(p.on_message(&line), Matched::Answer(c));
}

#[test]
fn ids_count_up_and_skip_the_places_of_pending_ids() {
    let mut p = Pending::<u64, 2>::new(Framing::Binary);
    let held = p.start(None).expect("room"); // id 1, kept pending at place 0
    assert_eq!(held, 1);
    // Odd ids would land on the held request's place: they are skipped.
    let mut ids = Vec::new();
    for _ in 0..5 {
        let id = p.start(None).expect("room");
        assert_eq!(p.place(id), 1);
        assert_eq!(p.on_message(&answer_to(id)), Matched::Answer(id));
        ids.push(id);
    }
    assert_eq!(ids, [2, 4, 6, 8, 10]);
    assert_eq!(p.place(held), 0);
    assert!(p.is_pending(held));
    for _ in 0..10_000 {
        let id = p.start(None).expect("room");
        assert!(id != 0 && id != held);
        assert!(p.cancel(id));
    }
    assert_eq!(p.len(), 1);
    assert!(!p.is_pending(7), "never issued");
}

#[test]
fn cancel_all_gives_up_every_request() {
    let mut p = Pending::<u64, 4>::new(Framing::Binary);
    let ids: Vec<u32> = (0..3).map(|_| p.start(None).expect("room")).collect();
    let mut gone = Vec::new();
    p.cancel_all(|id| gone.push(id));
    gone.sort_unstable();
    assert_eq!(gone, ids);
    assert!(p.is_empty());
    assert_eq!(p.on_message(&answer_to(ids[0])), Matched::Late);
    assert_eq!(p.capacity(), 4);
}

#[test]
fn a_table_sized_at_run_time_behaves_as_a_fixed_one() {
    let mut p = PendingTable::<u64, _>::with_capacity(Framing::Binary, 3);
    assert_eq!(p.capacity(), 4, "rounded up to a power of two");
    let ids: Vec<u32> = (0..4).map(|_| p.start(Some(10)).expect("room")).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    assert_eq!(p.start(None), Err(msgwire::conversation::Full));
    assert_eq!(p.on_message(&answer_to(2)), Matched::Answer(2));
    assert_eq!(p.start(None), Ok(6), "5 would land on 1's place");
    assert_eq!(p.place(6), 1);
    assert_eq!(p.expire(10), Some(1));
    assert_eq!(
        PendingTable::<u64, _>::with_capacity(Framing::Binary, 0).capacity(),
        1,
        "at least one place"
    );
}

#[test]
fn remote_errors_are_read_back() {
    let m = Message::new(Kind::ERROR, b"unknown-kind: FOO: bar");
    assert_eq!(
        RemoteError::of(&m),
        Some(RemoteError {
            code: "unknown-kind",
            detail: "FOO: bar"
        })
    );
    assert_eq!(
        RemoteError::of(&Message::new(Kind::ERROR, b"overloaded")),
        Some(RemoteError {
            code: "overloaded",
            detail: ""
        })
    );
    assert_eq!(RemoteError::of(&answer_to(1)), None);
}

#[test]
fn table_state_and_texts() {
    let mut p = Pending::<u64, 2>::new(Framing::Binary);
    assert!(p.is_empty() && !p.is_full());
    assert_eq!(p.len(), 0);
    let a = p.start(None).expect("room");
    assert!(!p.is_empty() && !p.is_full());
    assert_eq!(p.len(), 1);
    p.start(None).expect("room");
    assert!(!p.is_empty() && p.is_full());
    assert!(p.cancel(a));
    assert_eq!(p.len(), 1);

    let e = RemoteError {
        code: "too-large",
        detail: "payload is longer than the maximum",
    };
    assert_eq!(
        e.to_string(),
        "server answered ERROR too-large: payload is longer than the maximum"
    );
    let t = ErrorText::new("unknown-kind", "FOO");
    assert_eq!(t.to_string(), "unknown-kind: FOO");
    assert_eq!(format!("{t:?}"), "\"unknown-kind: FOO\"");
}

#[test]
fn receiver_counts_what_it_holds() {
    let mut rx = Receiver::for_buffer([0u8; 64], None).expect("fits");
    assert_eq!(rx.buffered(), 0);
    let f = request("PING", 1, b"");
    assert_eq!(rx.feed(&f[..5]), 5);
    assert_eq!(rx.buffered(), 5);
    assert!(rx.decode().is_none());
    assert_eq!(rx.feed(&f[5..]), f.len() - 5);
    assert_eq!(rx.buffered(), f.len());
    assert!(matches!(rx.decode(), Some(Ok(_))));
    assert!(rx.decode().is_none());
    assert_eq!(rx.buffered(), 0);
    assert_eq!(rx.limits(), Limits::for_buffer(64));
}

/// A [`Receiver`] and the stream decoder of its framing share one buffer
/// core: over the same bytes, split the same way (`feed` or `spare` +
/// `commit`, pieces of 1 byte to more than the buffer), they give the same
/// events, counters, buffered bytes and spare space, sniffing included.
#[test]
fn receiver_and_stream_decoders_agree_whatever_the_split() {
    use msgwire::{StreamDecoder, TextStreamDecoder};

    fn log_event(log: &mut Vec<String>, e: Result<Message<'_>, DecodeError>) {
        log.push(match e {
            Ok(m) => format!("{}:{}:{:?}:{:?}", m.kind.as_str(), m.id, m.flags, m.payload),
            Err(e) => format!("{e:?}"),
        });
    }
    // The same steps on either side, logged.
    macro_rules! drive {
        ($dec:expr, $input:expr, $sizes:expr, $stats:expr) => {{
            let mut log = Vec::new();
            let mut rest: &[u8] = $input;
            for (i, &size) in $sizes.iter().cycle().enumerate() {
                if rest.is_empty() {
                    break;
                }
                let piece = &rest[..size.min(rest.len())];
                let n = if i % 3 == 0 {
                    $dec.feed(piece)
                } else {
                    let spare = $dec.spare();
                    let n = spare.len().min(piece.len());
                    spare[..n].copy_from_slice(&piece[..n]);
                    $dec.commit(n);
                    n
                };
                rest = &rest[n..];
                log.push(format!("n{n} s{}", $dec.spare().len()));
                while let Some(e) = $dec.decode() {
                    log_event(&mut log, e);
                }
                log.push(format!("b{} {:?}", $dec.buffered(), $stats(&$dec)));
            }
            log
        }};
    }

    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let limits = Limits {
        max_payload: 60,
        max_line: 40,
    };
    for round in 0..300 {
        let binary = round % 2 == 0;
        let mut input = Vec::new();
        for _ in 0..next(12) {
            match next(5) {
                0 | 1 if binary => {
                    let payload: Vec<u8> = (0..next(90)).map(|_| next(256) as u8).collect();
                    let flags = if next(2) == 0 {
                        Flags::CHECKSUM
                    } else {
                        Flags::EMPTY
                    };
                    let mut f = frame("PING", next(1000) as u32, flags, &payload);
                    if next(5) == 0 {
                        let i = next(f.len() as u64) as usize;
                        f[i] ^= 0x10;
                    }
                    input.extend_from_slice(&f);
                }
                0 | 1 => {
                    let len = next(60) as usize;
                    input.extend_from_slice(b"ECHO:");
                    input.extend((0..len).map(|i| b'a' + (i % 26) as u8));
                    input.extend_from_slice(if next(2) == 0 { b"\n" } else { b"\r\n" });
                }
                2 => input.extend_from_slice(b"no separator\n\n"),
                3 => input.extend_from_slice(&[0xA5, 0xA5, 0, 7]),
                _ => input.extend((0..next(9)).map(|_| next(256) as u8)),
            }
        }
        // The first byte picks the framing the round compares.
        input.insert(0, if binary { 0xA5 } else { b'\n' });
        let sizes: Vec<usize> = (0..1 + next(6)).map(|_| 1 + next(150) as usize).collect();

        let mut rx = Receiver::new(vec![0u8; 120], None, limits).expect("fits");
        let got = drive!(rx, &input, sizes, |r: &Receiver<Vec<u8>>| r
            .stats()
            .copied());
        let want = if binary {
            let mut dec = StreamDecoder::from_buffer(vec![0u8; 120], 60).expect("fits");
            assert_eq!(rx.framing(), Some(Framing::Binary));
            drive!(dec, &input, sizes, |d: &StreamDecoder<Vec<u8>>| Some(
                *d.stats()
            ))
        } else {
            let mut dec = TextStreamDecoder::from_buffer(vec![0u8; 120], 40).expect("fits");
            assert_eq!(rx.framing(), Some(Framing::Text));
            drive!(dec, &input, sizes, |d: &TextStreamDecoder<Vec<u8>>| Some(
                *d.stats()
            ))
        };
        assert_eq!(got, want, "round {round}: {input:?} in {sizes:?}");
    }
}

/// Until its first byte a sniffing receiver has no framing and no
/// counters, offers its whole buffer, and neither an empty commit nor an
/// empty feed picks a framing.
#[test]
fn receiver_sniffs_only_a_byte_received() {
    let mut rx = Receiver::for_buffer([0u8; 64], None).expect("fits");
    assert_eq!(rx.spare().len(), 64);
    rx.spare()[0] = b'P';
    rx.commit(0);
    assert_eq!(rx.feed(&[]), 0);
    assert_eq!((rx.framing(), rx.stats(), rx.buffered()), (None, None, 0));
    assert!(rx.decode().is_none());
    rx.spare()[..2].copy_from_slice(&[0xA5, 0x01]);
    rx.commit(2);
    assert_eq!(rx.framing(), Some(Framing::Binary));
    assert_eq!(rx.buffered(), 2);
    assert_eq!(rx.stats().map(|s| s.frames), Some(0));

    let mut rx = Receiver::for_buffer([0u8; 64], None).expect("fits");
    assert_eq!(rx.feed(&[b'P'; 100]), 64);
    assert_eq!(rx.framing(), Some(Framing::Text));
    assert_eq!(
        rx.decode().expect("event").unwrap_err().error,
        Error::LineTooLong
    );
}

//! Revision 1.2's conversation rules in the core (`docs/PROTOCOL.md` §4,
//! §5, §6), table by table: the handshake's tokens and refusals, filters
//! at their limits, `SUB`/`UNSUB` and their errors, events never answered,
//! and one `ERROR` for a run of noise.

use msgwire::conversation::{
    event, rev_has_events, BadFilter, Event, Filter, Filters, Hello, Lag, Lagged, Responder, Rev,
    Rules, TooMany,
};
use msgwire::{DecodeError, Error, Flags, Kind, Message};

/// What the rules answer `kind` with `payload`: `KIND payload`, or
/// "none" / "request" / "incoming" / "exit".
fn answer<const F: usize>(rules: &mut Rules<F>, kind: Kind<'_>, payload: &[u8]) -> String {
    match rules.decide(Ok(Message::new(kind, payload).with_id(4)), |_| false) {
        Some(Event::Answer(a)) => {
            assert_eq!(a.id(), 4);
            format!("{} {}", a.kind(), String::from_utf8_lossy(a.payload()))
        }
        Some(Event::Request(_)) => "request".into(),
        Some(Event::Incoming(_)) => "incoming".into(),
        Some(Event::Exit) => "exit".into(),
        None => "none".into(),
    }
}

#[test]
fn hello_answers_with_this_sides_tokens_in_order() {
    let table: [(&[u8], &str); 8] = [
        (b"rev=1.2", "HELLO rev=1.2 max=300"),
        // The lower of the two revisions.
        (b"rev=1.1", "HELLO rev=1.1 max=300"),
        (b"rev=1.9", "HELLO rev=1.2 max=300"),
        (b"rev=1.10 max=5", "HELLO rev=1.2 max=300"),
        // Unknown names are ignored; order is free.
        (b"zz=1 max=9 rev=1.2", "HELLO rev=1.2 max=300"),
        (
            b"rev=1.2 app=a/b schema=00112233445566ff",
            "HELLO rev=1.2 max=300",
        ),
        // A value may hold `=` and any of 0x21..=0x7E.
        (b"rev=1.2 x=a=b~!", "HELLO rev=1.2 max=300"),
        (b"rev=01.02", "HELLO rev=1.2 max=300"),
    ];
    for (payload, want) in table {
        let mut rules: Rules = Rules::new().with_max_payload(300);
        assert_eq!(
            answer(&mut rules, Kind::HELLO, payload),
            want,
            "{payload:?}"
        );
    }
    let mut named: Rules = Rules::new()
        .with_max_payload(256)
        .with_app(Kind::lit("thermo"))
        .with_schema(0x0123_4567_89ab_cdef);
    assert_eq!(
        answer(&mut named, Kind::HELLO, b"rev=1.2"),
        "HELLO rev=1.2 max=256 app=thermo schema=0123456789abcdef"
    );
    assert_eq!(named.peer_rev(), Some(Rev::THIS));
}

#[test]
fn hello_refusals_are_typed_and_the_conversation_goes_on() {
    let bad = "ERROR bad-hello: ";
    let table: [(&[u8], &str); 17] = [
        (b"", "a token is name=value, one space apart"),
        (b"max=5", "rev is required"),
        (b"rev", "a token is name=value, one space apart"),
        (b"rev=1.2  max=5", "a token is name=value, one space apart"),
        (b" rev=1.2", "a token is name=value, one space apart"),
        (b"rev=1.2 ", "a token is name=value, one space apart"),
        (b"Rev=1.2", "a name is 1..=16 of a-z"),
        (b"rev=1.2 abcdefghijklmnopq=1", "a name is 1..=16 of a-z"),
        (b"=1 rev=1.2", "a name is 1..=16 of a-z"),
        (b"rev=", "a value is 1..=64 bytes of 0x21..=0x7E"),
        (b"rev=1.2 x=\x7f", "a value is 1..=64 bytes of 0x21..=0x7E"),
        (b"rev=1.2 rev=1.2", "a name appears twice"),
        (b"rev=12", "rev is MAJOR.MINOR, in decimal"),
        (b"rev=1.x", "rev is MAJOR.MINOR, in decimal"),
        (b"rev=1.2 max=-1", "max is decimal"),
        (
            b"rev=1.2 app=a:b",
            "app is 1..=32 bytes of the kind charset",
        ),
        (
            b"rev=1.2 schema=0123456789ABCDEF",
            "schema is 16 lowercase hex digits",
        ),
    ];
    for (payload, detail) in table {
        let mut rules: Rules = Rules::new();
        assert_eq!(
            answer(&mut rules, Kind::HELLO, payload),
            format!("{bad}{detail}"),
            "{payload:?}"
        );
        assert_eq!(rules.peer_rev(), None);
        assert_eq!(answer(&mut rules, Kind::PING, b""), "PONG ack", "goes on");
    }
    // Values at their limits: a 16-byte name, a 64-byte value, a 32-byte app.
    let mut edge = b"rev=1.2 abcdefghijklmnop=".to_vec();
    edge.extend([b'v'; 64]);
    edge.extend(b" app=");
    edge.extend([b'k'; 32]);
    assert!(Hello::parse(&edge).is_ok());
    edge.push(b'k');
    assert!(Hello::parse(&edge).is_err(), "a 33-byte app");
    let mut long = b"rev=1.2 x=".to_vec();
    long.extend([b'v'; 65]);
    assert!(Hello::parse(&long).is_err(), "a 65-byte value");
    // Another major revision is `incompatible`, naming both.
    let mut rules: Rules = Rules::new();
    assert_eq!(
        answer(&mut rules, Kind::HELLO, b"rev=2.0"),
        "ERROR incompatible: this side speaks 1.2, the peer 2.0"
    );
    assert_eq!(
        answer(&mut rules, Kind::HELLO, b"rev=0.9"),
        "ERROR incompatible: this side speaks 1.2, the peer 0.9"
    );
}

#[test]
fn filters_at_their_limits() {
    let k32 = "k".repeat(32);
    let p31 = format!("{}*", "p".repeat(31));
    let table: [(&[u8], Result<(), BadFilter>); 10] = [
        (b"tick", Ok(())),
        (b"*", Ok(())),
        (b"sensor/*", Ok(())),
        (k32.as_bytes(), Ok(())),
        (p31.as_bytes(), Ok(())),
        (b"", Err(BadFilter::Empty)),
        (b"a*b", Err(BadFilter::BadByte)),
        (b"**", Err(BadFilter::BadByte)),
        (b"a b", Err(BadFilter::BadByte)),
        (b"x\xff", Err(BadFilter::BadByte)),
    ];
    for (bytes, want) in table {
        assert_eq!(Filter::parse(bytes).map(|_| ()), want, "{bytes:?}");
    }
    let k33 = "k".repeat(33);
    let p32 = format!("{}*", "p".repeat(32));
    assert_eq!(Filter::parse(k33.as_bytes()), Err(BadFilter::TooLong));
    assert_eq!(Filter::parse(p32.as_bytes()), Err(BadFilter::TooLong));
    let matches = |f: &str, k: &str| {
        Filter::parse(f.as_bytes())
            .expect("filter")
            .matches(Kind::new(k).expect("kind"))
    };
    assert!(matches("*", "anything"));
    assert!(matches("sensor/*", "sensor/temp"));
    assert!(!matches("sensor/*", "sensor"));
    assert!(matches("sensor*", "sensor"));
    assert!(!matches("tick", "ticks"));
    assert!(matches("tick", "tick"));
    assert!(!matches("Tick", "tick"), "kinds are case-sensitive");
}

#[test]
fn sub_and_unsub_keep_the_filters_and_answer_as_section_6_says() {
    let mut rules: Rules<2> = Rules::new();
    assert_eq!(answer(&mut rules, Kind::SUB, b"sensor/*"), "SUB sensor/*");
    // A filter held already changes nothing and is answered the same.
    assert_eq!(answer(&mut rules, Kind::SUB, b"sensor/*"), "SUB sensor/*");
    assert_eq!(rules.filters().len(), 1);
    assert_eq!(answer(&mut rules, Kind::SUB, b"tick"), "SUB tick");
    assert_eq!(
        answer(&mut rules, Kind::SUB, b"more"),
        "ERROR too-many-subscriptions: this conversation holds all the filters it keeps"
    );
    assert_eq!(
        answer(&mut rules, Kind::SUB, b"a*b"),
        "ERROR bad-filter: bytes of A-Z a-z 0-9 _ . - / and one final '*' only"
    );
    assert_eq!(
        answer(&mut rules, Kind::SUB, b""),
        "ERROR bad-filter: empty filter"
    );
    assert!(rules.wants(Kind::lit("sensor/temp")) && rules.wants(Kind::lit("tick")));
    assert!(!rules.wants(Kind::lit("other")));
    // UNSUB of a filter not held is answered all the same.
    assert_eq!(answer(&mut rules, Kind::UNSUB, b"nope"), "UNSUB nope");
    assert_eq!(answer(&mut rules, Kind::UNSUB, b"tick"), "UNSUB tick");
    assert!(!rules.wants(Kind::lit("tick")));
    assert_eq!(
        answer(&mut rules, Kind::UNSUB, b"a b"),
        "ERROR bad-filter: bytes of A-Z a-z 0-9 _ . - / and one final '*' only"
    );
    // An empty UNSUB removes every filter.
    answer(&mut rules, Kind::SUB, b"tick");
    assert_eq!(answer(&mut rules, Kind::UNSUB, b""), "UNSUB ");
    assert!(rules.filters().is_empty());
    assert!(!rules.wants(Kind::lit("sensor/temp")));
}

#[test]
fn overlapping_filters_want_an_event_once_and_unsub_removes_only_its_own() {
    let mut f: Filters<4> = Filters::new();
    for spelled in ["*", "sensor/*", "sensor/temp"] {
        assert_eq!(
            f.add(Filter::parse(spelled.as_bytes()).expect("f")),
            Ok(true)
        );
    }
    assert!(f.matches(Kind::lit("sensor/temp")));
    assert!(f.remove(Filter::parse(b"*").expect("f")));
    assert!(!f.remove(Filter::parse(b"*").expect("f")), "removed once");
    assert!(
        f.matches(Kind::lit("sensor/temp")),
        "still matched by the others"
    );
    assert!(!f.matches(Kind::lit("tick")), "only * matched it");
    let mut full: Filters<1> = Filters::new();
    assert_eq!(full.add(Filter::parse(b"a").expect("f")), Ok(true));
    assert_eq!(full.add(Filter::parse(b"a").expect("f")), Ok(false));
    assert_eq!(full.add(Filter::parse(b"b").expect("f")), Err(TooMany));
    let held: Vec<&str> = f.iter().map(|x| x.as_str()).collect();
    assert_eq!(held.len(), 2);
}

#[test]
fn the_protocols_own_kinds_are_never_the_applications() {
    for kind in [Kind::EXIT, Kind::HELLO, Kind::SUB, Kind::UNSUB] {
        let mut rules: Rules = Rules::new();
        let got = rules.decide(Ok(Message::new(kind, b"x")), |_| true);
        assert!(!matches!(got, Some(Event::Request(_))), "{kind}");
    }
}

#[test]
fn events_are_never_answered_whatever_their_kind_id_or_flags() {
    for (kind, flags, id) in [
        (Kind::lit("sensor/temp"), Flags::EVENT, 0),
        // A receiver ignores an event's id and RESPONSE bit (§6).
        (Kind::lit("sensor/temp"), Flags::EVENT | Flags::RESPONSE, 7),
        // Even the protocol's own kinds and unknown kinds.
        (Kind::PING, Flags::EVENT, 0),
        (Kind::HELLO, Flags::EVENT, 0),
        (Kind::SUB, Flags::EVENT | Flags::CHECKSUM, 0),
        (Kind::EXIT, Flags::EVENT, 0),
    ] {
        let mut rules: Rules = Rules::new();
        let m = Message::new(kind, b"21.5").with_id(id).with_flags(flags);
        match rules.decide(Ok(m), |_| panic!("the rules ask nothing of an event")) {
            Some(Event::Incoming(e)) => assert_eq!((e.kind, e.payload), (kind, &b"21.5"[..])),
            other => panic!("{kind}: {other:?}"),
        }
        assert!(!rules.exited(), "an EXIT event ends nothing");
        assert!(rules.filters().is_empty(), "a SUB event subscribes nothing");
    }
}

#[test]
fn a_run_of_noise_is_answered_once() {
    let untrusted = |error| Err(DecodeError { error, id: None });
    let mut rules: Rules = Rules::new();
    let answered = |r: Result<Message<'static>, DecodeError>, rules: &mut Rules| {
        matches!(rules.decide(r, |_| false), Some(Event::Answer(_)))
    };
    // Four untrusted headers in a row: one ERROR, for the first.
    assert!(answered(untrusted(Error::HeaderChecksum), &mut rules));
    for e in [
        Error::ReservedFlags,
        Error::UnsupportedVersion,
        Error::InvalidKindLength,
    ] {
        assert!(!answered(untrusted(e), &mut rules), "{e:?}");
    }
    // A frame ends the run.
    assert!(answered(Ok(Message::new(Kind::PING, b"")), &mut rules));
    assert!(answered(untrusted(Error::HeaderChecksum), &mut rules));
    // So does a trusted-header error, which is always answered.
    let trusted = Err(DecodeError {
        error: Error::TooLarge,
        id: Some(3),
    });
    assert!(answered(trusted, &mut rules));
    assert!(answered(untrusted(Error::HeaderChecksum), &mut rules));
    // An event ends it too (it is a frame).
    let event = Message::new(Kind::lit("tick"), b"1").with_flags(Flags::EVENT);
    assert!(!answered(Ok(event), &mut rules), "an event is not answered");
    assert!(answered(untrusted(Error::HeaderChecksum), &mut rules));
    // Text-mode errors are not headers: each is answered.
    let line = |error| Err(DecodeError { error, id: None });
    assert!(answered(line(Error::LineTooLong), &mut rules));
    assert!(answered(line(Error::MissingSeparator), &mut rules));
    assert!(answered(line(Error::MissingSeparator), &mut rules));
}

/// The noise rule end to end through a `Responder`: binary noise full of
/// stray `0xA5` between two `PING`s gets one `ERROR`.
#[test]
fn a_responder_answers_a_burst_of_noise_once() {
    let frame = |id| {
        let m = Message::new(Kind::PING, b"").with_id(id);
        let mut out = vec![0u8; msgwire::encoded_len(&m).expect("len")];
        msgwire::encode(&m, &mut out).expect("encode");
        out
    };
    let mut input = frame(1);
    input.extend([
        0xA5, 1, 2, 0xA5, 0xA5, 9, 0xA5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    input.extend(std::iter::repeat_n(0xA5u8, 40));
    input.extend(frame(2));
    let mut server = Responder::new(vec![0u8; 256], None).expect("buffer");
    let mut got = Vec::new();
    let mut rest = &input[..];
    while !rest.is_empty() {
        let n = server.feed(rest);
        rest = &rest[n..];
        while let Some(event) = server.poll(|_| false) {
            match event {
                Event::Answer(a) => got.push((a.kind().as_str().to_string(), a.id())),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(
        got,
        [
            ("PONG".to_string(), 1),
            ("ERROR".to_string(), 0),
            ("PONG".to_string(), 2)
        ]
    );
}

/// `schema` is read as 16 lowercase hex digits, every digit counted.
#[test]
fn hello_reads_the_schema_digit_by_digit() {
    let read = |v: &str| Hello::parse(format!("rev=1.2 schema={v}").as_bytes()).map(|h| h.schema);
    assert_eq!(read("0123456789abcdef"), Ok(Some(0x0123_4567_89ab_cdef)));
    assert_eq!(read("fedcba9876543210"), Ok(Some(0xfedc_ba98_7654_3210)));
    assert_eq!(read("0000000000000000"), Ok(Some(0)));
    assert_eq!(read("ffffffffffffffff"), Ok(Some(u64::MAX)));
    for bad in [
        "0123456789abcde",
        "0123456789abcdef0",
        "0123456789abcdeg",
        "012345678/abcdef",
    ] {
        assert!(read(bad).is_err(), "{bad}");
    }
    assert_eq!(Hello::parse(b"rev=1.2").map(|h| h.schema), Ok(None));
    let h = Hello::parse(b"max=7 rev=3.4").expect("hello");
    assert_eq!((h.rev, h.max), (Rev { major: 3, minor: 4 }, Some(7)));
    // Digits beyond u32 saturate.
    let h = Hello::parse(b"rev=1.99999999999 max=99999999999").expect("hello");
    assert_eq!((h.rev.minor, h.max), (u32::MAX, Some(u32::MAX)));
}

/// `Hello::write` writes the tokens in §5's order and says whether they
/// fitted; when they do not, it writes nothing.
#[test]
fn hello_write_says_whether_the_tokens_fit() {
    let hello = Hello {
        rev: Rev::THIS,
        max: Some(256),
        app: Some("thermo"),
        schema: Some(0x0123_4567_89ab_cdef),
    };
    let want = "rev=1.2 max=256 app=thermo schema=0123456789abcdef";
    let mut fits: heapless::String<64> = heapless::String::new();
    assert!(hello.write(&mut fits));
    assert_eq!(fits, want);
    let mut exact: heapless::String<50> = heapless::String::new();
    assert!(hello.write(&mut exact));
    assert_eq!(exact, want);
    let mut short: heapless::String<49> = heapless::String::new();
    assert!(!hello.write(&mut short));
    assert_eq!(short, "");
}

/// The table holds filters of every length a filter may have, counts
/// them, and the refusals say what they are.
#[test]
fn the_filter_table_holds_the_longest_filters_and_counts() {
    let k32 = "k".repeat(32);
    let p31 = format!("{}*", "p".repeat(31));
    let mut f: Filters<3> = Filters::new();
    assert!(f.is_empty());
    assert_eq!(
        f.add(Filter::parse(k32.as_bytes()).expect("32-byte kind")),
        Ok(true)
    );
    assert!(!f.is_empty());
    assert_eq!(
        f.add(Filter::parse(p31.as_bytes()).expect("31-byte prefix")),
        Ok(true)
    );
    assert_eq!(f.len(), 2);
    assert!(f.matches(Kind::new(&k32).expect("kind")));
    assert!(f.matches(Kind::new(&format!("{}x", "p".repeat(31))).expect("kind")));
    let mut held: Vec<String> = f.iter().map(|x| x.as_str().to_string()).collect();
    held.sort();
    assert_eq!(held, [k32.clone(), p31.clone()]);
    assert!(f.remove(Filter::parse(k32.as_bytes()).expect("f")));
    assert_eq!((f.len(), f.is_empty()), (1, false));
    assert_eq!(f.iter().next().map(|x| x.as_str().to_string()), Some(p31));
    f.clear();
    assert_eq!((f.len(), f.is_empty()), (0, true));
    assert_eq!(BadFilter::Empty.to_string(), "bad-filter: empty filter");
    assert_eq!(
        Hello::parse(b"max=1")
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err("bad-hello: rev is required".to_string())
    );
}

#[test]
fn lagged_counts_exactly_the_events_lost_since_the_previous_one() {
    let mut lag = Lag::new();
    assert_eq!(lag.queued(), None);
    for lost in [1u32, 2, 3, 10, 99, 1000] {
        for _ in 0..lost {
            lag.dropped();
        }
        assert_eq!(lag.pending(), lost);
        let lagged = lag.queued().expect("events were lost");
        assert_eq!(lagged.count(), lost);
        let m = lagged.message();
        assert_eq!((m.kind, m.id, m.flags), (Kind::LAGGED, 0, Flags::EVENT));
        assert_eq!(m.payload, lost.to_string().as_bytes());
        assert_eq!(Lagged::parse(m.payload), Some(lagged));
        // The count starts again after each `LAGGED`.
        assert_eq!((lag.pending(), lag.queued()), (0, None));
    }
    // The widest count, and saturation.
    let max = Lagged::new(u32::MAX);
    assert_eq!(max.message().payload, b"4294967295");
    assert_eq!(Lagged::new(0).message().payload, b"0");
    let mut full = Lag::new();
    for _ in 0..3 {
        full.dropped();
    }
    assert_eq!(full.pending(), 3);
    assert_eq!(
        Lagged::parse(b"99999999999").map(|l| l.count()),
        Some(u32::MAX)
    );
    for bad in [&b""[..], b"-1", b"1.5", b"x", b" 1"] {
        assert_eq!(Lagged::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn events_go_only_to_a_peer_that_subscribed_or_said_rev_1_2() {
    assert!(rev_has_events(Rev { major: 1, minor: 2 }));
    assert!(rev_has_events(Rev { major: 1, minor: 3 }));
    assert!(!rev_has_events(Rev { major: 1, minor: 1 }));
    assert!(!rev_has_events(Rev { major: 0, minor: 9 }));

    let mut rules: Rules = Rules::new();
    assert!(!rules.peer_takes_events());
    answer(&mut rules, Kind::HELLO, b"rev=1.1");
    assert!(
        !rules.peer_takes_events(),
        "a 1.1 peer refuses the EVENT flag"
    );
    answer(&mut rules, Kind::HELLO, b"rev=1.2");
    assert!(rules.peer_takes_events());

    let mut rules: Rules = Rules::new();
    answer(&mut rules, Kind::SUB, b"a*b");
    assert!(
        !rules.peer_takes_events(),
        "a refused SUB is no subscription"
    );
    answer(&mut rules, Kind::SUB, b"tick");
    assert!(rules.peer_takes_events());
    answer(&mut rules, Kind::UNSUB, b"");
    assert!(
        rules.peer_takes_events(),
        "a peer that subscribed once speaks 1.2"
    );

    let e = event(Kind::PING, b"x");
    assert_eq!(
        (e.kind, e.id, e.flags, e.payload),
        (Kind::PING, 0, Flags::EVENT, &b"x"[..])
    );
}

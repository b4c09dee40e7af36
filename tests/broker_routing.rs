//! Conformance rows R01-R08 (routing) of `shared/CONFORMANCE.md`, against the public
//! API of `trackswitch::broker`.

mod broker_common;

use broker_common::*;
use trackswitch::broker::{Broker, ExchangeDeclare, Message, PublishOptions, QueueDeclare};
use trackswitch::{ExchangeKind, FieldTable, FieldValue};

// ----- R01 default exchange -----

#[test]
fn c_r01_default_exchange_routes_by_queue_name() {
    let env = Env::new();
    let ch = env.ch();
    declare_q(&ch, "q1");
    declare_q(&ch, "q2");
    let p = send(&ch, "", "q1", "to q1");
    assert_eq!(p.queues, 1);
    assert_eq!(drain(&ch, "q1"), ["to q1"]);
    assert!(drain(&ch, "q2").is_empty());
    let g = {
        send(&ch, "", "q2", "to q2");
        get(&ch, "q2").unwrap()
    };
    assert_eq!(g.delivery.exchange(), "");
    assert_eq!(g.delivery.routing_key(), "q2");
    // Byte-exact: no queue "Q1" or "q1 ".
    for key in ["Q1", "q1 ", "q", "nosuch", ""] {
        let p = send(&ch, "", key, "x");
        assert_eq!(p.queues, 0, "{key:?}");
    }
    assert_eq!(env.ready("q1"), 0);
    // A queue deleted is no longer reachable; a new one of that name is.
    ch.queue_delete("q1", false, false).unwrap();
    assert_eq!(send(&ch, "", "q1", "x").queues, 0);
    declare_q(&ch, "q1");
    assert_eq!(send(&ch, "", "q1", "x").queues, 1);
}

#[test]
fn c_r01_default_exchange_takes_no_bindings_403() {
    let env = Env::new();
    let setup = env.ch();
    declare_q(&setup, "q");
    declare_x(&setup, "x", "direct");
    let none = FieldTable::new();
    type Call = fn(
        &trackswitch::broker::Channel,
        &FieldTable,
    ) -> Result<(), trackswitch::broker::BrokerError>;
    let calls: [(&str, Call); 6] = [
        ("queue.bind to ''", |ch, a| ch.queue_bind("q", "", "q", a)),
        ("queue.unbind from ''", |ch, a| {
            ch.queue_unbind("q", "", "q", a).map(|_| ())
        }),
        ("exchange.bind from ''", |ch, a| {
            ch.exchange_bind("x", "", "k", a)
        }),
        ("exchange.bind to ''", |ch, a| {
            ch.exchange_bind("", "x", "k", a)
        }),
        ("exchange.unbind from ''", |ch, a| {
            ch.exchange_unbind("x", "", "k", a).map(|_| ())
        }),
        ("exchange.unbind to ''", |ch, a| {
            ch.exchange_unbind("", "x", "k", a).map(|_| ())
        }),
    ];
    for (what, call) in calls {
        let ch = env.ch();
        let err = expect_channel_error(&env.conn, &ch, call(&ch, &none), 403);
        assert!(
            err.reply_text().starts_with("ACCESS_REFUSED"),
            "{what}: {err}"
        );
    }
    // Nothing was bound: the default exchange still routes by name only.
    assert!(
        env.bindings()
            .iter()
            .all(|(s, d, _)| !s.is_empty() && d != "q")
    );
    assert_eq!(send(&setup, "", "q", "m").queues, 1);
    assert_eq!(send(&setup, "x", "k", "m").queues, 0);
}

#[test]
fn c_r01_default_exchange_declare_and_delete_403() {
    let env = Env::new();
    for kind in ["direct", "fanout"] {
        let ch = env.ch();
        expect_channel_error(
            &env.conn,
            &ch,
            ch.exchange_declare("", kind, &ExchangeDeclare::default()),
            403,
        );
    }
    let ch = env.ch();
    expect_channel_error(&env.conn, &ch, ch.exchange_delete("", false), 403);
    let ch = env.ch();
    expect_channel_error(&env.conn, &ch, ch.exchange_delete("", true), 403);
    // Still there and routing.
    assert!(env.exchange_exists(""));
    let ch = env.ch();
    declare_q(&ch, "q");
    assert_eq!(send(&ch, "", "q", "m").queues, 1);
}

// ----- R02 pre-declared exchanges -----

#[test]
fn c_r02_predeclared_amq_exchanges_exist_with_their_kinds() {
    let env = Env::new();
    let xs = env.broker.exchanges("/").unwrap();
    let kind = |n: &str| xs.iter().find(|x| x.name == n).map(|x| x.kind);
    assert_eq!(kind(""), Some(ExchangeKind::Direct));
    assert_eq!(kind("amq.direct"), Some(ExchangeKind::Direct));
    assert_eq!(kind("amq.topic"), Some(ExchangeKind::Topic));
    assert_eq!(kind("amq.fanout"), Some(ExchangeKind::Fanout));
    assert_eq!(kind("amq.headers"), Some(ExchangeKind::Headers));
    assert_eq!(kind("amq.match"), Some(ExchangeKind::Headers));
    // They route as their kinds.
    let ch = env.ch();
    for q in ["d", "t", "f", "h", "m"] {
        declare_q(&ch, q);
    }
    bind(&ch, "d", "amq.direct", "k");
    bind(&ch, "t", "amq.topic", "a.*");
    bind(&ch, "f", "amq.fanout", "ignored");
    let h = table(&[("x-match", ls("all")), ("kind", ls("h"))]);
    bind_args(&ch, "h", "amq.headers", &h);
    let m = table(&[("x-match", ls("any")), ("kind", ls("m"))]);
    bind_args(&ch, "m", "amq.match", &m);
    assert_eq!(send(&ch, "amq.direct", "k", "1").queues, 1);
    assert_eq!(send(&ch, "amq.topic", "a.b", "2").queues, 1);
    assert_eq!(send(&ch, "amq.fanout", "whatever", "3").queues, 1);
    let hm = Message::new("4").with_headers(table(&[("kind", ls("h"))]));
    assert_eq!(publish(&ch, "amq.headers", "", hm).queues, 1);
    let mm = Message::new("5").with_headers(table(&[("kind", ls("m"))]));
    assert_eq!(publish(&ch, "amq.match", "", mm).queues, 1);
    assert_eq!(drain(&ch, "d"), ["1"]);
    assert_eq!(drain(&ch, "t"), ["2"]);
    assert_eq!(drain(&ch, "f"), ["3"]);
    assert_eq!(drain(&ch, "h"), ["4"]);
    assert_eq!(drain(&ch, "m"), ["5"]);
}

#[test]
fn c_r02_creating_amq_prefix_is_403() {
    let env = Env::new();
    for (name, kind) in [
        ("amq.foo", "direct"),
        ("amq.", "fanout"),
        ("amq.topic2", "topic"),
    ] {
        let ch = env.ch();
        let err = expect_channel_error(
            &env.conn,
            &ch,
            ch.exchange_declare(name, kind, &ExchangeDeclare::default()),
            403,
        );
        assert!(err.reply_text().contains(name), "{err}");
        assert!(!env.exchange_exists(name));
    }
    // Only the exact prefix is reserved.
    let ch = env.ch();
    declare_x(&ch, "amq", "direct");
    declare_x(&ch, "AMQ.foo", "direct");
    declare_x(&ch, "xamq.foo", "direct");
}

#[test]
fn c_r02_redeclaring_amq_exchange_is_fine() {
    let env = Env::new();
    let ch = env.ch();
    for (name, kind) in [
        ("amq.direct", "direct"),
        ("amq.topic", "topic"),
        ("amq.fanout", "fanout"),
        ("amq.headers", "headers"),
        ("amq.match", "headers"),
    ] {
        let durable = ExchangeDeclare {
            durable: true,
            ..ExchangeDeclare::default()
        };
        ch.exchange_declare(name, kind, &durable)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        ch.exchange_declare(name, kind, &ExchangeDeclare::passive())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(ch.is_open());
}

#[test]
fn c_r02_deleting_amq_exchange_is_403() {
    let env = Env::new();
    for name in [
        "amq.direct",
        "amq.topic",
        "amq.fanout",
        "amq.headers",
        "amq.match",
    ] {
        for if_unused in [false, true] {
            let ch = env.ch();
            expect_channel_error(&env.conn, &ch, ch.exchange_delete(name, if_unused), 403);
            assert!(env.exchange_exists(name), "{name}");
        }
    }
}

// ----- R03 exchange kinds -----

#[test]
fn c_r03_direct_is_byte_exact() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "d", "direct");
    let keys = ["a", "A", "a ", "a.b", "", "#", "*", "caf\u{e9}"];
    for (i, k) in keys.iter().enumerate() {
        let q = format!("q{i}");
        declare_q(&ch, &q);
        bind(&ch, &q, "d", k);
    }
    // A second binding of the same key to another queue: both get it.
    declare_q(&ch, "also_a");
    bind(&ch, "also_a", "d", "a");
    for (i, k) in keys.iter().enumerate() {
        let p = send(&ch, "d", k, k);
        assert_eq!(p.queues, if *k == "a" { 2 } else { 1 }, "{k:?}");
        assert_eq!(drain(&ch, &format!("q{i}")), [*k], "{k:?}");
    }
    assert_eq!(drain(&ch, "also_a"), ["a"]);
    for k in ["b", "a.", "aa", "x", "\u{e9}"] {
        assert_eq!(send(&ch, "d", k, k).queues, 0, "{k:?}");
    }
}

#[test]
fn c_r03_fanout_ignores_keys() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "f", "fanout");
    for (q, k) in [("q1", "a"), ("q2", ""), ("q3", "#")] {
        declare_q(&ch, q);
        bind(&ch, q, "f", k);
    }
    for key in ["a", "zzz", ""] {
        assert_eq!(send(&ch, "f", key, key).queues, 3, "{key:?}");
    }
    for q in ["q1", "q2", "q3"] {
        assert_eq!(drain(&ch, q), ["a", "zzz", ""]);
    }
    // Two bindings of one queue (different keys): still one copy.
    bind(&ch, "q1", "f", "b");
    assert_eq!(send(&ch, "f", "k", "once").queues, 3);
    assert_eq!(drain(&ch, "q1"), ["once"]);
}

#[test]
fn c_r03_topic_follows_the_design_rules() {
    // Cases from RabbitMQ 3.10.8's recorded answers (shared/tools/rabbit/README.md).
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "t", "topic");
    let patterns = ["a.*", "a.#", "#", "*", "#.b", "a.*.#", ""];
    for (i, p) in patterns.iter().enumerate() {
        let q = format!("p{i}");
        declare_q(&ch, &q);
        bind(&ch, &q, "t", p);
    }
    let cases: [(&str, &[usize]); 7] = [
        ("a", &[1, 2, 3]),
        ("a.b", &[0, 1, 2, 4, 5]),
        ("a.b.c", &[1, 2, 5]),
        ("", &[2, 6]),
        ("b", &[2, 3, 4]),
        (".", &[2]),
        ("a..b", &[1, 2, 4, 5]),
    ];
    for (key, want) in cases {
        assert_eq!(send(&ch, "t", key, key).queues, want.len(), "{key:?}");
        for (i, _) in patterns.iter().enumerate() {
            let got = drain(&ch, &format!("p{i}"));
            let expect: Vec<&str> = if want.contains(&i) { vec![key] } else { vec![] };
            assert_eq!(got, expect, "key {key:?} pattern {:?}", patterns[i]);
        }
    }
}

/// Declares a fresh queue bound with `args` to its own headers exchange (`x-` and
/// the queue's name), so what one binding matches never reaches another's queue;
/// returns the queue's name.
fn hbind(ch: &trackswitch::broker::Channel, n: &mut u32, args: FieldTable) -> String {
    *n += 1;
    let q = format!("hq{n}");
    declare_q(ch, &q);
    declare_x(ch, &format!("x-{q}"), "headers");
    bind_args(ch, &q, &format!("x-{q}"), &args);
    q
}

/// Whether a message with `headers` published to `q`'s headers exchange reaches it.
fn reaches(ch: &trackswitch::broker::Channel, q: &str, headers: FieldTable) -> bool {
    publish(
        ch,
        &format!("x-{q}"),
        "",
        Message::new("m").with_headers(headers),
    );
    !drain(ch, q).is_empty()
}

/// Whether a message without a headers property reaches `q`.
fn reaches_bare(ch: &trackswitch::broker::Channel, q: &str) -> bool {
    publish(ch, &format!("x-{q}"), "", Message::new("bare"));
    !drain(ch, q).is_empty()
}

#[test]
fn c_r03_headers_all_and_any() {
    let env = Env::new();
    let ch = env.ch();
    let mut n = 0;
    let all = hbind(
        &ch,
        &mut n,
        table(&[
            ("x-match", ls("all")),
            ("a", ls("1")),
            ("b", FieldValue::LongInt(2)),
        ]),
    );
    let default_all = hbind(
        &ch,
        &mut n,
        table(&[("a", ls("1")), ("b", FieldValue::LongInt(2))]),
    );
    let any = hbind(
        &ch,
        &mut n,
        table(&[
            ("x-match", ls("any")),
            ("a", ls("1")),
            ("b", FieldValue::LongInt(2)),
        ]),
    );
    let both = table(&[
        ("a", ls("1")),
        ("b", FieldValue::LongInt(2)),
        ("c", ls("extra")),
    ]);
    let only_a = table(&[("a", ls("1"))]);
    let a_wrong_b = table(&[("a", ls("1")), ("b", FieldValue::LongInt(3))]);
    // Integer widths compare by value.
    let wide_b = table(&[("a", ls("1")), ("b", FieldValue::LongLongInt(2))]);
    for q in [&all, &default_all] {
        assert!(reaches(&ch, q, both.clone()), "{q}");
        assert!(!reaches(&ch, q, only_a.clone()), "{q}");
        assert!(!reaches(&ch, q, a_wrong_b.clone()), "{q}");
        assert!(reaches(&ch, q, wide_b.clone()), "{q}");
        assert!(!reaches(&ch, q, FieldTable::new()), "{q}");
    }
    assert!(reaches(&ch, &any, both.clone()));
    assert!(reaches(&ch, &any, only_a.clone()));
    assert!(reaches(&ch, &any, a_wrong_b.clone()));
    assert!(reaches(&ch, &any, table(&[("b", FieldValue::ShortInt(2))])));
    assert!(!reaches(
        &ch,
        &any,
        table(&[("a", ls("2")), ("b", ls("2"))])
    ));
    assert!(!reaches(&ch, &any, FieldTable::new()));
    // A message without any headers property at all.
    assert!(!reaches_bare(&ch, &any));
    assert!(!reaches_bare(&ch, &all));
}

#[test]
fn c_r03_headers_invalid_x_match_is_406_at_bind() {
    let env = Env::new();
    let setup = env.ch();
    declare_x(&setup, "h", "headers");
    declare_q(&setup, "q");
    for bad in [
        ls("none"),
        ls("ALL"),
        ls(""),
        FieldValue::LongInt(1),
        FieldValue::Boolean(true),
    ] {
        let ch = env.ch();
        let args = table(&[("x-match", bad.clone()), ("a", ls("1"))]);
        expect_channel_error(&env.conn, &ch, ch.queue_bind("q", "h", "", &args), 406);
    }
    assert!(env.bindings().iter().all(|(s, _, _)| s != "h"));
    // The valid values bind.
    for good in ["all", "any", "all-with-x", "any-with-x"] {
        setup
            .queue_bind("q", "h", "", &table(&[("x-match", ls(good))]))
            .unwrap_or_else(|e| panic!("{good}: {e}"));
    }
}

#[test]
fn c_r03_headers_x_arguments_ignored_unless_with_x() {
    let env = Env::new();
    let ch = env.ch();
    let mut n = 0;
    let all = hbind(
        &ch,
        &mut n,
        table(&[("x-match", ls("all")), ("x-k", ls("v"))]),
    );
    let any = hbind(
        &ch,
        &mut n,
        table(&[("x-match", ls("any")), ("x-k", ls("v")), ("a", ls("1"))]),
    );
    let all_x = hbind(
        &ch,
        &mut n,
        table(&[
            ("x-match", ls("all-with-x")),
            ("x-k", ls("v")),
            ("a", ls("1")),
        ]),
    );
    let any_x = hbind(
        &ch,
        &mut n,
        table(&[("x-match", ls("any-with-x")), ("x-k", ls("v"))]),
    );
    // `all` whose only other argument is an x- one: matches everything.
    assert!(reaches(&ch, &all, FieldTable::new()));
    assert!(reaches(&ch, &all, table(&[("x-k", ls("other"))])));
    // `any`: the x- argument does not count as a match.
    assert!(!reaches(&ch, &any, table(&[("x-k", ls("v"))])));
    assert!(reaches(&ch, &any, table(&[("a", ls("1"))])));
    // -with-x: x- arguments are matched too.
    assert!(reaches(
        &ch,
        &all_x,
        table(&[("x-k", ls("v")), ("a", ls("1"))])
    ));
    assert!(!reaches(&ch, &all_x, table(&[("a", ls("1"))])));
    assert!(!reaches(
        &ch,
        &all_x,
        table(&[("x-k", ls("w")), ("a", ls("1"))])
    ));
    assert!(reaches(&ch, &any_x, table(&[("x-k", ls("v"))])));
    assert!(!reaches(&ch, &any_x, table(&[("x-k", ls("w"))])));
    assert!(!reaches(&ch, &any_x, FieldTable::new()));
}

#[test]
fn c_r03_headers_void_means_present() {
    let env = Env::new();
    let ch = env.ch();
    let mut n = 0;
    let all = hbind(
        &ch,
        &mut n,
        table(&[("x-match", ls("all")), ("k", FieldValue::Void)]),
    );
    let any = hbind(
        &ch,
        &mut n,
        table(&[
            ("x-match", ls("any")),
            ("k", FieldValue::Void),
            ("z", ls("1")),
        ]),
    );
    for v in [
        ls("anything"),
        FieldValue::LongInt(7),
        FieldValue::Void,
        FieldValue::Boolean(false),
    ] {
        assert!(reaches(&ch, &all, table(&[("k", v.clone())])), "{v:?}");
        assert!(reaches(&ch, &any, table(&[("k", v.clone())])), "{v:?}");
    }
    assert!(!reaches(&ch, &all, table(&[("other", ls("x"))])));
    assert!(!reaches(&ch, &any, table(&[("other", ls("x"))])));
}

#[test]
fn c_r03_headers_empty_all_matches_everything_empty_any_nothing() {
    let env = Env::new();
    let ch = env.ch();
    let mut n = 0;
    let all = hbind(&ch, &mut n, table(&[("x-match", ls("all"))]));
    let none = hbind(&ch, &mut n, FieldTable::new());
    let any = hbind(&ch, &mut n, table(&[("x-match", ls("any"))]));
    for h in [FieldTable::new(), table(&[("a", ls("1"))])] {
        assert!(reaches(&ch, &all, h.clone()));
        assert!(reaches(&ch, &none, h.clone()));
        assert!(!reaches(&ch, &any, h.clone()));
    }
    assert!(reaches_bare(&ch, &all));
    assert!(reaches_bare(&ch, &none));
    assert!(!reaches_bare(&ch, &any));
}

#[test]
fn c_r03_headers_later_duplicate_keys_win() {
    let env = Env::new();
    let ch = env.ch();
    let mut n = 0;
    let new = hbind(&ch, &mut n, table(&[("k", ls("new"))]));
    let old = hbind(&ch, &mut n, table(&[("k", ls("old"))]));
    let mut h = FieldTable::new();
    h.push("k", "old");
    h.push("k", "new");
    assert!(reaches(&ch, &new, h.clone()));
    assert!(!reaches(&ch, &old, h));
    // Duplicate keys in the binding's arguments: the later one counts too.
    let mut args = FieldTable::new();
    args.push("k", "old");
    args.push("k", "new");
    let dup_bound = hbind(&ch, &mut n, args);
    assert!(reaches(&ch, &dup_bound, table(&[("k", ls("new"))])));
    assert!(!reaches(&ch, &dup_bound, table(&[("k", ls("old"))])));
}

// ----- R04 exchange-to-exchange -----

#[test]
fn c_r04_exchange_to_exchange_routing() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "src", "topic");
    declare_x(&ch, "mid", "direct");
    declare_x(&ch, "fan", "fanout");
    declare_q(&ch, "q_mid");
    declare_q(&ch, "q_fan");
    bind_x(&ch, "mid", "src", "a.*");
    bind_x(&ch, "fan", "mid", "a.b");
    bind(&ch, "q_mid", "mid", "a.b");
    bind(&ch, "q_fan", "fan", "");
    assert_eq!(send(&ch, "src", "a.b", "1").queues, 2);
    // src routes a.c to mid, which has no binding for a.c.
    assert_eq!(send(&ch, "src", "a.c", "2").queues, 0);
    assert_eq!(drain(&ch, "q_mid"), ["1"]);
    assert_eq!(drain(&ch, "q_fan"), ["1"]);
    let d = {
        send(&ch, "src", "a.b", "3");
        get(&ch, "q_fan").unwrap().delivery
    };
    // Delivered with the exchange and key it was published with.
    assert_eq!((d.exchange(), d.routing_key()), ("src", "a.b"));
    // Unbinding the middle link stops the flow.
    ch.exchange_unbind("mid", "src", "a.*", &FieldTable::new())
        .unwrap();
    assert_eq!(send(&ch, "src", "a.b", "4").queues, 0);
}

#[test]
fn c_r04_cycles_end_and_each_queue_gets_one_copy() {
    let env = Env::new();
    let ch = env.ch();
    for x in ["x1", "x2", "x3"] {
        declare_x(&ch, x, "fanout");
    }
    // A cycle x1 -> x2 -> x3 -> x1, and a self-loop.
    bind_x(&ch, "x2", "x1", "");
    bind_x(&ch, "x3", "x2", "");
    bind_x(&ch, "x1", "x3", "");
    bind_x(&ch, "x1", "x1", "");
    declare_q(&ch, "q");
    declare_q(&ch, "q3");
    // q is bound to every exchange of the cycle (a diamond on top).
    for x in ["x1", "x2", "x3"] {
        bind(&ch, "q", x, "");
    }
    bind(&ch, "q3", "x3", "");
    for start in ["x1", "x2", "x3"] {
        let p = send(&ch, start, "k", start);
        assert_eq!(p.queues, 2, "{start}");
        assert_eq!(drain(&ch, "q"), [start]);
        assert_eq!(drain(&ch, "q3"), [start]);
    }
    // A cycle with no queue at all ends too.
    declare_x(&ch, "y1", "fanout");
    declare_x(&ch, "y2", "fanout");
    bind_x(&ch, "y2", "y1", "");
    bind_x(&ch, "y1", "y2", "");
    assert_eq!(send(&ch, "y1", "k", "lost").queues, 0);
    // A diamond: src -> a, src -> b, a -> q, b -> q.
    declare_x(&ch, "dsrc", "direct");
    declare_x(&ch, "da", "direct");
    declare_x(&ch, "db", "direct");
    declare_q(&ch, "dq");
    bind_x(&ch, "da", "dsrc", "k");
    bind_x(&ch, "db", "dsrc", "k");
    bind(&ch, "dq", "da", "k");
    bind(&ch, "dq", "db", "k");
    bind(&ch, "dq", "dsrc", "k");
    assert_eq!(send(&ch, "dsrc", "k", "d").queues, 1);
    assert_eq!(drain(&ch, "dq"), ["d"]);
}

// ----- R05 alternate exchange -----

#[test]
fn c_r05_alternate_exchange_takes_unroutable() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "ae", "fanout");
    declare_q(&ch, "q_ae");
    bind(&ch, "q_ae", "ae", "");
    declare_x_ae(&ch, "main", "direct", "ae");
    declare_q(&ch, "q_main");
    bind(&ch, "q_main", "main", "k");
    assert_eq!(send(&ch, "main", "k", "routed").queues, 1);
    assert_eq!(send(&ch, "main", "other", "alt").queues, 1);
    assert_eq!(drain(&ch, "q_main"), ["routed"]);
    assert_eq!(drain(&ch, "q_ae"), ["alt"]);
    // The delivered exchange and key are the published ones.
    send(&ch, "main", "zz", "alt2");
    let d = get(&ch, "q_ae").unwrap().delivery;
    assert_eq!((d.exchange(), d.routing_key()), ("main", "zz"));
}

#[test]
fn c_r05_alternate_used_only_when_own_routing_finds_nothing() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "ae", "fanout");
    declare_q(&ch, "q_ae");
    bind(&ch, "q_ae", "ae", "");
    declare_x_ae(&ch, "main", "direct", "ae");
    // main routes "k" to an exchange that routes nowhere: main's own routing found a
    // destination, so its alternate exchange is not used.
    declare_x(&ch, "dead_end", "direct");
    bind_x(&ch, "dead_end", "main", "k");
    assert_eq!(send(&ch, "main", "k", "m").queues, 0);
    assert_eq!(env.ready("q_ae"), 0);
    // The downstream exchange's own alternate is used for its own miss.
    declare_x(&ch, "ae2", "fanout");
    declare_q(&ch, "q_ae2");
    bind(&ch, "q_ae2", "ae2", "");
    declare_x_ae(&ch, "inner", "direct", "ae2");
    bind_x(&ch, "inner", "main", "j");
    assert_eq!(send(&ch, "main", "j", "inner-miss").queues, 1);
    assert_eq!(drain(&ch, "q_ae2"), ["inner-miss"]);
    assert_eq!(env.ready("q_ae"), 0);
}

#[test]
fn c_r05_alternate_chains_cycles_and_missing() {
    let env = Env::new();
    let ch = env.ch();
    // main -> ae1 (routes nothing) -> ae2 -> q.
    declare_x(&ch, "ae2", "fanout");
    declare_q(&ch, "q");
    bind(&ch, "q", "ae2", "");
    declare_x_ae(&ch, "ae1", "direct", "ae2");
    declare_x_ae(&ch, "main", "direct", "ae1");
    assert_eq!(send(&ch, "main", "k", "chained").queues, 1);
    assert_eq!(drain(&ch, "q"), ["chained"]);
    // A cycle of alternates ends: c1 -> c2 -> c1.
    declare_x_ae(&ch, "c1", "direct", "c2");
    declare_x_ae(&ch, "c2", "direct", "c1");
    assert_eq!(send(&ch, "c1", "k", "lost").queues, 0);
    let self_ae = {
        declare_x_ae(&ch, "selfish", "direct", "selfish");
        send(&ch, "selfish", "k", "lost")
    };
    assert_eq!(self_ae.queues, 0);
    // A missing alternate exchange is skipped (no error; the message is unroutable).
    declare_x_ae(&ch, "orphan", "direct", "does-not-exist");
    let p = ch
        .publish(
            "orphan",
            "k",
            Message::new("m"),
            PublishOptions::mandatory(),
        )
        .unwrap();
    assert_eq!(p.queues, 0);
    assert!(p.returned.is_some());
    assert!(ch.is_open());
    // Declaring the alternate later makes it work.
    declare_x(&ch, "does-not-exist", "fanout");
    bind(&ch, "q", "does-not-exist", "");
    assert_eq!(send(&ch, "orphan", "k", "late").queues, 1);
    assert_eq!(drain(&ch, "q"), ["late"]);
}

#[test]
fn c_r05_routed_via_alternate_counts_as_routed() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "ae", "fanout");
    declare_q(&ch, "q_ae");
    bind(&ch, "q_ae", "ae", "");
    declare_x_ae(&ch, "main", "direct", "ae");
    ch.confirm_select().unwrap();
    let p = ch
        .publish(
            "main",
            "nothing",
            Message::new("m"),
            PublishOptions::mandatory(),
        )
        .unwrap();
    assert_eq!(p.queues, 1);
    assert!(
        p.returned.is_none(),
        "routed via the alternate: not returned"
    );
    assert_eq!((p.seq, p.ack), (Some(1), true));
    assert_eq!(drain(&ch, "q_ae"), ["m"]);
}

// ----- R06 CC and BCC -----

#[test]
fn c_r06_cc_and_bcc_add_routing_keys() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "d", "direct");
    declare_x(&ch, "t", "topic");
    for q in ["qa", "qb", "qc", "qt"] {
        declare_q(&ch, q);
    }
    bind(&ch, "qa", "d", "a");
    bind(&ch, "qb", "d", "b");
    bind(&ch, "qc", "d", "c");
    bind(&ch, "qt", "t", "x.*");
    let h = table(&[
        ("CC", strs(&["b"])),
        ("BCC", strs(&["c"])),
        ("keep", ls("me")),
    ]);
    let p = publish(&ch, "d", "a", Message::new("m").with_headers(h));
    assert_eq!(p.queues, 3);
    for q in ["qa", "qb", "qc"] {
        let d = get(&ch, q).unwrap().delivery;
        // The delivered key is the publish key; BCC is gone, CC stays.
        assert_eq!(d.routing_key(), "a", "{q}");
        assert!(header(d.message(), "BCC").is_none(), "{q}");
        assert_eq!(header(d.message(), "CC"), Some(&strs(&["b"])), "{q}");
        assert_eq!(header(d.message(), "keep"), Some(&ls("me")));
    }
    // A queue reached by several keys gets one copy.
    let h = table(&[("CC", strs(&["a", "b"])), ("BCC", strs(&["a"]))]);
    assert_eq!(
        publish(&ch, "d", "a", Message::new("once").with_headers(h)).queues,
        2
    );
    assert_eq!(drain(&ch, "qa"), ["once"]);
    assert_eq!(drain(&ch, "qb"), ["once"]);
    // Topic: CC keys are matched against patterns.
    let h = table(&[("CC", strs(&["x.y"]))]);
    assert_eq!(
        publish(&ch, "t", "nothing", Message::new("t").with_headers(h)).queues,
        1
    );
    assert_eq!(drain(&ch, "qt"), ["t"]);
    // Default exchange: CC names more queues; BCC alone routes too.
    let h = table(&[("CC", strs(&["qb"])), ("BCC", strs(&["qc"]))]);
    assert_eq!(
        publish(&ch, "", "qa", Message::new("def").with_headers(h)).queues,
        3
    );
    let h = table(&[("BCC", strs(&["qc"]))]);
    assert_eq!(
        publish(&ch, "", "nowhere", Message::new("bcc").with_headers(h)).queues,
        1
    );
    assert_eq!(drain(&ch, "qa"), ["def"]);
    assert_eq!(drain(&ch, "qb"), ["def"]);
    assert_eq!(drain(&ch, "qc"), ["def", "bcc"]);
    // Fanout: keys are ignored anyway; BCC is still removed.
    declare_x(&ch, "f", "fanout");
    declare_q(&ch, "qf");
    bind(&ch, "qf", "f", "");
    let h = table(&[("BCC", strs(&["z"]))]);
    publish(&ch, "f", "", Message::new("f").with_headers(h));
    let d = get(&ch, "qf").unwrap().delivery;
    assert!(header(d.message(), "BCC").is_none());
}

#[test]
fn c_r06_cc_keys_through_exchange_bindings() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "src", "direct");
    declare_x(&ch, "dst", "direct");
    declare_q(&ch, "q");
    bind_x(&ch, "dst", "src", "cc-key");
    bind(&ch, "q", "dst", "cc-key");
    let h = table(&[("CC", strs(&["cc-key"]))]);
    assert_eq!(
        publish(&ch, "src", "main", Message::new("m").with_headers(h)).queues,
        1
    );
    assert_eq!(get(&ch, "q").unwrap().delivery.routing_key(), "main");
}

#[test]
fn c_r06_malformed_cc_or_bcc_is_406() {
    let env = Env::new();
    let setup = env.ch();
    declare_q(&setup, "q");
    for name in ["CC", "BCC"] {
        // Not an array; an array holding a non-string (this crate refuses it rather
        // than skipping the element as RabbitMQ 3.x does: see RouteError::InvalidCc).
        for bad in [
            ls("q"),
            FieldValue::LongInt(1),
            FieldValue::Array(vec![FieldValue::LongInt(1)]),
        ] {
            let ch = env.ch();
            let m = Message::new("m").with_headers(table(&[(name, bad.clone())]));
            let err = expect_channel_error(
                &env.conn,
                &ch,
                ch.publish("", "q", m, PublishOptions::default()),
                406,
            );
            assert!(err.reply_text().contains(name), "{err}");
        }
    }
    assert_eq!(env.ready("q"), 0, "nothing was enqueued");
}

// ----- R07 mandatory -----

#[test]
fn c_r07_unroutable_mandatory_comes_back() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "x", "direct");
    let mut m = Message::new("body bytes");
    m.properties.content_type = Some("text/plain".into());
    m.properties.correlation_id = Some("c-1".into());
    m.properties.priority = Some(3);
    m.properties.expiration = Some("60000".into());
    m.properties.headers = Some(table(&[("h", ls("v"))]));
    let p = ch
        .publish("x", "no.route", m.clone(), PublishOptions::mandatory())
        .unwrap();
    assert_eq!(p.queues, 0);
    assert_eq!(p.seq, None);
    let r = p.returned.expect("returned");
    assert_eq!(r.reply_code, 312);
    assert_eq!(r.reply_text, "NO_ROUTE");
    assert_eq!(r.exchange, "x");
    assert_eq!(r.routing_key, "no.route");
    assert_eq!(r.message, m, "original properties and body");
    // Default exchange, missing queue: also returned.
    let p = ch
        .publish(
            "",
            "missing",
            Message::new("b"),
            PublishOptions::mandatory(),
        )
        .unwrap();
    let r = p.returned.expect("returned");
    assert_eq!(
        (r.exchange.as_str(), r.routing_key.as_str()),
        ("", "missing")
    );
    // A routed mandatory message is not returned.
    declare_q(&ch, "q");
    let p = ch
        .publish("", "q", Message::new("b"), PublishOptions::mandatory())
        .unwrap();
    assert!(p.returned.is_none());
    assert_eq!(p.queues, 1);
    assert!(ch.is_open());
}

#[test]
fn c_r07_mandatory_return_before_ack_with_confirms() {
    let env = Env::new();
    let ch = env.ch();
    ch.confirm_select().unwrap();
    declare_q(&ch, "q");
    let p1 = ch
        .publish("", "q", Message::new("1"), PublishOptions::mandatory())
        .unwrap();
    let p2 = ch
        .publish(
            "",
            "nowhere",
            Message::new("2"),
            PublishOptions::mandatory(),
        )
        .unwrap();
    let p3 = ch
        .publish("", "nowhere", Message::new("3"), PublishOptions::default())
        .unwrap();
    assert_eq!((p1.seq, p1.ack), (Some(1), true));
    // The return and the ack come together: the return is reported with the ack.
    assert_eq!((p2.seq, p2.ack), (Some(2), true));
    assert_eq!(p2.returned.as_ref().map(|r| r.reply_code), Some(312));
    assert_eq!(
        (p3.seq, p3.ack, p3.returned.is_none()),
        (Some(3), true, true)
    );
    assert!(ch.wait_for_confirms().unwrap());
}

#[test]
fn c_r07_unroutable_without_mandatory_is_dropped() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "x", "fanout");
    let p = send(&ch, "x", "k", "dropped");
    assert_eq!(p.queues, 0);
    assert!(p.returned.is_none());
    // Binding a queue afterwards does not bring it back.
    declare_q(&ch, "q");
    bind(&ch, "q", "x", "");
    assert!(drain(&ch, "q").is_empty());
    assert_eq!(env.broker.memory_used(), 0);
}

#[test]
fn c_r07_unroutable_messages_are_counted() {
    let env = Env::new();
    let ch = env.ch();
    declare_x(&ch, "x", "fanout");
    let _ = send(&ch, "x", "k", "dropped");
    let p = ch
        .publish("x", "k", Message::new("back"), PublishOptions::mandatory())
        .unwrap();
    assert!(p.returned.is_some());
    declare_q(&ch, "q");
    bind(&ch, "q", "x", "");
    let _ = send(&ch, "x", "k", "routed");
    let v = env.broker.vhost_info("/").unwrap();
    assert_eq!((v.published, v.unroutable, v.returned), (3, 2, 1));
}

// ----- R08 publish errors -----

#[test]
fn c_r08_publish_to_missing_exchange_is_404() {
    let env = Env::new();
    let ch = env.ch();
    let err = expect_channel_error(
        &env.conn,
        &ch,
        ch.publish("nope", "k", Message::new("m"), PublishOptions::default()),
        404,
    );
    assert_eq!(
        err.reply_text(),
        "NOT_FOUND - no exchange 'nope' in vhost '/'"
    );
    let ch = env.ch();
    expect_channel_error(
        &env.conn,
        &ch,
        ch.publish("nope", "k", Message::new("m"), PublishOptions::mandatory()),
        404,
    );
}

#[test]
fn c_r08_publish_to_internal_exchange_is_403() {
    let env = Env::new();
    let ch = env.ch();
    let internal = ExchangeDeclare {
        internal: true,
        ..ExchangeDeclare::default()
    };
    ch.exchange_declare("int", "fanout", &internal).unwrap();
    declare_q(&ch, "q");
    bind(&ch, "q", "int", "");
    expect_channel_error(
        &env.conn,
        &ch,
        ch.publish("int", "", Message::new("m"), PublishOptions::default()),
        403,
    );
    // Reachable through an exchange-to-exchange binding.
    let ch = env.ch();
    declare_x(&ch, "front", "fanout");
    bind_x(&ch, "int", "front", "");
    assert_eq!(send(&ch, "front", "", "via").queues, 1);
    assert_eq!(drain(&ch, "q"), ["via"]);
}

#[test]
fn c_r08_immediate_is_540_connection_error() {
    let broker = Broker::new();
    let conn = broker.connect_default();
    let ch = conn.open_channel().unwrap();
    let other = conn.open_channel().unwrap();
    ch.queue_declare("q", &QueueDeclare::default()).unwrap();
    let o = PublishOptions {
        mandatory: false,
        immediate: true,
    };
    expect_connection_error(&conn, &ch, ch.publish("", "q", Message::new("m"), o), 540);
    assert!(!other.is_open(), "every channel of the connection closes");
    let conn2 = broker.connect_default();
    let c2 = conn2.open_channel().unwrap();
    assert_eq!(
        c2.queue_declare("q", &QueueDeclare::passive())
            .unwrap()
            .message_count,
        0
    );
}

#[test]
fn c_r08_message_over_size_limit_is_406() {
    // Configured limit.
    let broker = Broker::builder().max_message_size(10).build();
    let conn = broker.connect_default();
    let ch = conn.open_channel().unwrap();
    ch.queue_declare("q", &QueueDeclare::default()).unwrap();
    assert_eq!(send(&ch, "", "q", "0123456789").queues, 1);
    expect_channel_error(
        &conn,
        &ch,
        ch.publish(
            "",
            "q",
            Message::new("01234567890"),
            PublishOptions::default(),
        ),
        406,
    );
    // Default: 128 MiB (RabbitMQ 3.10.8).
    let broker = Broker::new();
    let conn = broker.connect_default();
    let ch = conn.open_channel().unwrap();
    ch.queue_declare("q", &QueueDeclare::default()).unwrap();
    let max = trackswitch::broker::DEFAULT_MAX_MESSAGE_SIZE;
    assert_eq!(max, 128 * 1024 * 1024);
    assert_eq!(
        publish(&ch, "", "q", Message::new(vec![0u8; max])).queues,
        1
    );
    let err = expect_channel_error(
        &conn,
        &ch,
        ch.publish(
            "",
            "q",
            Message::new(vec![0u8; max + 1]),
            PublishOptions::default(),
        ),
        406,
    );
    assert!(err.reply_text().contains(&max.to_string()), "{err}");
    let ch = conn.open_channel().unwrap();
    assert_eq!(
        ch.queue_declare("q", &QueueDeclare::passive())
            .unwrap()
            .message_count,
        1
    );
}

#[test]
fn c_r08_invalid_expiration_is_406() {
    let env = Env::new();
    let setup = env.ch();
    declare_q(&setup, "q");
    for bad in ["abc", "-1", "", "1.5", " 10", "315360000001"] {
        let ch = env.ch();
        let mut m = Message::new("m");
        m.properties.expiration = Some(bad.into());
        expect_channel_error(
            &env.conn,
            &ch,
            ch.publish("", "q", m, PublishOptions::default()),
            406,
        );
        // Also when unroutable.
        let ch = env.ch();
        let mut m = Message::new("m");
        m.properties.expiration = Some(bad.into());
        expect_channel_error(
            &env.conn,
            &ch,
            ch.publish("", "nowhere", m, PublishOptions::default()),
            406,
        );
    }
    assert_eq!(env.ready("q"), 0);
    for good in ["0", "1", "315360000000"] {
        let mut m = Message::new("m");
        m.properties.expiration = Some(good.into());
        assert_eq!(publish(&setup, "", "q", m).queues, 1, "{good}");
    }
}

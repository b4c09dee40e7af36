//! Black-box tests of `RoutingTable`: the four exchange kinds (CONFORMANCE R03).
//!
//! Other table tests: `table_admin.rs` (default and `amq.*` exchanges, declare rules,
//! limits), `table_graph.rs` (exchange-to-exchange graphs, alternate exchanges),
//! `table_lifecycle.rs` (auto-delete, delete, bind/unbind, ids), `table_routing.rs`
//! (CC/BCC, binding keys, unusual keys, auto traits).

mod common;

use common::*;
use trackswitch::{BindError, Destination, ExchangeKind, FieldTable, FieldValue, RoutingTable};

// ---------------------------------------------------------------------------------------
// R03: direct
// ---------------------------------------------------------------------------------------

#[test]
fn r03_direct_matches_whole_keys_byte_exact() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "x", ExchangeKind::Direct);
    for (q, key) in [
        ("upper", "Error"),
        ("lower", "error"),
        ("dotted", "a.b"),
        ("star", "*"),
        ("hash", "#"),
        ("empty", ""),
        ("spaced", " error"),
    ] {
        bind_q(&mut t, "x", q, key);
    }
    let cases: &[(&str, &[&str])] = &[
        ("error", &["lower"]),
        ("Error", &["upper"]),
        ("ERROR", &[]),
        ("error ", &[]),
        (" error", &["spaced"]),
        ("a.b", &["dotted"]),
        ("a.*", &[]),
        ("a", &[]),
        ("*", &["star"]),
        ("#", &["hash"]),
        ("anything", &[]),
        ("", &["empty"]),
    ];
    for &(key, want) in cases {
        assert_eq!(routed(&t, "x", key), want, "key {key:?}");
    }
}

#[test]
fn r03_direct_key_reaches_every_queue_bound_with_it() {
    let mut t = RoutingTable::new();
    for q in ["q1", "q2", "q3"] {
        bind_q(&mut t, "amq.direct", q, "k");
    }
    bind_q(&mut t, "amq.direct", "other", "k2");
    assert_eq!(routed(&t, "amq.direct", "k"), ["q1", "q2", "q3"]);
    assert_eq!(routed(&t, "amq.direct", "k2"), ["other"]);
}

// ---------------------------------------------------------------------------------------
// R03: fanout
// ---------------------------------------------------------------------------------------

#[test]
fn r03_fanout_ignores_keys() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "f", ExchangeKind::Fanout);
    bind_q(&mut t, "f", "q1", "a");
    bind_q(&mut t, "f", "q2", "b.#");
    bind_q(&mut t, "f", "q3", "");
    for key in ["", "a", "zzz", "b.c", "#"] {
        assert_eq!(routed(&t, "f", key), ["q1", "q2", "q3"], "key {key:?}");
    }
}

#[test]
fn r03_fanout_duplicate_bindings_with_different_keys_deliver_one_copy() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "f", ExchangeKind::Fanout);
    for key in ["a", "b", "c"] {
        bind_q(&mut t, "f", "q", key);
    }
    bind_q(&mut t, "f", "r", "a");
    assert_eq!(t.binding_count(), 4);
    let result = t.route("f", "x", None).unwrap();
    assert_eq!(result.len(), 2);
    assert_eq!(names(&t, &result), ["q", "r"]);

    // The queue stays a member until its last binding goes.
    assert_eq!(
        t.unbind("f", Destination::Queue("q"), "a", &none()),
        Ok(true)
    );
    assert_eq!(routed(&t, "f", "x"), ["q", "r"]);
    assert_eq!(
        t.unbind("f", Destination::Queue("q"), "b", &none()),
        Ok(true)
    );
    assert_eq!(routed(&t, "f", "x"), ["q", "r"]);
    assert_eq!(
        t.unbind("f", Destination::Queue("q"), "c", &none()),
        Ok(true)
    );
    assert_eq!(routed(&t, "f", "x"), ["r"]);
    assert_eq!(t.binding_count(), 1);
}

#[test]
fn r03_fanout_without_bindings_routes_nowhere() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "f", ExchangeKind::Fanout);
    t.declare_queue("q").unwrap();
    assert_eq!(routed(&t, "f", "q"), NOWHERE);
}

// ---------------------------------------------------------------------------------------
// R03: topic
// ---------------------------------------------------------------------------------------

/// The RabbitMQ tutorial's news feed: keys are `<region>.<section>.<user_type>`.
#[test]
fn r03_topic_news_feed_example() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "news", ExchangeKind::Topic);
    bind_q(&mut t, "news", "eu-free", "eu.*.free_user");
    bind_q(&mut t, "news", "ru-all", "ru.#");
    bind_q(&mut t, "news", "culture", "*.culture.*");
    bind_q(&mut t, "news", "everything", "#");
    let cases: &[(&str, &[&str])] = &[
        ("eu.sport.free_user", &["eu-free", "everything"]),
        (
            "eu.culture.free_user",
            &["culture", "eu-free", "everything"],
        ),
        ("eu.culture.premium", &["culture", "everything"]),
        ("ru.culture.premium", &["culture", "everything", "ru-all"]),
        ("ru.sport.free_user", &["everything", "ru-all"]),
        ("ru", &["everything", "ru-all"]),
        ("ru.culture", &["everything", "ru-all"]),
        ("us.tech.premium", &["everything"]),
        ("eu.sport.free_user.extra", &["everything"]),
        ("eu.free_user", &["everything"]),
        ("EU.sport.free_user", &["everything"]),
        ("", &["everything"]),
    ];
    for &(key, want) in cases {
        assert_eq!(routed(&t, "news", key), want, "key {key:?}");
    }
}

#[test]
fn r03_topic_word_rules() {
    let mut t = RoutingTable::new();
    for (q, pattern) in [
        ("star", "*"),
        ("hash", "#"),
        ("empty", ""),
        ("a-star", "a.*"),
        ("star-star", "*.*"),
        ("lit-a-star", "a*"),
        ("lit-hash-a", "#a"),
        ("lit-hashhash", "##"),
        ("a-hash-b", "a.#.b"),
    ] {
        bind_q(&mut t, "amq.topic", q, pattern);
    }
    let cases: &[(&str, &[&str])] = &[
        // The empty key is zero words: only `#` and the empty pattern.
        ("", &["empty", "hash"]),
        ("a", &["hash", "star"]),
        // `a.` is `a` and an empty word; `*` matches an empty word.
        ("a.", &["a-star", "hash", "star-star"]),
        // `.` is two empty words.
        (".", &["hash", "star-star"]),
        ("a.b", &["a-hash-b", "a-star", "hash", "star-star"]),
        ("a.x.y.b", &["a-hash-b", "hash"]),
        ("a*", &["hash", "lit-a-star", "star"]),
        ("ab", &["hash", "star"]),
        ("#a", &["hash", "lit-hash-a", "star"]),
        ("##", &["hash", "lit-hashhash", "star"]),
    ];
    for &(key, want) in cases {
        assert_eq!(routed(&t, "amq.topic", key), want, "key {key:?}");
    }
}

// ---------------------------------------------------------------------------------------
// R03: headers
// ---------------------------------------------------------------------------------------

/// A headers exchange with one queue per binding.
fn headers_table(bindings: &[(&str, FieldTable)]) -> RoutingTable {
    let mut t = RoutingTable::new();
    exchange(&mut t, "h", ExchangeKind::Headers);
    for (q, args) in bindings {
        bind_q_args(&mut t, "h", q, "", args);
    }
    t
}

#[test]
fn r03_headers_all_needs_every_argument() {
    let t = headers_table(&[
        (
            "explicit",
            table_of(&[
                ("x-match", "all".into()),
                ("format", "pdf".into()),
                ("type", "report".into()),
            ]),
        ),
        (
            "default",
            table_of(&[("format", "pdf".into()), ("type", "report".into())]),
        ),
    ]);
    let both = table_of(&[("format", "pdf".into()), ("type", "report".into())]);
    assert_eq!(routed_h(&t, "h", "", &both), ["default", "explicit"]);
    let more = table_of(&[
        ("type", "report".into()),
        ("format", "pdf".into()),
        ("extra", 1.into()),
    ]);
    assert_eq!(routed_h(&t, "h", "", &more), ["default", "explicit"]);
    let one = table_of(&[("format", "pdf".into())]);
    assert_eq!(routed_h(&t, "h", "", &one), NOWHERE);
    let wrong = table_of(&[("format", "pdf".into()), ("type", "log".into())]);
    assert_eq!(routed_h(&t, "h", "", &wrong), NOWHERE);
}

#[test]
fn r03_headers_any_needs_one_argument() {
    let t = headers_table(&[(
        "any",
        table_of(&[
            ("x-match", "any".into()),
            ("format", "pdf".into()),
            ("type", "report".into()),
        ]),
    )]);
    let cases: &[(FieldTable, &[&str])] = &[
        (table_of(&[("format", "pdf".into())]), &["any"]),
        (table_of(&[("type", "report".into())]), &["any"]),
        (
            table_of(&[("format", "zip".into()), ("type", "report".into())]),
            &["any"],
        ),
        (
            table_of(&[("format", "zip".into()), ("type", "log".into())]),
            &[],
        ),
        (table_of(&[("other", "pdf".into())]), &[]),
        (FieldTable::new(), &[]),
    ];
    for (headers, want) in cases {
        assert_eq!(routed_h(&t, "h", "", headers), *want, "headers {headers:?}");
    }
}

#[test]
fn r03_headers_x_arguments_ignored_in_all_and_any() {
    let t = headers_table(&[
        (
            "all",
            table_of(&[("x-tenant", "b".into()), ("format", "pdf".into())]),
        ),
        (
            "any",
            table_of(&[
                ("x-match", "any".into()),
                ("x-tenant", "a".into()),
                ("format", "pdf".into()),
            ]),
        ),
        (
            "any-only-x",
            table_of(&[("x-match", "any".into()), ("x-tenant", "a".into())]),
        ),
    ]);
    // `all`'s x-tenant=b is ignored; `any`'s x-tenant=a cannot make it match alone.
    let h = table_of(&[("x-tenant", "a".into()), ("format", "pdf".into())]);
    assert_eq!(routed_h(&t, "h", "", &h), ["all", "any"]);
    let h = table_of(&[("x-tenant", "a".into())]);
    assert_eq!(routed_h(&t, "h", "", &h), NOWHERE);
}

#[test]
fn r03_headers_with_x_modes_match_x_arguments() {
    let t = headers_table(&[
        (
            "all-x",
            table_of(&[
                ("x-match", "all-with-x".into()),
                ("x-tenant", "a".into()),
                ("format", "pdf".into()),
            ]),
        ),
        (
            "any-x",
            table_of(&[
                ("x-match", "any-with-x".into()),
                ("x-tenant", "a".into()),
                ("format", "pdf".into()),
            ]),
        ),
    ]);
    let cases: &[(FieldTable, &[&str])] = &[
        (
            table_of(&[("x-tenant", "a".into()), ("format", "pdf".into())]),
            &["all-x", "any-x"],
        ),
        (table_of(&[("x-tenant", "a".into())]), &["any-x"]),
        (table_of(&[("format", "pdf".into())]), &["any-x"]),
        (
            table_of(&[("x-tenant", "b".into()), ("format", "pdf".into())]),
            &["any-x"],
        ),
        (table_of(&[("x-tenant", "b".into())]), &[]),
        // `x-match` itself is never matched, even in the -with-x modes.
        (table_of(&[("x-match", "any-with-x".into())]), &[]),
    ];
    for (headers, want) in cases {
        assert_eq!(routed_h(&t, "h", "", headers), *want, "headers {headers:?}");
    }
}

#[test]
fn r03_headers_void_argument_means_present_with_any_value() {
    let t = headers_table(&[(
        "present",
        table_of(&[("k", FieldValue::Void), ("n", 5.into())]),
    )]);
    let cases: &[(FieldTable, &[&str])] = &[
        (
            table_of(&[("k", "x".into()), ("n", 5.into())]),
            &["present"],
        ),
        (table_of(&[("k", 1.into()), ("n", 5.into())]), &["present"]),
        (
            table_of(&[("k", FieldValue::Void), ("n", 5.into())]),
            &["present"],
        ),
        (table_of(&[("n", 5.into())]), &[]),
        (table_of(&[("k", "x".into())]), &[]),
    ];
    for (headers, want) in cases {
        assert_eq!(routed_h(&t, "h", "", headers), *want, "headers {headers:?}");
    }
}

#[test]
fn r03_headers_integers_compare_by_value_across_widths() {
    let t = headers_table(&[
        ("short", table_of(&[("n", FieldValue::ShortInt(1))])),
        ("string", table_of(&[("n", "1".into())])),
        ("double", table_of(&[("n", FieldValue::Double(1.0))])),
    ]);
    for header in [
        FieldValue::ShortShortInt(1),
        FieldValue::ShortShortUInt(1),
        FieldValue::ShortInt(1),
        FieldValue::ShortUInt(1),
        FieldValue::LongInt(1),
        FieldValue::LongUInt(1),
        FieldValue::LongLongInt(1),
        FieldValue::LongLongUInt(1),
    ] {
        let h = table_of(&[("n", header.clone())]);
        assert_eq!(routed_h(&t, "h", "", &h), ["short"], "header {header:?}");
    }
    let h = table_of(&[("n", FieldValue::Double(1.0))]);
    assert_eq!(routed_h(&t, "h", "", &h), ["double"], "1.0 != 1");
    let h = table_of(&[("n", FieldValue::ShortString("1".into()))]);
    assert_eq!(routed_h(&t, "h", "", &h), ["string"], "\"1\" != 1");
    let h = table_of(&[("n", FieldValue::LongInt(2))]);
    assert_eq!(routed_h(&t, "h", "", &h), NOWHERE);
}

#[test]
fn r03_headers_invalid_x_match_is_406_at_bind() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "h", ExchangeKind::Headers);
    t.declare_queue("q").unwrap();
    for bad in [
        FieldValue::from("some"),
        FieldValue::from("ALL"),
        FieldValue::from(""),
        FieldValue::LongInt(1),
        FieldValue::Boolean(true),
        FieldValue::Void,
    ] {
        let args = table_of(&[("x-match", bad.clone()), ("a", 1.into())]);
        for x in ["h", "amq.headers", "amq.match"] {
            let err = t
                .bind(x, Destination::Queue("q"), "", &args)
                .expect_err("bad x-match must be refused");
            assert_eq!(err.reply_code(), 406, "x-match {bad:?} on {x}");
            assert!(matches!(err, BindError::InvalidArgument { .. }), "{err:?}");
        }
    }
    assert_eq!(t.binding_count(), 0);
    // A short string is a string too.
    let args = table_of(&[("x-match", FieldValue::ShortString("any".into()))]);
    assert_eq!(t.bind("h", Destination::Queue("q"), "", &args), Ok(true));
}

#[test]
fn r03_headers_all_without_arguments_matches_everything() {
    let t = headers_table(&[
        ("implicit", FieldTable::new()),
        ("explicit", table_of(&[("x-match", "all".into())])),
        // Only x- arguments, ignored in `all`: also matches everything.
        ("only-x", table_of(&[("x-tenant", "a".into())])),
    ]);
    let want = ["explicit", "implicit", "only-x"];
    assert_eq!(routed(&t, "h", ""), want, "message without headers");
    assert_eq!(routed_h(&t, "h", "k", &FieldTable::new()), want);
    assert_eq!(routed_h(&t, "h", "", &table_of(&[("a", 1.into())])), want);
}

#[test]
fn r03_headers_any_without_arguments_matches_nothing() {
    let t = headers_table(&[
        ("any", table_of(&[("x-match", "any".into())])),
        (
            "any-only-x",
            table_of(&[("x-match", "any".into()), ("x-tenant", "a".into())]),
        ),
    ]);
    assert_eq!(routed(&t, "h", ""), NOWHERE);
    let h = table_of(&[("a", 1.into()), ("x-tenant", "a".into())]);
    assert_eq!(routed_h(&t, "h", "", &h), NOWHERE);
}

#[test]
fn r03_headers_message_without_headers() {
    let t = headers_table(&[
        ("value", table_of(&[("format", "pdf".into())])),
        ("void", table_of(&[("format", FieldValue::Void)])),
        (
            "any",
            table_of(&[("x-match", "any".into()), ("format", "pdf".into())]),
        ),
        ("match-all", FieldTable::new()),
    ]);
    assert_eq!(routed(&t, "h", "format"), ["match-all"]);
}

#[test]
fn r03_headers_later_duplicate_keys_win() {
    let mut dup_args = FieldTable::new();
    dup_args.push("a", 1);
    dup_args.push("a", 2);
    let t = headers_table(&[
        ("a1", table_of(&[("a", 1.into())])),
        ("a2", table_of(&[("a", 2.into())])),
        ("dup-args", dup_args),
    ]);
    let mut h = FieldTable::new();
    h.push("a", 1);
    h.push("a", 2);
    assert_eq!(routed_h(&t, "h", "", &h), ["a2", "dup-args"]);
    let mut h = FieldTable::new();
    h.push("a", 2);
    h.push("a", 1);
    assert_eq!(routed_h(&t, "h", "", &h), ["a1"]);
}

#[test]
fn r03_headers_ignore_the_routing_key() {
    let mut t = RoutingTable::new();
    bind_q_args(
        &mut t,
        "amq.match",
        "q",
        "some.key",
        &table_of(&[("a", 1.into())]),
    );
    let h = table_of(&[("a", 1.into())]);
    assert_eq!(routed_h(&t, "amq.match", "other.key", &h), ["q"]);
    assert_eq!(routed_h(&t, "amq.match", "", &h), ["q"]);
}

#[test]
fn r03_headers_unbinding_one_keeps_the_others_routing() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "h", ExchangeKind::Headers);
    let args: Vec<FieldTable> = (0..5).map(|i| table_of(&[("n", i.into())])).collect();
    for (i, a) in args.iter().enumerate() {
        bind_q_args(&mut t, "h", &format!("q{i}"), "", a);
    }
    // Remove from the front, the middle and the back; the rest must keep matching.
    for gone in [0, 2, 4] {
        assert_eq!(
            t.unbind(
                "h",
                Destination::Queue(&format!("q{gone}")),
                "",
                &args[gone]
            ),
            Ok(true)
        );
    }
    for (i, a) in args.iter().enumerate() {
        let want: &[&str] = match i {
            1 => &["q1"],
            3 => &["q3"],
            _ => &[],
        };
        assert_eq!(routed_h(&t, "h", "", a), want, "n={i}");
    }
    // The moved bindings can still be removed by identity.
    assert_eq!(
        t.unbind("h", Destination::Queue("q3"), "", &args[3]),
        Ok(true)
    );
    assert_eq!(
        t.unbind("h", Destination::Queue("q1"), "", &args[1]),
        Ok(true)
    );
    assert_eq!(t.binding_count(), 0);
    t.check_invariants();
}

#[test]
fn r03_headers_many_message_headers() {
    let t = headers_table(&[
        ("h3", table_of(&[("h3", 1000.into())])),
        (
            "h7-any",
            table_of(&[
                ("x-match", "any".into()),
                ("h7", 7.into()),
                ("zz", 0.into()),
            ]),
        ),
        ("h40", table_of(&[("h40", FieldValue::Void)])),
    ]);
    let mut headers = FieldTable::new();
    for i in 0..30 {
        headers.push(format!("h{i}"), i);
    }
    // A later duplicate wins in a large header table too.
    headers.push("h3", 1000);
    assert_eq!(routed_h(&t, "h", "", &headers), ["h3", "h7-any"]);
    headers.push("h3", 3);
    headers.push("h40", "present");
    assert_eq!(routed_h(&t, "h", "", &headers), ["h40", "h7-any"]);
}

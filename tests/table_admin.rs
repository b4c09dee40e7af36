//! Black-box tests of `RoutingTable`: the default exchange, the pre-declared `amq.*`
//! exchanges, declare rules, size limits and the `#` limit (CONFORMANCE R01, R02, E01,
//! Q02, R08's route errors).

mod common;

use common::*;
use trackswitch::{
    BindError, DeclareError, DeleteError, Destination, ExchangeKind, ExchangeOptions, MAX_NAME_LEN,
    ObjectKind, RouteError, RoutingTable, TableOptions,
};

// ---------------------------------------------------------------------------------------
// R01: the default exchange
// ---------------------------------------------------------------------------------------

#[test]
fn r01_default_exchange_routes_by_queue_name() {
    let mut t = RoutingTable::new();
    for q in ["orders", "Orders", "a.b", "*"] {
        t.declare_queue(q).unwrap();
    }
    let cases: &[(&str, &[&str])] = &[
        ("orders", &["orders"]),
        ("Orders", &["Orders"]),
        ("a.b", &["a.b"]),
        ("*", &["*"]),
        ("a.*", &[]),
        ("#", &[]),
        ("missing", &[]),
        ("", &[]),
    ];
    for &(key, want) in cases {
        assert_eq!(routed(&t, "", key), want, "key {key:?}");
    }
    t.delete_queue("orders");
    assert_eq!(routed(&t, "", "orders"), NOWHERE);
}

#[test]
fn r01_binding_to_or_from_default_exchange_is_403() {
    let mut t = RoutingTable::new();
    t.declare_queue("q").unwrap();
    let err = t
        .bind("", Destination::Queue("q"), "q", &none())
        .unwrap_err();
    assert_eq!(err.reply_code(), 403);
    let err = t
        .bind("amq.direct", Destination::Exchange(""), "k", &none())
        .unwrap_err();
    assert_eq!(err.reply_code(), 403);
    let err = t
        .unbind("", Destination::Queue("q"), "q", &none())
        .unwrap_err();
    assert_eq!(err.reply_code(), 403);
    let err = t
        .unbind("amq.direct", Destination::Exchange(""), "k", &none())
        .unwrap_err();
    assert_eq!(err.reply_code(), 403);
    assert_eq!(t.binding_count(), 0);
    assert_eq!(
        t.bindings().count(),
        0,
        "the default exchange lists no bindings"
    );
}

#[test]
fn r01_declaring_or_deleting_default_exchange_is_403() {
    let mut t = RoutingTable::new();
    for kind in [ExchangeKind::Direct, ExchangeKind::Topic] {
        let err = t
            .declare_exchange("", kind, &ExchangeOptions::default())
            .unwrap_err();
        assert_eq!(err.reply_code(), 403, "{err:?}");
    }
    let err = t.delete_exchange("", false).unwrap_err();
    assert_eq!(err.reply_code(), 403);
    assert!(matches!(err, DeleteError::AccessRefused { .. }));
    assert!(t.exchange("").is_some(), "the default exchange survives");
    t.declare_queue("q").unwrap();
    assert_eq!(routed(&t, "", "q"), ["q"]);
}

// ---------------------------------------------------------------------------------------
// R02: pre-declared amq.* exchanges; Q02
// ---------------------------------------------------------------------------------------

const PREDECLARED: [(&str, ExchangeKind); 5] = [
    ("amq.direct", ExchangeKind::Direct),
    ("amq.topic", ExchangeKind::Topic),
    ("amq.fanout", ExchangeKind::Fanout),
    ("amq.headers", ExchangeKind::Headers),
    ("amq.match", ExchangeKind::Headers),
];

#[test]
fn r02_amq_exchanges_are_predeclared() {
    let mut t = RoutingTable::new();
    assert_eq!(t.exchange_count(), 6, "default + five amq.*");
    let mut listed: Vec<&str> = t.exchanges().map(|x| x.name).collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        [
            "",
            "amq.direct",
            "amq.fanout",
            "amq.headers",
            "amq.match",
            "amq.topic"
        ]
    );
    for (name, kind) in PREDECLARED {
        let info = t.exchange(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(info.kind, kind, "{name}");
        assert_eq!(info.bindings, 0);
        assert!(!info.options.internal && !info.options.auto_delete);
    }
    // Each one routes according to its kind.
    for (name, _) in PREDECLARED {
        bind_q(&mut t, name, name.trim_start_matches("amq."), "k");
    }
    assert_eq!(routed(&t, "amq.direct", "k"), ["direct"]);
    assert_eq!(routed(&t, "amq.topic", "k"), ["topic"]);
    assert_eq!(routed(&t, "amq.fanout", "other"), ["fanout"]);
    assert_eq!(routed(&t, "amq.headers", "other"), ["headers"]);
    assert_eq!(routed(&t, "amq.match", "other"), ["match"]);
}

#[test]
fn r02_creating_an_amq_exchange_is_403() {
    let mut t = RoutingTable::new();
    for name in ["amq.custom", "amq.", "amq.direct2", "amq.topic.x"] {
        let err = t
            .declare_exchange(name, ExchangeKind::Direct, &ExchangeOptions::default())
            .unwrap_err();
        assert_eq!(err.reply_code(), 403, "{name}");
        assert!(
            matches!(
                err,
                DeclareError::AccessRefused {
                    kind: ObjectKind::Exchange,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(t.exchange(name).is_none());
    }
    // Only the exact prefix is reserved.
    for name in ["amq", "amqp.x", "AMQ.x", "x.amq.y"] {
        t.declare_exchange(name, ExchangeKind::Direct, &ExchangeOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn r02_redeclaring_an_existing_amq_exchange_is_fine() {
    let mut t = RoutingTable::new();
    for (name, kind) in PREDECLARED {
        let options = t.exchange(name).unwrap().options.clone();
        let id = t.declare_exchange(name, kind, &options);
        assert_eq!(id.ok(), t.exchange_id(name), "{name}");
    }
    let options = t.exchange("amq.topic").unwrap().options.clone();
    let err = t
        .declare_exchange("amq.topic", ExchangeKind::Direct, &options)
        .unwrap_err();
    assert_eq!(err.reply_code(), 406, "another kind is still inequivalent");
    assert_eq!(t.exchange_count(), 6);
}

#[test]
fn r02_deleting_an_amq_exchange_is_403() {
    let mut t = RoutingTable::new();
    for (name, _) in PREDECLARED {
        for if_unused in [false, true] {
            let err = t.delete_exchange(name, if_unused).unwrap_err();
            assert_eq!(err.reply_code(), 403, "{name}");
        }
        assert!(t.exchange(name).is_some(), "{name} survives");
    }
    assert_eq!(t.exchange_count(), 6);
}

#[test]
fn q02_queue_names_starting_with_amq_are_403_on_creation() {
    let mut t = RoutingTable::new();
    for name in ["amq.q", "amq.", "amq.gen-abc"] {
        let err = t.declare_queue(name).unwrap_err();
        assert_eq!(err.reply_code(), 403, "{name}");
        assert!(t.queue_id(name).is_none());
    }
    for name in ["amq", "amqp.q", "AMQ.q", "q.amq."] {
        t.declare_queue(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // Creation only: a server-named queue can be redeclared by name.
    let id = t
        .declare_generated_queue("amq.gen-1")
        .expect("generated name");
    assert_eq!(t.declare_queue("amq.gen-1"), Ok(id));
    assert_eq!(t.declare_generated_queue("amq.gen-1"), None, "name taken");
    assert_eq!(t.declare_generated_queue("plain"), None, "not an amq. name");
}

// ---------------------------------------------------------------------------------------
// E01: declare
// ---------------------------------------------------------------------------------------

#[test]
fn e01_redeclare_with_same_properties_returns_same_id() {
    let mut t = RoutingTable::new();
    let options = ExchangeOptions {
        durable: true,
        auto_delete: true,
        internal: true,
        alternate_exchange: Some("ae".into()),
    };
    let id = t
        .declare_exchange("x", ExchangeKind::Headers, &options)
        .unwrap();
    assert_eq!(
        t.declare_exchange("x", ExchangeKind::Headers, &options),
        Ok(id)
    );
    assert_eq!(t.exchange_id("x"), Some(id));
    assert_eq!(t.exchange_count(), 7);
}

#[test]
fn e01_redeclare_with_different_properties_is_406_inequivalent() {
    let base = ExchangeOptions {
        durable: true,
        alternate_exchange: Some("ae".into()),
        ..ExchangeOptions::default()
    };
    let cases: &[(&str, ExchangeKind, ExchangeOptions)] = &[
        ("type", ExchangeKind::Fanout, base.clone()),
        (
            "durable",
            ExchangeKind::Topic,
            ExchangeOptions {
                durable: false,
                ..base.clone()
            },
        ),
        (
            "auto_delete",
            ExchangeKind::Topic,
            ExchangeOptions {
                auto_delete: true,
                ..base.clone()
            },
        ),
        (
            "internal",
            ExchangeKind::Topic,
            ExchangeOptions {
                internal: true,
                ..base.clone()
            },
        ),
        (
            "alternate-exchange",
            ExchangeKind::Topic,
            ExchangeOptions {
                alternate_exchange: Some("other".into()),
                ..base.clone()
            },
        ),
        (
            "alternate-exchange",
            ExchangeKind::Topic,
            ExchangeOptions {
                alternate_exchange: None,
                ..base.clone()
            },
        ),
    ];
    for (want_property, kind, options) in cases {
        let mut t = RoutingTable::new();
        let id = t.declare_exchange("x", ExchangeKind::Topic, &base).unwrap();
        let err = t.declare_exchange("x", *kind, options).unwrap_err();
        assert_eq!(err.reply_code(), 406, "{want_property}");
        match &err {
            DeclareError::Inequivalent {
                kind: ObjectKind::Exchange,
                name,
                property,
            } => {
                assert_eq!(name, "x");
                assert_eq!(property, want_property);
            }
            other => panic!("expected Inequivalent, got {other:?}"),
        }
        // The exchange is unchanged.
        assert_eq!(t.exchange_id("x"), Some(id));
        let info = t.exchange("x").unwrap();
        assert_eq!(info.kind, ExchangeKind::Topic);
        assert_eq!(info.options, &base);
    }
}

#[test]
fn e01_unknown_exchange_type_is_406() {
    for bad in ["x-foo", "Direct", "TOPIC", "", "x-consistent-hash", "match"] {
        let err = bad.parse::<ExchangeKind>().unwrap_err();
        assert_eq!(err.reply_code(), 406, "{bad:?}");
        assert!(matches!(err, DeclareError::UnknownType { ref name } if name == bad));
    }
    for kind in [
        ExchangeKind::Direct,
        ExchangeKind::Fanout,
        ExchangeKind::Topic,
        ExchangeKind::Headers,
    ] {
        assert_eq!(kind.as_str().parse::<ExchangeKind>(), Ok(kind));
        assert_eq!(kind.to_string(), kind.as_str());
    }
}

// ---------------------------------------------------------------------------------------
// Size limits (AMQP short strings) and route errors
// ---------------------------------------------------------------------------------------

#[test]
fn names_over_255_bytes_are_406_at_declare() {
    let mut t = RoutingTable::new();
    let long = "n".repeat(MAX_NAME_LEN + 1);
    let max = "n".repeat(MAX_NAME_LEN);
    assert_eq!(MAX_NAME_LEN, 255);

    let err = t
        .declare_exchange(&long, ExchangeKind::Direct, &ExchangeOptions::default())
        .unwrap_err();
    assert_eq!(err.reply_code(), 406);
    assert!(
        matches!(err, DeclareError::InvalidName { len: 256, .. }),
        "{err:?}"
    );
    let err = t.declare_queue(&long).unwrap_err();
    assert_eq!(err.reply_code(), 406);
    assert!(
        matches!(err, DeclareError::InvalidName { len: 256, .. }),
        "{err:?}"
    );
    assert!(t.exchange(&long).is_none() && t.queue_id(&long).is_none());

    // 255 bytes is fine, multi-byte characters are counted in bytes.
    exchange(&mut t, &max, ExchangeKind::Direct);
    bind_q(&mut t, &max, &max, "k");
    assert_eq!(routed(&t, &max, "k"), [max.as_str()]);
    assert_eq!(routed(&t, "", &max), [max.as_str()]);
    let wide = "é".repeat(128); // 256 bytes
    assert_eq!(t.declare_queue(&wide).unwrap_err().reply_code(), 406);

    // An empty queue name is refused here (the broker names such queues).
    assert_eq!(t.declare_queue("").unwrap_err().reply_code(), 406);
}

#[test]
fn binding_keys_over_255_bytes_are_406_at_bind() {
    let mut t = RoutingTable::new();
    t.declare_queue("q").unwrap();
    let long = "k".repeat(256);
    let max = "k".repeat(255);
    for x in ["amq.direct", "amq.topic", "amq.fanout", "amq.headers"] {
        let err = t
            .bind(x, Destination::Queue("q"), &long, &none())
            .unwrap_err();
        assert_eq!(err.reply_code(), 406, "{x}");
        assert_eq!(err, BindError::KeyTooLong { len: 256 }, "{x}");
        let err = t
            .bind(x, Destination::Exchange("amq.fanout"), &long, &none())
            .unwrap_err();
        assert_eq!(err.reply_code(), 406, "{x} to an exchange");
    }
    assert_eq!(t.binding_count(), 0);
    for x in ["amq.direct", "amq.topic", "amq.fanout", "amq.headers"] {
        assert_eq!(
            t.bind(x, Destination::Queue("q"), &max, &none()),
            Ok(true),
            "{x}"
        );
    }
    assert_eq!(routed(&t, "amq.direct", &max), ["q"]);
    assert_eq!(routed(&t, "amq.topic", &max), ["q"]);
    assert_eq!(routed(&t, "amq.direct", &max[1..]), NOWHERE);
}

#[test]
fn route_errors_missing_internal_and_long_key() {
    let mut t = RoutingTable::new();
    exchange_with(
        &mut t,
        "internal",
        ExchangeKind::Fanout,
        ExchangeOptions {
            internal: true,
            ..ExchangeOptions::default()
        },
    );
    bind_q(&mut t, "internal", "q", "");
    bind_q(&mut t, "amq.topic", "q", "#");

    let err = t.route("missing", "k", None).unwrap_err();
    assert_eq!(err.reply_code(), 404);
    assert_eq!(
        err,
        RouteError::NotFound {
            name: "missing".into()
        }
    );

    let err = t.route("internal", "k", None).unwrap_err();
    assert_eq!(err.reply_code(), 403);
    assert_eq!(
        err,
        RouteError::Internal {
            name: "internal".into()
        }
    );

    let err = t.route("amq.topic", "k".repeat(256), None).unwrap_err();
    assert_eq!(err.reply_code(), 406);
    assert_eq!(err, RouteError::KeyTooLong { len: 256 });
    assert_eq!(routed(&t, "amq.topic", "k".repeat(255)), ["q"]);
    // On the default exchange too.
    assert_eq!(
        t.route("", "k".repeat(256), None).unwrap_err().reply_code(),
        406
    );
}

// ---------------------------------------------------------------------------------------
// TableOptions::max_hash_words
// ---------------------------------------------------------------------------------------

#[test]
fn max_hash_words_refuses_extra_hashes_on_topic_exchanges_only() {
    let mut t = RoutingTable::with_options(TableOptions {
        max_hash_words: Some(2),
        ..TableOptions::default()
    });
    assert_eq!(t.options().max_hash_words, Some(2));
    t.declare_queue("q").unwrap();
    for key in ["#.#.#", "#.a.#.b.#", "#.#.#.#"] {
        let err = t
            .bind("amq.topic", Destination::Queue("q"), key, &none())
            .unwrap_err();
        assert_eq!(err.reply_code(), 406, "{key}");
        assert!(
            matches!(err, BindError::TooManyHashes { max: 2, .. }),
            "{err:?}"
        );
    }
    assert_eq!(t.binding_count(), 0);
    // Two `#` words are fine; `##` and `a#` are literals, not `#` words.
    for key in ["#.#", "#.b.#", "##.#.#", "a#.#.#b.#"] {
        assert_eq!(
            t.bind("amq.topic", Destination::Queue("q"), key, &none()),
            Ok(true),
            "{key}"
        );
    }
    // Other kinds do not read keys as patterns.
    for x in ["amq.direct", "amq.fanout", "amq.headers"] {
        assert_eq!(
            t.bind(x, Destination::Queue("q"), "#.#.#", &none()),
            Ok(true),
            "{x}"
        );
    }
    assert_eq!(routed(&t, "amq.direct", "#.#.#"), ["q"]);
}

#[test]
fn default_table_has_no_hash_limit() {
    let mut t = RoutingTable::new();
    assert_eq!(t.options(), &TableOptions::default());
    assert_eq!(t.options().max_hash_words, None);
    bind_q(&mut t, "amq.topic", "q", "#.#.#");
    bind_q(&mut t, "amq.topic", "r", "#.#.#.#.#.#.#.#.x");
    assert_eq!(routed(&t, "amq.topic", ""), ["q"]);
    assert_eq!(routed(&t, "amq.topic", "a.b.x"), ["q", "r"]);
    assert_eq!(routed(&t, "amq.topic", "x"), ["q", "r"]);
}

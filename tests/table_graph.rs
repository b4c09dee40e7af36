//! Black-box tests of `RoutingTable`: exchange-to-exchange graphs and alternate
//! exchanges (CONFORMANCE R04, R05).

mod common;

use common::*;
use trackswitch::{Destination, ExchangeKind, ExchangeOptions, RoutingTable};

// ---------------------------------------------------------------------------------------
// R04: exchange-to-exchange bindings
// ---------------------------------------------------------------------------------------

#[test]
fn r04_chain_matches_the_key_at_every_hop() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "x-topic", ExchangeKind::Topic);
    exchange(&mut t, "x-direct", ExchangeKind::Direct);
    exchange(&mut t, "x-fanout", ExchangeKind::Fanout);
    bind_x(&mut t, "x-topic", "x-direct", "a.#");
    bind_x(&mut t, "x-direct", "x-fanout", "a.b");
    bind_q(&mut t, "x-fanout", "end", "ignored");
    bind_q(&mut t, "x-direct", "mid", "a.c");
    let cases: &[(&str, &[&str])] = &[
        ("a.b", &["end"]),
        ("a.c", &["mid"]),
        ("a.d", &[]),
        ("b.b", &[]),
    ];
    for &(key, want) in cases {
        assert_eq!(routed(&t, "x-topic", key), want, "key {key:?}");
    }
    // Publishing at a later hop skips the earlier filters.
    assert_eq!(routed(&t, "x-fanout", "zzz"), ["end"]);
}

#[test]
fn r04_diamond_delivers_one_copy_per_queue() {
    let mut t = RoutingTable::new();
    for x in ["top", "left", "right"] {
        exchange(&mut t, x, ExchangeKind::Fanout);
    }
    exchange(&mut t, "bottom", ExchangeKind::Topic);
    bind_x(&mut t, "top", "left", "");
    bind_x(&mut t, "top", "right", "");
    bind_x(&mut t, "left", "bottom", "");
    bind_x(&mut t, "right", "bottom", "");
    bind_q(&mut t, "left", "shared", "");
    bind_q(&mut t, "right", "shared", "");
    bind_q(&mut t, "right", "only-right", "");
    bind_q(&mut t, "bottom", "shared", "#");
    bind_q(&mut t, "bottom", "deep", "*");
    bind_q(&mut t, "top", "deep", "");
    let result = t.route("top", "k", None).unwrap();
    assert_eq!(result.len(), 3);
    assert_eq!(names(&t, &result), ["deep", "only-right", "shared"]);
    assert_eq!(routed(&t, "top", "k.k"), ["deep", "only-right", "shared"]);
    assert_eq!(routed(&t, "bottom", "k.k"), ["shared"]);
}

#[test]
fn r04_cycle_between_two_exchanges_terminates() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "x1", ExchangeKind::Fanout);
    exchange(&mut t, "x2", ExchangeKind::Topic);
    bind_x(&mut t, "x1", "x2", "");
    bind_x(&mut t, "x2", "x1", "#");
    bind_q(&mut t, "x1", "q1", "");
    bind_q(&mut t, "x2", "q2", "a.*");
    assert_eq!(routed(&t, "x1", "a.b"), ["q1", "q2"]);
    assert_eq!(routed(&t, "x1", "c"), ["q1"]);
    assert_eq!(routed(&t, "x2", "a.b"), ["q1", "q2"]);
    assert_eq!(routed(&t, "x2", "c"), ["q1"]);
}

#[test]
fn r04_self_binding_terminates() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "x", ExchangeKind::Topic);
    bind_x(&mut t, "x", "x", "#");
    bind_q(&mut t, "x", "q", "a");
    assert_eq!(routed(&t, "x", "a"), ["q"]);
    assert_eq!(routed(&t, "x", "b"), NOWHERE);
    exchange(&mut t, "f", ExchangeKind::Fanout);
    bind_x(&mut t, "f", "f", "");
    assert_eq!(routed(&t, "f", "a"), NOWHERE);
    bind_q(&mut t, "f", "q", "");
    assert_eq!(routed(&t, "f", "a"), ["q"]);
}

#[test]
fn r04_longer_cycle_with_queues_on_every_hop() {
    let mut t = RoutingTable::new();
    let ring = ["r0", "r1", "r2", "r3", "r4"];
    for x in ring {
        exchange(&mut t, x, ExchangeKind::Direct);
    }
    for (i, x) in ring.iter().enumerate() {
        bind_x(&mut t, x, ring[(i + 1) % ring.len()], "k");
        bind_q(&mut t, x, &format!("q-{x}"), "k");
    }
    for x in ring {
        assert_eq!(
            routed(&t, x, "k"),
            ["q-r0", "q-r1", "q-r2", "q-r3", "q-r4"],
            "from {x}"
        );
        assert_eq!(routed(&t, x, "other"), NOWHERE);
    }
}

#[test]
fn r04_headers_exchange_in_a_graph() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "h", ExchangeKind::Headers);
    exchange(&mut t, "f", ExchangeKind::Fanout);
    t.bind(
        "h",
        Destination::Exchange("f"),
        "",
        &table_of(&[("kind", "a".into())]),
    )
    .unwrap();
    bind_q(&mut t, "f", "q", "");
    bind_x(&mut t, "amq.topic", "h", "#");
    let a = table_of(&[("kind", "a".into())]);
    let b = table_of(&[("kind", "b".into())]);
    assert_eq!(routed_h(&t, "amq.topic", "any.key", &a), ["q"]);
    assert_eq!(routed_h(&t, "amq.topic", "any.key", &b), NOWHERE);
    assert_eq!(routed(&t, "amq.topic", "any.key"), NOWHERE);
}

// ---------------------------------------------------------------------------------------
// R05: alternate exchanges
// ---------------------------------------------------------------------------------------

#[test]
fn r05_alternate_exchange_used_only_when_own_routing_finds_nothing() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "ae", ExchangeKind::Fanout);
    bind_q(&mut t, "ae", "unrouted", "");
    exchange_with(&mut t, "x", ExchangeKind::Direct, with_ae("ae"));
    bind_q(&mut t, "x", "q", "k");
    assert_eq!(routed(&t, "x", "k"), ["q"]);
    assert_eq!(routed(&t, "x", "other"), ["unrouted"]);
    assert_eq!(routed(&t, "x", ""), ["unrouted"]);
    for kind in [
        ExchangeKind::Topic,
        ExchangeKind::Fanout,
        ExchangeKind::Headers,
    ] {
        let name = format!("empty-{kind}");
        exchange_with(&mut t, &name, kind, with_ae("ae"));
        assert_eq!(routed(&t, &name, "k"), ["unrouted"], "{kind}");
    }
    // A headers exchange whose bindings do not match uses its AE too.
    bind_q_args(
        &mut t,
        "empty-headers",
        "pdf",
        "",
        &table_of(&[("format", "pdf".into())]),
    );
    let pdf = table_of(&[("format", "pdf".into())]);
    assert_eq!(routed_h(&t, "empty-headers", "", &pdf), ["pdf"]);
    assert_eq!(routed(&t, "empty-headers", ""), ["unrouted"]);
}

#[test]
fn r05_bound_exchange_routing_nowhere_uses_its_own_alternate() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "y-ae", ExchangeKind::Fanout);
    bind_q(&mut t, "y-ae", "y-unrouted", "");
    exchange_with(&mut t, "y", ExchangeKind::Direct, with_ae("y-ae"));
    bind_q(&mut t, "y", "y-q", "other");
    exchange(&mut t, "x", ExchangeKind::Direct);
    bind_x(&mut t, "x", "y", "k");
    assert_eq!(routed(&t, "x", "k"), ["y-unrouted"]);
    assert_eq!(
        routed(&t, "x", "other"),
        NOWHERE,
        "x routes nowhere, has no AE"
    );
}

#[test]
fn r05_matching_an_exchange_suppresses_the_alternate_even_if_it_routes_nowhere() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "x-ae", ExchangeKind::Fanout);
    bind_q(&mut t, "x-ae", "x-unrouted", "");
    exchange_with(&mut t, "x", ExchangeKind::Topic, with_ae("x-ae"));
    exchange(&mut t, "y", ExchangeKind::Direct);
    bind_x(&mut t, "x", "y", "a.*");
    bind_q(&mut t, "y", "y-q", "a.b");
    assert_eq!(routed(&t, "x", "a.b"), ["y-q"]);
    // x matched y, so x's AE is not used even though y finds no queue.
    assert_eq!(routed(&t, "x", "a.c"), NOWHERE);
    // x matched nothing: its AE.
    assert_eq!(routed(&t, "x", "b"), ["x-unrouted"]);
    // When y has an AE of its own, y's AE is used (and still not x's).
    let mut t2 = RoutingTable::new();
    exchange(&mut t2, "x-ae", ExchangeKind::Fanout);
    bind_q(&mut t2, "x-ae", "x-unrouted", "");
    exchange(&mut t2, "y-ae", ExchangeKind::Fanout);
    bind_q(&mut t2, "y-ae", "y-unrouted", "");
    exchange_with(&mut t2, "x", ExchangeKind::Topic, with_ae("x-ae"));
    exchange_with(&mut t2, "y", ExchangeKind::Direct, with_ae("y-ae"));
    bind_x(&mut t2, "x", "y", "a.*");
    bind_q(&mut t2, "y", "y-q", "a.b");
    assert_eq!(routed(&t2, "x", "a.b"), ["y-q"]);
    assert_eq!(routed(&t2, "x", "a.c"), ["y-unrouted"]);
    assert_eq!(routed(&t2, "x", "b"), ["x-unrouted"]);
}

#[test]
fn r05_alternate_exchanges_chain() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "ae3", ExchangeKind::Fanout);
    bind_q(&mut t, "ae3", "last", "");
    exchange_with(&mut t, "ae2", ExchangeKind::Topic, with_ae("ae3"));
    bind_q(&mut t, "ae2", "second", "two.#");
    exchange_with(&mut t, "ae1", ExchangeKind::Direct, with_ae("ae2"));
    bind_q(&mut t, "ae1", "first", "one");
    exchange_with(&mut t, "x", ExchangeKind::Direct, with_ae("ae1"));
    bind_q(&mut t, "x", "direct", "zero");
    let cases: &[(&str, &[&str])] = &[
        ("zero", &["direct"]),
        ("one", &["first"]),
        ("two.x", &["second"]),
        ("three", &["last"]),
    ];
    for &(key, want) in cases {
        assert_eq!(routed(&t, "x", key), want, "key {key:?}");
    }
}

#[test]
fn r05_alternate_exchange_cycles_end() {
    let mut t = RoutingTable::new();
    exchange_with(&mut t, "a", ExchangeKind::Direct, with_ae("b"));
    exchange_with(&mut t, "b", ExchangeKind::Direct, with_ae("a"));
    exchange_with(&mut t, "self", ExchangeKind::Direct, with_ae("self"));
    bind_q(&mut t, "a", "qa", "ka");
    bind_q(&mut t, "b", "qb", "kb");
    assert_eq!(routed(&t, "a", "none"), NOWHERE);
    assert_eq!(routed(&t, "b", "none"), NOWHERE);
    assert_eq!(routed(&t, "self", "none"), NOWHERE);
    assert_eq!(routed(&t, "a", "kb"), ["qb"]);
    assert_eq!(routed(&t, "b", "ka"), ["qa"]);
}

#[test]
fn r05_missing_alternate_exchange_is_skipped() {
    let mut t = RoutingTable::new();
    exchange_with(&mut t, "x", ExchangeKind::Direct, with_ae("later"));
    bind_q(&mut t, "x", "q", "k");
    assert_eq!(routed(&t, "x", "k"), ["q"]);
    assert_eq!(routed(&t, "x", "other"), NOWHERE);
    // The AE is looked up by name when routing, so declaring it later takes effect.
    exchange(&mut t, "later", ExchangeKind::Fanout);
    bind_q(&mut t, "later", "unrouted", "");
    assert_eq!(routed(&t, "x", "other"), ["unrouted"]);
    assert!(t.delete_exchange("later", false).unwrap());
    assert_eq!(routed(&t, "x", "other"), NOWHERE);
}

#[test]
fn r05_internal_alternate_exchange_still_works() {
    let mut t = RoutingTable::new();
    exchange_with(
        &mut t,
        "ae",
        ExchangeKind::Fanout,
        ExchangeOptions {
            internal: true,
            ..ExchangeOptions::default()
        },
    );
    bind_q(&mut t, "ae", "unrouted", "");
    exchange_with(&mut t, "x", ExchangeKind::Direct, with_ae("ae"));
    assert_eq!(routed(&t, "x", "k"), ["unrouted"]);
    // Internal only refuses direct publishes.
    assert_eq!(t.route("ae", "k", None).unwrap_err().reply_code(), 403);
    // An internal exchange is also reachable through a binding.
    bind_x(&mut t, "amq.direct", "ae", "k");
    assert_eq!(routed(&t, "amq.direct", "k"), ["unrouted"]);
}

#[test]
fn r05_alternate_of_an_exchange_already_visited_adds_nothing_twice() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "f", ExchangeKind::Fanout);
    bind_q(&mut t, "f", "qf", "");
    exchange_with(&mut t, "y", ExchangeKind::Direct, with_ae("f"));
    exchange(&mut t, "x", ExchangeKind::Fanout);
    bind_x(&mut t, "x", "f", "");
    bind_x(&mut t, "x", "y", "");
    let result = t.route("x", "k", None).unwrap();
    assert_eq!(result.len(), 1);
    assert_eq!(names(&t, &result), ["qf"]);
}

#[test]
fn r05_alternate_used_again_once_every_binding_is_removed() {
    for kind in [
        ExchangeKind::Direct,
        ExchangeKind::Topic,
        ExchangeKind::Fanout,
        ExchangeKind::Headers,
    ] {
        let mut t = RoutingTable::new();
        exchange(&mut t, "ae", ExchangeKind::Fanout);
        bind_q(&mut t, "ae", "unrouted", "");
        exchange_with(&mut t, "x", kind, with_ae("ae"));
        for (q, key) in [("q1", "k"), ("q2", "k"), ("q1", "k.#")] {
            bind_q(&mut t, "x", q, key);
        }
        assert!(!routed(&t, "x", "k").contains(&"unrouted"), "{kind}");
        for (q, key) in [("q1", "k"), ("q2", "k"), ("q1", "k.#")] {
            assert_eq!(
                t.unbind("x", Destination::Queue(q), key, &none()),
                Ok(true),
                "{kind}"
            );
        }
        assert_eq!(routed(&t, "x", "k"), ["unrouted"], "{kind}");
        // Likewise when the bound queues are deleted instead.
        bind_q(&mut t, "x", "q3", "k");
        assert!(t.delete_queue("q3"));
        assert_eq!(
            routed(&t, "x", "k"),
            ["unrouted"],
            "{kind} after queue deletion"
        );
    }
}

#[test]
fn r04_large_fanouts_through_a_diamond_deliver_one_copy_each() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "left", ExchangeKind::Fanout);
    exchange(&mut t, "right", ExchangeKind::Fanout);
    exchange(&mut t, "top", ExchangeKind::Topic);
    bind_x(&mut t, "top", "left", "#");
    bind_x(&mut t, "top", "right", "#");
    // Overlapping ranges of queue ids, crossing 64-bit word boundaries.
    for i in 0..200 {
        let q = format!("q{i:03}");
        if i < 130 {
            bind_q(&mut t, "left", &q, "");
        }
        if i >= 60 {
            bind_q(&mut t, "right", &q, "");
        }
        if i % 7 == 0 {
            bind_q(&mut t, "top", &q, "k");
        }
    }
    let result = t.route("top", "k", None).unwrap();
    assert_eq!(result.len(), 200);
    let names = names(&t, &result);
    let want: Vec<String> = (0..200).map(|i| format!("q{i:03}")).collect();
    assert_eq!(names, want);
    assert_eq!(routed(&t, "left", "").len(), 130);
    assert_eq!(routed(&t, "right", "").len(), 140);
}

//! Black-box tests of `RoutingTable`: the life cycle of exchanges, queues and bindings
//! (CONFORMANCE E02-E04), binding identity and ids.

mod common;

use common::*;
use trackswitch::{
    BindError, DeleteError, Destination, ExchangeKind, FieldTable, FieldValue, ObjectKind,
    RoutingTable,
};

/// Every binding as (source, destination, key, arguments), sorted.
fn binding_list(t: &RoutingTable) -> Vec<(String, String, Vec<u8>, FieldTable)> {
    let mut v: Vec<_> = t
        .bindings()
        .map(|b| {
            let dest = match b.destination {
                Destination::Queue(q) => format!("queue:{q}"),
                Destination::Exchange(x) => format!("exchange:{x}"),
            };
            (
                b.source.to_owned(),
                dest,
                b.key.to_vec(),
                b.arguments.clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    assert_eq!(
        v.len(),
        t.binding_count(),
        "bindings() and binding_count() agree"
    );
    v
}

/// Every binding as "source -> destination key", sorted, arguments left out.
fn binding_summary(t: &RoutingTable) -> Vec<String> {
    binding_list(t)
        .into_iter()
        .map(|(s, d, k, _)| format!("{s} -> {d} {}", String::from_utf8_lossy(&k)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// E02: auto-delete
// ---------------------------------------------------------------------------------------

#[test]
fn e02_auto_delete_when_last_binding_is_unbound() {
    let mut t = RoutingTable::new();
    exchange_with(&mut t, "ad", ExchangeKind::Direct, auto_delete());
    bind_q(&mut t, "ad", "q1", "k1");
    bind_q(&mut t, "ad", "q2", "k2");
    assert_eq!(
        t.unbind("ad", Destination::Queue("q1"), "k1", &none()),
        Ok(true)
    );
    assert!(t.exchange("ad").is_some(), "one binding left");
    assert_eq!(routed(&t, "ad", "k2"), ["q2"]);
    assert_eq!(
        t.unbind("ad", Destination::Queue("q2"), "k2", &none()),
        Ok(true)
    );
    assert!(t.exchange("ad").is_none(), "auto-deleted");
    assert_eq!(t.exchange_id("ad"), None);
    assert_eq!(t.route("ad", "k2", None).unwrap_err().reply_code(), 404);
    assert_eq!(t.queue_count(), 2, "queues stay");
    assert_eq!(t.exchange_count(), 6);
    t.check_invariants();
}

#[test]
fn e02_auto_delete_when_last_bound_queue_is_deleted() {
    let mut t = RoutingTable::new();
    exchange_with(&mut t, "ad", ExchangeKind::Topic, auto_delete());
    bind_q(&mut t, "ad", "q", "a.*");
    bind_q(&mut t, "ad", "q", "#");
    bind_q(&mut t, "ad", "r", "b");
    assert!(t.delete_queue("r"));
    assert!(t.exchange("ad").is_some());
    assert!(t.delete_queue("q"));
    assert!(
        t.exchange("ad").is_none(),
        "auto-deleted with its last queue"
    );
    assert!(!t.delete_queue("q"), "already gone");
    assert_eq!(t.binding_count(), 0);
    t.check_invariants();
}

#[test]
fn e02_auto_delete_when_destination_exchange_is_deleted() {
    let mut t = RoutingTable::new();
    exchange_with(&mut t, "ad", ExchangeKind::Fanout, auto_delete());
    exchange(&mut t, "dest", ExchangeKind::Fanout);
    bind_x(&mut t, "ad", "dest", "");
    assert!(t.delete_exchange("dest", false).unwrap());
    assert!(t.exchange("ad").is_none());
    assert_eq!(t.binding_count(), 0);
    t.check_invariants();
}

#[test]
fn e02_auto_delete_cascades_through_a_chain() {
    let mut t = RoutingTable::new();
    for x in ["a", "b", "c"] {
        exchange_with(&mut t, x, ExchangeKind::Fanout, auto_delete());
    }
    exchange(&mut t, "keep", ExchangeKind::Fanout);
    bind_x(&mut t, "a", "b", "");
    bind_x(&mut t, "b", "c", "");
    bind_q(&mut t, "c", "q", "");
    bind_x(&mut t, "keep", "a", "");
    assert_eq!(routed(&t, "keep", ""), ["q"]);
    assert!(t.delete_queue("q"));
    for x in ["a", "b", "c"] {
        assert!(t.exchange(x).is_none(), "{x} auto-deleted");
    }
    assert!(t.exchange("keep").is_some(), "not auto-delete");
    assert_eq!(t.binding_count(), 0, "keep -> a went with a");
    assert_eq!(t.exchange("keep").unwrap().bindings, 0);
    assert_eq!(routed(&t, "keep", ""), NOWHERE);
    t.check_invariants();
}

#[test]
fn e02_auto_delete_cascade_stops_at_an_exchange_with_other_bindings() {
    let mut t = RoutingTable::new();
    for x in ["a", "b"] {
        exchange_with(&mut t, x, ExchangeKind::Fanout, auto_delete());
    }
    bind_x(&mut t, "a", "b", "");
    bind_q(&mut t, "a", "qa", "");
    bind_q(&mut t, "b", "qb", "");
    assert_eq!(
        t.unbind("b", Destination::Queue("qb"), "", &none()),
        Ok(true)
    );
    assert!(t.exchange("b").is_none());
    assert!(t.exchange("a").is_some(), "a still has a -> qa");
    assert_eq!(binding_summary(&t), ["a -> queue:qa "]);
    assert_eq!(routed(&t, "a", ""), ["qa"]);
    t.check_invariants();
}

#[test]
fn e02_auto_delete_cycle_of_auto_delete_exchanges() {
    let mut t = RoutingTable::new();
    for x in ["a", "b"] {
        exchange_with(&mut t, x, ExchangeKind::Fanout, auto_delete());
    }
    bind_x(&mut t, "a", "b", "");
    bind_x(&mut t, "b", "a", "");
    bind_q(&mut t, "a", "q", "");
    assert_eq!(routed(&t, "b", ""), ["q"]);
    // Deleting a removes b -> a, b's last binding: b goes too.
    assert!(t.delete_exchange("a", false).unwrap());
    assert!(t.exchange("b").is_none());
    assert_eq!(t.binding_count(), 0);
    t.check_invariants();
}

#[test]
fn e02_never_auto_deleted_without_a_binding_as_source() {
    let mut t = RoutingTable::new();
    exchange_with(&mut t, "ad", ExchangeKind::Direct, auto_delete());
    exchange(&mut t, "src", ExchangeKind::Direct);
    t.declare_queue("q").unwrap();
    // Unbinding what never existed does not delete it.
    assert_eq!(
        t.unbind("ad", Destination::Queue("q"), "k", &none()),
        Ok(false)
    );
    assert!(t.exchange("ad").is_some());
    // Being a destination does not count.
    bind_x(&mut t, "src", "ad", "k");
    assert_eq!(
        t.unbind("src", Destination::Exchange("ad"), "k", &none()),
        Ok(true)
    );
    assert!(t.exchange("ad").is_some());
    assert!(t.delete_queue("q"));
    assert!(t.exchange("ad").is_some());
    // Only a binding with it as source counts; its removal then deletes the exchange.
    bind_q(&mut t, "ad", "q2", "k");
    bind_x(&mut t, "src", "ad", "k");
    assert_eq!(
        t.unbind("src", Destination::Exchange("ad"), "k", &none()),
        Ok(true)
    );
    assert!(t.exchange("ad").is_some(), "inbound bindings do not count");
    assert_eq!(
        t.unbind("ad", Destination::Queue("q2"), "k", &none()),
        Ok(true)
    );
    assert!(t.exchange("ad").is_none());
    t.check_invariants();
}

#[test]
fn e02_auto_delete_removes_bindings_to_it() {
    let mut t = RoutingTable::new();
    exchange_with(&mut t, "ad", ExchangeKind::Fanout, auto_delete());
    exchange(&mut t, "src", ExchangeKind::Topic);
    bind_q(&mut t, "ad", "q", "");
    bind_x(&mut t, "src", "ad", "#");
    bind_q(&mut t, "src", "direct", "a");
    assert_eq!(routed(&t, "src", "a"), ["direct", "q"]);
    assert_eq!(
        t.unbind("ad", Destination::Queue("q"), "", &none()),
        Ok(true)
    );
    assert!(t.exchange("ad").is_none());
    assert_eq!(binding_summary(&t), ["src -> queue:direct a"]);
    assert_eq!(routed(&t, "src", "a"), ["direct"]);
    // The name is free again, with no bindings.
    exchange(&mut t, "ad", ExchangeKind::Fanout);
    bind_q(&mut t, "ad", "fresh", "");
    assert_eq!(routed(&t, "src", "a"), ["direct"]);
    t.check_invariants();
}

// ---------------------------------------------------------------------------------------
// E03: delete
// ---------------------------------------------------------------------------------------

#[test]
fn e03_deleting_a_missing_exchange_is_fine() {
    let mut t = RoutingTable::new();
    assert_eq!(t.delete_exchange("missing", false), Ok(false));
    assert_eq!(t.delete_exchange("missing", true), Ok(false));
    exchange(&mut t, "x", ExchangeKind::Direct);
    assert_eq!(t.delete_exchange("x", false), Ok(true));
    assert_eq!(t.delete_exchange("x", false), Ok(false));
}

#[test]
fn e03_if_unused_with_a_binding_as_source_is_406() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "x", ExchangeKind::Direct);
    bind_q(&mut t, "x", "q", "k");
    let err = t.delete_exchange("x", true).unwrap_err();
    assert_eq!(err.reply_code(), 406);
    assert!(matches!(
        err,
        DeleteError::InUse {
            kind: ObjectKind::Exchange,
            ..
        }
    ));
    assert_eq!(routed(&t, "x", "k"), ["q"], "still there, still bound");
    // Bindings with it as destination do not make it used.
    exchange(&mut t, "dest", ExchangeKind::Fanout);
    bind_x(&mut t, "x", "dest", "d");
    assert_eq!(t.delete_exchange("dest", true), Ok(true));
    assert_eq!(binding_summary(&t), ["x -> queue:q k"]);
    // Once unbound, if_unused deletes it.
    assert_eq!(
        t.unbind("x", Destination::Queue("q"), "k", &none()),
        Ok(true)
    );
    assert_eq!(t.delete_exchange("x", true), Ok(true));
    t.check_invariants();
}

#[test]
fn e03_delete_removes_bindings_where_it_is_source_or_destination() {
    let mut t = RoutingTable::new();
    for x in ["up", "mid", "down"] {
        exchange(&mut t, x, ExchangeKind::Topic);
    }
    bind_x(&mut t, "up", "mid", "#");
    bind_x(&mut t, "mid", "down", "#");
    bind_x(&mut t, "mid", "mid", "loop");
    bind_q(&mut t, "mid", "qm", "#");
    bind_q(&mut t, "up", "qu", "#");
    bind_q(&mut t, "down", "qd", "#");
    bind_x(&mut t, "down", "mid", "back");
    assert_eq!(t.binding_count(), 7);
    assert_eq!(routed(&t, "up", "a"), ["qd", "qm", "qu"]);

    assert_eq!(t.delete_exchange("mid", false), Ok(true));
    assert_eq!(t.binding_count(), 2);
    assert_eq!(
        binding_summary(&t),
        ["down -> queue:qd #", "up -> queue:qu #"]
    );
    assert_eq!(t.exchange("up").unwrap().bindings, 1);
    assert_eq!(t.exchange("down").unwrap().bindings, 1);
    assert_eq!(routed(&t, "up", "a"), ["qu"]);
    assert_eq!(routed(&t, "down", "back"), ["qd"]);
    assert_eq!(t.queue_count(), 3, "queues are not deleted");
    t.check_invariants();
}

#[test]
fn deleting_a_queue_removes_its_bindings() {
    let mut t = RoutingTable::new();
    bind_q(&mut t, "amq.direct", "q", "k");
    bind_q(&mut t, "amq.topic", "q", "#");
    bind_q(&mut t, "amq.topic", "r", "#");
    assert!(t.delete_queue("q"));
    assert_eq!(binding_summary(&t), ["amq.topic -> queue:r #"]);
    assert_eq!(routed(&t, "amq.direct", "k"), NOWHERE);
    assert_eq!(routed(&t, "amq.topic", "k"), ["r"]);
    assert_eq!(routed(&t, "", "q"), NOWHERE);
    assert!(!t.delete_queue("q"));
    assert_eq!(
        t.bind("amq.direct", Destination::Queue("q"), "k", &none())
            .unwrap_err()
            .reply_code(),
        404
    );
}

/// A destination's bindings are kept in steps (none, one, a few, many); every step and
/// every way back must keep the same bindings: count, routes, deletion of either side.
#[test]
fn destinations_with_one_few_and_many_bindings_keep_every_binding() {
    for n in [1usize, 2, 16, 17, 40] {
        let mut t = RoutingTable::new();
        t.declare_exchange("e", ExchangeKind::Topic, &Default::default())
            .unwrap();
        t.declare_queue("q").unwrap();
        let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
        for (i, k) in keys.iter().enumerate() {
            // Alternate sources, and to the queue and to the exchange `e`.
            let source = if i % 2 == 0 {
                "amq.topic"
            } else {
                "amq.direct"
            };
            assert!(t.bind(source, Destination::Queue("q"), k, &none()).unwrap());
            assert!(!t.bind(source, Destination::Queue("q"), k, &none()).unwrap());
            assert!(
                t.bind(source, Destination::Exchange("e"), k, &none())
                    .unwrap()
            );
            t.check_invariants();
        }
        assert_eq!(t.binding_count(), 2 * n);
        // Unbind every third one, out of order, and check the rest still route.
        let mut gone = Vec::new();
        for i in (0..n).rev().filter(|i| i % 3 == 0) {
            let source = if i % 2 == 0 {
                "amq.topic"
            } else {
                "amq.direct"
            };
            assert!(
                t.unbind(source, Destination::Queue("q"), &keys[i], &none())
                    .unwrap()
            );
            assert!(
                !t.unbind(source, Destination::Queue("q"), &keys[i], &none())
                    .unwrap()
            );
            gone.push(i);
            t.check_invariants();
        }
        for (i, k) in keys.iter().enumerate() {
            let source = if i % 2 == 0 {
                "amq.topic"
            } else {
                "amq.direct"
            };
            let want: &[&str] = if gone.contains(&i) { &NOWHERE } else { &["q"] };
            assert_eq!(routed(&t, source, k), want, "n={n} key {k}");
        }
        assert_eq!(t.binding_count(), 2 * n - gone.len());
        // Deleting the destination exchange drops its bindings from both sources.
        assert!(t.delete_exchange("e", false).unwrap());
        t.check_invariants();
        assert_eq!(t.binding_count(), n - gone.len());
        assert!(t.delete_queue("q"));
        t.check_invariants();
        assert_eq!(t.binding_count(), 0);
    }
}

// ---------------------------------------------------------------------------------------
// E04: bind and unbind
// ---------------------------------------------------------------------------------------

#[test]
fn e04_missing_source_or_destination_is_404() {
    let mut t = RoutingTable::new();
    t.declare_queue("q").unwrap();
    let cases: &[(&str, Destination<'_>, ObjectKind, &str)] = &[
        (
            "nope",
            Destination::Queue("q"),
            ObjectKind::Exchange,
            "nope",
        ),
        (
            "amq.direct",
            Destination::Queue("nope"),
            ObjectKind::Queue,
            "nope",
        ),
        (
            "amq.direct",
            Destination::Exchange("nope"),
            ObjectKind::Exchange,
            "nope",
        ),
        // A queue is not an exchange and vice versa.
        (
            "amq.direct",
            Destination::Exchange("q"),
            ObjectKind::Exchange,
            "q",
        ),
        (
            "amq.direct",
            Destination::Queue("amq.fanout"),
            ObjectKind::Queue,
            "amq.fanout",
        ),
    ];
    for &(source, dest, kind, missing) in cases {
        let want = BindError::NotFound {
            kind,
            name: missing.into(),
        };
        let err = t.bind(source, dest, "k", &none()).unwrap_err();
        assert_eq!(err.reply_code(), 404, "bind {source} -> {dest:?}");
        assert_eq!(err, want);
        let err = t.unbind(source, dest, "k", &none()).unwrap_err();
        assert_eq!(err.reply_code(), 404, "unbind {source} -> {dest:?}");
        assert_eq!(err, want);
    }
    assert_eq!(t.binding_count(), 0);
}

#[test]
fn e04_duplicate_bind_is_idempotent() {
    let mut t = RoutingTable::new();
    let args = table_of(&[("a", 1.into())]);
    for x in ["amq.direct", "amq.topic", "amq.fanout", "amq.headers"] {
        bind_q_args(&mut t, x, "q", "k", &args);
        let before = t.binding_count();
        assert_eq!(
            t.bind(x, Destination::Queue("q"), "k", &args),
            Ok(false),
            "{x}"
        );
        assert_eq!(t.binding_count(), before, "{x}");
        assert_eq!(t.exchange(x).unwrap().bindings, 1, "{x}");
        let h = table_of(&[("a", 1.into())]);
        assert_eq!(routed_h(&t, x, "k", &h), ["q"], "{x}");
        // One unbind removes it.
        assert_eq!(
            t.unbind(x, Destination::Queue("q"), "k", &args),
            Ok(true),
            "{x}"
        );
        assert_eq!(routed_h(&t, x, "k", &h), NOWHERE, "{x}");
    }
    bind_x(&mut t, "amq.direct", "amq.fanout", "k");
    assert_eq!(
        t.bind(
            "amq.direct",
            Destination::Exchange("amq.fanout"),
            "k",
            &none()
        ),
        Ok(false)
    );
    assert_eq!(t.binding_count(), 1);
    t.check_invariants();
}

#[test]
fn e04_unbinding_what_does_not_exist_is_ok() {
    let mut t = RoutingTable::new();
    bind_q(&mut t, "amq.topic", "q", "a.*");
    let dest = Destination::Queue("q");
    assert_eq!(
        t.unbind("amq.topic", dest, "a.b", &none()),
        Ok(false),
        "other key"
    );
    assert_eq!(
        t.unbind("amq.topic", dest, "a", &none()),
        Ok(false),
        "prefix"
    );
    let args = table_of(&[("never", "used".into())]);
    assert_eq!(
        t.unbind("amq.topic", dest, "a.*", &args),
        Ok(false),
        "other args"
    );
    assert_eq!(
        t.unbind("amq.direct", dest, "a.*", &none()),
        Ok(false),
        "other source"
    );
    assert_eq!(
        t.unbind("amq.topic", dest, "k".repeat(300), &none()),
        Ok(false)
    );
    assert_eq!(t.binding_count(), 1);
    assert_eq!(t.unbind("amq.topic", dest, "a.*", &none()), Ok(true));
    assert_eq!(
        t.unbind("amq.topic", dest, "a.*", &none()),
        Ok(false),
        "twice"
    );
    assert_eq!(t.binding_count(), 0);
    t.check_invariants();
}

// ---------------------------------------------------------------------------------------
// Binding identity includes the arguments
// ---------------------------------------------------------------------------------------

#[test]
fn bindings_differing_only_in_arguments_are_distinct() {
    for x in ["amq.direct", "amq.topic", "amq.fanout"] {
        let mut t = RoutingTable::new();
        let a1 = table_of(&[("tag", 1.into())]);
        let a2 = table_of(&[("tag", 2.into())]);
        // Same value, other width: structurally different arguments.
        let a3 = table_of(&[("tag", FieldValue::ShortInt(1))]);
        bind_q_args(&mut t, x, "q", "k", &a1);
        bind_q_args(&mut t, x, "q", "k", &a2);
        bind_q_args(&mut t, x, "q", "k", &a3);
        bind_q(&mut t, x, "q", "k");
        assert_eq!(t.binding_count(), 4, "{x}");
        let listed: Vec<FieldTable> = binding_list(&t).into_iter().map(|b| b.3).collect();
        for args in [&a1, &a2, &a3, &none()] {
            assert!(listed.contains(args), "{x}: {args:?} listed");
        }
        let result = t.route(x, "k", None).unwrap();
        assert_eq!(result.len(), 1, "{x}: one copy");
        for (i, args) in [a1, a3, none(), a2].iter().enumerate() {
            assert_eq!(routed(&t, x, "k"), ["q"], "{x}: before removing #{i}");
            assert_eq!(
                t.unbind(x, Destination::Queue("q"), "k", args),
                Ok(true),
                "{x}"
            );
        }
        assert_eq!(routed(&t, x, "k"), NOWHERE, "{x}");
        t.check_invariants();
    }
}

#[test]
fn headers_bindings_differing_only_in_arguments_match_independently() {
    let mut t = RoutingTable::new();
    let pdf = table_of(&[("format", "pdf".into())]);
    let zip = table_of(&[("format", "zip".into())]);
    bind_q_args(&mut t, "amq.headers", "q", "", &pdf);
    bind_q_args(&mut t, "amq.headers", "q", "", &zip);
    assert_eq!(routed_h(&t, "amq.headers", "", &pdf), ["q"]);
    assert_eq!(routed_h(&t, "amq.headers", "", &zip), ["q"]);
    assert_eq!(
        t.unbind("amq.headers", Destination::Queue("q"), "", &pdf),
        Ok(true)
    );
    assert_eq!(routed_h(&t, "amq.headers", "", &pdf), NOWHERE);
    assert_eq!(routed_h(&t, "amq.headers", "", &zip), ["q"]);
}

// ---------------------------------------------------------------------------------------
// Queue and exchange ids
// ---------------------------------------------------------------------------------------

#[test]
fn queue_ids_and_names_round_trip() {
    let mut t = RoutingTable::new();
    let a = t.declare_queue("a").unwrap();
    let b = t.declare_queue("b").unwrap();
    assert_ne!(a, b);
    assert_eq!(t.declare_queue("a"), Ok(a), "redeclare returns the same id");
    assert_eq!(t.queue_id("a"), Some(a));
    assert_eq!(t.queue_name(b), Some("b"));
    assert_eq!(t.queue_id("c"), None);
    assert!(a.index() < t.queue_id_bound() && b.index() < t.queue_id_bound());
    let listed: Vec<(_, &str)> = t.queues().collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&(a, "a")) && listed.contains(&(b, "b")));

    bind_q(&mut t, "amq.fanout", "a", "");
    let result = t.route("amq.fanout", "", None).unwrap();
    assert_eq!(result.queues(), [a]);
    assert!(result.contains(a) && !result.contains(b));
}

#[test]
fn reused_queue_ids_do_not_inherit_bindings() {
    let mut t = RoutingTable::new();
    bind_q(&mut t, "amq.direct", "old", "k");
    bind_q(&mut t, "amq.direct", "stay", "s");
    let old = t.queue_id("old").unwrap();
    assert!(t.delete_queue("old"));
    assert_eq!(t.queue_name(old), None);
    let new = t.declare_queue("new").unwrap();
    assert_eq!(new, old, "a deleted id is reused");
    assert_eq!(t.queue_name(new), Some("new"));
    assert_eq!(
        routed(&t, "amq.direct", "k"),
        NOWHERE,
        "old binding is gone"
    );
    bind_q(&mut t, "amq.direct", "new", "n");
    assert_eq!(routed(&t, "amq.direct", "n"), ["new"]);
    assert_eq!(routed(&t, "amq.direct", "s"), ["stay"]);
    let result = t.route("amq.direct", "n", None).unwrap();
    assert_eq!(result.queues(), [new]);
    // Churn: many deletes and re-declares keep routing exact.
    for round in 0..50 {
        let name = format!("churn-{round}");
        bind_q(&mut t, "amq.topic", &name, "c.#");
        assert_eq!(routed(&t, "amq.topic", "c.x"), [name.as_str()]);
        assert!(t.delete_queue(&name));
    }
    assert_eq!(routed(&t, "amq.topic", "c.x"), NOWHERE);
    t.check_invariants();
}

#[test]
fn reused_exchange_ids_do_not_inherit_bindings() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "old", ExchangeKind::Fanout);
    bind_q(&mut t, "old", "q-old", "");
    bind_x(&mut t, "amq.direct", "old", "k");
    let old = t.exchange_id("old").unwrap();
    assert!(t.delete_exchange("old", false).unwrap());
    exchange(&mut t, "new", ExchangeKind::Fanout);
    bind_q(&mut t, "new", "q-new", "");
    assert_eq!(t.exchange_id("new"), Some(old), "a deleted id is reused");
    assert_eq!(t.exchange_id("old"), None);
    assert_eq!(
        routed(&t, "amq.direct", "k"),
        NOWHERE,
        "amq.direct -> old is gone"
    );
    assert_eq!(routed(&t, "new", ""), ["q-new"]);
    // Declaring "old" again gives a fresh, unbound exchange.
    exchange(&mut t, "old", ExchangeKind::Fanout);
    assert_eq!(routed(&t, "old", ""), NOWHERE);
    t.check_invariants();
}

#[test]
fn deleting_an_exchange_with_a_self_binding() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "x", ExchangeKind::Topic);
    t.bind(
        "x",
        Destination::Exchange("x"),
        "#",
        &table_of(&[("a", 1.into())]),
    )
    .unwrap();
    bind_q(&mut t, "x", "q", "#");
    bind_x(&mut t, "amq.direct", "x", "k");
    assert_eq!(routed(&t, "amq.direct", "k"), ["q"]);
    assert_eq!(t.delete_exchange("x", false), Ok(true));
    assert_eq!(t.binding_count(), 0);
    assert_eq!(routed(&t, "amq.direct", "k"), NOWHERE);
    t.check_invariants();

    // An auto-delete exchange whose last binding is to itself goes when it is unbound.
    exchange_with(&mut t, "ad", ExchangeKind::Fanout, auto_delete());
    bind_x(&mut t, "ad", "ad", "");
    bind_q(&mut t, "ad", "q", "");
    assert!(t.delete_queue("q"));
    assert!(
        t.exchange("ad").is_some(),
        "the self-binding is still a binding"
    );
    assert_eq!(
        t.unbind("ad", Destination::Exchange("ad"), "", &none()),
        Ok(true)
    );
    assert!(t.exchange("ad").is_none());
    t.check_invariants();
}

//! Black-box tests of `RoutingTable` routing details: CC and BCC keys (CONFORMANCE R06),
//! `RouteResult::with_binding_keys`, pathological and non-UTF-8 keys, result reuse, and
//! the auto traits of the public types.

mod common;

use common::*;
use trackswitch::{
    BindError, DeclareError, DeleteError, DestSet, Destination, DirectIndex, ExchangeId,
    ExchangeInfo, ExchangeKind, ExchangeOptions, FieldTable, FieldValue, HeadersMatch, ObjectKind,
    PatternError, QueueId, RouteError, RouteResult, RoutingTable, TableOptions, XMatch,
    topic::{Pattern, TopicTrie},
};

fn cc(header: &str, values: FieldValue) -> FieldTable {
    table_of(&[(header, values)])
}

// ---------------------------------------------------------------------------------------
// R06: CC and BCC
// ---------------------------------------------------------------------------------------

#[test]
fn r06_cc_and_bcc_add_routing_keys_on_direct() {
    let mut t = RoutingTable::new();
    for (q, key) in [("q1", "k1"), ("q2", "k2"), ("q3", "k3")] {
        bind_q(&mut t, "amq.direct", q, key);
    }
    let cases: &[(FieldTable, &[&str])] = &[
        (cc("CC", keys(&["k2"])), &["q1", "q2"]),
        (cc("BCC", keys(&["k3"])), &["q1", "q3"]),
        (
            table_of(&[("CC", keys(&["k2"])), ("BCC", keys(&["k3"]))]),
            &["q1", "q2", "q3"],
        ),
        (cc("CC", keys(&["k2", "k3"])), &["q1", "q2", "q3"]),
        (cc("CC", keys(&["nope"])), &["q1"]),
        (cc("CC", keys(&[])), &["q1"]),
        // Header names are case-sensitive: `cc` is an ordinary header.
        (cc("cc", keys(&["k2"])), &["q1"]),
        (
            cc(
                "CC",
                FieldValue::Array(vec![FieldValue::ShortString("k2".into())]),
            ),
            &["q1", "q2"],
        ),
    ];
    for (headers, want) in cases {
        assert_eq!(
            routed_h(&t, "amq.direct", "k1", headers),
            *want,
            "{headers:?}"
        );
    }
    // The routing key itself can miss while a CC key hits.
    let h = cc("CC", keys(&["k2"]));
    assert_eq!(routed_h(&t, "amq.direct", "none", &h), ["q2"]);
}

#[test]
fn r06_cc_and_bcc_add_routing_keys_on_topic() {
    let mut t = RoutingTable::new();
    bind_q(&mut t, "amq.topic", "a", "a.*");
    bind_q(&mut t, "amq.topic", "b", "b.#");
    bind_q(&mut t, "amq.topic", "c", "*.c");
    let h = cc("CC", keys(&["b.x.y"]));
    assert_eq!(routed_h(&t, "amq.topic", "a.1", &h), ["a", "b"]);
    let h = cc("BCC", keys(&["z.c", "b"]));
    assert_eq!(routed_h(&t, "amq.topic", "q", &h), ["b", "c"]);
    let h = table_of(&[("CC", keys(&["a.c"])), ("BCC", keys(&[""]))]);
    assert_eq!(routed_h(&t, "amq.topic", "x", &h), ["a", "c"]);
}

#[test]
fn r06_cc_on_the_default_exchange() {
    let mut t = RoutingTable::new();
    for q in ["q1", "q2", "q3"] {
        t.declare_queue(q).unwrap();
    }
    let h = cc("CC", keys(&["q2"]));
    assert_eq!(routed_h(&t, "", "q1", &h), ["q1", "q2"]);
    let h = table_of(&[("CC", keys(&["q2"])), ("BCC", keys(&["q3", "missing"]))]);
    assert_eq!(routed_h(&t, "", "missing", &h), ["q2", "q3"]);
}

#[test]
fn r06_cc_reaching_the_same_queue_delivers_one_copy() {
    let mut t = RoutingTable::new();
    bind_q(&mut t, "amq.direct", "q", "k1");
    bind_q(&mut t, "amq.direct", "q", "k2");
    let h = table_of(&[("CC", keys(&["k1", "k2", "k1"])), ("BCC", keys(&["k2"]))]);
    let result = t.route("amq.direct", "k1", Some(&h)).unwrap();
    assert_eq!(result.len(), 1);
    assert_eq!(names(&t, &result), ["q"]);
    // Same on the default exchange, where the CC names the queue again.
    let h = cc("CC", keys(&["q", "q"]));
    let result = t.route("", "q", Some(&h)).unwrap();
    assert_eq!(result.len(), 1);
}

#[test]
fn r06_cc_keys_route_at_every_exchange_of_a_graph() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "y", ExchangeKind::Direct);
    bind_x(&mut t, "amq.topic", "y", "#");
    bind_q(&mut t, "y", "by-key", "key");
    bind_q(&mut t, "y", "by-cc", "cc-key");
    let h = cc("CC", keys(&["cc-key"]));
    assert_eq!(routed_h(&t, "amq.topic", "key", &h), ["by-cc", "by-key"]);
    assert_eq!(routed(&t, "amq.topic", "key"), ["by-key"]);
}

#[test]
fn r06_malformed_cc_or_bcc_is_406() {
    let mut t = RoutingTable::new();
    bind_q(&mut t, "amq.direct", "q", "k");
    bind_q(&mut t, "amq.fanout", "q", "");
    let bad_values = [
        FieldValue::from("k"),
        FieldValue::LongInt(1),
        FieldValue::Void,
        FieldValue::Table(table_of(&[("k", "k".into())])),
        FieldValue::Array(vec![FieldValue::LongInt(1)]),
        FieldValue::Array(vec!["k".into(), FieldValue::Boolean(true)]),
        FieldValue::Array(vec![FieldValue::ByteArray(b"k".to_vec())]),
        FieldValue::Array(vec![keys(&["k"])]),
    ];
    for header in ["CC", "BCC"] {
        for bad in &bad_values {
            let h = cc(header, bad.clone());
            for x in ["amq.direct", "amq.fanout", ""] {
                let err = t.route(x, "k", Some(&h)).unwrap_err();
                assert_eq!(err.reply_code(), 406, "{header}={bad:?} on {x:?}");
                assert!(
                    matches!(err, RouteError::InvalidCc { header: h } if h == header),
                    "{err:?}"
                );
            }
        }
    }
    // A good CC does not excuse a bad BCC.
    let h = table_of(&[("CC", keys(&["k"])), ("BCC", FieldValue::from("k"))]);
    assert_eq!(
        t.route("amq.direct", "k", Some(&h))
            .unwrap_err()
            .reply_code(),
        406
    );
}

// ---------------------------------------------------------------------------------------
// RouteResult::with_binding_keys
// ---------------------------------------------------------------------------------------

/// Routes with binding keys recorded; returns sorted (queue, binding key) pairs.
fn key_pairs(
    t: &RoutingTable,
    exchange: &str,
    key: &str,
    headers: Option<&FieldTable>,
) -> Vec<(String, String)> {
    let mut result = RouteResult::with_binding_keys();
    t.route_into(exchange, key, headers, &mut result).unwrap();
    let mut pairs: Vec<(String, String)> = result
        .binding_keys()
        .map(|(q, k)| {
            let name = t.queue_name(q).expect("live queue").to_owned();
            (name, String::from_utf8(k.to_vec()).expect("utf-8 key"))
        })
        .collect();
    pairs.sort();
    // Every queue with a pair was routed to, and every routed queue has a pair.
    let mut from_pairs: Vec<&str> = pairs.iter().map(|(q, _)| q.as_str()).collect();
    from_pairs.dedup();
    assert_eq!(
        from_pairs,
        names(t, &result),
        "pairs cover the routed queues"
    );
    pairs
}

fn pairs_of(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = expected
        .iter()
        .map(|&(q, k)| (q.to_owned(), k.to_owned()))
        .collect();
    v.sort();
    v
}

#[test]
fn binding_keys_on_topic_report_every_matching_pattern() {
    let mut t = RoutingTable::new();
    bind_q(&mut t, "amq.topic", "q", "a.*");
    bind_q(&mut t, "amq.topic", "q", "#");
    bind_q(&mut t, "amq.topic", "q", "a.b");
    bind_q(&mut t, "amq.topic", "q", "b.*");
    bind_q(&mut t, "amq.topic", "r", "*.b");
    assert_eq!(
        key_pairs(&t, "amq.topic", "a.b", None),
        pairs_of(&[("q", "#"), ("q", "a.*"), ("q", "a.b"), ("r", "*.b")])
    );
    assert_eq!(
        key_pairs(&t, "amq.topic", "", None),
        pairs_of(&[("q", "#")])
    );
}

#[test]
fn binding_keys_on_direct_fanout_headers_and_default() {
    let mut t = RoutingTable::new();
    bind_q(&mut t, "amq.direct", "q", "k");
    bind_q(&mut t, "amq.direct", "r", "k");
    bind_q(&mut t, "amq.direct", "q", "j");
    assert_eq!(
        key_pairs(&t, "amq.direct", "k", None),
        pairs_of(&[("q", "k"), ("r", "k")])
    );
    let h = cc("CC", keys(&["j"]));
    assert_eq!(
        key_pairs(&t, "amq.direct", "k", Some(&h)),
        pairs_of(&[("q", "j"), ("q", "k"), ("r", "k")])
    );

    bind_q(&mut t, "amq.fanout", "q", "a");
    bind_q(&mut t, "amq.fanout", "q", "b");
    bind_q(&mut t, "amq.fanout", "r", "");
    assert_eq!(
        key_pairs(&t, "amq.fanout", "zzz", None),
        pairs_of(&[("q", "a"), ("q", "b"), ("r", "")])
    );

    let pdf = table_of(&[("format", "pdf".into())]);
    bind_q_args(&mut t, "amq.headers", "q", "hk", &pdf);
    bind_q_args(
        &mut t,
        "amq.headers",
        "r",
        "other",
        &table_of(&[("n", 1.into())]),
    );
    assert_eq!(
        key_pairs(&t, "amq.headers", "ignored", Some(&pdf)),
        pairs_of(&[("q", "hk")])
    );

    // The default exchange's implicit binding key is the queue name.
    assert_eq!(key_pairs(&t, "", "r", None), pairs_of(&[("r", "r")]));
}

#[test]
fn binding_keys_through_exchanges_are_those_of_the_last_hop() {
    let mut t = RoutingTable::new();
    exchange(&mut t, "x", ExchangeKind::Topic);
    exchange(&mut t, "y", ExchangeKind::Fanout);
    exchange(&mut t, "z", ExchangeKind::Direct);
    bind_x(&mut t, "x", "y", "a.#");
    bind_x(&mut t, "y", "z", "yz");
    bind_q(&mut t, "y", "q", "yk");
    bind_q(&mut t, "x", "q", "a.b");
    bind_q(&mut t, "z", "r", "a.b");
    assert_eq!(
        key_pairs(&t, "x", "a.b", None),
        pairs_of(&[("q", "a.b"), ("q", "yk"), ("r", "a.b")])
    );
    assert_eq!(key_pairs(&t, "x", "a.c", None), pairs_of(&[("q", "yk")]));
    // Through an alternate exchange too.
    exchange(&mut t, "ae", ExchangeKind::Fanout);
    bind_q(&mut t, "ae", "unrouted", "ae-key");
    exchange_with(&mut t, "w", ExchangeKind::Direct, with_ae("ae"));
    assert_eq!(
        key_pairs(&t, "w", "k", None),
        pairs_of(&[("unrouted", "ae-key")])
    );
}

#[test]
fn binding_keys_are_empty_unless_asked_for_and_reset_between_routes() {
    let mut t = RoutingTable::new();
    bind_q(&mut t, "amq.topic", "q", "#");
    bind_q(&mut t, "amq.topic", "r", "r");
    let plain = t.route("amq.topic", "r", None).unwrap();
    assert_eq!(plain.len(), 2);
    assert_eq!(plain.binding_keys().count(), 0);

    let mut result = RouteResult::with_binding_keys();
    t.route_into("amq.topic", "r", None, &mut result).unwrap();
    assert_eq!(result.binding_keys().count(), 2);
    t.route_into("amq.topic", "x", None, &mut result).unwrap();
    let keys: Vec<&[u8]> = result.binding_keys().map(|(_, k)| k).collect();
    assert_eq!(keys, [&b"#"[..]]);
    assert_eq!(names(&t, &result), ["q"]);
}

// ---------------------------------------------------------------------------------------
// Unusual keys
// ---------------------------------------------------------------------------------------

#[test]
fn fifteen_hash_pattern_against_a_31_word_key() {
    let hashes = vec!["#"; 15].join(".");
    let with_literal = format!("{hashes}.b");
    let mut t = RoutingTable::new();
    bind_q(&mut t, "amq.topic", "hashes", &hashes);
    bind_q(&mut t, "amq.topic", "then-b", &with_literal);
    let all_a = vec!["a"; 31].join(".");
    let ends_b = format!("{}.b", vec!["a"; 30].join("."));
    let b_in_middle = format!("{}.b.{}", vec!["a"; 15].join("."), vec!["a"; 15].join("."));
    assert_eq!(routed(&t, "amq.topic", &all_a), ["hashes"]);
    assert_eq!(routed(&t, "amq.topic", &ends_b), ["hashes", "then-b"]);
    assert_eq!(routed(&t, "amq.topic", &b_in_middle), ["hashes"]);
    assert_eq!(routed(&t, "amq.topic", ""), ["hashes"]);
    assert_eq!(routed(&t, "amq.topic", "b"), ["hashes", "then-b"]);
    let mut result = RouteResult::with_binding_keys();
    t.route_into("amq.topic", &all_a, None, &mut result)
        .unwrap();
    let keys: Vec<&[u8]> = result.binding_keys().map(|(_, k)| k).collect();
    assert_eq!(keys, [hashes.as_bytes()]);
}

#[test]
fn literal_star_and_hash_words_in_keys_are_literals() {
    let stars20 = vec!["*"; 20].join(".");
    let stars19 = vec!["*"; 19].join(".");
    let mut t = RoutingTable::new();
    bind_q(&mut t, "amq.topic", "stars20", &stars20);
    bind_q(&mut t, "amq.topic", "stars19", &stars19);
    bind_q(&mut t, "amq.topic", "star-hash", "*.#");
    bind_q(&mut t, "amq.topic", "a-hash-b", "a.#.b");
    bind_q(&mut t, "amq.topic", "a-star", "a.*");
    let hashes20 = vec!["#"; 20].join(".");
    let stars21 = vec!["*"; 21].join(".");
    let cases: &[(&str, &[&str])] = &[
        (stars20.as_str(), &["star-hash", "stars20"]),
        (hashes20.as_str(), &["star-hash", "stars20"]),
        (stars19.as_str(), &["star-hash", "stars19"]),
        (stars21.as_str(), &["star-hash"]),
        ("*", &["star-hash"]),
        ("#", &["star-hash"]),
        ("a.*", &["a-star", "star-hash"]),
        ("a.#", &["a-star", "star-hash"]),
        ("a.#.b", &["a-hash-b", "star-hash"]),
        ("a.*.c", &["star-hash"]),
    ];
    for &(key, want) in cases {
        assert_eq!(routed(&t, "amq.topic", key), want, "key {key:?}");
    }
    // On a direct exchange `*` and `#` are plain keys.
    bind_q(&mut t, "amq.direct", "star", "*");
    assert_eq!(routed(&t, "amq.direct", "*"), ["star"]);
    assert_eq!(routed(&t, "amq.direct", "a"), NOWHERE);
}

#[test]
fn non_utf8_keys_route_on_topic_and_direct() {
    let mut t = RoutingTable::new();
    for q in ["star", "exact", "hash", "direct"] {
        t.declare_queue(q).unwrap();
    }
    let q = Destination::Queue;
    t.bind("amq.topic", q("star"), b"\xff.*", &none()).unwrap();
    t.bind("amq.topic", q("exact"), b"\xfe\xff", &none())
        .unwrap();
    t.bind("amq.topic", q("hash"), b"#.\x80", &none()).unwrap();
    t.bind("amq.direct", q("direct"), b"\x80\x81", &none())
        .unwrap();
    let cases: &[(&[u8], &[&str])] = &[
        (b"\xff.\x80", &["hash", "star"]),
        (b"\xff.x", &["star"]),
        (b"\xff", &[]),
        (b"\xfe\xff", &["exact"]),
        (b"\xfe", &[]),
        (b"a.b.\x80", &["hash"]),
        (b"\x80", &["hash"]),
    ];
    for &(key, want) in cases {
        assert_eq!(routed(&t, "amq.topic", key), want, "key {key:?}");
    }
    assert_eq!(routed(&t, "amq.direct", b"\x80\x81"), ["direct"]);
    assert_eq!(routed(&t, "amq.direct", b"\x80"), NOWHERE);
    let listed: Vec<&[u8]> = t.bindings().map(|b| b.key).collect();
    assert!(listed.contains(&&b"\xff.*"[..]));
    assert_eq!(
        t.unbind("amq.topic", q("star"), b"\xff.*", &none()),
        Ok(true)
    );
    assert_eq!(routed(&t, "amq.topic", b"\xff.\x80"), ["hash"]);
}

#[test]
fn route_into_clears_the_previous_result() {
    let mut t = RoutingTable::new();
    bind_q(&mut t, "amq.direct", "a", "a");
    bind_q(&mut t, "amq.direct", "b", "b");
    let mut result = RouteResult::new();
    t.route_into("amq.direct", "a", None, &mut result).unwrap();
    assert_eq!(names(&t, &result), ["a"]);
    t.route_into("amq.direct", "b", None, &mut result).unwrap();
    assert_eq!(names(&t, &result), ["b"]);
    assert!(!result.contains(t.queue_id("a").unwrap()));
    t.route_into("amq.direct", "none", None, &mut result)
        .unwrap();
    assert!(result.is_empty());
    // A failed route leaves no stale queues either.
    t.route_into("amq.direct", "a", None, &mut result).unwrap();
    assert!(t.route_into("missing", "a", None, &mut result).is_err());
    assert!(result.is_empty(), "result after an error: {result:?}");
}

// ---------------------------------------------------------------------------------------
// Auto traits
// ---------------------------------------------------------------------------------------

fn assert_send_sync<T: Send + Sync>() {}
fn assert_debug<T: std::fmt::Debug>() {}
fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn public_types_are_send_sync_and_debug() {
    macro_rules! check {
        ($($t:ty),* $(,)?) => {$(
            assert_send_sync::<$t>();
            assert_debug::<$t>();
        )*};
    }
    check!(
        RoutingTable,
        RouteResult,
        TableOptions,
        ExchangeOptions,
        ExchangeKind,
        ExchangeId,
        QueueId,
        Destination<'static>,
        trackswitch::Binding<'static>,
        ExchangeInfo<'static>,
        FieldTable,
        FieldValue,
        HeadersMatch,
        XMatch,
        ObjectKind,
        DestSet,
        DirectIndex<u32>,
        TopicTrie<u32>,
        Pattern,
        BindError,
        DeclareError,
        DeleteError,
        RouteError,
        PatternError,
    );
    assert_error::<BindError>();
    assert_error::<DeclareError>();
    assert_error::<DeleteError>();
    assert_error::<RouteError>();
    assert_error::<PatternError>();

    let mut t = RoutingTable::new();
    bind_q(&mut t, "amq.topic", "q", "a.#");
    let debug = format!("{t:?}");
    assert!(debug.contains("RoutingTable"), "{debug}");
    let result = t.route("amq.topic", "a", None).unwrap();
    assert!(format!("{result:?}").contains("RouteResult"));
}

#[test]
fn a_shared_table_routes_from_many_threads() {
    let mut t = RoutingTable::new();
    for i in 0..8 {
        bind_q(&mut t, "amq.topic", &format!("q{i}"), format!("k.{i}.#"));
    }
    std::thread::scope(|s| {
        for i in 0..4 {
            let t = &t;
            s.spawn(move || {
                let mut result = RouteResult::new();
                for round in 0..200 {
                    let n = (i + round) % 8;
                    t.route_into("amq.topic", format!("k.{n}.x"), None, &mut result)
                        .unwrap();
                    assert_eq!(names(t, &result), [format!("q{n}").as_str()]);
                }
            });
        }
    });
}

// ---------------------------------------------------------------------------------------
// Churn against a naive model
// ---------------------------------------------------------------------------------------

/// A seeded generator (ChaCha8: the same stream on every platform).
struct Seeded(rand_chacha::ChaCha8Rng);

impl Seeded {
    fn new(seed: u64) -> Seeded {
        Seeded(rand::SeedableRng::seed_from_u64(seed))
    }

    fn next(&mut self, n: usize) -> usize {
        rand::Rng::random_range(&mut self.0, 0..n)
    }

    /// Up to four words from a tiny alphabet, so patterns share prefixes and collide.
    fn key(&mut self, words: &[&str]) -> String {
        let n = self.next(5);
        (0..n)
            .map(|_| words[self.next(words.len())])
            .collect::<Vec<_>>()
            .join(".")
    }
}

#[test]
fn topic_table_matches_naive_model_under_churn() {
    let mut rng = Seeded::new(0x5eed);
    let mut t = RoutingTable::new();
    let queues = ["q0", "q1", "q2", "q3"];
    for q in queues {
        t.declare_queue(q).unwrap();
    }
    // The model: the set of (queue, pattern) bindings.
    let mut model: Vec<(&str, String)> = Vec::new();
    for step in 0..3000 {
        match rng.next(3) {
            0 => {
                let q = queues[rng.next(queues.len())];
                let p = rng.key(&["a", "b", "", "*", "#"]);
                let fresh = !model.contains(&(q, p.clone()));
                let added = t
                    .bind("amq.topic", Destination::Queue(q), &p, &none())
                    .unwrap();
                assert_eq!(added, fresh, "step {step}: bind {q} {p:?}");
                if fresh {
                    model.push((q, p));
                }
            }
            1 if !model.is_empty() => {
                let (q, p) = model.swap_remove(rng.next(model.len()));
                assert_eq!(
                    t.unbind("amq.topic", Destination::Queue(q), &p, &none()),
                    Ok(true),
                    "step {step}: unbind {q} {p:?}"
                );
            }
            _ => {
                // Keys may hold literal `*` and `#` words too.
                let key = rng.key(&["a", "b", "", "*", "#", "c"]);
                let mut want: Vec<&str> = model
                    .iter()
                    .filter(|(_, p)| Pattern::new(p).unwrap().matches(&key))
                    .map(|(q, _)| *q)
                    .collect();
                want.sort_unstable();
                want.dedup();
                assert_eq!(
                    routed(&t, "amq.topic", &key),
                    want,
                    "step {step}: key {key:?}, bindings {model:?}"
                );
            }
        }
        assert_eq!(t.binding_count(), model.len(), "step {step}");
    }
    t.check_invariants();
}

//! The MQTT and NATS dialects of the topic trie: each specification's own examples as
//! named tables, and differential and stateful property tests against the reference
//! matchers written from those specifications (`trackswitch::reference::mqtt_matches`,
//! `nats_matches`), over tiny alphabets so that collisions and edge cases happen often.
//!
//! Sources of the tables:
//! - MQTT Version 3.1.1 (OASIS Standard, 29 October 2014), section 4.7 "Topic Names and
//!   Topic Filters" (4.7.1.2, 4.7.1.3, 4.7.2, 4.7.3); MQTT Version 5.0 (OASIS Standard,
//!   7 March 2019) section 4.7 repeats the same examples, and section 4.8.2 defines
//!   shared subscriptions.
//! - NATS documentation, "Subject-Based Messaging" (docs.nats.io, nats-concepts/
//!   subjects): the wildcard examples; the invalid subjects follow nats-server's
//!   `IsValidSubject` (server/sublist.go).

#![cfg(feature = "reference")]

use std::collections::BTreeSet;

use proptest::prelude::*;
use trackswitch::reference;
use trackswitch::topic::{
    Mqtt, MqttFilter, MqttRule, MqttSubscription, MqttSubscriptions, Nats, NatsRule, NatsSubject,
    TopicTrie,
};
use trackswitch::{BindError, Destination, FieldTable, RoutingTable, TableOptions, TopicDialect};

/// A routing table whose topic exchanges speak `dialect`.
fn table_in(dialect: TopicDialect) -> RoutingTable {
    RoutingTable::with_options(TableOptions {
        topic_dialect: dialect,
        ..TableOptions::default()
    })
}

/// The queues a table routes `key` to through `amq.topic`, by name, sorted.
fn table_route(t: &RoutingTable, key: &str) -> Vec<String> {
    let routed = t.route("amq.topic", key, None).expect("amq.topic routes");
    let mut names: Vec<String> = routed
        .queues()
        .iter()
        .map(|&q| t.queue_name(q).unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// Binds queue `q{i}` to `amq.topic` with each pattern of a specification table; every
/// pattern must be valid in `dialect`.
fn table_of_cases(
    dialect: TopicDialect,
    patterns: impl Iterator<Item = &'static str>,
) -> RoutingTable {
    let mut t = table_in(dialect);
    for (i, p) in patterns.enumerate() {
        let q = format!("q{i}");
        t.declare_queue(&q).unwrap();
        t.bind("amq.topic", Destination::Queue(&q), p, &FieldTable::new())
            .unwrap();
    }
    t.check_invariants();
    t
}

/// Cases per property.
const CASES: u32 = 10_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::with_cases(CASES)
    }
}

// ---------------------------------------------------------------------------------------
// Specification tables

/// MQTT 3.1.1 / 5 section 4.7: (filter, topic, matches, where the case comes from).
const MQTT_CASES: &[(&str, &str, bool, &str)] = &[
    (
        "sport/tennis/player1/#",
        "sport/tennis/player1",
        true,
        "4.7.1.2",
    ),
    (
        "sport/tennis/player1/#",
        "sport/tennis/player1/ranking",
        true,
        "4.7.1.2",
    ),
    (
        "sport/tennis/player1/#",
        "sport/tennis/player1/score/wimbledon",
        true,
        "4.7.1.2",
    ),
    ("sport/#", "sport", true, "4.7.1.2 non normative comment"),
    (
        "#",
        "sport/tennis/player1",
        true,
        "4.7.1.2: # receives every message",
    ),
    ("sport/tennis/#", "sport/tennis", true, "4.7.1.2"),
    ("sport/tennis/+", "sport/tennis/player1", true, "4.7.1.3"),
    ("sport/tennis/+", "sport/tennis/player2", true, "4.7.1.3"),
    (
        "sport/tennis/+",
        "sport/tennis/player1/ranking",
        false,
        "4.7.1.3",
    ),
    ("sport/+", "sport", false, "4.7.1.3"),
    ("sport/+", "sport/", true, "4.7.1.3"),
    ("sport/+/player1", "sport/tennis/player1", true, "4.7.1.3"),
    ("+/tennis/#", "sport/tennis/player1", true, "4.7.1.3"),
    ("+/+", "/finance", true, "4.7.1.3"),
    ("/+", "/finance", true, "4.7.1.3"),
    ("+", "/finance", false, "4.7.1.3"),
    ("#", "$SYS/monitor/Clients", false, "4.7.2 [MQTT-4.7.2-1]"),
    (
        "+/monitor/Clients",
        "$SYS/monitor/Clients",
        false,
        "4.7.2 [MQTT-4.7.2-1]",
    ),
    ("$SYS/#", "$SYS/monitor/Clients", true, "4.7.2"),
    ("$SYS/#", "$SYS", true, "4.7.2 with 4.7.1.2's parent rule"),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", true, "4.7.2"),
    ("ACCOUNTS", "Accounts", false, "4.7.3: case sensitive"),
    (
        "Accounts payable",
        "Accounts payable",
        true,
        "4.7.3: spaces allowed",
    ),
    (
        "/finance",
        "finance",
        false,
        "4.7.3: a leading / is a distinct level",
    ),
    ("finance", "/finance", false, "4.7.3"),
    ("/", "/", true, "4.7.3: / is a valid topic name"),
    ("+/+", "/", true, "4.7.3 with 4.7.1.3: two empty levels"),
    ("a//b", "a//b", true, "4.7.1.1: empty levels are levels"),
    ("a/+/b", "a//b", true, "4.7.1.1"),
    ("a/b", "a//b", false, "4.7.1.1"),
];

/// MQTT filters the specification calls valid or not (section 4.7.1).
const MQTT_FILTERS: &[(&str, Option<MqttRule>, &str)] = &[
    ("#", None, "4.7.1.2"),
    ("sport/tennis/#", None, "4.7.1.2"),
    (
        "sport/tennis#",
        Some(MqttRule::MultiLevelWildcard),
        "4.7.1.2",
    ),
    (
        "sport/tennis/#/ranking",
        Some(MqttRule::MultiLevelWildcard),
        "4.7.1.2",
    ),
    ("+", None, "4.7.1.3"),
    ("+/tennis/#", None, "4.7.1.3"),
    ("sport+", Some(MqttRule::SingleLevelWildcard), "4.7.1.3"),
    ("sport/+/player1", None, "4.7.1.3"),
    ("", Some(MqttRule::Empty), "4.7.3 [MQTT-4.7.3-1]"),
    (
        "a\0b",
        Some(MqttRule::NullCharacter),
        "4.7.3 [MQTT-4.7.3-2]",
    ),
];

#[test]
fn mqtt_spec_examples() {
    let table = table_of_cases(TopicDialect::Mqtt, MQTT_CASES.iter().map(|c| c.0));
    let mut shared = TopicTrie::with_dialect(Mqtt);
    for (i, (f, _, _, _)) in MQTT_CASES.iter().enumerate() {
        shared.insert(&MqttFilter::new(f).unwrap(), i);
    }
    for (i, &(f, t, want, source)) in MQTT_CASES.iter().enumerate() {
        let filter = MqttFilter::new(f).unwrap();
        let mut alone = TopicTrie::with_dialect(Mqtt);
        alone.insert(&filter, i);
        let case = format!("filter {f:?} topic {t:?} (MQTT section {source})");
        assert_eq!(!alone.route(t).is_empty(), want, "{case}");
        assert_eq!(shared.route(t).contains(&i), want, "shared trie: {case}");
        assert_eq!(filter.matches(t), want, "MqttFilter::matches: {case}");
        assert_eq!(
            reference::mqtt_matches(f.as_bytes(), t.as_bytes()),
            want,
            "reference: {case}"
        );
        assert_eq!(
            table_route(&table, t).contains(&format!("q{i}")),
            want,
            "RoutingTable in MQTT: {case}"
        );
    }
    shared.check_invariants();
}

#[test]
fn mqtt_spec_filters() {
    let mut table = table_in(TopicDialect::Mqtt);
    table.declare_queue("q").unwrap();
    for &(f, want, source) in MQTT_FILTERS {
        let got = MqttFilter::new(f).err().map(|e| e.rule());
        assert_eq!(got, want, "filter {f:?} (MQTT section {source})");
        let bound = table.bind("amq.topic", Destination::Queue("q"), f, &FieldTable::new());
        match MqttFilter::new(f) {
            Ok(_) => assert!(bound.is_ok(), "{f:?}"),
            Err(e) => assert_eq!(
                bound,
                Err(BindError::InvalidKey {
                    reason: e.to_string()
                }),
                "{f:?}"
            ),
        }
        assert_eq!(
            reference::mqtt_filter_is_valid(f.as_bytes()),
            want.is_none(),
            "{f:?}"
        );
    }
    // [MQTT-4.7.1-1]: no wildcard in a topic name; such a key matches nothing.
    let err = MqttFilter::check_topic_name("sport/+").unwrap_err();
    assert_eq!(err.rule(), MqttRule::WildcardInTopicName);
    assert!(
        err.to_string()
            .ends_with("MUST NOT be used within a Topic Name [MQTT-4.7.1-1]")
    );
    let mut trie = TopicTrie::with_dialect(Mqtt);
    trie.insert(&MqttFilter::new("#").unwrap(), 0);
    assert!(trie.route("sport/+").is_empty());
    assert!(trie.route("sport/#").is_empty());
    assert!(trie.route("").is_empty(), "[MQTT-4.7.3-1]");
    assert!(trie.route(b"a\0".as_slice()).is_empty(), "[MQTT-4.7.3-2]");
    assert!(
        trie.route(b"a/\xff".as_slice()).is_empty(),
        "[MQTT-1.5.3-1]"
    );
    assert_eq!(trie.route("sport"), [0]);
}

/// MQTT 5 section 4.8.2: a shared subscription's message goes to one member of the
/// group; groups are told apart by ShareName and filter together.
#[test]
fn mqtt_shared_subscriptions() {
    let sub = |s: &str| MqttSubscription::new(s).unwrap();
    let mut subs = MqttSubscriptions::new();
    let g1 = sub("$share/consumer1/sport/tennis/+");
    let g2 = sub("$share/consumer2/sport/tennis/+");
    assert!(subs.insert(&g1, "a"));
    assert!(subs.insert(&g1, "b"));
    assert!(subs.insert(&g1, "c"));
    assert!(!subs.insert(&g1, "c"));
    assert!(subs.insert(&g2, "d"));
    assert!(subs.insert(&sub("sport/tennis/+"), "plain"));
    assert_eq!(subs.len(), 5);
    subs.check_invariants();
    let mut from_g1 = Vec::new();
    for _ in 0..6 {
        let got = subs.route("sport/tennis/player1");
        assert_eq!(got.len(), 3, "one of g1, one of g2, the plain one: {got:?}");
        assert!(got.contains(&"d") && got.contains(&"plain"));
        from_g1.extend(got.into_iter().filter(|c| ["a", "b", "c"].contains(c)));
    }
    // Round-robin: each member twice in six messages, in turn.
    assert_eq!(from_g1, ["a", "b", "c", "a", "b", "c"]);
    assert!(subs.route("sport/tennis").is_empty());
    assert!(subs.remove(&g1, &"b"));
    assert!(!subs.remove(&g1, &"b"));
    for c in ["a", "c"] {
        assert!(subs.remove(&g1, &c));
    }
    subs.check_invariants();
    let mut got = subs.route("sport/tennis/x");
    got.sort_unstable();
    assert_eq!(got, ["d", "plain"]);
    // The same ShareName under another filter is another group.
    assert!(subs.insert(&sub("$share/consumer2/sport/#"), "e"));
    let mut got = subs.route("sport/tennis/x");
    got.sort_unstable();
    assert_eq!(got, ["d", "e", "plain"]);
    subs.check_invariants();

    // [MQTT-4.8.2-1], [MQTT-4.8.2-2]
    for bad in [
        "$share//a",
        "$share/a+b/x",
        "$share/a#/x",
        "$share/group",
        "$share/g/",
    ] {
        let err = MqttSubscription::new(bad).unwrap_err();
        assert!(
            err.to_string().starts_with("shared subscription"),
            "{bad}: {err}"
        );
    }
    assert_eq!(
        MqttSubscription::new("$share/g/a#").unwrap_err().rule(),
        MqttRule::MultiLevelWildcard
    );
}

/// NATS "Subject-Based Messaging": (subject, published subject, matches, source).
const NATS_CASES: &[(&str, &str, bool, &str)] = &[
    ("time.us.east", "time.us.east", true, "subject hierarchy"),
    (
        "time.*.east",
        "time.us.east",
        true,
        "matching a single token",
    ),
    (
        "time.*.east",
        "time.eu.east",
        true,
        "matching a single token",
    ),
    (
        "time.*.east",
        "time.us.east.atlanta",
        false,
        "matching a single token",
    ),
    ("time.us.*", "time.us.east", true, "matching a single token"),
    (
        "time.us.>",
        "time.us.east",
        true,
        "matching multiple tokens",
    ),
    (
        "time.us.>",
        "time.us.east.atlanta",
        true,
        "matching multiple tokens",
    ),
    (
        "time.us.>",
        "time.us",
        false,
        "`>` takes at least one token",
    ),
    ("foo.*", "foo.bar", true, "wildcards"),
    ("foo.*", "foo.bar.baz", false, "wildcards"),
    ("foo.>", "foo.bar", true, "wildcards"),
    ("foo.>", "foo.bar.baz", true, "wildcards"),
    ("foo.>", "foo", false, "wildcards"),
    ("*.bar.>", "foo.bar.baz", true, "mixing wildcards"),
    ("*.bar.>", "foo.bar", false, "mixing wildcards"),
    (
        "*.*.east.>",
        "time.us.east.atlanta",
        true,
        "mixing wildcards",
    ),
    ("*.*.east.>", "time.us.east", false, "mixing wildcards"),
    (">", "foo", true, "`>` alone: every subject"),
    (">", "foo.bar.baz", true, "`>` alone"),
    ("*", "foo", true, "`*` alone: one-token subjects"),
    ("*", "foo.bar", false, "`*` alone"),
    ("Foo", "foo", false, "subjects are case sensitive"),
    (
        "foo*.bar",
        "foo*.bar",
        true,
        "a partial `*` is a literal (nats-server)",
    ),
    (
        "foo*.bar",
        "fooa.bar",
        false,
        "a partial `*` is a literal (nats-server)",
    ),
    ("foo.*", "foo..bar", false, "empty tokens are invalid"),
    ("foo.>", "foo.", false, "empty tokens are invalid"),
    (">", ".foo", false, "empty tokens are invalid"),
    (">", "foo.*", false, "a published subject has no wildcard"),
    ("*", ">", false, "a published subject has no wildcard"),
    (">", "foo bar", false, "whitespace is invalid"),
];

/// NATS subjects refused by nats-server's `IsValidSubject`.
const NATS_INVALID: &[(&str, NatsRule)] = &[
    ("", NatsRule::Empty),
    ("foo..bar", NatsRule::EmptyToken),
    (".foo", NatsRule::EmptyToken),
    ("foo.", NatsRule::EmptyToken),
    (".", NatsRule::EmptyToken),
    ("foo.>.bar", NatsRule::FullWildcardNotLast),
    ("foo bar", NatsRule::Whitespace),
    ("foo.\tbar", NatsRule::Whitespace),
];

#[test]
fn nats_spec_examples() {
    let table = table_of_cases(TopicDialect::Nats, NATS_CASES.iter().map(|c| c.0));
    let mut shared = TopicTrie::with_dialect(Nats);
    for (i, (s, _, _, _)) in NATS_CASES.iter().enumerate() {
        shared.insert(&NatsSubject::new(s).unwrap(), i);
    }
    for (i, &(s, k, want, source)) in NATS_CASES.iter().enumerate() {
        let subject = NatsSubject::new(s).unwrap();
        let mut alone = TopicTrie::with_dialect(Nats);
        alone.insert(&subject, i);
        let case = format!("subject {s:?} published {k:?} (NATS: {source})");
        assert_eq!(!alone.route(k).is_empty(), want, "{case}");
        assert_eq!(shared.route(k).contains(&i), want, "shared trie: {case}");
        assert_eq!(subject.matches(k), want, "NatsSubject::matches: {case}");
        assert_eq!(
            reference::nats_matches(s.as_bytes(), k.as_bytes()),
            want,
            "reference: {case}"
        );
        assert_eq!(
            table_route(&table, k).contains(&format!("q{i}")),
            want,
            "RoutingTable in NATS: {case}"
        );
    }
    shared.check_invariants();
    let mut table = table_in(TopicDialect::Nats);
    table.declare_queue("q").unwrap();
    for &(s, rule) in NATS_INVALID {
        let err = NatsSubject::new(s).unwrap_err();
        assert_eq!(err.rule(), rule, "{s:?}");
        assert!(!reference::nats_subject_is_valid(s.as_bytes()), "{s:?}");
        let refused = table
            .bind("amq.topic", Destination::Queue("q"), s, &FieldTable::new())
            .unwrap_err();
        assert_eq!(refused.reply_code(), 406, "{s:?}");
        assert_eq!(
            refused,
            BindError::InvalidKey {
                reason: err.to_string()
            }
        );
    }
    assert_eq!(table.binding_count(), 0);
}

/// A table's dialect decides its topic exchanges' syntax and nothing else: direct and
/// fanout exchanges and the default exchange take any key in every dialect, and the
/// AMQP `#` limit does not apply to MQTT's `#`.
#[test]
fn table_dialect_applies_to_topic_exchanges_only() {
    let none = FieldTable::new();
    for dialect in [TopicDialect::Amqp, TopicDialect::Mqtt, TopicDialect::Nats] {
        let mut t = RoutingTable::with_options(TableOptions {
            topic_dialect: dialect,
            max_hash_words: Some(0),
        });
        assert_eq!(t.options().topic_dialect, dialect);
        t.declare_queue("q").unwrap();
        for x in ["amq.direct", "amq.fanout"] {
            assert!(
                t.bind(x, Destination::Queue("q"), "a..b/#/+.>", &none)
                    .unwrap()
            );
        }
        assert_eq!(t.route("", "q", None).unwrap().len(), 1);
        let amqp_only = t.bind("amq.topic", Destination::Queue("q"), "a.#", &none);
        let mqtt_hash = t.bind("amq.topic", Destination::Queue("q"), "a/#", &none);
        match dialect {
            TopicDialect::Amqp => {
                assert_eq!(amqp_only.unwrap_err().reply_code(), 406, "over the # limit");
                assert!(t.route("amq.topic", "a/b", None).unwrap().is_empty());
            }
            TopicDialect::Mqtt => {
                let err = amqp_only.unwrap_err();
                assert_eq!(err.reply_code(), 406);
                assert!(err.to_string().ends_with("[MQTT-4.7.1-2]"), "{err}");
                assert_eq!(mqtt_hash, Ok(true), "no AMQP # limit in MQTT");
                assert_eq!(t.route("amq.topic", "a/b", None).unwrap().len(), 1);
                assert_eq!(t.route("amq.topic", "a", None).unwrap().len(), 1);
                // A topic name with a wildcard routes nowhere [MQTT-4.7.1-1].
                assert!(t.route("amq.topic", "a/+", None).unwrap().is_empty());
            }
            TopicDialect::Nats => {
                assert_eq!(amqp_only, Ok(true), "a literal token in NATS");
                assert_eq!(t.route("amq.topic", "a.#", None).unwrap().len(), 1);
                assert!(t.route("amq.topic", "a.b", None).unwrap().is_empty());
            }
        }
        t.check_invariants();
    }
}

#[test]
fn dialect_types_are_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<TopicTrie<u32, trackswitch::DefaultHashBuilder, Mqtt>>();
    check::<TopicTrie<u32, trackswitch::DefaultHashBuilder, Nats>>();
    check::<MqttFilter>();
    check::<NatsSubject>();
    check::<MqttSubscriptions<u32>>();
    check::<trackswitch::topic::MqttFilterError>();
    check::<trackswitch::topic::NatsSubjectError>();
}

// ---------------------------------------------------------------------------------------
// Properties

/// MQTT levels of a filter: `$` and `$a` so the `$` rule is hit, `+`/`#` partial too.
fn mqtt_level() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("a"),
        Just("b"),
        Just(""),
        Just("+"),
        Just("#"),
        Just("$a"),
        Just("a+"),
    ]
}

/// A filter of 1 to 4 levels joined by `/` (may be invalid: callers parse it).
fn mqtt_filter() -> impl Strategy<Value = String> {
    prop::collection::vec(mqtt_level(), 1..=4).prop_map(|w| w.join("/"))
}

/// A topic name of 1 to 4 levels (sometimes invalid: a `+`, or empty).
fn mqtt_topic() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::collection::vec(
            prop_oneof![Just("a"), Just("b"), Just(""), Just("$a"), Just("$")],
            1..=4
        )
        .prop_map(|w| w.join("/")),
        1 => Just(String::new()),
        1 => Just("a/+".to_owned()),
    ]
}

fn nats_token() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("a"),
        Just("b"),
        Just("*"),
        Just(">"),
        Just(""),
        Just("a*"),
        Just(" "),
    ]
}

/// A subject of 1 to 4 tokens (may be invalid: callers parse it).
fn nats_subject() -> impl Strategy<Value = String> {
    prop::collection::vec(nats_token(), 1..=4).prop_map(|w| w.join("."))
}

/// A published subject: mostly valid literals, sometimes a wildcard or empty token.
fn nats_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("a*")], 1..=4)
            .prop_map(|w| w.join(".")),
        2 => nats_subject(),
    ]
}

/// Bytes from a small alphabet that holds every character the checks care about.
fn check_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![
            b'a', b'/', b'+', b'#', b'$', 0, 0xff, b' ', b'.', b'*', b'>', b'\t',
        ]),
        0..8,
    )
}

#[derive(Debug, Clone)]
enum Op {
    Insert(String, u8),
    Remove(String, u8),
    Route(String),
}

fn ops<P: Strategy<Value = String>>(
    pattern: impl Fn() -> P,
    key: impl Strategy<Value = String>,
) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        3 => (pattern(), 0u8..3).prop_map(|(p, v)| Op::Insert(p, v)),
        2 => (pattern(), 0u8..3).prop_map(|(p, v)| Op::Remove(p, v)),
        2 => key.prop_map(Op::Route),
    ];
    prop::collection::vec(op, 1..40)
}

/// Runs `ops` on a table in `dialect` (values are queues `q0`..`q2`; a remove of value 2
/// deletes queue `q2` instead, which must drop its bindings) against a model: a list of
/// bindings, the dialect's validity check and its reference matcher.
fn table_ops_match_model(
    dialect: TopicDialect,
    ops: &[Op],
    valid: fn(&[u8]) -> bool,
    matches: fn(&[u8], &[u8]) -> bool,
) -> Result<(), TestCaseError> {
    let none = FieldTable::new();
    let mut t = table_in(dialect);
    let mut model: Vec<(String, u8)> = Vec::new();
    for q in 0..3 {
        t.declare_queue(&format!("q{q}")).unwrap();
    }
    for op in ops {
        match op {
            Op::Insert(p, v) => {
                let q = format!("q{v}");
                let got = t.bind("amq.topic", Destination::Queue(&q), p, &none);
                if !valid(p.as_bytes()) {
                    prop_assert_eq!(got.map_err(|e| e.reply_code()), Err(406), "{:?}", p);
                    continue;
                }
                let new = !model.iter().any(|(m, w)| m == p && w == v);
                if new {
                    model.push((p.clone(), *v));
                }
                prop_assert_eq!(got, Ok(new), "bind {:?} -> {}", p, q);
            }
            Op::Remove(_, 2) => {
                prop_assert!(t.delete_queue("q2"));
                t.declare_queue("q2").unwrap();
                model.retain(|(_, w)| *w != 2);
            }
            Op::Remove(p, v) => {
                let q = format!("q{v}");
                let at = model.iter().position(|(m, w)| m == p && w == v);
                if let Some(i) = at {
                    model.remove(i);
                }
                let got = t.unbind("amq.topic", Destination::Queue(&q), p, &none);
                prop_assert_eq!(got, Ok(at.is_some()), "unbind {:?} -> {}", p, q);
            }
            Op::Route(k) => {
                let want: BTreeSet<String> = model
                    .iter()
                    .filter(|(p, _)| matches(p.as_bytes(), k.as_bytes()))
                    .map(|(_, v)| format!("q{v}"))
                    .collect();
                let got: BTreeSet<String> = table_route(&t, k).into_iter().collect();
                prop_assert_eq!(got, want, "route {:?}", k);
            }
        }
        t.check_invariants();
        prop_assert_eq!(t.binding_count(), model.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// A `RoutingTable` in the MQTT dialect binds exactly the valid filters (406 for
    /// the rest), routes as the MQTT reference matcher, and unbinds and deletes queues
    /// as the model does.
    #[test]
    fn mqtt_table_matches_reference(ops in ops(mqtt_filter, mqtt_topic())) {
        table_ops_match_model(
            TopicDialect::Mqtt,
            &ops,
            reference::mqtt_filter_is_valid,
            reference::mqtt_matches,
        )?;
    }

    /// The same for a `RoutingTable` in the NATS dialect and the NATS reference.
    #[test]
    fn nats_table_matches_reference(ops in ops(nats_subject, nats_literal())) {
        table_ops_match_model(
            TopicDialect::Nats,
            &ops,
            reference::nats_subject_is_valid,
            reference::nats_matches,
        )?;
    }

    /// An MQTT trie gives, for every topic, exactly the filters the MQTT reference
    /// matcher accepts; `MqttFilter::matches` agrees too.
    #[test]
    fn mqtt_trie_matches_reference(
        filters in prop::collection::vec(mqtt_filter(), 0..10),
        topics in prop::collection::vec(mqtt_topic(), 1..8),
    ) {
        let mut trie = TopicTrie::with_dialect(Mqtt);
        let mut kept = Vec::new();
        for f in &filters {
            if let Ok(filter) = MqttFilter::new(f) {
                trie.insert(&filter, kept.len());
                kept.push((f.clone(), filter));
            }
        }
        trie.check_invariants();
        for t in &topics {
            let routed = trie.route(t);
            let got: BTreeSet<usize> = routed.iter().copied().collect();
            prop_assert_eq!(got.len(), routed.len(), "a filter reported twice");
            let want: BTreeSet<usize> = (0..kept.len())
                .filter(|&i| reference::mqtt_matches(kept[i].0.as_bytes(), t.as_bytes()))
                .collect();
            let single: BTreeSet<usize> =
                (0..kept.len()).filter(|&i| kept[i].1.matches(t)).collect();
            prop_assert_eq!(&got, &want, "trie vs reference, topic {:?}", t);
            prop_assert_eq!(&single, &want, "MqttFilter::matches vs reference, topic {:?}", t);
        }
    }

    /// MQTT insert/remove/route sequences agree with a model (a list of bindings and the
    /// reference matcher); the invariants hold after every step.
    #[test]
    fn mqtt_ops_match_reference(ops in ops(mqtt_filter, mqtt_topic())) {
        let mut trie = TopicTrie::with_dialect(Mqtt);
        let mut model: Vec<(String, u8)> = Vec::new();
        for op in &ops {
            match op {
                Op::Insert(p, v) | Op::Remove(p, v) => {
                    let Ok(filter) = MqttFilter::new(p) else { continue };
                    let at = model.iter().position(|(q, w)| q == p && w == v);
                    if matches!(op, Op::Insert(..)) {
                        if at.is_none() {
                            model.push((p.clone(), *v));
                        }
                        prop_assert_eq!(trie.insert(&filter, *v), at.is_none());
                    } else {
                        if let Some(i) = at {
                            model.remove(i);
                        }
                        prop_assert_eq!(trie.remove(&filter, v), at.is_some());
                    }
                }
                Op::Route(t) => {
                    let mut got = trie.route(t);
                    got.sort_unstable();
                    let mut want: Vec<u8> = model
                        .iter()
                        .filter(|(p, _)| reference::mqtt_matches(p.as_bytes(), t.as_bytes()))
                        .map(|(_, v)| *v)
                        .collect();
                    want.sort_unstable();
                    prop_assert_eq!(got, want, "topic {:?}", t);
                }
            }
            trie.check_invariants();
            prop_assert_eq!(trie.len(), model.len());
        }
        for (p, v) in &model {
            prop_assert!(trie.remove(&MqttFilter::new(p).unwrap(), v));
        }
        prop_assert_eq!(trie.node_count(), 1, "nodes left after removing everything");
    }

    /// A NATS trie gives, for every published subject, exactly the subjects the NATS
    /// reference matcher accepts; `NatsSubject::matches` agrees too.
    #[test]
    fn nats_trie_matches_reference(
        subjects in prop::collection::vec(nats_subject(), 0..10),
        published in prop::collection::vec(nats_literal(), 1..8),
    ) {
        let mut trie = TopicTrie::with_dialect(Nats);
        let mut kept = Vec::new();
        for s in &subjects {
            if let Ok(subject) = NatsSubject::new(s) {
                trie.insert(&subject, kept.len());
                kept.push((s.clone(), subject));
            }
        }
        trie.check_invariants();
        for k in &published {
            let routed = trie.route(k);
            let got: BTreeSet<usize> = routed.iter().copied().collect();
            prop_assert_eq!(got.len(), routed.len(), "a subject reported twice");
            let want: BTreeSet<usize> = (0..kept.len())
                .filter(|&i| reference::nats_matches(kept[i].0.as_bytes(), k.as_bytes()))
                .collect();
            let single: BTreeSet<usize> =
                (0..kept.len()).filter(|&i| kept[i].1.matches(k)).collect();
            prop_assert_eq!(&got, &want, "trie vs reference, subject {:?}", k);
            prop_assert_eq!(&single, &want, "NatsSubject::matches vs reference, subject {:?}", k);
        }
    }

    /// NATS insert/remove/route sequences agree with a model.
    #[test]
    fn nats_ops_match_reference(ops in ops(nats_subject, nats_literal())) {
        let mut trie = TopicTrie::with_dialect(Nats);
        let mut model: Vec<(String, u8)> = Vec::new();
        for op in &ops {
            match op {
                Op::Insert(p, v) | Op::Remove(p, v) => {
                    let Ok(subject) = NatsSubject::new(p) else { continue };
                    let at = model.iter().position(|(q, w)| q == p && w == v);
                    if matches!(op, Op::Insert(..)) {
                        if at.is_none() {
                            model.push((p.clone(), *v));
                        }
                        prop_assert_eq!(trie.insert(&subject, *v), at.is_none());
                    } else {
                        if let Some(i) = at {
                            model.remove(i);
                        }
                        prop_assert_eq!(trie.remove(&subject, v), at.is_some());
                    }
                }
                Op::Route(k) => {
                    let mut got = trie.route(k);
                    got.sort_unstable();
                    let mut want: Vec<u8> = model
                        .iter()
                        .filter(|(p, _)| reference::nats_matches(p.as_bytes(), k.as_bytes()))
                        .map(|(_, v)| *v)
                        .collect();
                    want.sort_unstable();
                    prop_assert_eq!(got, want, "subject {:?}", k);
                }
            }
            trie.check_invariants();
            prop_assert_eq!(trie.len(), model.len());
        }
        for (p, v) in &model {
            prop_assert!(trie.remove(&NatsSubject::new(p).unwrap(), v));
        }
        prop_assert_eq!(trie.node_count(), 1, "nodes left after removing everything");
    }

    /// The checks agree with the references' checks on every input.
    #[test]
    fn checks_match_reference(bytes in check_bytes()) {
        prop_assert_eq!(MqttFilter::new(&bytes).is_ok(), reference::mqtt_filter_is_valid(&bytes));
        prop_assert_eq!(
            MqttFilter::check_topic_name(&bytes).is_ok(),
            reference::mqtt_topic_name_is_valid(&bytes)
        );
        prop_assert_eq!(NatsSubject::new(&bytes).is_ok(), reference::nats_subject_is_valid(&bytes));
        prop_assert_eq!(
            NatsSubject::check_literal(&bytes).is_ok(),
            reference::nats_literal_is_valid(&bytes)
        );
    }

    /// Shared groups: over many messages, every member of a group gets the same share
    /// (within one), and plain subscribers get every message.
    #[test]
    fn mqtt_shared_round_robin(members in 1usize..5, messages in 1usize..20) {
        let mut subs = MqttSubscriptions::new();
        let group = MqttSubscription::new("$share/g/a/#").unwrap();
        for m in 0..members {
            subs.insert(&group, m);
        }
        subs.insert(&MqttSubscription::new("a/+").unwrap(), 100);
        let mut counts = vec![0usize; members];
        for _ in 0..messages {
            let got = subs.route("a/b");
            prop_assert_eq!(got.len(), 2);
            prop_assert!(got.contains(&100));
            for c in got.into_iter().filter(|&c| c != 100) {
                counts[c] += 1;
            }
        }
        let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        prop_assert!(hi - lo <= 1, "uneven shares {:?}", counts);
        subs.check_invariants();
    }
}

//! Differential and stateful property tests of the topic trie against the naive
//! reference matchers, over a tiny alphabet (`a`, `b`, the empty word, `*`, `#`) so
//! that collisions and edge cases happen often.

#![cfg(feature = "reference")]

use std::collections::BTreeSet;

use proptest::prelude::*;
use trackswitch::reference::{self, NaiveTable, RegexMatcher};
use trackswitch::topic::{Pattern, TopicTrie};

/// Cases per property; CI runs this file as part of the README's test command.
const CASES: u32 = 10_000;

fn word() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("a"), Just("b"), Just(""), Just("*"), Just("#")]
}

/// A pattern or key of 0 to 5 words from the alphabet (zero words is the empty string).
fn topic() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 0..=5).prop_map(|w| w.join("."))
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// The trie, the naive table and both reference matchers give the same patterns
    /// for every key.
    #[test]
    fn trie_matches_reference(
        patterns in prop::collection::vec(topic(), 0..10),
        keys in prop::collection::vec(topic(), 1..8),
    ) {
        let mut trie = TopicTrie::new();
        let mut naive = NaiveTable::new();
        let mut regexes = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            let pattern = Pattern::new(p).unwrap();
            prop_assert!(trie.insert(&pattern, i));
            prop_assert!(naive.insert(&pattern, i));
            regexes.push(RegexMatcher::new(p.as_bytes()).unwrap());
        }
        trie.check_invariants();
        for key in &keys {
            let got: BTreeSet<usize> = trie.route(key).into_iter().collect();
            prop_assert_eq!(got.len(), trie.route(key).len(), "a pattern reported twice");
            let naive_got: BTreeSet<usize> = naive.route(key.as_bytes()).into_iter().collect();
            let rules: BTreeSet<usize> = (0..patterns.len())
                .filter(|&i| reference::matches(patterns[i].as_bytes(), key.as_bytes()))
                .collect();
            let regex: BTreeSet<usize> = (0..patterns.len())
                .filter(|&i| regexes[i].matches(key.as_bytes()))
                .collect();
            let single: BTreeSet<usize> = (0..patterns.len())
                .filter(|&i| Pattern::new(&patterns[i]).unwrap().matches(key))
                .collect();
            prop_assert_eq!(&got, &rules, "trie vs rules, key {:?}", key);
            prop_assert_eq!(&naive_got, &rules, "naive vs rules, key {:?}", key);
            prop_assert_eq!(&regex, &rules, "regex vs rules, key {:?}", key);
            prop_assert_eq!(&single, &rules, "Pattern::matches vs rules, key {:?}", key);
        }
    }

    /// Random insert/remove/route sequences agree with a model (a list of bindings and
    /// the reference matcher), and the invariants hold after every step.
    #[test]
    fn trie_ops_match_model(ops in prop::collection::vec(op(), 1..40)) {
        let mut trie = TopicTrie::new();
        let mut model: Vec<(String, u8)> = Vec::new();
        for op in &ops {
            match op {
                Op::Insert(p, v) => {
                    let fresh = !model.iter().any(|(q, w)| q == p && w == v);
                    if fresh {
                        model.push((p.clone(), *v));
                    }
                    prop_assert_eq!(trie.insert(&Pattern::new(p).unwrap(), *v), fresh);
                }
                Op::Remove(p, v) => {
                    let at = model.iter().position(|(q, w)| q == p && w == v);
                    if let Some(i) = at {
                        model.remove(i);
                    }
                    prop_assert_eq!(trie.remove(&Pattern::new(p).unwrap(), v), at.is_some());
                }
                Op::Route(k) => {
                    let mut got = trie.route(k);
                    got.sort_unstable();
                    let mut want: Vec<u8> = model
                        .iter()
                        .filter(|(p, _)| reference::matches(p.as_bytes(), k.as_bytes()))
                        .map(|(_, v)| *v)
                        .collect();
                    want.sort_unstable();
                    prop_assert_eq!(got, want, "key {:?}", k);
                }
            }
            trie.check_invariants();
            prop_assert_eq!(trie.len(), model.len());
            let mut listed: Vec<(String, u8)> = trie
                .iter()
                .map(|(p, v)| (p.to_string(), *v))
                .collect();
            listed.sort();
            let mut expected = model.clone();
            expected.sort();
            prop_assert_eq!(listed, expected);
        }
        for (p, v) in &model {
            prop_assert!(trie.remove(&Pattern::new(p).unwrap(), v));
        }
        trie.check_invariants();
        prop_assert!(trie.is_empty());
        prop_assert_eq!(trie.node_count(), 1, "nodes left after removing everything");
    }

    /// Display writes a UTF-8 pattern back byte for byte.
    #[test]
    fn pattern_display_round_trips(s in "[a-b.*#\u{e4} ]{0,12}") {
        let p = Pattern::new(&s).unwrap();
        prop_assert_eq!(p.to_string(), s.clone());
        prop_assert_eq!(Pattern::new(p.to_string()).unwrap(), p);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(String, u8),
    Remove(String, u8),
    Route(String),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (topic(), 0u8..3).prop_map(|(p, v)| Op::Insert(p, v)),
        2 => (topic(), 0u8..3).prop_map(|(p, v)| Op::Remove(p, v)),
        2 => topic().prop_map(Op::Route),
    ]
}

/// Spelled-out cases of the rules, one table run by one function.
#[test]
fn topic_rules_table() {
    // (pattern, key, matches)
    let cases: &[(&str, &str, bool)] = &[
        ("", "", true),
        ("", "a", false),
        ("#", "", true),
        ("#.#", "", true),
        ("#.#.#", "", true),
        ("*", "", false),
        ("*.#", "", false),
        ("#.*", "", false),
        ("*", ".", false),
        ("*.*", ".", true),
        ("a.*.b", "a..b", true),
        ("a.#", "a", true),
        ("#.b", "b", true),
        ("a.#.#.b", "a.b", true),
        ("a.*.#", "a", false),
        ("a*", "ab", false),
        ("a*", "a*", true),
        ("#a", "#a", true),
        ("##", "a", false),
        ("*", "*", true),
        ("a.b", "A.b", false),
        ("a.b", "a.b ", false),
        ("#.a.#", "b.a.b", true),
        ("*.#.*", "a", false),
        ("*.#.*", "a.b", true),
        ("#.*.#", "", false),
    ];
    let mut trie = TopicTrie::new();
    for (i, (p, _, _)) in cases.iter().enumerate() {
        trie.insert(&Pattern::new(p).unwrap(), i);
    }
    for (i, (p, k, want)) in cases.iter().enumerate() {
        let mut alone = TopicTrie::new();
        alone.insert(&Pattern::new(p).unwrap(), i);
        assert_eq!(!alone.route(k).is_empty(), *want, "pattern {p:?} key {k:?}");
        assert_eq!(reference::matches(p.as_bytes(), k.as_bytes()), *want);
        assert_eq!(
            trie.route(k).contains(&i),
            *want,
            "shared trie: {p:?} {k:?}"
        );
    }
}

/// Hostile shapes: many `#`, long keys, keys of literal wildcard words. Correct answers,
/// and (checked by the benchmarks, not here) polynomial time.
#[test]
fn adversarial_shapes_route_correctly() {
    let mut trie = TopicTrie::new();
    let hashes15 = vec!["#"; 15].join(".");
    let p15 = format!("{hashes15}.end");
    trie.insert(&Pattern::new(&p15).unwrap(), 0);
    trie.insert(&Pattern::new(vec!["*"; 20].join(".")).unwrap(), 1);
    trie.insert(&Pattern::new("#.#.#.#.#.#.#.#.#.#").unwrap(), 2);
    let key31 = vec!["w"; 30].join(".") + ".end";
    let mut got = trie.route(&key31);
    got.sort_unstable();
    assert_eq!(got, [0, 2]);
    let stars = vec!["*"; 20].join(".");
    let mut got = trie.route(&stars);
    got.sort_unstable();
    assert_eq!(got, [1, 2]);
    let long = vec!["x"; 10_000].join(".");
    assert_eq!(trie.route(&long), [2]);
    let hashes = vec!["#"; 40].join(".");
    assert_eq!(trie.route(&hashes), [2]);
    assert_eq!(trie.route(b"\xff.\xfe".as_slice()), [2]);
}

#[test]
fn several_values_per_pattern() {
    let mut trie = TopicTrie::new();
    let p = Pattern::new("a.*").unwrap();
    assert!(trie.insert(&p, 1));
    assert!(trie.insert(&p, 2));
    assert!(!trie.insert(&p, 1));
    assert_eq!(trie.get(&p), [1, 2]);
    assert!(trie.remove(&p, &1));
    assert_eq!(trie.route("a.b"), [2]);
    assert_eq!(trie.len(), 1);
    trie.check_invariants();
}

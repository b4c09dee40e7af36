//! The 125 topic-routing cases of `tests/data/rabbitmq_topic.tsv`, taken from RabbitMQ's
//! own test suites (each row names its source), run through a `RoutingTable` topic
//! exchange and through a bare `TopicTrie`.
//!
//! Columns: case id, binding patterns, routing key, expected matching patterns, binding
//! destinations, expected destinations, assertion, source, notes. JSON columns are
//! arrays of strings. A destination `exchange:NAME` is an exchange: the test binds a
//! fanout exchange `NAME` whose only binding leads to a marker queue named
//! `exchange:NAME`, so reaching the exchange shows as reaching that queue.

#![cfg(feature = "cli")]

use std::collections::{BTreeSet, HashMap};

use trackswitch::topic::{Pattern, TopicTrie};
use trackswitch::{
    Destination, ExchangeKind, ExchangeOptions, FieldTable, RouteResult, RoutingTable, TableOptions,
};

const CASES: &str = include_str!("data/rabbitmq_topic.tsv");
const HEADER: &str = "case_id\tbinding_patterns\trouting_key\texpected_matching_patterns\t\
                      binding_destinations\texpected_destinations\tassertion\tsource\tnotes";
const EXCHANGE: &str = "x";

#[derive(Debug)]
struct Case {
    id: String,
    patterns: Vec<String>,
    key: String,
    expected_patterns: Vec<String>,
    destinations: Vec<String>,
    expected_destinations: Vec<String>,
    assertion: String,
    source: String,
    notes: String,
}

fn json_strings(column: &str, what: &str, id: &str) -> Vec<String> {
    serde_json::from_str(column).unwrap_or_else(|e| panic!("{id}: bad {what} {column:?}: {e}"))
}

fn cases() -> Vec<Case> {
    let mut lines = CASES.lines();
    assert_eq!(lines.next(), Some(HEADER), "column header");
    lines
        .filter(|l| !l.is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 9, "nine columns: {line}");
            let id = cols[0];
            Case {
                id: id.to_owned(),
                patterns: json_strings(cols[1], "binding_patterns", id),
                key: cols[2].to_owned(),
                expected_patterns: json_strings(cols[3], "expected_matching_patterns", id),
                destinations: json_strings(cols[4], "binding_destinations", id),
                expected_destinations: json_strings(cols[5], "expected_destinations", id),
                assertion: cols[6].to_owned(),
                source: cols[7].to_owned(),
                notes: cols[8].to_owned(),
            }
        })
        .collect()
}

fn set(items: &[String]) -> BTreeSet<String> {
    items.iter().cloned().collect()
}

/// The exchange a destination names, if it is one.
fn as_exchange(dest: &str) -> Option<&str> {
    dest.strip_prefix("exchange:")
}

/// Declares the topic exchange and the case's bindings. Returns the table.
fn build(case: &Case, options: TableOptions) -> Result<RoutingTable, String> {
    let mut t = RoutingTable::with_options(options);
    t.declare_exchange(EXCHANGE, ExchangeKind::Topic, &ExchangeOptions::default())
        .map_err(|e| format!("declare: {e}"))?;
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    let mut distinct = 0;
    for (i, (pattern, dest)) in case.patterns.iter().zip(&case.destinations).enumerate() {
        let destination = match as_exchange(dest) {
            Some(x) => {
                if t.exchange(x).is_none() {
                    t.declare_exchange(x, ExchangeKind::Fanout, &ExchangeOptions::default())
                        .map_err(|e| format!("declare {x}: {e}"))?;
                    t.declare_queue(dest)
                        .map_err(|e| format!("declare {dest}: {e}"))?;
                    t.bind(x, Destination::Queue(dest), "", &FieldTable::new())
                        .map_err(|e| format!("bind marker {dest}: {e}"))?;
                }
                Destination::Exchange(x)
            }
            None => {
                t.declare_queue(dest)
                    .map_err(|e| format!("declare {dest}: {e}"))?;
                Destination::Queue(dest)
            }
        };
        // A repeated (pattern, destination) is either the same binding again
        // (idempotent) or a binding that differs only in its arguments.
        let earlier = seen.insert((pattern.as_str(), dest.as_str()), i);
        let (args, want_new) = match earlier {
            None => (FieldTable::new(), true),
            Some(_) if case.notes.contains("idempotent") => (FieldTable::new(), false),
            Some(_) if pattern == "args-test" || case.notes.contains("binding args") => {
                let mut args = FieldTable::new();
                args.insert("x-binding-index", i64::try_from(i).expect("small index"));
                (args, true)
            }
            Some(j) => {
                return Err(format!(
                    "binding {i} repeats binding {j} ({pattern} -> {dest}) and the notes \
                     do not say how"
                ));
            }
        };
        let added = t
            .bind(EXCHANGE, destination, pattern, &args)
            .map_err(|e| format!("bind #{i} {pattern:?} -> {dest}: {e}"))?;
        if added != want_new {
            return Err(format!(
                "bind #{i} {pattern:?} -> {dest} returned {added}, expected {want_new}"
            ));
        }
        distinct += usize::from(added);
    }
    let x = t.exchange(EXCHANGE).expect("declared");
    if x.bindings != distinct {
        return Err(format!("{} bindings, expected {distinct}", x.bindings));
    }
    t.check_invariants();
    Ok(t)
}

/// (destination, binding key) pairs.
type Pairs = BTreeSet<(String, String)>;

/// Routes the case's key; returns the destination names reached and the
/// (destination, binding key) pairs.
fn route(t: &RoutingTable, key: &str) -> Result<(Vec<String>, Pairs), String> {
    let mut result = RouteResult::with_binding_keys();
    t.route_into(EXCHANGE, key, None, &mut result)
        .map_err(|e| format!("route {key:?}: {e}"))?;
    let mut names: Vec<String> = result
        .queues()
        .iter()
        .map(|&q| t.queue_name(q).expect("live queue").to_owned())
        .collect();
    names.sort();
    let before = names.len();
    names.dedup();
    if names.len() != before {
        return Err(format!("a queue was reached twice: {names:?}"));
    }
    let pairs = result
        .binding_keys()
        .map(|(q, k)| {
            let name = t.queue_name(q).expect("live queue").to_owned();
            (name, String::from_utf8_lossy(k).into_owned())
        })
        .collect();
    Ok((names, pairs))
}

/// Checks one case through the routing table, honouring its assertion column.
fn check_table(case: &Case) -> Result<(), String> {
    let t = build(case, TableOptions::default())?;
    let (got, pairs) = route(&t, &case.key)?;
    let want = set(&case.expected_destinations);
    let matched = set(&case.expected_patterns);
    // (destination, binding key) for every binding whose pattern matched; a binding to
    // an exchange shows as its marker queue's binding, whose key is empty.
    let want_pairs: Pairs = case
        .patterns
        .iter()
        .zip(&case.destinations)
        .filter(|(p, _)| matched.contains(*p))
        .map(|(p, d)| match as_exchange(d) {
            Some(_) => (d.clone(), String::new()),
            None => (d.clone(), p.clone()),
        })
        .collect();
    match case.assertion.as_str() {
        "exact-set" => {
            let got = got.iter().cloned().collect::<BTreeSet<_>>();
            if got != want {
                return Err(format!("destinations {got:?}, expected {want:?}"));
            }
        }
        "queue-level (delivered or not)" => {
            for dest in set(&case.destinations) {
                let delivered = got.contains(&dest);
                if delivered != want.contains(&dest) {
                    return Err(format!(
                        "queue {dest} delivered={delivered}, expected {}",
                        want.contains(&dest)
                    ));
                }
            }
            if let Some(stray) = got.iter().find(|q| !case.destinations.contains(q)) {
                return Err(format!("stray delivery to {stray}"));
            }
        }
        "exact-set of (dest,binding_key) pairs" => {
            if pairs != want_pairs {
                return Err(format!("pairs {pairs:?}, expected {want_pairs:?}"));
            }
            let got = got.iter().cloned().collect::<BTreeSet<_>>();
            if got != want {
                return Err(format!("destinations {got:?}, expected {want:?}"));
            }
        }
        other => return Err(format!("unknown assertion {other:?}")),
    }
    // Derived check for every case: the pairs agree with the expected patterns.
    if pairs != want_pairs {
        return Err(format!(
            "binding-key pairs {pairs:?}, expected (derived from the matching patterns) \
             {want_pairs:?}"
        ));
    }
    // RabbitMQ >= 4.3.5 accepts two `#` and refuses a third at bind time.
    if case.notes.contains("refused with 406") {
        let mut limited = build(
            case,
            TableOptions {
                max_hash_words: Some(2),
                ..TableOptions::default()
            },
        )?;
        let (got_limited, _) = route(&limited, &case.key)?;
        if got_limited != got {
            return Err(format!(
                "with the # limit: {got_limited:?}, without: {got:?}"
            ));
        }
        limited.declare_queue("limit-probe").expect("queue");
        match limited.bind(
            EXCHANGE,
            Destination::Queue("limit-probe"),
            "#.#.#",
            &FieldTable::new(),
        ) {
            Err(e) if e.reply_code() == 406 => {}
            other => return Err(format!("'#.#.#' with a limit of two: {other:?}")),
        }
    }
    Ok(())
}

/// Checks one case through a bare trie: pattern index -> matching indexes.
fn check_trie(case: &Case) -> Result<(), String> {
    let mut trie = TopicTrie::new();
    for (i, p) in case.patterns.iter().enumerate() {
        let pattern = Pattern::new(p).map_err(|e| format!("pattern {p:?}: {e}"))?;
        if !trie.insert(&pattern, i) {
            return Err(format!("insert #{i} {p:?} reported a duplicate"));
        }
    }
    let mut got: Vec<usize> = trie.route(&case.key);
    got.sort_unstable();
    let before = got.len();
    got.dedup();
    if got.len() != before {
        return Err("trie returned an index twice".into());
    }
    let want_patterns = set(&case.expected_patterns);
    let got_patterns: BTreeSet<String> = got.iter().map(|&i| case.patterns[i].clone()).collect();
    if got_patterns != want_patterns {
        return Err(format!(
            "trie matched patterns {got_patterns:?}, expected {want_patterns:?}"
        ));
    }
    // Every binding of a matching pattern is returned, not just one of them.
    let want: Vec<usize> = (0..case.patterns.len())
        .filter(|&i| want_patterns.contains(&case.patterns[i]))
        .collect();
    if got != want {
        return Err(format!("trie indexes {got:?}, expected {want:?}"));
    }
    Ok(())
}

#[test]
fn rabbitmq_topic_vectors() {
    let cases = cases();
    assert_eq!(cases.len(), 125, "case count");
    let mut failures = Vec::new();
    for case in &cases {
        if case.patterns.len() != case.destinations.len() {
            failures.push(format!(
                "{}: patterns and destinations differ in length",
                case.id
            ));
            continue;
        }
        for (what, outcome) in [("table", check_table(case)), ("trie", check_trie(case))] {
            if let Err(e) = outcome {
                failures.push(format!(
                    "{} [{what}] key {:?}: {e}\n    source: {}\n    notes: {}",
                    case.id, case.key, case.source, case.notes
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

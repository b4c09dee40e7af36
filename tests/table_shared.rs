//! `SharedRoutingTable` against a plain `RoutingTable` (the model): the same operations,
//! grouped into random batches (one `update` each), leave both with the same
//! exchanges, queues and bindings, give the same answers op by op and route every key
//! alike; both copies of the shared table stay equal (`check_invariants`). 10,000
//! cases.

use std::sync::Arc;

use proptest::prelude::*;
use trackswitch::{
    Destination, ExchangeKind, ExchangeOptions, FieldTable, FieldValue, RouteResult, RoutingTable,
    SharedRoutingTable,
};

#[derive(Debug, Clone)]
enum Op {
    DeclareExchange(u8, ExchangeKind),
    DeleteExchange(u8, bool),
    DeclareQueue(u8),
    DeleteQueue(u8),
    Bind {
        source: u8,
        queue: Option<u8>,
        dest: u8,
        key: String,
        any: bool,
    },
    Unbind {
        source: u8,
        queue: Option<u8>,
        dest: u8,
        key: String,
        any: bool,
    },
}

fn exchange(i: u8) -> String {
    format!("x{}", i % 4)
}

fn queue(i: u8) -> String {
    format!("q{}", i % 6)
}

fn args(any: bool) -> FieldTable {
    let mut t = FieldTable::new();
    if any {
        t.insert("x-match", FieldValue::from("any"));
        t.insert("k", FieldValue::from("v"));
    }
    t
}

/// Applies one op; its answer as text (errors by their reply codes).
fn apply(t: &mut RoutingTable, op: &Op) -> String {
    match op {
        Op::DeclareExchange(i, kind) => {
            format!(
                "{:?}",
                t.declare_exchange(&exchange(*i), *kind, &ExchangeOptions::default())
                    .map_err(|e| e.reply_code())
            )
        }
        Op::DeleteExchange(i, if_unused) => {
            format!(
                "{:?}",
                t.delete_exchange(&exchange(*i), *if_unused)
                    .map_err(|e| e.reply_code())
            )
        }
        Op::DeclareQueue(i) => format!(
            "{:?}",
            t.declare_queue(&queue(*i)).map_err(|e| e.reply_code())
        ),
        Op::DeleteQueue(i) => format!("{:?}", t.delete_queue(&queue(*i))),
        Op::Bind {
            source,
            queue: q,
            dest,
            key,
            any,
        }
        | Op::Unbind {
            source,
            queue: q,
            dest,
            key,
            any,
        } => {
            let (qn, xn) = (queue(q.unwrap_or(0)), exchange(*dest));
            let d = match q {
                Some(_) => Destination::Queue(&qn),
                None => Destination::Exchange(&xn),
            };
            let r = if matches!(op, Op::Bind { .. }) {
                t.bind(&exchange(*source), d, key, &args(*any))
            } else {
                t.unbind(&exchange(*source), d, key, &args(*any))
            };
            format!("{:?}", r.map_err(|e| e.reply_code()))
        }
    }
}

fn kind() -> impl Strategy<Value = ExchangeKind> {
    prop_oneof![
        Just(ExchangeKind::Direct),
        Just(ExchangeKind::Topic),
        Just(ExchangeKind::Fanout),
        Just(ExchangeKind::Headers)
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("a".to_owned()),
        Just("a.*".to_owned()),
        Just("#".to_owned()),
        Just("a.b".to_owned()),
        Just("*.b".to_owned())
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), kind()).prop_map(|(i, k)| Op::DeclareExchange(i, k)),
        (any::<u8>(), any::<bool>()).prop_map(|(i, u)| Op::DeleteExchange(i, u)),
        any::<u8>().prop_map(Op::DeclareQueue),
        any::<u8>().prop_map(Op::DeleteQueue),
        (
            any::<u8>(),
            proptest::option::of(any::<u8>()),
            any::<u8>(),
            key(),
            any::<bool>()
        )
            .prop_map(|(source, queue, dest, key, any)| Op::Bind {
                source,
                queue,
                dest,
                key,
                any
            }),
        (
            any::<u8>(),
            proptest::option::of(any::<u8>()),
            any::<u8>(),
            key(),
            any::<bool>()
        )
            .prop_map(|(source, queue, dest, key, any)| Op::Unbind {
                source,
                queue,
                dest,
                key,
                any
            }),
    ]
}

/// What a table holds and routes, comparable.
fn state(t: &RoutingTable) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut x: Vec<String> = t.exchanges().map(|e| format!("{e:?}")).collect();
    x.sort();
    let mut q: Vec<String> = t
        .queues()
        .map(|(id, n)| format!("{}={n}", id.index()))
        .collect();
    q.sort();
    let mut routes = Vec::new();
    let mut out = RouteResult::new();
    let mut headers = FieldTable::new();
    headers.insert("k", FieldValue::from("v"));
    for e in 0..4u8 {
        for k in ["", "a", "a.b", "c.b", "a.b.c"] {
            let r = t.route_into(&exchange(e), k, Some(&headers), &mut out);
            let mut ids: Vec<usize> = out.queues().iter().map(|q| q.index()).collect();
            ids.sort_unstable();
            routes.push(format!(
                "{e}/{k}: {:?} {ids:?}",
                r.map_err(|e| e.reply_code())
            ));
        }
    }
    (x, q, routes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn batched_updates_match_the_plain_table(
        ops in proptest::collection::vec(op(), 0..40),
        cuts in proptest::collection::vec(1usize..8, 0..40),
    ) {
        let mut model = RoutingTable::new();
        let shared = SharedRoutingTable::new(RoutingTable::new());
        let mut rest = &ops[..];
        let mut cuts = cuts.into_iter().cycle();
        while !rest.is_empty() {
            let n = cuts.next().unwrap_or(rest.len()).min(rest.len());
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            let expected: Vec<String> = batch.iter().map(|op| apply(&mut model, op)).collect();
            let batch: Arc<[Op]> = batch.into();
            let got = shared.update(move |t| batch.iter().map(|op| apply(t, op)).collect::<Vec<_>>());
            prop_assert_eq!(got, expected);
            prop_assert_eq!(state(&shared.load()), state(&model));
        }
        shared.check_invariants();
        prop_assert_eq!(state(&shared.load()), state(&model));
    }
}

//! Property: any sequence of declare / delete / bind / unbind, cut into batches (one
//! `SharedRoutingTable::update` each), gives the same answers as the same ops on a plain
//! `RoutingTable` (itself checked against the naive model by `table_ops`), routes every
//! key alike after every batch, and leaves both copies of the shared table equal
//! (`check_invariants`, which also replays the pending updates on the second copy).
#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use trackswitch::{
    Destination, ExchangeKind, ExchangeOptions, FieldTable, FieldValue, RouteResult, RoutingTable,
    SharedRoutingTable,
};

#[derive(Debug, Clone, Arbitrary)]
enum Kind {
    Direct,
    Topic,
    Fanout,
    Headers,
}

#[derive(Debug, Clone, Arbitrary)]
enum Op {
    DeclareExchange(u8, Kind),
    DeleteExchange(u8, bool),
    DeclareQueue(u8),
    DeleteQueue(u8),
    Bind(u8, Option<u8>, u8, u8, bool),
    Unbind(u8, Option<u8>, u8, u8, bool),
    /// Ends the current batch.
    Publish,
}

const KEYS: [&str; 8] = ["", "a", "a.*", "#", "a.b", "*.b", "a.#.b", "b"];

fn exchange(i: u8) -> String {
    format!("x{}", i % 4)
}

fn queue(i: u8) -> String {
    format!("q{}", i % 8)
}

fn args(any: bool) -> FieldTable {
    let mut t = FieldTable::new();
    if any {
        t.insert("x-match", FieldValue::from("any"));
        t.insert("k", FieldValue::from("v"));
    }
    t
}

fn apply(t: &mut RoutingTable, op: &Op) -> String {
    let kind = |k: &Kind| match k {
        Kind::Direct => ExchangeKind::Direct,
        Kind::Topic => ExchangeKind::Topic,
        Kind::Fanout => ExchangeKind::Fanout,
        Kind::Headers => ExchangeKind::Headers,
    };
    match op {
        Op::DeclareExchange(i, k) => format!(
            "{:?}",
            t.declare_exchange(&exchange(*i), kind(k), &ExchangeOptions::default())
                .map_err(|e| e.reply_code())
        ),
        Op::DeleteExchange(i, u) => format!(
            "{:?}",
            t.delete_exchange(&exchange(*i), *u)
                .map_err(|e| e.reply_code())
        ),
        Op::DeclareQueue(i) => format!(
            "{:?}",
            t.declare_queue(&queue(*i)).map_err(|e| e.reply_code())
        ),
        Op::DeleteQueue(i) => format!("{:?}", t.delete_queue(&queue(*i))),
        Op::Bind(s, q, d, k, any) | Op::Unbind(s, q, d, k, any) => {
            let (qn, xn) = (queue(q.unwrap_or(0)), exchange(*d));
            let dest = match q {
                Some(_) => Destination::Queue(&qn),
                None => Destination::Exchange(&xn),
            };
            let key = KEYS[usize::from(*k) % KEYS.len()];
            let r = if matches!(op, Op::Bind(..)) {
                t.bind(&exchange(*s), dest, key, &args(*any))
            } else {
                t.unbind(&exchange(*s), dest, key, &args(*any))
            };
            format!("{:?}", r.map_err(|e| e.reply_code()))
        }
        Op::Publish => String::new(),
    }
}

fn routes(t: &RoutingTable) -> Vec<String> {
    let mut out = RouteResult::new();
    let mut headers = FieldTable::new();
    headers.insert("k", FieldValue::from("v"));
    let mut all = Vec::new();
    for e in 0..4u8 {
        for k in ["", "a", "a.b", "b", "a.c.b"] {
            let r = t.route_into(&exchange(e), k, Some(&headers), &mut out);
            let mut ids: Vec<usize> = out.queues().iter().map(|q| q.index()).collect();
            ids.sort_unstable();
            all.push(format!(
                "{e}/{k}: {:?} {ids:?}",
                r.map_err(|e| e.reply_code())
            ));
        }
    }
    let mut b: Vec<String> = t.bindings().map(|b| format!("{b:?}")).collect();
    b.sort();
    all.extend(b);
    all
}

fuzz_target!(|ops: Vec<Op>| {
    let ops = &ops[..ops.len().min(300)];
    let mut model = RoutingTable::new();
    let shared = SharedRoutingTable::new(RoutingTable::new());
    for batch in ops.split(|op| matches!(op, Op::Publish)) {
        let expected: Vec<String> = batch.iter().map(|op| apply(&mut model, op)).collect();
        let batch: Arc<[Op]> = batch.into();
        let got = shared.update(move |t| batch.iter().map(|op| apply(t, op)).collect::<Vec<_>>());
        assert_eq!(got, expected);
        assert_eq!(routes(&shared.load()), routes(&model));
    }
    shared.check_invariants();
    assert_eq!(routes(&shared.load()), routes(&model));
});

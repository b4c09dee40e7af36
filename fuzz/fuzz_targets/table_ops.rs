//! Property: any sequence of declare / delete / bind / unbind / route on a
//! `RoutingTable` gives the same results (success or reply code, the queues routed to,
//! the binding keys recorded) as the naive model in `trackswitch_fuzz::table_model`, its
//! bindings and exchanges equal the model's after every op, and `check_invariants()`
//! holds after every op.
#![no_main]

use std::collections::BTreeSet;
use std::fmt;

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::{Corpus, fuzz_target};
use trackswitch::{
    Destination, ExchangeKind, ExchangeOptions, FieldTable, FieldValue, RouteResult, RoutingTable,
};
use trackswitch_fuzz::input::TableKey;
use trackswitch_fuzz::lit;
use trackswitch_fuzz::table_model::{self, Model};

const MAX_OPS: usize = 200;

/// Exchange names: mostly `x0`..`x3`, sometimes the default or an `amq.*` one, a new
/// `amq.` name, or a name over 255 bytes.
#[derive(Clone, PartialEq)]
struct XName(String);

const OTHER_EXCHANGES: [&str; 8] = [
    "",
    "amq.direct",
    "amq.fanout",
    "amq.topic",
    "amq.headers",
    "amq.match",
    "amq.x",
    "missing",
];

impl<'a> Arbitrary<'a> for XName {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let s = u8::arbitrary(u)?;
        Ok(XName(match s {
            0..176 => format!("x{}", s % 4),
            176..252 => OTHER_EXCHANGES[(s % 8) as usize].to_string(),
            _ => "x".repeat(256),
        }))
    }
}

/// Queue names: mostly `q0`..`q3`, sometimes empty, `amq.q`, or over 255 bytes.
#[derive(Clone, PartialEq)]
struct QName(String);

impl<'a> Arbitrary<'a> for QName {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let s = u8::arbitrary(u)?;
        Ok(QName(match s {
            0..224 => format!("q{}", s % 4),
            224..236 => String::new(),
            236..248 => "amq.q".to_string(),
            248..252 => "q".repeat(255),
            _ => "q".repeat(256),
        }))
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Direct,
    Fanout,
    Topic,
    Headers,
}

impl<'a> Arbitrary<'a> for Kind {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok([Kind::Direct, Kind::Fanout, Kind::Topic, Kind::Headers]
            [(u8::arbitrary(u)? % 4) as usize])
    }
}

impl Kind {
    fn get(self) -> ExchangeKind {
        match self {
            Kind::Direct => ExchangeKind::Direct,
            Kind::Fanout => ExchangeKind::Fanout,
            Kind::Topic => ExchangeKind::Topic,
            Kind::Headers => ExchangeKind::Headers,
        }
    }
}

enum Dest {
    Queue(QName),
    Exchange(XName),
}

impl<'a> Arbitrary<'a> for Dest {
    /// Mostly queues.
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(if u8::arbitrary(u)? < 160 {
            Dest::Queue(u.arbitrary()?)
        } else {
            Dest::Exchange(u.arbitrary()?)
        })
    }
}

impl Dest {
    fn get(&self) -> Destination<'_> {
        match self {
            Dest::Queue(q) => Destination::Queue(&q.0),
            Dest::Exchange(x) => Destination::Exchange(&x.0),
        }
    }
    fn model(&self) -> table_model::Dest {
        match self {
            Dest::Queue(q) => table_model::Dest::Queue(q.0.clone()),
            Dest::Exchange(x) => table_model::Dest::Exchange(x.0.clone()),
        }
    }
}

/// Binding arguments and message headers from a tiny set of names and values.
struct Args(FieldTable);

fn tiny_entry(u: &mut Unstructured<'_>) -> Result<(&'static str, FieldValue)> {
    const NAMES: [&str; 4] = ["x-match", "a", "b", "x-c"];
    let name = NAMES[(u8::arbitrary(u)? % 4) as usize];
    let value = match u8::arbitrary(u)? % 11 {
        0 => FieldValue::from("all"),
        1 => FieldValue::from("any"),
        2 => FieldValue::from("all-with-x"),
        3 => FieldValue::from("any-with-x"),
        4 => FieldValue::from("bad"),
        5 => FieldValue::LongInt(1),
        6 => FieldValue::ShortInt(1),
        7 => FieldValue::Double(1.0),
        8 => FieldValue::Void,
        9 => FieldValue::from("1"),
        _ => FieldValue::ShortString("any".into()),
    };
    Ok((name, value))
}

impl<'a> Arbitrary<'a> for Args {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = u8::arbitrary(u)?;
        // Mostly none: most bindings have no arguments.
        let n = if n < 128 { 0 } else { n % 4 };
        let mut t = FieldTable::new();
        for _ in 0..n {
            let (k, v) = tiny_entry(u)?;
            t.push(k, v);
        }
        Ok(Args(t))
    }
}

/// A `CC` or `BCC` header: keys (as long or short strings), or something malformed.
enum Cc {
    Keys(Vec<(TableKey, bool)>),
    NotAnArray,
    NotAString(Vec<TableKey>),
}

impl<'a> Arbitrary<'a> for Cc {
    /// Mostly well-formed.
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u8::arbitrary(u)? {
            0..224 => {
                let n = u8::arbitrary(u)? % 4;
                let mut keys = Vec::new();
                for _ in 0..n {
                    keys.push((u.arbitrary()?, u.arbitrary()?));
                }
                Cc::Keys(keys)
            }
            224..240 => Cc::NotAnArray,
            _ => Cc::NotAString(vec![u.arbitrary()?]),
        })
    }
}

impl Cc {
    fn value(&self) -> FieldValue {
        match self {
            Cc::Keys(keys) => FieldValue::Array(
                keys.iter()
                    .map(|(k, short)| match (short, std::str::from_utf8(&k.0)) {
                        (true, Ok(s)) => FieldValue::ShortString(s.into()),
                        _ => FieldValue::LongString(k.0.clone()),
                    })
                    .collect(),
            ),
            Cc::NotAnArray => FieldValue::from("a"),
            Cc::NotAString(keys) => FieldValue::Array(
                keys.iter()
                    .map(|k| FieldValue::LongString(k.0.clone()))
                    .chain([FieldValue::LongInt(1)])
                    .collect(),
            ),
        }
    }
}

#[derive(Arbitrary)]
struct Headers {
    entries: Args,
    cc: Option<Cc>,
    bcc: Option<Cc>,
}

impl Headers {
    fn table(&self) -> FieldTable {
        let mut t = self.entries.0.clone();
        if let Some(cc) = &self.cc {
            t.push("CC", cc.value());
        }
        if let Some(bcc) = &self.bcc {
            t.push("BCC", bcc.value());
        }
        t
    }
}

enum Op {
    DeclareExchange {
        name: XName,
        kind: Kind,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        alternate_exchange: Option<XName>,
    },
    DeleteExchange {
        name: XName,
        if_unused: bool,
    },
    DeclareQueue {
        name: QName,
    },
    DeleteQueue {
        name: QName,
    },
    Bind {
        source: XName,
        dest: Dest,
        key: TableKey,
        args: Args,
    },
    Unbind {
        source: XName,
        dest: Dest,
        key: TableKey,
        args: Args,
    },
    Route {
        exchange: XName,
        key: TableKey,
        headers: Option<Headers>,
        record_keys: bool,
    },
}

impl<'a> Arbitrary<'a> for Op {
    /// One selector byte, weighted towards bind and route.
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u8::arbitrary(u)? {
            0..30 => Op::DeclareExchange {
                name: u.arbitrary()?,
                kind: u.arbitrary()?,
                durable: u.arbitrary()?,
                auto_delete: u.arbitrary()?,
                internal: u.arbitrary()?,
                alternate_exchange: u.arbitrary()?,
            },
            30..48 => Op::DeleteExchange {
                name: u.arbitrary()?,
                if_unused: u.arbitrary()?,
            },
            48..62 => Op::DeclareQueue {
                name: u.arbitrary()?,
            },
            62..76 => Op::DeleteQueue {
                name: u.arbitrary()?,
            },
            76..150 => Op::Bind {
                source: u.arbitrary()?,
                dest: u.arbitrary()?,
                key: u.arbitrary()?,
                args: u.arbitrary()?,
            },
            150..180 => Op::Unbind {
                source: u.arbitrary()?,
                dest: u.arbitrary()?,
                key: u.arbitrary()?,
                args: u.arbitrary()?,
            },
            _ => Op::Route {
                exchange: u.arbitrary()?,
                key: u.arbitrary()?,
                headers: u.arbitrary()?,
                record_keys: u.arbitrary()?,
            },
        })
    }
}

/// How one of `x0`..`x3` is declared before the ops run (part of the reproduction),
/// so that the first ops already bind and route through alternate exchanges,
/// auto-delete and internal exchanges.
struct Setup {
    kind: Kind,
    options: ExchangeOptions,
}

impl<'a> Arbitrary<'a> for Setup {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let kind = Kind::arbitrary(u)?;
        let flags = u8::arbitrary(u)?;
        let ae = u8::arbitrary(u)?;
        Ok(Setup {
            kind,
            options: ExchangeOptions {
                durable: false,
                auto_delete: flags & 3 == 3,
                internal: flags & 28 == 28,
                alternate_exchange: match ae {
                    0..100 => None,
                    100..240 => Some(format!("x{}", ae % 4)),
                    _ => Some(XName::arbitrary(u)?.0),
                },
            },
        })
    }
}

const QUEUES: [&str; 4] = ["q0", "q1", "q2", "q3"];

fn options_src(o: &ExchangeOptions) -> String {
    let ae = match &o.alternate_exchange {
        Some(x) => format!("Some({}.into())", lit::name(x).trim_start_matches('&')),
        None => "None".into(),
    };
    format!(
        "&ExchangeOptions {{ durable: {}, auto_delete: {}, internal: {}, alternate_exchange: {ae} }}",
        o.durable, o.auto_delete, o.internal
    )
}

fn dest_src(d: &Dest) -> String {
    match d {
        Dest::Queue(q) => format!("Destination::Queue({})", lit::name(&q.0)),
        Dest::Exchange(x) => format!("Destination::Exchange({})", lit::name(&x.0)),
    }
}

/// The options an `Op::DeclareExchange` asks for.
fn exchange_options(
    durable: bool,
    auto_delete: bool,
    internal: bool,
    alternate_exchange: &Option<XName>,
) -> ExchangeOptions {
    ExchangeOptions {
        durable,
        auto_delete,
        internal,
        alternate_exchange: alternate_exchange.as_ref().map(|x| x.0.clone()),
    }
}

impl fmt::Debug for Op {
    /// One statement of a reproduction against `let mut table = RoutingTable::new();`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::DeclareExchange {
                name,
                kind,
                durable,
                auto_delete,
                internal,
                alternate_exchange,
            } => {
                let options =
                    exchange_options(*durable, *auto_delete, *internal, alternate_exchange);
                write!(
                    f,
                    "table.declare_exchange({}, ExchangeKind::{:?}, {})",
                    lit::name(&name.0),
                    kind.get(),
                    options_src(&options)
                )
            }
            Op::DeleteExchange { name, if_unused } => {
                write!(
                    f,
                    "table.delete_exchange({}, {if_unused})",
                    lit::name(&name.0)
                )
            }
            Op::DeclareQueue { name } => write!(f, "table.declare_queue({})", lit::name(&name.0)),
            Op::DeleteQueue { name } => write!(f, "table.delete_queue({})", lit::name(&name.0)),
            Op::Bind {
                source,
                dest,
                key,
                args,
            }
            | Op::Unbind {
                source,
                dest,
                key,
                args,
            } => {
                let verb = if matches!(self, Op::Bind { .. }) {
                    "bind"
                } else {
                    "unbind"
                };
                write!(
                    f,
                    "table.{verb}({}, {}, {key:?}, &{})",
                    lit::name(&source.0),
                    dest_src(dest),
                    lit::table(&args.0)
                )
            }
            Op::Route {
                exchange,
                key,
                headers,
                record_keys,
            } => {
                let h = match headers {
                    Some(h) => format!("Some(&{})", lit::table(&h.table())),
                    None => "None".into(),
                };
                let out = if *record_keys {
                    "with_binding_keys"
                } else {
                    "new"
                };
                write!(
                    f,
                    "table.route_into({}, {key:?}, {h}, &mut RouteResult::{out}())",
                    lit::name(&exchange.0)
                )
            }
        }
    }
}

struct Ops {
    setup: [Setup; 4],
    ops: Vec<Op>,
}

impl<'a> Arbitrary<'a> for Ops {
    /// The setup, then ops until the input runs out (no "continue" bytes: every byte
    /// mutation changes an op instead of cutting the sequence short).
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let setup = u.arbitrary()?;
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() <= MAX_OPS {
            ops.push(Op::arbitrary(u)?);
        }
        Ok(Ops { setup, ops })
    }
}

impl fmt::Debug for Ops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "let mut table = RoutingTable::new();")?;
        for (i, x) in self.setup.iter().enumerate() {
            writeln!(
                f,
                "table.declare_exchange(\"x{i}\", ExchangeKind::{:?}, {}).unwrap();",
                x.kind.get(),
                options_src(&x.options)
            )?;
        }
        for q in QUEUES {
            writeln!(f, "table.declare_queue({q:?}).unwrap();")?;
        }
        for op in &self.ops {
            writeln!(f, "let _ = {op:?};")?;
        }
        write!(f, "table.check_invariants();")
    }
}

fn code<T, E>(
    r: &std::result::Result<T, E>,
    reply: impl Fn(&E) -> u16,
) -> std::result::Result<(), u16> {
    match r {
        Ok(_) => Ok(()),
        Err(e) => Err(reply(e)),
    }
}

type BindingRow = (String, table_model::Dest, Vec<u8>, FieldTable);

fn table_bindings(t: &RoutingTable) -> Vec<BindingRow> {
    t.bindings()
        .map(|b| {
            let dest = match b.destination {
                Destination::Queue(q) => table_model::Dest::Queue(q.to_string()),
                Destination::Exchange(x) => table_model::Dest::Exchange(x.to_string()),
            };
            (
                b.source.to_string(),
                dest,
                b.key.to_vec(),
                b.arguments.clone(),
            )
        })
        .collect()
}

/// Compares everything observable about the structure with the model.
fn compare_state(t: &RoutingTable, m: &Model, step: usize) {
    t.check_invariants();
    let got = table_bindings(t);
    let want: Vec<BindingRow> = m
        .bindings
        .iter()
        .map(|b| {
            (
                b.source.clone(),
                b.dest.clone(),
                b.key.clone(),
                b.args.clone(),
            )
        })
        .collect();
    assert_eq!(t.binding_count(), want.len(), "op {step}: binding_count()");
    assert_eq!(
        got.len(),
        want.len(),
        "op {step}: bindings()\n table: {got:?}\n model: {want:?}"
    );
    for (i, b) in got.iter().enumerate() {
        assert!(
            !got[i + 1..].contains(b),
            "op {step}: binding listed twice: {b:?}"
        );
        assert!(
            want.contains(b),
            "op {step}: table has a binding the model lacks: {b:?}"
        );
    }
    let names: BTreeSet<&str> = t.exchanges().map(|x| x.name).collect();
    let want_names: BTreeSet<&str> = m.exchanges.keys().map(String::as_str).collect();
    assert_eq!(names, want_names, "op {step}: exchanges");
    assert_eq!(
        t.exchange_count(),
        m.exchanges.len(),
        "op {step}: exchange_count()"
    );
    for (name, x) in &m.exchanges {
        let info = t.exchange(name).expect("listed above");
        assert_eq!(info.kind, x.kind, "op {step}: kind of {name:?}");
        assert_eq!(info.options, &x.options, "op {step}: options of {name:?}");
        assert_eq!(
            info.bindings,
            m.source_count(name),
            "op {step}: binding count of {name:?}"
        );
    }
    let queues: BTreeSet<&str> = t.queues().map(|(_, q)| q).collect();
    let want_queues: BTreeSet<&str> = m.queues.iter().map(String::as_str).collect();
    assert_eq!(queues, want_queues, "op {step}: queues");
    assert_eq!(t.queue_count(), m.queues.len(), "op {step}: queue_count()");
    for (id, name) in t.queues() {
        assert_eq!(t.queue_id(name), Some(id), "op {step}: queue_id({name:?})");
    }
}

fuzz_target!(|input: Ops| -> Corpus {
    let ops = &input.ops;
    if ops.len() > MAX_OPS {
        return Corpus::Reject;
    }
    let mut table = RoutingTable::new();
    let mut model = Model::default();
    for (i, x) in input.setup.iter().enumerate() {
        let name = format!("x{i}");
        table
            .declare_exchange(&name, x.kind.get(), &x.options)
            .unwrap();
        model
            .declare_exchange(&name, x.kind.get(), &x.options)
            .unwrap();
    }
    for q in QUEUES {
        table.declare_queue(q).unwrap();
        model.declare_queue(q).unwrap();
    }
    let mut plain = RouteResult::new();
    let mut recording = RouteResult::with_binding_keys();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::DeclareExchange {
                name,
                kind,
                durable,
                auto_delete,
                internal,
                alternate_exchange,
            } => {
                let options =
                    exchange_options(*durable, *auto_delete, *internal, alternate_exchange);
                let got = table.declare_exchange(&name.0, kind.get(), &options);
                let want = model.declare_exchange(&name.0, kind.get(), &options);
                assert_eq!(
                    code(&got, |e| e.reply_code()),
                    want,
                    "op {step}: {op:?} gave {got:?}"
                );
            }
            Op::DeleteExchange { name, if_unused } => {
                let got = table
                    .delete_exchange(&name.0, *if_unused)
                    .map_err(|e| e.reply_code());
                let want = model.delete_exchange(&name.0, *if_unused);
                assert_eq!(got, want, "op {step}: {op:?}");
            }
            Op::DeclareQueue { name } => {
                let got = table.declare_queue(&name.0);
                let want = model.declare_queue(&name.0);
                assert_eq!(
                    code(&got, |e| e.reply_code()),
                    want,
                    "op {step}: {op:?} gave {got:?}"
                );
            }
            Op::DeleteQueue { name } => {
                let got = table.delete_queue(&name.0);
                let want = model.delete_queue(&name.0);
                assert_eq!(got, want, "op {step}: {op:?}");
            }
            Op::Bind {
                source,
                dest,
                key,
                args,
            } => {
                let got = table.bind(&source.0, dest.get(), &key.0, &args.0);
                let want = model.bind(&source.0, &dest.model(), &key.0, &args.0);
                assert_eq!(
                    got.clone().map_err(|e| e.reply_code()),
                    want,
                    "op {step}: {op:?} gave {got:?}"
                );
            }
            Op::Unbind {
                source,
                dest,
                key,
                args,
            } => {
                let got = table.unbind(&source.0, dest.get(), &key.0, &args.0);
                let want = model.unbind(&source.0, &dest.model(), &key.0, &args.0);
                assert_eq!(
                    got.clone().map_err(|e| e.reply_code()),
                    want,
                    "op {step}: {op:?} gave {got:?}"
                );
            }
            Op::Route {
                exchange,
                key,
                headers,
                record_keys,
            } => {
                let headers = headers.as_ref().map(Headers::table);
                let out = if *record_keys {
                    &mut recording
                } else {
                    &mut plain
                };
                let got = table.route_into(&exchange.0, &key.0, headers.as_ref(), out);
                let want = model.route(&exchange.0, &key.0, headers.as_ref());
                match (&got, &want) {
                    (Ok(()), Ok(want)) => {
                        let name = |q| {
                            table
                                .queue_name(q)
                                .expect("routed to a live queue")
                                .to_string()
                        };
                        let queues: Vec<String> = out.queues().iter().map(|&q| name(q)).collect();
                        let set: BTreeSet<String> = queues.iter().cloned().collect();
                        assert_eq!(
                            set.len(),
                            queues.len(),
                            "op {step}: a queue twice: {queues:?}"
                        );
                        assert_eq!(set, want.queues, "op {step}: {op:?} routed to");
                        assert_eq!(out.len(), queues.len());
                        for &q in out.queues() {
                            assert!(out.contains(q));
                        }
                        if *record_keys {
                            let keys: BTreeSet<(String, Vec<u8>)> = out
                                .binding_keys()
                                .map(|(q, k)| (name(q), k.to_vec()))
                                .collect();
                            assert_eq!(keys, want.keys, "op {step}: {op:?} binding keys");
                        }
                    }
                    (Err(e), Err(w)) => {
                        assert_eq!(e.reply_code(), *w, "op {step}: {op:?} gave {e:?}")
                    }
                    _ => panic!("op {step}: {op:?}: table gave {got:?}, model {want:?}"),
                }
            }
        }
        compare_state(&table, &model, step);
    }
    Corpus::Keep
});

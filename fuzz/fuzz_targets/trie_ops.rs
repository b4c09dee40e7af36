//! Property: any sequence of insert / remove / route on a `TopicTrie<u8>` behaves like a
//! plain list of (pattern, value) pairs matched with `reference::matches`, and
//! `check_invariants()` holds after every step.
#![no_main]

use std::collections::HashSet;
use std::fmt;

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::{Corpus, fuzz_target};
use trackswitch::reference;
use trackswitch::topic::{Pattern, TopicTrie};
use trackswitch_fuzz::input::Topic;
use trackswitch_fuzz::lit;

const MAX_OPS: usize = 200;
const MAX_BULK: usize = 2;
/// Patterns per bulk op, five trie nodes each: enough that removing them gives memory
/// back (the trie compacts past 1024 free nodes).
const BULK: usize = 210;

/// A small value, so the same value lands under several patterns.
#[derive(Clone, Copy, PartialEq)]
struct Value(u8);

impl<'a> Arbitrary<'a> for Value {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Value(u8::arbitrary(u)? % 4))
    }
}

enum Op {
    Insert {
        pattern: Topic,
        value: Value,
    },
    Remove {
        pattern: Topic,
        value: Value,
    },
    Route {
        key: Topic,
    },
    /// Inserts `BULK` patterns `<prefix>.<i>.*.*.*.*` with value 0, checks, then removes
    /// them all: enough freed nodes that the trie compacts its arena.
    Churn {
        prefix: Topic,
    },
}

impl<'a> Arbitrary<'a> for Op {
    /// One selector byte: mostly inserts, removes and routes; a bulk op is rare.
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u8::arbitrary(u)? {
            0..100 => Op::Insert {
                pattern: u.arbitrary()?,
                value: u.arbitrary()?,
            },
            100..170 => Op::Remove {
                pattern: u.arbitrary()?,
                value: u.arbitrary()?,
            },
            170..252 => Op::Route {
                key: u.arbitrary()?,
            },
            _ => Op::Churn {
                prefix: u.arbitrary()?,
            },
        })
    }
}

fn bulk_pattern(prefix: &[u8], i: usize) -> Vec<u8> {
    let mut p = prefix.to_vec();
    if !p.is_empty() {
        p.push(b'.');
    }
    p.extend_from_slice(format!("{i}.*.*.*.*").as_bytes());
    p
}

struct Ops(Vec<Op>);

impl<'a> Arbitrary<'a> for Ops {
    /// Ops until the input runs out (no "continue" bytes: every byte mutation changes an
    /// op instead of cutting the sequence short).
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() <= MAX_OPS {
            ops.push(Op::arbitrary(u)?);
        }
        Ok(Ops(ops))
    }
}

impl fmt::Debug for Ops {
    /// A reproduction: `let mut trie = TopicTrie::new();` then one call per op.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "let mut trie = TopicTrie::<u8>::new();")?;
        for op in &self.0 {
            match op {
                Op::Insert { pattern, value } => writeln!(
                    f,
                    "trie.insert(&Pattern::new({pattern:?}).unwrap(), {});",
                    value.0
                )?,
                Op::Remove { pattern, value } => writeln!(
                    f,
                    "trie.remove(&Pattern::new({pattern:?}).unwrap(), &{});",
                    value.0
                )?,
                Op::Route { key } => writeln!(f, "trie.route({key:?});")?,
                Op::Churn { prefix } => {
                    let p = format!(
                        "{{ let mut p = {}.to_vec(); if !p.is_empty() {{ p.push(b'.'); }} p.extend_from_slice(format!(\"{{i}}.*.*.*.*\").as_bytes()); Pattern::new(&p).unwrap() }}",
                        lit::bytes(&prefix.0)
                    );
                    writeln!(f, "for i in 0..{BULK} {{ trie.insert(&{p}, 0); }}")?;
                    writeln!(f, "trie.check_invariants();")?;
                    writeln!(f, "for i in 0..{BULK} {{ trie.remove(&{p}, &0); }}")?;
                }
            }
            writeln!(f, "trie.check_invariants();")?;
        }
        Ok(())
    }
}

/// The (pattern, value) pairs; hashed so that bulk ops stay cheap.
struct Model(HashSet<(Pattern, u8)>);

impl Model {
    fn insert(&mut self, p: &Pattern, v: u8) -> bool {
        self.0.insert((p.clone(), v))
    }
    fn remove(&mut self, p: &Pattern, v: u8) -> bool {
        self.0.remove(&(p.clone(), v))
    }
}

fn check_insert(trie: &mut TopicTrie<u8>, model: &mut Model, p: &[u8], v: u8, step: usize) {
    let pattern = Pattern::new(p).expect("short patterns are valid");
    let want = model.insert(&pattern, v);
    let got = trie.insert(&pattern, v);
    assert_eq!(
        got, want,
        "op {step}: insert({pattern}, {v}) returned {got}, model says {want}"
    );
}

fn check_remove(trie: &mut TopicTrie<u8>, model: &mut Model, p: &[u8], v: u8, step: usize) {
    let pattern = Pattern::new(p).expect("short patterns are valid");
    let want = model.remove(&pattern, v);
    let got = trie.remove(&pattern, &v);
    assert_eq!(
        got, want,
        "op {step}: remove({pattern}, {v}) returned {got}, model says {want}"
    );
}

fuzz_target!(|ops: Ops| -> Corpus {
    let ops = ops.0;
    let bulk = ops.iter().filter(|o| matches!(o, Op::Churn { .. })).count();
    if ops.len() > MAX_OPS || bulk > MAX_BULK {
        return Corpus::Reject;
    }
    let mut trie = TopicTrie::<u8>::new();
    let mut model = Model(HashSet::new());
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Insert { pattern, value } => {
                check_insert(&mut trie, &mut model, &pattern.0, value.0, step)
            }
            Op::Remove { pattern, value } => {
                check_remove(&mut trie, &mut model, &pattern.0, value.0, step)
            }
            Op::Churn { prefix } => {
                for i in 0..BULK {
                    check_insert(&mut trie, &mut model, &bulk_pattern(&prefix.0, i), 0, step);
                }
                trie.check_invariants();
                for i in 0..BULK {
                    check_remove(&mut trie, &mut model, &bulk_pattern(&prefix.0, i), 0, step);
                }
            }
            Op::Route { key } => {
                let mut got = trie.route(&key.0);
                got.sort_unstable();
                let mut want: Vec<u8> = model
                    .0
                    .iter()
                    .filter(|(p, _)| reference::matches(p.as_bytes(), &key.0))
                    .map(|(_, v)| *v)
                    .collect();
                want.sort_unstable();
                assert_eq!(got, want, "op {step}: route({}) values", lit::bytes(&key.0));
            }
        }
        trie.check_invariants();
        assert_eq!(trie.len(), model.0.len(), "op {step}: len()");
        assert_eq!(trie.is_empty(), model.0.is_empty(), "op {step}: is_empty()");
        // The full listing is O(pairs x patterns): only for small tries.
        if !matches!(op, Op::Route { .. }) && model.0.len() <= 64 {
            let mut pairs: Vec<(Vec<u8>, u8)> = trie
                .iter()
                .map(|(p, v)| (p.as_bytes().to_vec(), *v))
                .collect();
            pairs.sort();
            let mut want: Vec<(Vec<u8>, u8)> = model
                .0
                .iter()
                .map(|(p, v)| (p.as_bytes().to_vec(), *v))
                .collect();
            want.sort();
            assert_eq!(pairs, want, "op {step}: iter() pairs");
            let mut distinct: Vec<&Pattern> = model.0.iter().map(|(p, _)| p).collect();
            distinct.sort();
            distinct.dedup();
            assert_eq!(
                trie.pattern_count(),
                distinct.len(),
                "op {step}: pattern_count()"
            );
            for p in distinct {
                let mut got = trie.get(p).to_vec();
                got.sort_unstable();
                let mut want: Vec<u8> = model
                    .0
                    .iter()
                    .filter(|(q, _)| q == p)
                    .map(|(_, v)| *v)
                    .collect();
                want.sort_unstable();
                assert_eq!(got, want, "op {step}: get({p})");
            }
        }
    }
    if model.0.is_empty() {
        assert_eq!(trie.node_count(), 1, "an emptied trie keeps only its root");
    }
    Corpus::Keep
});

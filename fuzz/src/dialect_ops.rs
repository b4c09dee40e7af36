//! The driver shared by the dialect fuzz targets (`mqtt_ops`, `nats_ops`): any sequence
//! of insert / remove / route on a `TopicTrie` in one dialect behaves like a list of
//! (pattern, value) pairs matched by that dialect's reference matcher (written from its
//! specification), `check_invariants()` holds after every step, and the pattern check
//! agrees with the reference's validity check.
//!
//! Input format: ops until the input runs out; per op a selector byte (insert, remove,
//! route), then a topic: one count byte `n` (`n % 6` words), then per word a selector
//! byte `s`: `s < 224` picks `vocab[s % vocab.len()]`, otherwise `(s - 224) % 6` raw
//! bytes follow (which may hold the separator, NUL or invalid UTF-8).

use std::fmt;

use arbitrary::{Arbitrary, Result, Unstructured};
use trackswitch::topic::{Dialect, TopicTrie};

use crate::lit;

/// One dialect, seen by the driver.
pub trait Case {
    /// The trie's dialect.
    type D: Dialect;
    /// Words most patterns and keys are made of.
    const VOCAB: &'static [&'static [u8]];
    /// How a reproduction builds a pattern, e.g. `MqttFilter::new`.
    const PARSE: &'static str;
    /// The dialect value, e.g. `Mqtt`.
    const DIALECT: &'static str;
    /// The dialect's pattern check.
    fn parse(bytes: &[u8]) -> Option<<Self::D as Dialect>::Pattern>;
    /// The reference's validity check for patterns.
    fn reference_valid(bytes: &[u8]) -> bool;
    /// The reference matcher.
    fn reference_matches(pattern: &[u8], key: &[u8]) -> bool;
    /// The one-pattern matcher of the pattern type.
    fn pattern_matches(pattern: &<Self::D as Dialect>::Pattern, key: &[u8]) -> bool;
}

pub const MAX_OPS: usize = 200;

pub enum Op {
    Insert(Vec<u8>, u8),
    Remove(Vec<u8>, u8),
    Route(Vec<u8>),
}

fn topic<C: Case>(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let n = u8::arbitrary(u)? % 6;
    let mut out = Vec::new();
    for i in 0..n {
        if i > 0 {
            out.push(C::D::SEPARATOR);
        }
        let s = u8::arbitrary(u)?;
        if s < 224 {
            out.extend_from_slice(C::VOCAB[s as usize % C::VOCAB.len()]);
        } else {
            let len = (((s - 224) % 6) as usize).min(u.len());
            out.extend_from_slice(u.bytes(len)?);
        }
    }
    Ok(out)
}

pub struct Ops<C>(pub Vec<Op>, std::marker::PhantomData<C>);

impl<'a, C: Case> Arbitrary<'a> for Ops<C> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() <= MAX_OPS {
            let sel = u8::arbitrary(u)?;
            let t = topic::<C>(u)?;
            ops.push(match sel {
                0..100 => Op::Insert(t, u8::arbitrary(u)? % 4),
                100..170 => Op::Remove(t, u8::arbitrary(u)? % 4),
                _ => Op::Route(t),
            });
        }
        Ok(Ops(ops, std::marker::PhantomData))
    }
}

impl<C: Case> fmt::Debug for Ops<C> {
    /// A reproduction, one call per op (ops on invalid patterns are left out: the
    /// driver skips them after checking the error).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "let mut trie = TopicTrie::<u8, _, _>::with_dialect({});",
            C::DIALECT
        )?;
        for op in &self.0 {
            match op {
                Op::Insert(p, v) if C::parse(p).is_some() => writeln!(
                    f,
                    "trie.insert(&{}({}).unwrap(), {v});",
                    C::PARSE,
                    lit::bytes(p)
                )?,
                Op::Remove(p, v) if C::parse(p).is_some() => writeln!(
                    f,
                    "trie.remove(&{}({}).unwrap(), &{v});",
                    C::PARSE,
                    lit::bytes(p)
                )?,
                Op::Insert(..) | Op::Remove(..) => continue,
                Op::Route(k) => writeln!(f, "trie.route({});", lit::bytes(k))?,
            }
            writeln!(f, "trie.check_invariants();")?;
        }
        Ok(())
    }
}

/// Runs `ops` against the model; panics on the first disagreement.
pub fn run<C: Case>(ops: &Ops<C>) {
    let mut trie = TopicTrie::<u8, _, C::D>::with_dialect(C::D::default());
    // (pattern bytes, parsed pattern, value), in insertion order.
    let mut model: Vec<(Vec<u8>, <C::D as Dialect>::Pattern, u8)> = Vec::new();
    for (step, op) in ops.0.iter().enumerate() {
        match op {
            Op::Insert(p, v) | Op::Remove(p, v) => {
                let parsed = C::parse(p);
                assert_eq!(
                    parsed.is_some(),
                    C::reference_valid(p),
                    "op {step}: {}({}) and the reference's check disagree",
                    C::PARSE,
                    lit::bytes(p)
                );
                let Some(pattern) = parsed else { continue };
                let at = model.iter().position(|(q, _, w)| q == p && w == v);
                if matches!(op, Op::Insert(..)) {
                    let got = trie.insert(&pattern, *v);
                    assert_eq!(
                        got,
                        at.is_none(),
                        "op {step}: insert({}, {v})",
                        lit::bytes(p)
                    );
                    if at.is_none() {
                        model.push((p.clone(), pattern, *v));
                    }
                } else {
                    let got = trie.remove(&pattern, v);
                    assert_eq!(
                        got,
                        at.is_some(),
                        "op {step}: remove({}, {v})",
                        lit::bytes(p)
                    );
                    if let Some(i) = at {
                        model.remove(i);
                    }
                }
            }
            Op::Route(k) => {
                let mut got = trie.route(k);
                got.sort_unstable();
                let mut want: Vec<u8> = model
                    .iter()
                    .filter(|(p, _, _)| C::reference_matches(p, k))
                    .map(|(_, _, v)| *v)
                    .collect();
                want.sort_unstable();
                assert_eq!(got, want, "op {step}: route({}) values", lit::bytes(k));
                for (p, pattern, _) in &model {
                    assert_eq!(
                        C::pattern_matches(pattern, k),
                        C::reference_matches(p, k),
                        "op {step}: {}({}).matches({})",
                        C::PARSE,
                        lit::bytes(p),
                        lit::bytes(k)
                    );
                }
            }
        }
        trie.check_invariants();
        assert_eq!(trie.len(), model.len(), "op {step}: len()");
    }
    for (_, pattern, v) in &model {
        assert!(trie.remove(pattern, v), "removing what the model holds");
    }
    trie.check_invariants();
    assert_eq!(trie.node_count(), 1, "an emptied trie keeps only its root");
}

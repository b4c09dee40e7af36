//! T5's churn steps (W7: unbind a random binding and bind it again), for the trie alone
//! and for the whole routing table, timed per operation (one bind or one unbind).

use std::time::Duration;

use trackswitch::topic::Pattern;
use trackswitch::{Destination, FieldTable};

use super::timing::ns_per_op;
use super::workloads::{Rng, Workload};
use super::{OursTable, OursTrie};

/// The workload's patterns, parsed once.
pub fn patterns(w: &Workload) -> Vec<Pattern> {
    w.bindings
        .iter()
        .map(|(p, _)| Pattern::new(p).expect("workload patterns are valid"))
        .collect()
}

/// One trie churn step: remove a random binding and insert it back.
pub fn trie_step(ours: &mut OursTrie, w: &Workload, patterns: &[Pattern], rng: &mut Rng) {
    let i = rng.below(patterns.len() as u64) as usize;
    let id = w.bindings[i].1;
    ours.0.remove(&patterns[i], &id);
    ours.0.insert(&patterns[i], id);
}

/// ns per trie insert or remove.
pub fn trie_ns_per_op(w: &Workload, rng: &mut Rng, budget: Duration, rounds: usize) -> f64 {
    let patterns = patterns(w);
    let mut ours = OursTrie::build(w);
    let ns = ns_per_op(|_| trie_step(&mut ours, w, &patterns, rng), budget, rounds) / 2.0;
    ours.0.check_invariants();
    ns
}

/// ns per table bind or unbind (by name, to queue `q{id}` from the topic exchange `x`
/// of [`OursTable`]).
pub fn table_ns_per_op(w: &Workload, rng: &mut Rng, budget: Duration, rounds: usize) -> f64 {
    let mut table = OursTable::build(w);
    let none = FieldTable::new();
    let names: Vec<String> = w.bindings.iter().map(|(_, id)| format!("q{id}")).collect();
    let ns = ns_per_op(
        |_| {
            let i = rng.below(names.len() as u64) as usize;
            let (p, dest) = (&w.bindings[i].0, Destination::Queue(&names[i]));
            table.table.unbind("x", dest, p, &none).expect("unbind");
            table.table.bind("x", dest, p, &none).expect("bind");
        },
        budget,
        rounds,
    ) / 2.0;
    table.table.check_invariants();
    ns
}

//! [`RoutingTable::check_invariants`]: the table's structure checked in full, for tests
//! and fuzzing.

use std::hash::BuildHasher;

use hashbrown::HashMap;

use super::RoutingTable;
use super::store::{Dest, Index, index_pairs};

impl<S: BuildHasher + Clone> RoutingTable<S> {
    /// Checks the table's invariants (for tests and fuzzing).
    ///
    /// # Panics
    ///
    /// If an index and the inbound sets disagree, a binding leads to a missing queue or
    /// exchange, a count is wrong, a name map is out of step with the slabs, or an
    /// argument table's reference count is wrong.
    pub fn check_invariants(&self) {
        let mut refs = vec![0usize; self.args.slots.len()];
        let mut inbound_seen = 0;
        for (id, x) in self.exchanges.iter().enumerate() {
            let Some(x) = x else {
                assert!(
                    self.free_exchanges.contains(&(id as u32)),
                    "lost exchange slot"
                );
                continue;
            };
            assert_eq!(self.exchange_by_name(x.name.as_bytes()), Some(id as u32));
            let mut n = 0;
            match x.index.as_ref() {
                None => assert_eq!(id, 0, "only the default exchange has no index"),
                Some(Index::Direct(d)) => d.check_invariants(),
                Some(Index::Topic(t)) => t.check_invariants(),
                Some(Index::Fanout {
                    bindings,
                    queues,
                    exchanges,
                    counts,
                }) => {
                    bindings.check_invariants();
                    queues.check_invariants();
                    exchanges.check_invariants();
                    let mut expect: HashMap<Dest, u32> = HashMap::new();
                    for (_, b) in bindings.iter() {
                        *expect.entry(b.dest).or_insert(0) += 1;
                    }
                    assert_eq!(&expect, counts, "fanout counts out of date");
                    for d in counts.keys() {
                        let members = if d.is_exchange() { exchanges } else { queues };
                        assert!(members.contains(d.id()), "fanout member missing");
                    }
                    assert_eq!(
                        queues.len() + exchanges.len(),
                        counts.len(),
                        "stray fanout members"
                    );
                }
                Some(Index::Headers { list, at }) => {
                    assert_eq!(list.len(), at.len(), "headers positions out of date");
                    for (i, h) in list.iter().enumerate() {
                        assert_eq!(at.get(&(h.key.clone(), h.bound)), Some(&i));
                    }
                }
            }
            for (key, bound) in index_pairs(x.index.as_ref()) {
                n += 1;
                refs[bound.args as usize] += 1;
                let set = if bound.dest.is_exchange() {
                    &self.exchanges[bound.dest.id() as usize]
                        .as_ref()
                        .expect("binding to a live exchange")
                        .inbound
                } else {
                    &self.queues[bound.dest.id() as usize]
                        .as_ref()
                        .expect("binding to a live queue")
                        .inbound
                };
                assert!(
                    set.contains(&self.hasher, id as u32, key, bound.args),
                    "binding missing from its destination"
                );
            }
            assert_eq!(n, x.bindings, "binding count out of date");
            assert!(x.bindings == 0 || x.ever_bound);
            inbound_seen += x.inbound.len();
        }
        for (id, q) in self.queues.iter().enumerate() {
            match q {
                Some(q) => {
                    assert_eq!(self.queue_by_name(q.name.as_bytes()), Some(id as u32));
                    inbound_seen += q.inbound.len();
                }
                None => assert!(self.free_queues.contains(&(id as u32)), "lost queue slot"),
            }
        }
        assert_eq!(inbound_seen, self.binding_count(), "stray inbound bindings");
        self.queue_names.check(&self.hasher, &self.queues);
        self.exchange_names.check(&self.hasher, &self.exchanges);
        assert_eq!(self.queue_names.len(), self.queues.iter().flatten().count());
        assert_eq!(
            self.exchange_names.len(),
            self.exchanges.iter().flatten().count()
        );
        for (id, slot) in self.args.slots.iter().enumerate() {
            match slot {
                Some((table, n)) => {
                    assert_eq!(*n, refs[id], "argument reference count out of date");
                    assert_eq!(self.args.ids.get(table), Some(&(id as u32)));
                    assert!(id == 0 || *n > 0, "unused argument table kept");
                }
                None => assert_eq!(refs[id], 0, "binding to a freed argument table"),
            }
        }
    }
}

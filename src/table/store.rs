//! The table's storage: packed destinations, index values, the indexes of each kind,
//! the reverse (inbound) sets, exchanges and queues, and interned argument tables.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use super::{ExchangeKind, ExchangeOptions};
use crate::bitset::DestSet;
use crate::direct::DirectIndex;
use crate::field::FieldTable;
use crate::headers::HeadersMatch;
use crate::small::SmallBytes;
use crate::topic::TopicTrie;

/// A destination packed in a `u32`: `id << 1`, low bit set for exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Dest(u32);

impl Dest {
    pub(super) fn queue(id: u32) -> Dest {
        Dest(id << 1)
    }
    pub(super) fn exchange(id: u32) -> Dest {
        Dest(id << 1 | 1)
    }
    pub(super) fn is_exchange(self) -> bool {
        self.0 & 1 == 1
    }
    pub(super) fn id(self) -> u32 {
        self.0 >> 1
    }
}

/// An index value: where a binding leads and its interned arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Bound {
    pub(super) dest: Dest,
    /// Id in the table's argument interner; 0 is the empty table.
    pub(super) args: u32,
}

/// A binding as seen from its destination.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Inbound {
    pub(super) source: u32,
    pub(super) key: SmallBytes,
    pub(super) args: u32,
}

/// The bindings leading to one destination, found by (source, key, arguments) without
/// allocating a key for the lookup.
#[derive(Debug, Clone, Default)]
pub(super) struct InboundSet {
    /// Hashed with `hasher` over `(source, key, args)`.
    pub(super) table: HashTable<Inbound>,
    hasher: DefaultHashBuilder,
}

impl InboundSet {
    fn hash(&self, source: u32, key: &[u8], args: u32) -> u64 {
        self.hasher.hash_one((source, key, args))
    }

    /// Adds a binding; false if it is there already.
    pub(super) fn insert(&mut self, b: Inbound) -> bool {
        let h = self.hash(b.source, &b.key, b.args);
        let hasher = &self.hasher;
        match self.table.entry(
            h,
            |i| i.source == b.source && i.key == b.key && i.args == b.args,
            |i| hasher.hash_one((i.source, &*i.key, i.args)),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(b);
                true
            }
        }
    }

    pub(super) fn remove(&mut self, source: u32, key: &[u8], args: u32) -> bool {
        let h = self.hash(source, key, args);
        match self.table.find_entry(h, |i| {
            i.source == source && *i.key == *key && i.args == args
        }) {
            Ok(e) => {
                e.remove();
                true
            }
            Err(_) => false,
        }
    }

    pub(super) fn contains(&self, source: u32, key: &[u8], args: u32) -> bool {
        let h = self.hash(source, key, args);
        self.table
            .find(h, |i| {
                i.source == source && *i.key == *key && i.args == args
            })
            .is_some()
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }
}

/// One headers binding.
#[derive(Debug, Clone)]
pub(super) struct HeadersBinding {
    pub(super) key: Box<[u8]>,
    pub(super) bound: Bound,
    pub(super) matcher: HeadersMatch,
}

/// An exchange's index, by kind. Every (key, value) pair is one binding.
#[derive(Debug, Clone)]
pub(super) enum Index<S> {
    Direct(DirectIndex<Bound, S>),
    Topic(TopicTrie<Bound, S>),
    Fanout {
        /// Binding identities.
        bindings: DirectIndex<Bound, S>,
        /// Ids of the queues with at least one binding.
        queues: DestSet,
        /// Ids of the exchanges with at least one binding.
        exchanges: DestSet,
        /// Packed destination -> number of bindings to it (> 0); its id is in `queues`
        /// or `exchanges` iff it is a key here.
        counts: HashMap<Dest, u32>,
    },
    Headers {
        list: Vec<HeadersBinding>,
        /// (key, value) -> position in `list`, for every binding.
        at: HashMap<(Box<[u8]>, Bound), usize>,
    },
}

impl<S: Clone> Index<S> {
    /// An empty index of `kind` hashing with (a clone of) `hasher`.
    pub(super) fn new(kind: ExchangeKind, hasher: &S) -> Index<S> {
        match kind {
            ExchangeKind::Direct => Index::Direct(DirectIndex::with_hasher(hasher.clone())),
            ExchangeKind::Topic => Index::Topic(TopicTrie::with_hasher(hasher.clone())),
            ExchangeKind::Fanout => Index::Fanout {
                bindings: DirectIndex::with_hasher(hasher.clone()),
                queues: DestSet::new(),
                exchanges: DestSet::new(),
                counts: HashMap::new(),
            },
            ExchangeKind::Headers => Index::Headers {
                list: Vec::new(),
                at: HashMap::new(),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Exchange<S> {
    pub(super) name: Box<str>,
    pub(super) kind: ExchangeKind,
    pub(super) options: ExchangeOptions,
    /// `None` only for the default exchange, which routes by queue name.
    pub(super) index: Option<Index<S>>,
    /// Number of bindings with this exchange as source (pairs in `index`).
    pub(super) bindings: usize,
    /// Whether it ever was the source of a binding (auto-delete needs one).
    pub(super) ever_bound: bool,
    /// Bindings with this exchange as destination.
    pub(super) inbound: InboundSet,
}

#[derive(Debug, Clone)]
pub(super) struct Queue {
    pub(super) name: Box<str>,
    /// Bindings with this queue as destination.
    pub(super) inbound: InboundSet,
}

/// Interned argument tables, so an index value is 8 bytes whatever the arguments.
#[derive(Debug, Clone)]
pub(super) struct ArgsInterner {
    pub(super) ids: HashMap<FieldTable, u32>,
    /// Slot 0 is the empty table and is never freed; a slot is `Some` iff its table is
    /// in `ids`, with the number of bindings using it.
    pub(super) slots: Vec<Option<(FieldTable, usize)>>,
    pub(super) free: Vec<u32>,
}

impl ArgsInterner {
    pub(super) fn new() -> ArgsInterner {
        let mut ids = HashMap::new();
        ids.insert(FieldTable::new(), 0);
        ArgsInterner {
            ids,
            slots: vec![Some((FieldTable::new(), 0))],
            free: Vec::new(),
        }
    }

    /// The id of `table` without taking a reference, if interned.
    pub(super) fn find(&self, table: &FieldTable) -> Option<u32> {
        if table.is_empty() {
            return Some(0);
        }
        self.ids.get(table).copied()
    }

    /// The id of `table`, interning it; takes one reference.
    pub(super) fn acquire(&mut self, table: &FieldTable) -> u32 {
        if table.is_empty() {
            self.slots[0]
                .as_mut()
                .expect("the empty table is always interned")
                .1 += 1;
            return 0;
        }
        let id = match self.ids.get(table) {
            Some(&id) => id,
            None => {
                let id = match self.free.pop() {
                    Some(id) => id,
                    None => {
                        self.slots.push(None);
                        (self.slots.len() - 1) as u32
                    }
                };
                self.slots[id as usize] = Some((table.clone(), 0));
                self.ids.insert(table.clone(), id);
                id
            }
        };
        self.slots[id as usize].as_mut().expect("interned").1 += 1;
        id
    }

    pub(super) fn release(&mut self, id: u32) {
        let slot = self.slots[id as usize]
            .as_mut()
            .expect("released id is interned");
        slot.1 -= 1;
        if slot.1 == 0 && id != 0 {
            let (table, _) = self.slots[id as usize].take().expect("interned");
            self.ids.remove(&table);
            self.free.push(id);
        }
    }

    pub(super) fn get(&self, id: u32) -> &FieldTable {
        &self.slots[id as usize].as_ref().expect("live args id").0
    }
}

/// Puts `item` in a free slot of `slab` (or a new one) and returns its index, which
/// stays below 2^31 so it packs into a [`Dest`].
pub(super) fn slab_insert<T>(slab: &mut Vec<Option<T>>, free: &mut Vec<u32>, item: T) -> u32 {
    let id = match free.pop() {
        Some(id) => {
            slab[id as usize] = Some(item);
            id
        }
        None => {
            slab.push(Some(item));
            u32::try_from(slab.len() - 1).expect("fewer than 2^31 exchanges or queues")
        }
    };
    assert!(id < 1 << 31, "fewer than 2^31 exchanges or queues");
    id
}

/// Every (key, value) pair of an index.
pub(super) fn index_pairs<S: BuildHasher>(
    index: Option<&Index<S>>,
) -> Box<dyn Iterator<Item = (&[u8], Bound)> + '_> {
    match index {
        None => Box::new(std::iter::empty()),
        Some(Index::Direct(d)) => Box::new(d.iter().map(|(k, b)| (k, *b))),
        Some(Index::Topic(t)) => Box::new(t.iter().map(|(p, b)| (p.as_bytes(), *b))),
        Some(Index::Fanout { bindings, .. }) => Box::new(bindings.iter().map(|(k, b)| (k, *b))),
        Some(Index::Headers { list, .. }) => Box::new(list.iter().map(|h| (&*h.key, h.bound))),
    }
}

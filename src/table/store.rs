//! The table's storage: packed destinations, index values, the indexes of each kind,
//! the reverse (inbound) sets, exchanges and queues, and interned argument tables.

use std::hash::BuildHasher;

use hashbrown::{HashMap, HashTable};

use super::names::Named;
use super::{ExchangeKind, ExchangeOptions, TopicDialect};
use crate::bitset::DestSet;
use crate::direct::DirectIndex;
use crate::error::BindError;
use crate::field::FieldTable;
use crate::headers::HeadersMatch;
use crate::small::SmallBytes;
use crate::topic::{Amqp, Mqtt, MqttFilter, Nats, NatsSubject, TopicTrie};

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

impl Inbound {
    fn is(&self, source: u32, key: &[u8], args: u32) -> bool {
        self.source == source && self.args == args && *self.key == *key
    }
}

fn inbound_hash(hasher: &impl BuildHasher, source: u32, key: &[u8], args: u32) -> u64 {
    hasher.hash_one((source, key, args))
}

/// The bindings leading to one destination, found by (source, key, arguments) without
/// allocating a key for the lookup.
///
/// Most destinations have few bindings, so the set grows in steps: none, one held
/// inline (no allocation, and on the cache line of its queue), up to [`InboundSet::FEW`]
/// in a vector scanned in order, and beyond that a hash table keyed with the table's
/// hasher. It never shrinks back from a step but the vector's last removal.
#[derive(Debug, Clone, Default)]
pub(super) enum InboundSet {
    #[default]
    Empty,
    One(Inbound),
    /// 1..=FEW bindings, distinct.
    Few(Vec<Inbound>),
    /// Hashed with the table's hasher over `(source, key, args)`.
    Many(HashTable<Inbound>),
}

impl InboundSet {
    /// The most bindings kept in a scanned vector.
    pub(super) const FEW: usize = 16;

    /// Adds a binding; false if it is there already.
    pub(super) fn insert(&mut self, hasher: &impl BuildHasher, b: Inbound) -> bool {
        let rehash = |i: &Inbound| inbound_hash(hasher, i.source, &i.key, i.args);
        match self {
            InboundSet::Empty => *self = InboundSet::One(b),
            InboundSet::One(a) => {
                if a.is(b.source, &b.key, b.args) {
                    return false;
                }
                let a = a.clone();
                *self = InboundSet::Few(vec![a, b]);
            }
            InboundSet::Few(v) => {
                if v.iter().any(|i| i.is(b.source, &b.key, b.args)) {
                    return false;
                }
                if v.len() < InboundSet::FEW {
                    v.push(b);
                } else {
                    let mut t = HashTable::with_capacity(2 * v.len());
                    for i in v.drain(..).chain([b]) {
                        t.insert_unique(rehash(&i), i, rehash);
                    }
                    *self = InboundSet::Many(t);
                }
            }
            InboundSet::Many(t) => {
                let h = inbound_hash(hasher, b.source, &b.key, b.args);
                match t.entry(h, |i| i.is(b.source, &b.key, b.args), rehash) {
                    hashbrown::hash_table::Entry::Occupied(_) => return false,
                    hashbrown::hash_table::Entry::Vacant(v) => {
                        v.insert(b);
                    }
                }
            }
        }
        true
    }

    /// Removes a binding; false if it was not there.
    pub(super) fn remove(
        &mut self,
        hasher: &impl BuildHasher,
        source: u32,
        key: &[u8],
        args: u32,
    ) -> bool {
        match self {
            InboundSet::Empty => false,
            InboundSet::One(a) => {
                let found = a.is(source, key, args);
                if found {
                    *self = InboundSet::Empty;
                }
                found
            }
            InboundSet::Few(v) => match v.iter().position(|i| i.is(source, key, args)) {
                Some(at) => {
                    v.swap_remove(at);
                    if v.is_empty() {
                        *self = InboundSet::Empty;
                    }
                    true
                }
                None => false,
            },
            InboundSet::Many(t) => {
                let h = inbound_hash(hasher, source, key, args);
                match t.find_entry(h, |i| i.is(source, key, args)) {
                    Ok(e) => {
                        e.remove();
                        true
                    }
                    Err(_) => false,
                }
            }
        }
    }

    pub(super) fn contains(
        &self,
        hasher: &impl BuildHasher,
        source: u32,
        key: &[u8],
        args: u32,
    ) -> bool {
        match self {
            InboundSet::Empty => false,
            InboundSet::One(a) => a.is(source, key, args),
            InboundSet::Few(v) => v.iter().any(|i| i.is(source, key, args)),
            InboundSet::Many(t) => t
                .find(inbound_hash(hasher, source, key, args), |i| {
                    i.is(source, key, args)
                })
                .is_some(),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            InboundSet::Empty => 0,
            InboundSet::One(_) => 1,
            InboundSet::Few(v) => v.len(),
            InboundSet::Many(t) => t.len(),
        }
    }

    /// Every binding, consuming the set.
    pub(super) fn into_vec(self) -> Vec<Inbound> {
        match self {
            InboundSet::Empty => Vec::new(),
            InboundSet::One(a) => vec![a],
            InboundSet::Few(v) => v,
            InboundSet::Many(t) => t.into_iter().collect(),
        }
    }
}

/// An exchange or queue name, inline up to 22 bytes: looking a name up compares it on
/// the cache line of its slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Name(SmallBytes);

impl Name {
    pub(super) fn new(name: &str) -> Name {
        Name(SmallBytes::new(name.as_bytes()))
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub(super) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a name is built from a str")
    }
}

/// One headers binding.
#[derive(Debug, Clone)]
pub(super) struct HeadersBinding {
    pub(super) key: Box<[u8]>,
    pub(super) bound: Bound,
    pub(super) matcher: HeadersMatch,
}

/// A topic exchange's trie, in the table's dialect.
#[derive(Debug, Clone)]
pub(super) enum TopicIndex<S> {
    Amqp(TopicTrie<Bound, S, Amqp>),
    Mqtt(TopicTrie<Bound, S, Mqtt>),
    Nats(TopicTrie<Bound, S, Nats>),
}

/// Runs `$e` with `$t` bound to the trie of a [`TopicIndex`], whatever its dialect.
macro_rules! each_dialect {
    ($index:expr, $t:ident => $e:expr) => {
        match $index {
            TopicIndex::Amqp($t) => $e,
            TopicIndex::Mqtt($t) => $e,
            TopicIndex::Nats($t) => $e,
        }
    };
}

impl<S: BuildHasher> TopicIndex<S> {
    fn new(dialect: TopicDialect, hasher: S) -> TopicIndex<S> {
        match dialect {
            TopicDialect::Amqp => {
                TopicIndex::Amqp(TopicTrie::with_dialect_and_hasher(Amqp, hasher))
            }
            TopicDialect::Mqtt => {
                TopicIndex::Mqtt(TopicTrie::with_dialect_and_hasher(Mqtt, hasher))
            }
            TopicDialect::Nats => {
                TopicIndex::Nats(TopicTrie::with_dialect_and_hasher(Nats, hasher))
            }
        }
    }

    /// Adds a binding whose key [`check`](TopicIndex::check) accepted.
    pub(super) fn insert(&mut self, key: &[u8], bound: Bound) -> bool {
        each_dialect!(self, t => t.insert_bytes(key, bound))
    }

    pub(super) fn remove(&mut self, key: &[u8], bound: &Bound) -> bool {
        each_dialect!(self, t => t.remove_bytes(key, bound))
    }

    /// Calls `f` with each matching pattern's bytes and its values.
    #[inline]
    pub(super) fn route_with(&self, key: &[u8], mut f: impl FnMut(&[u8], &[Bound])) {
        each_dialect!(self, t => t.route_with(key, |p, values| f(p.as_ref(), values)))
    }

    pub(super) fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], Bound)> + '_> {
        each_dialect!(self, t => Box::new(t.iter().map(|(p, b)| (p.as_ref(), *b))))
    }

    pub(super) fn check_invariants(&self) {
        each_dialect!(self, t => t.check_invariants())
    }
}

/// Checks a topic binding key against `dialect`'s rules.
pub(super) fn check_topic_key(dialect: TopicDialect, key: &[u8]) -> Result<(), BindError> {
    let reason = match dialect {
        TopicDialect::Amqp => return Ok(()),
        TopicDialect::Mqtt => MqttFilter::new(key).err().map(|e| e.to_string()),
        TopicDialect::Nats => NatsSubject::new(key).err().map(|e| e.to_string()),
    };
    match reason {
        Some(reason) => Err(BindError::InvalidKey { reason }),
        None => Ok(()),
    }
}

/// An exchange's index, by kind. Every (key, value) pair is one binding.
#[derive(Debug, Clone)]
pub(super) enum Index<S> {
    Direct(DirectIndex<Bound, S>),
    Topic(TopicIndex<S>),
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

impl<S: BuildHasher + Clone> Index<S> {
    /// An empty index of `kind` hashing with (a clone of) `hasher`; a topic index
    /// speaks `dialect`.
    pub(super) fn new(kind: ExchangeKind, dialect: TopicDialect, hasher: &S) -> Index<S> {
        match kind {
            ExchangeKind::Direct => Index::Direct(DirectIndex::with_hasher(hasher.clone())),
            ExchangeKind::Topic => Index::Topic(TopicIndex::new(dialect, hasher.clone())),
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
    pub(super) name: Name,
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

/// One cache line: resolving a queue by name and reaching its inbound set read one line.
#[derive(Debug, Clone)]
#[repr(align(64))]
pub(super) struct Queue {
    pub(super) name: Name,
    /// Bindings with this queue as destination.
    pub(super) inbound: InboundSet,
}

// A queue's slot is exactly one cache line, with or without the slab's `Option`.
const _: () = assert!(std::mem::size_of::<Option<Queue>>() == 64);

impl<S> Named for Exchange<S> {
    fn name(&self) -> &[u8] {
        self.name.as_bytes()
    }
}

impl Named for Queue {
    fn name(&self) -> &[u8] {
        self.name.as_bytes()
    }
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

/// The inbound set of the live destination `dest`.
pub(super) fn inbound_mut<'a, S>(
    exchanges: &'a mut [Option<Exchange<S>>],
    queues: &'a mut [Option<Queue>],
    dest: Dest,
) -> &'a mut InboundSet {
    if dest.is_exchange() {
        &mut exchanges[dest.id() as usize]
            .as_mut()
            .expect("id of a live exchange")
            .inbound
    } else {
        &mut queues[dest.id() as usize]
            .as_mut()
            .expect("id of a live queue")
            .inbound
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
        Some(Index::Topic(t)) => t.iter(),
        Some(Index::Fanout { bindings, .. }) => Box::new(bindings.iter().map(|(k, b)| (k, *b))),
        Some(Index::Headers { list, .. }) => Box::new(list.iter().map(|h| (&*h.key, h.bound))),
    }
}

//! [`RoutingTable`]: exchanges of the four kinds, bindings, exchange-to-exchange graphs,
//! alternate exchanges, and one copy per queue.
//!
//! # Structure
//!
//! Exchanges and queues live in slabs, found by name through an index of ids (one probe
//! and a compare with the slot's inline name); their ids stay dense (a deleted id is
//! reused), so routing results are bitsets. Each exchange owns
//! the index of its kind: a [`DirectIndex`](crate::DirectIndex), a
//! [`TopicTrie`](crate::topic::TopicTrie), a [`DestSet`](crate::DestSet) of fanout
//! members, or a list of [`HeadersMatch`](crate::HeadersMatch)ers. Index values are a
//! destination and an interned argument table, so a binding's whole identity
//! (source, destination, key, arguments) is one (key, value) pair of its source's index.
//! Every destination also keeps the bindings that lead to it, so deleting a queue or an
//! exchange costs O(its bindings): one inline, a few in a vector, many in a hash table.
//! A table's topic exchanges speak the [`TopicDialect`] of its options.
//!
//! # Routing
//!
//! [`RoutingTable::route_into`] evaluates exchanges from a work list, each at most once
//! per message (cycles end), with the routing key and any `CC`/`BCC` keys. An exchange
//! whose own bindings yield no destination at all hands the message to its alternate
//! exchange, if that exists (RabbitMQ's rule). Queues are collected in a
//! [`DestSet`](crate::DestSet) so each appears once, in order of discovery.

mod check;
mod names;
mod route;
#[cfg(all(test, feature = "serde"))]
mod serde_tests;
#[cfg(feature = "shared")]
mod shared;
mod store;
mod types;

use std::hash::BuildHasher;

use crate::DefaultHashBuilder;

use crate::error::{BindError, DeclareError, DeleteError, ObjectKind};
use crate::field::FieldTable;
use crate::headers::HeadersMatch;
use crate::small::SmallBytes;
use names::NameIndex;
use store::{
    ArgsInterner, Bound, Dest, Exchange, HeadersBinding, Inbound, InboundSet, Index, Name, Queue,
    inbound_mut, index_pairs, slab_insert,
};

pub use route::RouteResult;
#[cfg(feature = "shared")]
pub(crate) use shared::{DoubleBuffer, Writing};
#[cfg(feature = "shared")]
pub use shared::{SharedRoutingTable, TableSnapshot};
pub use types::{
    Binding, Destination, ExchangeId, ExchangeInfo, ExchangeKind, ExchangeOptions, MAX_NAME_LEN,
    QueueId, TableOptions, TopicDialect,
};

/// Exchanges, queues and the bindings between them, with RabbitMQ's routing rules.
///
/// A new table holds what a RabbitMQ vhost starts with: the default exchange `""`
/// (every queue is reachable through it by its name; it takes no bindings) and the
/// durable exchanges `amq.direct`, `amq.fanout`, `amq.topic`, `amq.headers` and
/// `amq.match`.
///
/// # Examples
///
/// The news feed that explains topic exchanges: keys are
/// `<region>.<section>.<user_type>`.
///
/// ```
/// use trackswitch::{Destination, ExchangeKind, FieldTable, RoutingTable};
///
/// let mut table = RoutingTable::new();
/// table.declare_exchange("news", ExchangeKind::Topic, &Default::default())?;
/// let none = FieldTable::new();
/// for (queue, key) in [
///     ("eu_free", "eu.*.free_user"),
///     ("ru_all", "ru.#"),
///     ("culture", "*.culture.*"),
///     ("archive", "#"),
/// ] {
///     table.declare_queue(queue)?;
///     table.bind("news", Destination::Queue(queue), key, &none)?;
/// }
///
/// let routed = table.route("news", "eu.culture.free_user", None)?;
/// let mut names: Vec<&str> = routed.queues().iter().map(|&q| table.queue_name(q).unwrap()).collect();
/// names.sort();
/// assert_eq!(names, ["archive", "culture", "eu_free"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RoutingTable<S = DefaultHashBuilder> {
    options: TableOptions,
    /// Slab of exchanges; `None` slots are on `free_exchanges`. Slot 0 is the default
    /// exchange.
    exchanges: Vec<Option<Exchange<S>>>,
    free_exchanges: Vec<u32>,
    /// Every live exchange by name.
    exchange_names: NameIndex,
    queues: Vec<Option<Queue>>,
    free_queues: Vec<u32>,
    queue_names: NameIndex,
    args: ArgsInterner,
    /// Cloned into every exchange's index; hashes names and routing keys.
    hasher: S,
}

impl Default for RoutingTable {
    fn default() -> Self {
        RoutingTable::with_options(TableOptions::default())
    }
}

/// RabbitMQ refuses the default exchange on either side of a binding before looking
/// anything up (R01).
fn check_not_default(source: &str, destination: Destination<'_>) -> Result<(), BindError> {
    if source.is_empty() || destination == Destination::Exchange("") {
        return Err(BindError::AccessRefused {
            name: String::new(),
        });
    }
    Ok(())
}

fn check_name(kind: ObjectKind, name: &str) -> Result<(), DeclareError> {
    let empty_queue = kind == ObjectKind::Queue && name.is_empty();
    if empty_queue || name.len() > MAX_NAME_LEN {
        return Err(DeclareError::InvalidName {
            kind,
            len: name.len(),
        });
    }
    Ok(())
}

impl RoutingTable {
    /// A table with the default exchange and the `amq.*` exchanges.
    pub fn new() -> RoutingTable {
        RoutingTable::default()
    }

    /// A table with options (e.g. RabbitMQ 4.3.5's limit of two `#` per topic key).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::{Destination, FieldTable, RoutingTable, TableOptions};
    ///
    /// let mut table = RoutingTable::with_options(TableOptions {
    ///     max_hash_words: Some(2),
    ///     ..TableOptions::default()
    /// });
    /// table.declare_queue("q")?;
    /// let err = table.bind("amq.topic", Destination::Queue("q"), "#.#.#", &FieldTable::new());
    /// assert_eq!(err.unwrap_err().reply_code(), 406);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A table whose topic exchanges speak MQTT (or NATS, see [`TopicDialect`]):
    ///
    /// ```
    /// use trackswitch::{Destination, FieldTable, RoutingTable, TableOptions, TopicDialect};
    ///
    /// let mut table = RoutingTable::with_options(TableOptions {
    ///     topic_dialect: TopicDialect::Mqtt,
    ///     ..TableOptions::default()
    /// });
    /// table.declare_queue("player1")?;
    /// let none = FieldTable::new();
    /// table.bind("amq.topic", Destination::Queue("player1"), "sport/tennis/player1/#", &none)?;
    /// assert_eq!(table.route("amq.topic", "sport/tennis/player1", None)?.len(), 1);
    /// // `#` must be last: refused with the specification's words.
    /// let err = table.bind("amq.topic", Destination::Queue("player1"), "sport/#/x", &none);
    /// assert!(err.unwrap_err().to_string().ends_with("[MQTT-4.7.1-2]"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_options(options: TableOptions) -> RoutingTable {
        RoutingTable::with_options_and_hasher(options, DefaultHashBuilder::default())
    }
}

impl<S: BuildHasher + Clone> RoutingTable<S> {
    /// A table with options whose indexes and name maps hash with `hasher` (clones of
    /// it), for an embedder that picks its own [`BuildHasher`]; [`new`](RoutingTable::new)
    /// uses [`DefaultHashBuilder`] (foldhash, seeded at random: routing keys come from
    /// publishers, so a hasher without a random seed invites collision floods).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::hash::RandomState; // std's SipHash, for example
    /// use trackswitch::{Destination, FieldTable, RoutingTable, TableOptions};
    ///
    /// let mut table =
    ///     RoutingTable::with_options_and_hasher(TableOptions::default(), RandomState::new());
    /// table.declare_queue("q")?;
    /// table.bind("amq.topic", Destination::Queue("q"), "a.#", &FieldTable::new())?;
    /// assert_eq!(table.route("amq.topic", "a.b", None)?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_options_and_hasher(options: TableOptions, hasher: S) -> RoutingTable<S> {
        let mut t = RoutingTable {
            options,
            exchanges: Vec::new(),
            free_exchanges: Vec::new(),
            exchange_names: NameIndex::default(),
            queues: Vec::new(),
            free_queues: Vec::new(),
            queue_names: NameIndex::default(),
            args: ArgsInterner::new(),
            hasher,
        };
        let durable = ExchangeOptions {
            durable: true,
            ..ExchangeOptions::default()
        };
        t.insert_exchange("", ExchangeKind::Direct, durable.clone(), None);
        for (name, kind) in [
            ("amq.direct", ExchangeKind::Direct),
            ("amq.fanout", ExchangeKind::Fanout),
            ("amq.topic", ExchangeKind::Topic),
            ("amq.headers", ExchangeKind::Headers),
            ("amq.match", ExchangeKind::Headers),
        ] {
            let index = Index::new(kind, t.options.topic_dialect, &t.hasher);
            t.insert_exchange(name, kind, durable.clone(), Some(index));
        }
        t
    }

    /// The table's options.
    pub fn options(&self) -> &TableOptions {
        &self.options
    }

    fn insert_exchange(
        &mut self,
        name: &str,
        kind: ExchangeKind,
        options: ExchangeOptions,
        index: Option<Index<S>>,
    ) -> u32 {
        let x = Exchange {
            name: Name::new(name),
            kind,
            options,
            index,
            bindings: 0,
            ever_bound: false,
            inbound: InboundSet::default(),
        };
        let id = slab_insert(&mut self.exchanges, &mut self.free_exchanges, x);
        self.exchange_names
            .insert(&self.hasher, &self.exchanges, id);
        id
    }

    /// The slab index of the live exchange `name`.
    fn exchange_by_name(&self, name: &[u8]) -> Option<u32> {
        self.exchange_names.get(&self.hasher, &self.exchanges, name)
    }

    /// The slab index of the live queue `name`.
    fn queue_by_name(&self, name: &[u8]) -> Option<u32> {
        self.queue_names.get(&self.hasher, &self.queues, name)
    }

    fn exchange_slot(&self, id: u32) -> &Exchange<S> {
        self.exchanges[id as usize]
            .as_ref()
            .expect("id of a live exchange")
    }

    fn exchange_slot_mut(&mut self, id: u32) -> &mut Exchange<S> {
        self.exchanges[id as usize]
            .as_mut()
            .expect("id of a live exchange")
    }

    /// Declares an exchange, or checks that an existing one has the same kind and
    /// options. Returns its id.
    ///
    /// # Errors
    ///
    /// - [`DeclareError::AccessRefused`] (403): the default exchange `""`, or a new name
    ///   starting with `amq.`;
    /// - [`DeclareError::Inequivalent`] (406): the exchange exists with another kind or
    ///   other options;
    /// - [`DeclareError::InvalidName`] (406): a name over 255 bytes.
    pub fn declare_exchange(
        &mut self,
        name: &str,
        kind: ExchangeKind,
        options: &ExchangeOptions,
    ) -> Result<ExchangeId, DeclareError> {
        check_name(ObjectKind::Exchange, name)?;
        if name.is_empty() {
            return Err(DeclareError::AccessRefused {
                kind: ObjectKind::Exchange,
                name: String::new(),
            });
        }
        if let Some(id) = self.exchange_by_name(name.as_bytes()) {
            let x = self.exchange_slot(id);
            let property = if x.kind != kind {
                Some("type")
            } else if x.options.durable != options.durable {
                Some("durable")
            } else if x.options.auto_delete != options.auto_delete {
                Some("auto_delete")
            } else if x.options.internal != options.internal {
                Some("internal")
            } else if x.options.alternate_exchange != options.alternate_exchange {
                Some("alternate-exchange")
            } else {
                None
            };
            return match property {
                Some(property) => Err(DeclareError::Inequivalent {
                    kind: ObjectKind::Exchange,
                    name: name.into(),
                    property,
                }),
                None => Ok(ExchangeId(id)),
            };
        }
        if name.starts_with("amq.") {
            return Err(DeclareError::AccessRefused {
                kind: ObjectKind::Exchange,
                name: name.into(),
            });
        }
        let index = Index::new(kind, self.options.topic_dialect, &self.hasher);
        let id = self.insert_exchange(name, kind, options.clone(), Some(index));
        Ok(ExchangeId(id))
    }

    /// Deletes an exchange and every binding in which it is the source or the
    /// destination (which may auto-delete other exchanges). Returns whether it existed:
    /// deleting a missing exchange is not an error.
    ///
    /// # Errors
    ///
    /// - [`DeleteError::AccessRefused`] (403): the default exchange or an `amq.*` one;
    /// - [`DeleteError::InUse`] (406): `if_unused` and the exchange is a binding's source.
    pub fn delete_exchange(&mut self, name: &str, if_unused: bool) -> Result<bool, DeleteError> {
        if name.is_empty() || name.starts_with("amq.") {
            return Err(DeleteError::AccessRefused {
                kind: ObjectKind::Exchange,
                name: name.into(),
            });
        }
        let Some(id) = self.exchange_by_name(name.as_bytes()) else {
            return Ok(false);
        };
        if if_unused && self.exchange_slot(id).bindings > 0 {
            return Err(DeleteError::InUse {
                kind: ObjectKind::Exchange,
                name: name.into(),
            });
        }
        self.remove_exchange(id);
        Ok(true)
    }

    /// Removes an exchange and its bindings; cascades auto-deletes.
    fn remove_exchange(&mut self, id: u32) {
        let mut doomed = vec![id];
        while let Some(id) = doomed.pop() {
            let Some(x) = self.exchanges[id as usize].take() else {
                continue; // already removed through another path
            };
            self.exchange_names
                .remove(&self.hasher, x.name.as_bytes(), id);
            self.free_exchanges.push(id);
            // Bindings where it is the source: drop them from their destinations.
            for (key, bound) in index_pairs(x.index.as_ref()) {
                self.args.release(bound.args);
                if bound.dest == Dest::exchange(id) {
                    continue; // a self-binding: its exchange is out of the slab already
                }
                let set = inbound_mut(&mut self.exchanges, &mut self.queues, bound.dest);
                set.remove(&self.hasher, id, key, bound.args);
            }
            // Bindings where it is the destination: drop them from their sources.
            for b in x.inbound.into_vec() {
                if b.source == id {
                    continue;
                }
                let bound = Bound {
                    dest: Dest::exchange(id),
                    args: b.args,
                };
                if self.unindex(b.source, &b.key, bound) {
                    doomed.push(b.source);
                }
            }
        }
    }

    /// Removes one binding from its source's index (not from the destination's inbound
    /// set) and releases its arguments. Returns whether the source should now be
    /// auto-deleted.
    fn unindex(&mut self, source: u32, key: &[u8], bound: Bound) -> bool {
        let x = self.exchange_slot_mut(source);
        let removed = match x.index.as_mut().expect("a binding's source has an index") {
            Index::Direct(d) => d.remove(key, &bound),
            Index::Topic(t) => t.remove(key, &bound),
            Index::Fanout {
                bindings,
                queues,
                exchanges,
                counts,
            } => {
                let removed = bindings.remove(key, &bound);
                if removed {
                    let c = counts.get_mut(&bound.dest).expect("counted member");
                    *c -= 1;
                    if *c == 0 {
                        counts.remove(&bound.dest);
                        let members = if bound.dest.is_exchange() {
                            exchanges
                        } else {
                            queues
                        };
                        members.remove(bound.dest.id());
                    }
                }
                removed
            }
            Index::Headers { list, at } => match at.remove(&(Box::from(key), bound)) {
                Some(i) => {
                    list.swap_remove(i);
                    if let Some(moved) = list.get(i) {
                        *at.get_mut(&(moved.key.clone(), moved.bound))
                            .expect("every headers binding is indexed") = i;
                    }
                    true
                }
                None => false,
            },
        };
        assert!(removed, "unindexed binding was indexed");
        x.bindings -= 1;
        let auto_delete = x.bindings == 0 && x.options.auto_delete && x.ever_bound;
        self.args.release(bound.args);
        auto_delete
    }

    /// Declares a queue (the table only needs its name). Returns its id; declaring an
    /// existing queue returns the existing id.
    ///
    /// # Errors
    ///
    /// - [`DeclareError::AccessRefused`] (403): a new name starting with `amq.`;
    /// - [`DeclareError::InvalidName`] (406): an empty name or one over 255 bytes.
    pub fn declare_queue(&mut self, name: &str) -> Result<QueueId, DeclareError> {
        check_name(ObjectKind::Queue, name)?;
        if let Some(id) = self.queue_by_name(name.as_bytes()) {
            return Ok(QueueId(id));
        }
        if name.starts_with("amq.") {
            return Err(DeclareError::AccessRefused {
                kind: ObjectKind::Queue,
                name: name.into(),
            });
        }
        Ok(self.insert_queue(name))
    }

    fn insert_queue(&mut self, name: &str) -> QueueId {
        let q = Queue {
            name: Name::new(name),
            inbound: InboundSet::default(),
        };
        let id = slab_insert(&mut self.queues, &mut self.free_queues, q);
        self.queue_names.insert(&self.hasher, &self.queues, id);
        QueueId(id)
    }

    /// Declares a queue with a name the server chose (`amq.gen-...`), which the `amq.`
    /// rule would otherwise refuse. Returns `None` if the name is taken, does not start
    /// with `amq.`, or is over 255 bytes.
    pub fn declare_generated_queue(&mut self, name: &str) -> Option<QueueId> {
        if !name.starts_with("amq.")
            || name.len() > MAX_NAME_LEN
            || self.queue_by_name(name.as_bytes()).is_some()
        {
            return None;
        }
        Some(self.insert_queue(name))
    }

    /// Deletes a queue and its bindings (which may auto-delete exchanges). Returns
    /// whether it existed.
    pub fn delete_queue(&mut self, name: &str) -> bool {
        let Some(id) = self.queue_by_name(name.as_bytes()) else {
            return false;
        };
        self.queue_names.remove(&self.hasher, name.as_bytes(), id);
        let q = self.queues[id as usize]
            .take()
            .expect("named queue is live");
        self.free_queues.push(id);
        for b in q.inbound.into_vec() {
            let bound = Bound {
                dest: Dest::queue(id),
                args: b.args,
            };
            if self.unindex(b.source, &b.key, bound) {
                self.remove_exchange(b.source);
            }
        }
        true
    }

    /// The id of a queue.
    pub fn queue_id(&self, name: &str) -> Option<QueueId> {
        self.queue_by_name(name.as_bytes()).map(QueueId)
    }

    /// The name of a queue.
    pub fn queue_name(&self, id: QueueId) -> Option<&str> {
        self.queues
            .get(id.index())
            .and_then(Option::as_ref)
            .map(|q| q.name.as_str())
    }

    /// Every queue, by id and name, in id order.
    pub fn queues(&self) -> impl Iterator<Item = (QueueId, &str)> + '_ {
        self.queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.as_ref().map(|q| (QueueId(i as u32), q.name.as_str())))
    }

    /// Number of queues.
    pub fn queue_count(&self) -> usize {
        self.queue_names.len()
    }

    /// One above the highest queue id in use: a bound for arrays indexed by
    /// [`QueueId::index`].
    pub fn queue_id_bound(&self) -> usize {
        self.queues.len()
    }

    /// The id of an exchange.
    pub fn exchange_id(&self, name: &str) -> Option<ExchangeId> {
        self.exchange_by_name(name.as_bytes()).map(ExchangeId)
    }

    /// An exchange's kind and options.
    pub fn exchange(&self, name: &str) -> Option<ExchangeInfo<'_>> {
        self.exchange_id(name).map(|id| self.exchange_info(id.0))
    }

    fn exchange_info(&self, id: u32) -> ExchangeInfo<'_> {
        let x = self.exchange_slot(id);
        ExchangeInfo {
            name: x.name.as_str(),
            kind: x.kind,
            options: &x.options,
            bindings: x.bindings,
        }
    }

    /// Every exchange, the default one included, in id order.
    pub fn exchanges(&self) -> impl Iterator<Item = ExchangeInfo<'_>> + '_ {
        (0..self.exchanges.len() as u32)
            .filter(|&i| self.exchanges[i as usize].is_some())
            .map(|i| self.exchange_info(i))
    }

    /// Number of exchanges, the default one included.
    pub fn exchange_count(&self) -> usize {
        self.exchange_names.len()
    }

    fn resolve(&self, destination: Destination<'_>) -> Result<Dest, BindError> {
        match destination {
            Destination::Queue(name) => self
                .queue_by_name(name.as_bytes())
                .map(Dest::queue)
                .ok_or_else(|| BindError::NotFound {
                    kind: ObjectKind::Queue,
                    name: name.into(),
                }),
            Destination::Exchange("") => Err(BindError::AccessRefused {
                name: String::new(),
            }),
            Destination::Exchange(name) => self
                .exchange_by_name(name.as_bytes())
                .map(Dest::exchange)
                .ok_or_else(|| BindError::NotFound {
                    kind: ObjectKind::Exchange,
                    name: name.into(),
                }),
        }
    }

    fn source(&self, name: &str) -> Result<u32, BindError> {
        if name.is_empty() {
            return Err(BindError::AccessRefused {
                name: String::new(),
            });
        }
        self.exchange_by_name(name.as_bytes())
            .ok_or_else(|| BindError::NotFound {
                kind: ObjectKind::Exchange,
                name: name.into(),
            })
    }

    /// Binds `destination` to the exchange `source` with a key and arguments. Returns
    /// false if that exact binding (source, destination, key, arguments) already
    /// existed: binding twice is idempotent, and bindings that differ only in their
    /// arguments are distinct.
    ///
    /// # Errors
    ///
    /// - [`BindError::NotFound`] (404): the source or the destination does not exist;
    /// - [`BindError::AccessRefused`] (403): binding to or from the default exchange;
    /// - [`BindError::KeyTooLong`] (406): a key over 255 bytes;
    /// - [`BindError::TooManyHashes`] (406): a topic key over the table's `#` limit;
    /// - [`BindError::InvalidKey`] (406): a topic key the table's
    ///   [`TopicDialect`] refuses (an MQTT filter or NATS subject breaking its rules);
    /// - [`BindError::InvalidArgument`] (406): a headers binding with a bad `x-match`.
    pub fn bind(
        &mut self,
        source: &str,
        destination: Destination<'_>,
        key: impl AsRef<[u8]>,
        arguments: &FieldTable,
    ) -> Result<bool, BindError> {
        let key = key.as_ref();
        check_not_default(source, destination)?;
        let src = self.source(source)?;
        let dest = self.resolve(destination)?;
        if key.len() > MAX_NAME_LEN {
            return Err(BindError::KeyTooLong { len: key.len() });
        }
        let kind = self.exchange_slot(src).kind;
        if kind == ExchangeKind::Topic {
            store::check_topic_key(self.options.topic_dialect, key)?;
            let amqp = self.options.topic_dialect == TopicDialect::Amqp;
            if let (true, Some(max)) = (amqp, self.options.max_hash_words) {
                let count = crate::topic::words(key)
                    .filter(|w| *w == crate::topic::Word::Hash)
                    .count();
                if count > max {
                    return Err(BindError::TooManyHashes { count, max });
                }
            }
        }
        let matcher = match kind {
            ExchangeKind::Headers => Some(HeadersMatch::new(arguments)?),
            _ => None,
        };
        let args = self.args.acquire(arguments);
        let bound = Bound { dest, args };
        let x = self.exchange_slot_mut(src);
        let added = match x
            .index
            .as_mut()
            .expect("only the default exchange has no index")
        {
            Index::Direct(d) => d.insert(key, bound),
            Index::Topic(t) => t.insert(key, bound),
            Index::Fanout {
                bindings,
                queues,
                exchanges,
                counts,
            } => {
                let added = bindings.insert(key, bound);
                if added {
                    *counts.entry(dest).or_insert(0) += 1;
                    let members = if dest.is_exchange() {
                        exchanges
                    } else {
                        queues
                    };
                    members.insert(dest.id());
                }
                added
            }
            Index::Headers { list, at } => match at.entry((key.into(), bound)) {
                hashbrown::hash_map::Entry::Occupied(_) => false,
                hashbrown::hash_map::Entry::Vacant(v) => {
                    v.insert(list.len());
                    list.push(HeadersBinding {
                        key: key.into(),
                        bound,
                        matcher: matcher.expect("built for headers exchanges"),
                    });
                    true
                }
            },
        };
        if !added {
            self.args.release(args);
            return Ok(false);
        }
        x.bindings += 1;
        x.ever_bound = true;
        let inbound = Inbound {
            source: src,
            key: SmallBytes::new(key),
            args,
        };
        let set = inbound_mut(&mut self.exchanges, &mut self.queues, dest);
        set.insert(&self.hasher, inbound);
        Ok(true)
    }

    /// Removes a binding. Returns whether it existed: unbinding what does not exist is
    /// not an error. Removing an auto-delete exchange's last binding deletes it.
    ///
    /// # Errors
    ///
    /// - [`BindError::NotFound`] (404): the source or the destination does not exist;
    /// - [`BindError::AccessRefused`] (403): the default exchange.
    pub fn unbind(
        &mut self,
        source: &str,
        destination: Destination<'_>,
        key: impl AsRef<[u8]>,
        arguments: &FieldTable,
    ) -> Result<bool, BindError> {
        let key = key.as_ref();
        check_not_default(source, destination)?;
        let src = self.source(source)?;
        let dest = self.resolve(destination)?;
        let Some(args) = self.args.find(arguments) else {
            return Ok(false);
        };
        let set = inbound_mut(&mut self.exchanges, &mut self.queues, dest);
        if !set.remove(&self.hasher, src, key, args) {
            return Ok(false);
        }
        if self.unindex(src, key, Bound { dest, args }) {
            self.remove_exchange(src);
        }
        Ok(true)
    }

    /// Every binding, grouped by source exchange.
    pub fn bindings(&self) -> impl Iterator<Item = Binding<'_>> + '_ {
        self.exchanges.iter().flatten().flat_map(move |x| {
            index_pairs(x.index.as_ref()).map(move |(key, bound)| Binding {
                source: x.name.as_str(),
                destination: self.destination_name(bound.dest),
                key,
                arguments: self.args.get(bound.args),
            })
        })
    }

    /// Number of bindings.
    pub fn binding_count(&self) -> usize {
        self.exchanges.iter().flatten().map(|x| x.bindings).sum()
    }

    fn destination_name(&self, dest: Dest) -> Destination<'_> {
        if dest.is_exchange() {
            Destination::Exchange(self.exchange_slot(dest.id()).name.as_str())
        } else {
            Destination::Queue(
                self.queues[dest.id() as usize]
                    .as_ref()
                    .expect("a binding's queue is live")
                    .name
                    .as_str(),
            )
        }
    }
}
